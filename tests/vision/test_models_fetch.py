"""`models fetch`: the pinned weights download (against a local HTTP server, never the internet), its refusals, and
the fetched file turning person detection on for analysis, doctor and the status line without any setting."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from sqlalchemy import select

from portal.backend.ops.demo import seed_demo
from portal.backend.photos.vision import weights
from portal.backend.photos.vision.persons import import_yolo
from portal.backend.platform.config import Settings
from portal.backend.platform.db import migrate
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import assets, detections
from portal.cli import main
from tests.test_cli import cli
from tests.vision.conftest import sample_path

PAYLOAD = b"not really weights, but bytes with a known hash\n" * 3000
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at /yolov8n.pt and 404 elsewhere."""

    def do_GET(self) -> None:
        if self.path != "/yolov8n.pt":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def server() -> Iterator[str]:
    """A local HTTP server on 127.0.0.1; its base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data folder the in-process CLI uses, with no weights configured."""
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("PORTAL_YOLO_WEIGHTS", raising=False)
    return tmp_path / "data"


def _left_in(folder: Path) -> list[str]:
    """Every file name under the models folder (temporary files included)."""
    return sorted(p.name for p in folder.glob("models/*")) if (folder / "models").exists() else []


def test_fetch_downloads_verifies_and_turns_detection_on(
    server: str, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(data_dir=str(data_dir))
    assert weights.resolve_weights(settings).path is None
    assert main(["models", "status"]) == 0
    assert "Person detection is off" in capsys.readouterr().out

    assert main(["models", "fetch", "--url", f"{server}/yolov8n.pt", "--sha256", PAYLOAD_SHA]) == 0
    out = capsys.readouterr().out
    target = data_dir / "models" / "yolov8n.pt"
    assert f"downloaded: {target}" in out
    assert target.read_bytes() == PAYLOAD and _left_in(data_dir) == ["yolov8n.pt"]
    assert "Person detection is on" in out and "0.1 MB" in out
    choice = weights.resolve_weights(settings)
    assert choice.path == target and choice.source == "data folder"

    # Asked again: the verified file is kept, nothing is downloaded; --force downloads again.
    assert main(["models", "fetch", "--url", f"{server}/missing.pt", "--sha256", PAYLOAD_SHA]) == 0
    assert "already present" in capsys.readouterr().out
    assert main(["models", "fetch", "--force", "--url", f"{server}/missing.pt", "--sha256", PAYLOAD_SHA]) == 1
    assert "HTTP 404" in capsys.readouterr().err
    assert target.read_bytes() == PAYLOAD and _left_in(data_dir) == ["yolov8n.pt"]  # the failed retry left it

    # The setting still wins: `off` turns detection off, a path uses that file.
    assert weights.resolve_weights(Settings(data_dir=str(data_dir), yolo_weights="off")).path is None
    own = data_dir / "own.pt"
    own.write_bytes(b"x")
    assert weights.resolve_weights(Settings(data_dir=str(data_dir), yolo_weights=str(own))).path == own


def test_wrong_hash_is_refused_and_nothing_is_left(
    server: str, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "0" * 64
    assert main(["models", "fetch", "--url", f"{server}/yolov8n.pt", "--sha256", wrong]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and f"SHA-256 {PAYLOAD_SHA}, not the expected {wrong}" in err
    assert len(err.strip().splitlines()) == 1
    assert _left_in(data_dir) == []
    assert main(["models", "fetch", "--url", f"{server}/yolov8n.pt", "--sha256", "abc"]) == 1
    assert "64 hexadecimal characters" in capsys.readouterr().err
    assert main(["models", "fetch", "--url", "file:///etc/hostname", "--sha256", PAYLOAD_SHA]) == 1
    assert "http(s) only" in capsys.readouterr().err and _left_in(data_dir) == []


def test_unreachable_server_gives_a_clear_error(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["models", "fetch", "--url", f"http://127.0.0.1:{port}/yolov8n.pt", "--timeout", "5"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Cannot download") and "copy yolov8n.pt into" in err
    assert len(err.strip().splitlines()) == 1
    assert _left_in(data_dir) == []


def test_the_pinned_release_offline_fails_clearly(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise OSError("network access is blocked in this test")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert main(["models", "fetch"]) == 1
    err = capsys.readouterr().err
    assert f"Cannot download {weights.MODEL_URL}" in err and "blocked" in err
    assert _left_in(data_dir) == []
    assert len(weights.MODEL_SHA256) == 64 and weights.MODEL_URL.startswith("https://github.com/ultralytics/assets/")


def test_a_full_disk_is_refused_before_downloading(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = weights.shutil.disk_usage

    def almost_full(path: str | Path) -> object:
        return real(path)._replace(free=weights.MODEL_BYTES - 1)

    monkeypatch.setattr(weights.shutil, "disk_usage", almost_full)
    assert main(["models", "fetch"]) == 1
    assert "error: No space left in" in capsys.readouterr().err and _left_in(data_dir) == []


def _person_everywhere_model(path: Path) -> None:
    """A YOLOv8n built from its YAML whose head scores "person" high everywhere: a real model file that finds people
    in any photo, so the test sees person detections come out of analysis without trained weights or a download."""
    torch.manual_seed(0)
    model = import_yolo()("yolov8n.yaml")
    with torch.no_grad():
        for branch in model.model.model[-1].cv3:  # the class branches of the Detect head, one per scale
            branch[-1].bias[0] = 8.0  # class 0 is "person": sigmoid(8) ~ 0.9997 at every anchor
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(path))


def test_fetched_weights_are_used_by_analysis_without_settings(db_url: str, tmp_path: Path) -> None:
    db = Database(db_url)
    migrate.upgrade(db)
    seed_demo(db)
    # `cli` runs with cwd=tmp_path and PORTAL_DATA_DIR=tmp_path/data, every other PORTAL_* variable removed.
    _person_everywhere_model(tmp_path / "data" / "models" / "yolov8n.pt")
    photos = tmp_path / "incoming"
    photos.mkdir()
    (photos / "bus.jpg").write_bytes(sample_path("bus").read_bytes())

    assert cli(db_url, "assets", "import", str(photos), cwd=tmp_path).returncode == 0
    analysed = cli(db_url, "assets", "analyze", cwd=tmp_path)
    assert analysed.returncode == 0, analysed.stderr
    assert "Person detection on: YOLO (yolov8n.pt" in analysed.stdout
    with db.read() as conn:
        (asset,) = conn.execute(select(assets.c.id, assets.c.detectors).where(assets.c.filename == "bus.jpg")).all()
        kinds = conn.execute(
            select(detections.c.kind, detections.c.detector).where(detections.c.asset_id == asset.id)
        ).all()
    db.dispose()
    assert asset.detectors.split(",")[-1] == "yolo"
    assert ("person", "yolo") in {(k.kind, k.detector) for k in kinds}

    doctor = cli(db_url, "doctor", cwd=tmp_path)
    line = next(x for x in doctor.stdout.splitlines() if "person detection" in x)
    assert line.startswith("ok     person detection: Person detection is on") and "yolov8n.pt" in line


def test_settings_page_says_whether_person_detection_is_on(site: Database) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP

    def settings_text() -> str:
        at = AppTest.from_file(APP, default_timeout=60).run()
        at.text_input[0].input("admin@demo.example")
        at.text_input[1].input("demo-admin-pass")
        at.button[0].click().run()
        at.switch_page("portal/pages/settings.py").run()
        assert not at.exception
        return "\n".join(t.value for t in at.text)

    assert "Person detection is off" in settings_text() and "models fetch" in settings_text()
    fetched = Path(os.environ["PORTAL_DATA_DIR"]) / "models" / "yolov8n.pt"
    fetched.parent.mkdir(parents=True, exist_ok=True)
    fetched.write_bytes(PAYLOAD)  # the status line looks at the file only; loading it is analysis's business
    assert f"Person detection is on: Ultralytics YOLO with {fetched} (0.1 MB" in settings_text()
