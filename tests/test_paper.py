"""Paper consent forms with their scan, on both databases: stored whole or not at all, exported and erased."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from portal.backend.consent import ledger
from portal.backend.events.store import create_event
from portal.backend.people.paper import MAX_SCAN_BYTES, sniff_scan
from portal.backend.people.private import reveal_evidence
from portal.backend.people.services import erase_subject, export_subject, register_subject
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import audit_log, consent_ledger, subjects
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import ValidationError
from portal.backend.staff.audit import audit_count
from tests.factories import make_portal

CLERK = Actor.staff(7, "staff")

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def image_bytes(fmt: str) -> bytes:
    """A small real image file."""
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 180, 160)).save(out, format=fmt)
    return out.getvalue()


@pytest.fixture
def paper(org_db: Database, tmp_path: Path) -> dict:
    """An organisation with one event and an empty blob store."""
    with org_db.write() as conn:
        event = create_event(
            conn, name="School photo day", purpose_codes=["internal", "website", "print"], now=utcnow()
        )
    portal = make_portal(org_db, tmp_path / "blobs")
    return {"db": org_db, "blobs": portal.blobs, "portal": portal, "event": event.id}


def _enter(paper: dict, **kw: object):  # type: ignore[no-untyped-def]
    args: dict = {
        "name": "Paula Paper",
        "choices": {"internal": True, "website": False, "print": True},
        "signed_on": date.today() - timedelta(days=10),
        "scan": PDF,
        "event_id": paper["event"],
        "locale": "sv",
    }
    args.update(kw)
    return register_subject(paper["portal"], actor=CLERK, channel="paper", **args)


def _counts(paper: dict) -> tuple[int, int, int, int]:
    """(subjects, ledger entries, audit lines, stored scans)."""
    with paper["db"].read() as conn:
        people = conn.execute(select(func.count()).select_from(subjects)).scalar_one()
        entries = conn.execute(select(func.count()).select_from(consent_ledger)).scalar_one()
        lines = conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
    return people, entries, lines, len(paper["blobs"].list_keys("paper/"))


def test_paper_form_is_recorded_with_its_scan(paper: dict) -> None:
    result = _enter(paper, submission_id="paper-form-0001")
    sha = hashlib.sha256(PDF).hexdigest()
    assert not result.replayed and result.scan_sha256 == sha
    assert result.scan_key == f"paper/{result.subject.id}/{sha}.pdf"
    assert paper["blobs"].get(result.scan_key) == PDF
    assert {(e.channel, e.actor, e.event_id) for e in result.entries} == {("paper", "staff:7", paper["event"])}
    assert sorted(e.action for e in result.entries) == ["given", "given", "refused"]
    evidence = result.entries[0].evidence_data
    signed = date.today() - timedelta(days=10)
    assert evidence == {
        "act": "signature",
        "form": "paper",
        "signed_on": signed.isoformat(),
        "scan_sha256": sha,
        "scan_type": "application/pdf",
    }
    assert {e.text_locale for e in result.entries} == {"sv"}
    # Validity runs from the date on the paper, not from the day it was typed in.
    given = next(e for e in result.entries if e.action == "given")
    assert given.valid_until.date() == signed + timedelta(days=365)
    with paper["db"].read() as conn:
        assert audit_count(conn, action="enter_paper_consent") == 1
    assert ledger.verify(paper["db"]).ok


@pytest.mark.parametrize(("fmt", "suffix"), [("JPEG", ".jpg"), ("PNG", ".png")])
def test_image_scans_are_accepted(paper: dict, fmt: str, suffix: str) -> None:
    result = _enter(paper, scan=image_bytes(fmt))
    assert result.scan_key.endswith(suffix)
    assert result.entries[0].evidence_data["scan_type"] == f"image/{fmt.lower()}"


@pytest.mark.parametrize(
    ("scan", "message"),
    [
        (b"", "empty"),
        (b"%PDF-" + b"x" * MAX_SCAN_BYTES, "at most 10 MB"),
        (b"<html><script>alert(1)</script></html>", "not a PDF, JPEG or PNG"),
        (b"MZ\x90\x00 a Windows program renamed to form.pdf", "not a PDF, JPEG or PNG"),
        (image_bytes("GIF"), "not a PDF, JPEG or PNG"),
        (PDF[:30], "cut off"),
        (image_bytes("PNG")[:40], "damaged or cut off"),
    ],
    ids=["empty", "too-large", "html", "exe", "gif", "truncated-pdf", "truncated-png"],
)
def test_bad_scans_are_refused_and_nothing_is_written(paper: dict, scan: bytes, message: str) -> None:
    before = _counts(paper)
    with pytest.raises(ValidationError, match=message):
        _enter(paper, scan=scan)
    assert _counts(paper) == before


def test_sniffing_ignores_the_file_name() -> None:
    assert sniff_scan(image_bytes("JPEG")) == "image/jpeg"
    assert sniff_scan(PDF) == "application/pdf"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"name": "<img src=x onerror=alert(1)>"}, "cannot contain < or >"),
        ({"name": "Kid", "is_minor": True}, "Guardian's name is empty"),
        ({"name": "Kid", "is_minor": True, "guardian_name": "Pat Parent"}, "how the guardian was verified"),
        ({"signed_on": date.today() + timedelta(days=5)}, "in the future"),
        ({"choices": {}}, "at least one purpose"),
        ({"email": "not-an-address"}, "not an e-mail address"),
    ],
)
def test_bad_input_writes_nothing(paper: dict, kw: dict, message: str) -> None:
    before = _counts(paper)
    with pytest.raises(ValidationError, match=message):
        _enter(paper, **kw)
    assert _counts(paper) == before


@pytest.mark.parametrize(
    ("kw", "message"), [({"event_id": 9999}, "No event"), ({"choices": {"billboards": True}}, "Unknown purpose")]
)
def test_a_failure_after_the_scan_is_stored_removes_it(paper: dict, kw: dict, message: str) -> None:
    # These are only found inside the transaction, after the scan was written: it must go again.
    before = _counts(paper)
    with pytest.raises(Exception, match=message):
        _enter(paper, **kw)
    assert _counts(paper) == before
    assert paper["blobs"].list_keys("paper/") == []


def test_double_submit_records_nothing_new(paper: dict) -> None:
    first = _enter(paper, submission_id="paper-form-0002")
    before = _counts(paper)
    again = _enter(paper, submission_id="paper-form-0002")
    assert again.replayed and again.subject.id == first.subject.id
    assert again.scan_key == first.scan_key and again.scan_sha256 == first.scan_sha256
    assert _counts(paper) == before  # no subject, entry, audit line or second scan


def test_minor_with_guardian(paper: dict) -> None:
    result = _enter(
        paper,
        name="Kim Kid",
        is_minor=True,
        guardian_name="Pat Parent",
        guardian_verification="signed_paper_form",
    )
    assert result.subject.is_minor and result.subject.guardian_name == "Pat Parent"
    entry = result.entries[0]
    assert set(entry.evidence_data["guardian"]) == {"hmac"} and "Pat Parent" not in entry.evidence
    with paper["db"].read() as conn:
        guardian, _note = reveal_evidence(conn, result.subject.id, entry.evidence_data)
    assert guardian == {"name": "Pat Parent", "verified_by": "signed_paper_form"}


def test_scan_is_exported_and_erased(paper: dict) -> None:
    db, blobs = paper["db"], paper["blobs"]
    result = _enter(paper, email="paula@example.org")
    data = export_subject(paper["portal"], actor=Actor.subject(result.subject.id), subject_id=result.subject.id)
    zf = zipfile.ZipFile(io.BytesIO(data))
    assert zf.read(result.scan_key) == PDF
    assert "paper/" in zf.read("README.txt").decode()
    report = erase_subject(paper["portal"], actor=Actor.staff(7, "manager"), subject_id=result.subject.id)
    assert report.scans_deleted == 1
    assert not blobs.exists(result.scan_key) and blobs.list_keys("paper/") == []
    with db.read() as conn:
        evidence = (
            conn.execute(
                select(consent_ledger.c.evidence)
                .where(consent_ledger.c.subject_id == result.subject.id)
                .order_by(consent_ledger.c.seq)
            )
            .scalars()
            .first()
        )
        detail = conn.execute(select(audit_log.c.detail).where(audit_log.c.action == "erase_subject")).scalar_one()
    # The pseudonymous proof keeps the scan's fingerprint, not the scan.
    assert json.loads(evidence)["scan_sha256"] == result.scan_sha256
    assert json.loads(detail)["scans_deleted"] == 1
    assert ledger.verify(db).ok


def test_cli_add_with_a_scan(db_url: str, tmp_path: Path) -> None:
    from tests.test_cli import cli

    # Run from tmp_path: the CLI's blob store is data/blobs under the working directory.
    assert cli(db_url, "demo", cwd=tmp_path).returncode == 0
    scan = tmp_path / "form.pdf"
    scan.write_bytes(PDF)
    add = cli(
        db_url,
        "subjects",
        "add",
        "--name",
        "Carl Cli",
        "--consent",
        "website",
        "--refuse",
        "print",
        "--channel",
        "paper",
        "--scan",
        str(scan),
        "--signed-on",
        date.today().isoformat(),
        "--event",
        "2",
        "--note",
        "binder 3",
        "--json",
        cwd=tmp_path,
    )
    assert add.returncode == 0, add.stderr
    out = json.loads(add.stdout)
    sha = hashlib.sha256(PDF).hexdigest()
    assert out["scan_sha256"] == sha
    assert (tmp_path / "data" / "blobs" / "paper" / out["subject_id"] / f"{sha}.pdf").read_bytes() == PDF
    shown = json.loads(cli(db_url, "subjects", "show", out["subject_id"], "--json", cwd=tmp_path).stdout)
    evidence = json.loads(shown["ledger"][0]["evidence"])
    # The note is kept out of the ledger: a salted HMAC there, the text in the erasable subject_private row.
    assert evidence["scan_sha256"] == sha and set(evidence["note"]) == {"hmac"}
    assert "binder 3" not in shown["ledger"][0]["evidence"]
    assert {e["channel"] for e in shown["ledger"]} == {"paper"}

    people = len(cli(db_url, "subjects", "list", cwd=tmp_path).stdout.splitlines())
    fake = tmp_path / "fake.pdf"
    fake.write_text("<html>not a scan</html>")
    bad = cli(
        db_url,
        "subjects",
        "add",
        "--name",
        "Fay Fake",
        "--consent",
        "website",
        "--channel",
        "paper",
        "--scan",
        str(fake),
        cwd=tmp_path,
    )
    assert bad.returncode == 1 and "not a PDF, JPEG or PNG" in bad.stderr and "Traceback" not in bad.stderr
    staff = cli(
        db_url, "subjects", "add", "--name", "Sam Staff", "--consent", "website", "--scan", str(scan), cwd=tmp_path
    )
    assert staff.returncode == 1 and "--channel paper" in staff.stderr
    assert len(cli(db_url, "subjects", "list", cwd=tmp_path).stdout.splitlines()) == people
    assert len(list((tmp_path / "data" / "blobs" / "paper").rglob("*.pdf"))) == 1
