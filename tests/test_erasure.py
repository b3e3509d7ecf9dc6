"""Access export and erasure on real photos and both databases (R18-R20, R10)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from portal.backend.consent import ledger
from portal.backend.consent.records import Context
from portal.backend.people.export import safe_cell
from portal.backend.people.queries import link_token, resolve_personal_link
from portal.backend.people.services import create_personal_link, erase_subject, export_subject
from portal.backend.photos.analysis import run_worker
from portal.backend.photos.assets import asset_detections, get_asset, ingest
from portal.backend.photos.services import link_face, publish_photo
from portal.backend.photos.vision.schemas import Box
from portal.backend.platform.actors import Actor
from portal.backend.platform.db import migrate
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import consent_ledger, outbox, subjects, takedowns
from portal.backend.platform.errors import ConsentStateError, TokenError
from tests.factories import MANAGER, OPERATOR, make_portal, make_staff, make_subject
from tests.imagery import group_photo

SECRET = "s" * 40


@pytest.fixture
def scene(org_db: Database, tmp_path: Path) -> dict:
    """Grace (linked by hand) and the astronaut in one analysed photo that is published on the website."""
    portal = make_portal(org_db, tmp_path / "blobs", secret_key=SECRET)
    blobs, settings = portal.blobs, portal.settings
    manager = make_staff(org_db)
    asset = ingest(
        org_db,
        blobs,
        data=group_photo(["astronaut", "grace_hopper"]),
        filename="pair.jpg",
        max_pixels=settings.max_image_pixels,
    ).asset
    run_worker(org_db, blobs, settings)
    grace = make_subject(
        org_db,
        name="Grace Hopper",
        choices={"website": True, "print": True},
        context=Context(channel="staff", actor='=HYPERLINK("http://evil")', evidence={}),
    )
    with org_db.read() as conn:
        faces = [d for d in asset_detections(conn, asset.id) if d.kind == "face"]
    grace_face = max(faces, key=lambda d: d.box.x)  # Grace stands on the right
    astronaut_face = max((d for d in faces if d is not grace_face), key=lambda d: d.score or 0.0)
    link_face(portal, actor=manager, detection_id=grace_face.id, subject_id=grace)
    # The astronaut is nobody staff know: an admin (the operator) publishes anyway, with a reason.
    use_id = publish_photo(
        portal,
        actor=OPERATOR,
        asset_id=asset.id,
        purpose="website",
        where="https://example.org/team",
        override_reason="the astronaut is a picture on the wall",
    )
    return {
        "db": org_db,
        "blobs": blobs,
        "portal": portal,
        "asset": asset,
        "grace": grace,
        "grace_box": grace_face.box,
        "astronaut_box": astronaut_face.box,
        "use_id": use_id,
    }


def _region(image: Image.Image, box: Box) -> np.ndarray:
    w, h = image.size
    return np.asarray(image.convert("RGB"))[
        round(box.y * h) : round((box.y + box.h) * h), round(box.x * w) : round((box.x + box.w) * w)
    ].astype(int)


def test_export_holds_everything_and_blurs_other_people(scene: dict) -> None:
    data = export_subject(scene["portal"], actor=Actor.subject(scene["grace"]), subject_id=scene["grace"])
    zf = zipfile.ZipFile(io.BytesIO(data))
    names = set(zf.namelist())
    assert {
        "README.txt",
        "subject.json",
        "consents.csv",
        "consents.json",
        "history.csv",
        "history.json",
        "texts.json",
        f"photos/{scene['asset'].id}.jpg",
    } <= names
    assert json.loads(zf.read("subject.json"))["display_name"] == "Grace Hopper"
    history = list(csv.DictReader(io.StringIO(zf.read("history.csv").decode())))
    assert [r["action"] for r in history] == ["given", "given"]
    assert history[0]["actor"].startswith("'=")  # formula injection neutralised
    original = Image.open(io.BytesIO(scene["blobs"].get(scene["asset"].blob_key)))
    photo = Image.open(io.BytesIO(zf.read(f"photos/{scene['asset'].id}.jpg")))
    assert np.abs(_region(photo, scene["grace_box"]) - _region(original, scene["grace_box"])).mean() < 4
    assert np.abs(_region(photo, scene["astronaut_box"]) - _region(original, scene["astronaut_box"])).mean() > 15


@pytest.mark.parametrize("value", ["=1+1", "+cmd", "-2", "@SUM(A1)", "\tx"])
def test_safe_cell_neutralises_formulas(value: str) -> None:
    assert safe_cell(value) == "'" + value
    assert safe_cell("Grace") == "Grace"


def test_erasure_blurs_unlinks_keeps_proof_and_queues_takedowns(scene: dict) -> None:
    db, blobs, grace, portal = scene["db"], scene["blobs"], scene["grace"], scene["portal"]
    url = create_personal_link(portal, actor=MANAGER, subject_id=grace)
    before = Image.open(io.BytesIO(blobs.get(scene["asset"].blob_key)))
    old_key = scene["asset"].blob_key
    report = erase_subject(portal, actor=MANAGER, subject_id=grace)
    assert (report.consents_withdrawn, report.images_redacted, report.takedown_tasks) == (2, 1, 1)

    with db.read() as conn:
        asset = get_asset(conn, scene["asset"].id)
        row = conn.execute(select(subjects).where(subjects.c.id == grace)).one()
        actions = (
            conn.execute(
                select(consent_ledger.c.action)
                .where(consent_ledger.c.subject_id == grace)
                .order_by(consent_ledger.c.seq)
            )
            .scalars()
            .all()
        )
        task = conn.execute(select(takedowns)).one()
        linked = [d for d in asset_detections(conn, asset.id) if d.subject_id == grace]
    after = Image.open(io.BytesIO(blobs.get(asset.blob_key)))
    assert not blobs.exists(old_key)  # the unblurred original is gone
    assert np.abs(_region(after, scene["grace_box"]) - _region(before, scene["grace_box"])).mean() > 15
    assert np.abs(_region(after, scene["astronaut_box"]) - _region(before, scene["astronaut_box"])).mean() < 4
    assert (row.display_name, row.email, row.erased_at is not None) == (None, None, True)
    assert actions == ["given", "given", "withdrawn", "withdrawn"]  # proof kept, withdrawal recorded
    assert ledger.verify(db).ok
    # A takedown task for the place it is published, open until staff end the publication.
    assert (task.kind, task.asset_id, task.use_id, task.cause, task.closed_at) == (
        "takedown",
        asset.id,
        scene["use_id"],
        "erasure",
        None,
    )
    assert linked == []
    with pytest.raises(TokenError):
        resolve_personal_link(portal, token=link_token(url))
    with pytest.raises(ConsentStateError, match="already erased"):
        erase_subject(portal, actor=MANAGER, subject_id=grace)
    with pytest.raises(ConsentStateError, match="erased"):
        export_subject(portal, actor=MANAGER, subject_id=grace)
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(takedowns)).scalar_one() == 1
        # Nothing to or about the person; only the staff's notice of the takedown task.
        assert {r.kind for r in conn.execute(select(outbox))} <= {"takedown_notice"}
        assert conn.execute(select(outbox).where(outbox.c.subject_id == grace)).all() == []


def test_cli_export_and_erase(db_url: str, tmp_path: Path) -> None:
    from tests.test_cli import cli

    assert cli(db_url, "demo").returncode == 0
    listing = cli(db_url, "subjects", "list").stdout
    anna = next(line.split()[0] for line in listing.splitlines() if "Anna Lindqvist" in line)
    out = tmp_path / "anna.zip"
    exported = cli(db_url, "subjects", "export", anna, "--out", str(out))
    assert exported.returncode == 0 and zipfile.is_zipfile(out)
    refused = cli(db_url, "subjects", "erase", anna)
    assert refused.returncode == 1 and "pass --yes" in refused.stderr
    erased = cli(db_url, "subjects", "erase", anna, "--yes")
    assert erased.returncode == 0 and "4 consent(s) withdrawn" in erased.stdout
    assert "Anna Lindqvist" not in cli(db_url, "subjects", "list").stdout
    assert cli(db_url, "ledger", "verify").returncode == 0


def test_an_erased_persons_link_says_erased_not_ask_for_a_new_one(scene: dict) -> None:
    from portal.backend.platform.errors import SubjectErased

    portal, grace = scene["portal"], scene["grace"]
    url = create_personal_link(portal, actor=MANAGER, subject_id=grace)
    erase_subject(portal, actor=MANAGER, subject_id=grace)
    with pytest.raises(SubjectErased, match="erased") as caught:
        resolve_personal_link(portal, token=link_token(url))
    assert caught.value.locale == "en"


def test_sqlite_zeroes_deleted_content(tmp_path: Path) -> None:
    """secure_delete is SQLite's (PostgreSQL's old row versions are covered by VACUUM in test_erasure_complete)."""
    from sqlalchemy import text

    db = Database(f"sqlite:///{tmp_path / 'portal.db'}")
    migrate.upgrade(db)
    with db.read() as conn:
        assert conn.execute(text("PRAGMA secure_delete")).scalar() == 1
