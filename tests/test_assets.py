"""Photos end to end through the CLI: import, analysis queue, selfie enrolment, matching, links, renditions."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from portal.backend.ops.demo import seed_demo
from portal.backend.photos.vision.faces import FaceAnalyzer
from portal.backend.photos.vision.intake import prepare_image
from portal.backend.platform.blobs import LocalBlobStore
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import assets, detections, subject_templates
from tests.conftest import ROOT
from tests.imagery import group_photo, sample_bytes
from tests.test_cli import cli


@pytest.fixture
def site(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """A demo database plus a data folder; the CLI runs with cwd = that folder."""
    from portal.backend.platform.db import migrate

    db = Database(db_url)
    migrate.upgrade(db)
    seed_demo(db)
    db.dispose()
    return db_url, tmp_path


def run(site: tuple[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI against the site's database, with blobs under the site's folder."""
    url, folder = site
    return cli(url, *args, cwd=folder)


def _photos(folder: Path) -> Path:
    """A folder with two good photos, a duplicate, a broken file and a text file named .jpg."""
    folder.mkdir()
    pair = group_photo(["astronaut", "grace_hopper"])
    (folder / "pair.jpg").write_bytes(pair)
    (folder / "z-copy-of-pair.jpg").write_bytes(pair)
    (folder / "grace-rotated.png").write_bytes(group_photo(["grace_hopper"], fmt="PNG", orientation=6))
    (folder / "broken.jpg").write_bytes(pair[: len(pair) // 3])
    (folder / "not-a-photo.jpg").write_bytes(b"just some text\n")
    return folder


def _box_pixels(image: Image.Image, box: dict[str, float]) -> np.ndarray:
    w, h = image.size
    return np.asarray(image)[
        round(box["y"] * h) : round((box["y"] + box["h"]) * h), round(box["x"] * w) : round((box["x"] + box["w"]) * w)
    ].astype(int)


def test_photo_lifecycle(site: tuple[str, Path]) -> None:
    url, folder = site
    assert run(site, "matching", "on").returncode == 0
    imported = run(site, "assets", "import", str(_photos(folder / "incoming")), "--event", "Summer festival")
    assert imported.returncode == 0, imported.stderr
    assert "5 files: 2 imported, 1 duplicates, 2 rejected." in imported.stdout
    assert "broken.jpg" in imported.stdout and "not-a-photo.jpg" in imported.stdout

    analysed = run(site, "assets", "analyze")
    assert analysed.returncode == 0, analysed.stderr
    assert "Person detection is off" in analysed.stdout or "Person detection off" in analysed.stdout
    # dlib HOG finds Grace, the astronaut, and (at a low score) the mission patch on the astronaut's suit:
    # a false positive the portal keeps, because a missed face is worse than an extra blur.
    assert "Analysed 2 photos (4 faces" in analysed.stdout

    db = Database(url)
    with db.read() as conn:
        ids = dict(conn.execute(select(assets.c.filename, assets.c.id)).all())
    pair_id, rotated_id = ids["pair.jpg"], ids["grace-rotated.png"]
    shown = json.loads(run(site, "assets", "show", str(rotated_id), "--json").stdout)
    assert shown["asset"]["analysis_state"] == "done"
    (face,) = [d for d in shown["detections"] if d["kind"] == "face"]
    # Boxes are relative to the upright (EXIF-applied) picture: Grace's face sits in its upper half.
    assert shown["asset"]["width"] < shown["asset"]["height"]  # stored landscape, recorded upright
    assert 0 < face["box"]["y"] < 0.5
    # Art. 9: with matching on, analysis still stores no template of any face.
    assert {d["has_template"] for d in shown["detections"]} == {False}

    selfie = folder / "selfie.jpg"
    selfie.write_bytes(sample_bytes("grace_hopper"))
    added = run(
        site,
        "subjects",
        "add",
        "--name",
        "Grace Hopper",
        "--consent",
        "face_matching",
        "website",
        "--selfie",
        str(selfie),
        "--json",
    )
    assert added.returncode == 0, added.stderr
    grace = json.loads(added.stdout)
    assert grace["template_enrolled"] is True
    assert list(folder.rglob("*selfie*")) == [selfie]  # nothing of the selfie was kept beside the original

    matched = run(site, "subjects", "match", grace["subject_id"])
    assert matched.returncode == 0, matched.stderr
    assert "2 suggestion(s)" in matched.stdout
    pair = json.loads(run(site, "assets", "show", str(pair_id), "--json").stdout)
    linked = [d for d in pair["detections"] if d["subject_id"] == grace["subject_id"]]
    assert len(linked) == 1 and linked[0]["link_status"] == "suggested" and linked[0]["link_distance"] < 0.6
    other = max(
        (d for d in pair["detections"] if d["kind"] == "face" and d["id"] != linked[0]["id"]), key=lambda d: d["score"]
    )
    assert other["subject_id"] is None  # the astronaut is not suggested as Grace

    assert run(site, "subjects", "link", grace["subject_id"], str(linked[0]["id"])).returncode == 0
    out = folder / "website.jpg"
    rendered = run(site, "assets", "render", str(pair_id), "--purpose", "website", "--out", str(out))
    assert rendered.returncode == 0 and "2 face(s) blurred, 1 kept" in rendered.stdout
    original = Image.open(
        io.BytesIO(
            LocalBlobStore(folder / "data" / "blobs").get(
                f"originals/{pair['asset']['sha256'][:2]}/{pair['asset']['sha256']}.jpg"
            )
        )
    ).convert("RGB")
    safe = Image.open(out).convert("RGB")
    kept_diff = np.abs(_box_pixels(safe, linked[0]["box"]) - _box_pixels(original, linked[0]["box"])).mean()
    blurred_diff = np.abs(_box_pixels(safe, other["box"]) - _box_pixels(original, other["box"])).mean()
    assert kept_diff < 3 < 15 < blurred_diff

    withdrawn = run(site, "subjects", "withdraw", grace["subject_id"], "--purpose", "face_matching")
    assert withdrawn.returncode == 0
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(subject_templates)).scalar_one() == 0
        statuses = dict(
            conn.execute(
                select(detections.c.id, detections.c.link_status).where(detections.c.asset_id == rotated_id)
            ).all()
        )
    assert set(statuses.values()) == {None}  # the open suggestion went with the template
    assert run(site, "assets", "show", str(pair_id), "--json").stdout.count('"confirmed"') == 1
    off = run(site, "matching", "off")
    assert off.returncode == 0 and "the matching batch does nothing" in off.stdout
    db.dispose()


def test_selfie_needs_consent_and_one_face(site: tuple[str, Path]) -> None:
    _, folder = site
    two = folder / "two.jpg"
    two.write_bytes(group_photo(["grace_hopper", "zidane"]))
    no_consent = run(site, "subjects", "add", "--name", "No Consent", "--selfie", str(two))
    assert no_consent.returncode == 1 and "add --consent face_matching" in no_consent.stderr
    crowded = run(site, "subjects", "add", "--name", "Crowd", "--consent", "face_matching", "--selfie", str(two))
    assert crowded.returncode == 1 and "shows 2 faces" in crowded.stderr
    assert "Crowd" not in run(site, "subjects", "list").stdout  # nothing half-registered


def test_killed_worker_leaves_the_asset_pending_and_the_next_one_finishes_it(site: tuple[str, Path]) -> None:
    url, folder = site
    photo = folder / "pair.jpg"
    photo.write_bytes(group_photo(["astronaut", "grace_hopper"]))
    assert run(site, "assets", "import", str(photo)).returncode == 0
    env_cmd = [
        sys.executable,
        "-m",
        "portal",
        "assets",
        "analyze",
        "--debug-pause-after-claim",
        "120",
        "--database-url",
        url,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")} | {"PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen(
        env_cmd, cwd=folder, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        assert worker.stderr is not None
        line = worker.stderr.readline()  # blocks until the worker has claimed the asset
        assert "claimed asset" in line, line
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    db = Database(url)
    with db.read() as conn:
        assert conn.execute(select(assets.c.analysis_state)).scalar_one() == "pending"
        assert conn.execute(select(func.count()).select_from(detections)).scalar_one() == 0
    finished = run(site, "assets", "analyze")
    assert "Analysed 1 photos (3 faces" in finished.stdout
    assert "Analysed 0 photos" in run(site, "assets", "analyze").stdout
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(detections)).scalar_one() == 3
    db.dispose()


@pytest.mark.postgres
def test_several_workers_share_the_postgres_queue(pg_url: str, tmp_path: Path) -> None:
    from portal.backend.platform.db import migrate

    db = Database(pg_url)
    migrate.upgrade(db)
    seed_demo(db)
    site = (pg_url, tmp_path)
    folder = tmp_path / "batch"
    folder.mkdir()
    combos = [
        ["astronaut"],
        ["grace_hopper"],
        ["astronaut", "grace_hopper"],
        ["zidane"],
        ["grace_hopper", "zidane"],
        ["astronaut", "zidane"],
    ]
    for i, combo in enumerate(combos):
        (folder / f"{i}.jpg").write_bytes(group_photo(combo, height=360 + 20 * i))
    assert "6 imported" in run(site, "assets", "import", str(folder)).stdout
    out = run(site, "assets", "analyze", "--workers", "3")
    assert out.returncode == 0, out.stderr
    assert "Analysed 6 photos" in out.stdout
    with db.read() as conn:
        per_asset = dict(
            conn.execute(
                select(assets.c.filename, func.count(detections.c.id))
                .join(detections, detections.c.asset_id == assets.c.id)
                .group_by(assets.c.filename)
            ).all()
        )
        states = set(conn.execute(select(assets.c.analysis_state)).scalars())
    # Each photo analysed exactly once: its stored detections equal one direct run of the same detector.
    analyzer = FaceAnalyzer()
    expected = {
        f"{i}.jpg": len(analyzer.detect(prepare_image((folder / f"{i}.jpg").read_bytes()).image))
        for i in range(len(combos))
    }
    assert per_asset == expected
    assert states == {"done"}
    db.dispose()


def test_sqlite_refuses_several_workers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    assert cli(url, "db", "upgrade").returncode == 0
    out = cli(url, "assets", "analyze", "--workers", "2")
    assert out.returncode == 1 and "Several workers need PostgreSQL" in out.stderr
