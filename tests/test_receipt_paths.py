"""Every path that issues a receipt issues one that validates against the official Kantara v1.1 schema, carries the
organisation's valid signature over entries in the intact ledger, and speaks one language throughout (JSON and PDF):
the form, the kiosk, paper, the personal page (one change and withdraw everything), the CLI and the expiry job."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from portal.backend.consent.purposes import current_text, get_purpose
from portal.backend.consent.queries import subject_receipts
from portal.backend.consent.receipts import check_receipt, validate_receipt
from portal.backend.consent.services import Decision, change_consent, issue_receipt, withdraw_everything
from portal.backend.i18n.receipts import RECEIPT_MESSAGES
from portal.backend.ops.services import run_daily_jobs
from portal.backend.people.services import register_subject
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.engine import Database
from portal.backend.platform.runtime import Portal
from portal.backend.platform.signing import signing_key_for
from portal.cli import main as cli_main
from tests.factories import MANAGER, OPERATOR, make_portal

PDF_SCAN = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
CODES = ("internal", "website", "print", "partners", "face_matching")


@pytest.fixture
def portal(org_db: Database, tmp_path: Path) -> Portal:
    """Services over a fresh organisation and an empty blob store."""
    return make_portal(org_db, tmp_path / "blobs", secret_key="s" * 40, base_url="https://portal.example")


def _markers(portal: Portal, locale: str) -> list[str]:
    """Words that only a receipt in `locale` holds: its headings and the purposes' titles and texts."""
    messages = RECEIPT_MESSAGES[locale]
    words = [messages[k] for k in ("title", "choices", "withdraw_title", "proof_title", "service")]
    with portal.db.read() as conn:
        for code in CODES:
            text = current_text(conn, get_purpose(conn, code).id, locale)
            words += [text.title, " ".join(text.body.split())[:60], *text.recipients]
    return words


def _pdf_text(pdf: bytes, tmp_path: Path) -> str:
    """The PDF's text, whitespace removed (long words may wrap)."""
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["/usr/bin/pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True)
    return "".join(out.stdout.decode("utf-8").split())


def _check_receipts(
    portal: Portal, subject_id: str, locale: str, tmp_path: Path, *, count: int, pending: int | None = None
) -> list[dict]:
    """The person's receipts: the first `pending` (default all) were left pending by the request path; made on demand
    (as the first download does), every one conforms, is signed, verifies against the ledger, is in `locale` only,
    and a second request serves the same stored files."""
    before = subject_receipts(portal, subject_id=subject_id)
    pending = count if pending is None else pending
    assert [r.state for r in before] == ["pending"] * pending + ["issued"] * (count - pending)
    records = [issue_receipt(portal, receipt_id=r.id) for r in before]
    assert all(r.issued for r in records), [(r.state, r.error) for r in records]
    again = [issue_receipt(portal, receipt_id=r.id) for r in records]
    assert [(r.json_key, r.pdf_key) for r in again] == [(r.json_key, r.pdf_key) for r in records]
    other = "en" if locale == "sv" else "sv"
    own, foreign = _markers(portal, locale), _markers(portal, other)
    documents = []
    for record in records:
        assert record.json_key and record.pdf_key
        data: dict[str, Any] = json.loads(portal.blobs.get(record.json_key))
        assert validate_receipt(data) == []
        with portal.db.read() as conn:
            result = check_receipt(conn, data, signing_key_for(conn).verify_key)
        assert result.ok, result.problem
        assert data["language"] == record.locale == locale
        assert isinstance(data["spiCat"], list)
        text_json = json.dumps(data, ensure_ascii=False)
        pdf = _pdf_text(portal.blobs.get(record.pdf_key), tmp_path)
        assert "".join(RECEIPT_MESSAGES[locale]["title"].split()) in pdf
        for words in foreign:
            if words not in own:  # a recipient's name may be the same in both languages
                assert words not in text_json, words
                assert "".join(words.split()) not in pdf, words
        documents.append(data)
    return documents


def _states(data: dict) -> dict[str, str]:
    """Purpose code to the item's state on a receipt."""
    return {p["x-portal"]["purposeCode"]: p["x-portal"]["state"] for p in data["services"][0]["purposes"]}


@pytest.mark.parametrize("locale", ["sv", "en"])
def test_form_and_personal_page_including_withdraw_everything(portal: Portal, locale: str, tmp_path: Path) -> None:
    result = register_subject(
        portal,
        actor=Actor(kind="subject"),
        channel="qr_form",
        name="Åsa 王 Öberg",
        choices={"internal": True, "website": True, "print": False},
        locale=locale,
    )
    sid = result.subject.id
    me = Actor.subject(sid)
    change_consent(
        portal, actor=me, subject_id=sid, decisions=[Decision("website", "withdrawn")], channel="portal", locale=locale
    )
    withdraw_everything(portal, actor=me, subject_id=sid, channel="portal")
    first, change, everything = _check_receipts(portal, sid, locale, tmp_path, count=3)
    assert _states(first) == {"internal": "given", "website": "given", "print": "refused"}
    assert _states(change) == {"website": "withdrawn"}
    assert _states(everything) == {"internal": "withdrawn"}
    assert everything["services"][0]["purposes"][0]["consentType"] == "N/A"


def test_kiosk(portal: Portal, tmp_path: Path) -> None:
    result = register_subject(
        portal, actor=Actor.kiosk(7), channel="kiosk", name="Kim Kiosk", choices={"internal": True}, locale="sv"
    )
    _check_receipts(portal, result.subject.id, "sv", tmp_path, count=1)


def test_paper_with_a_guardian(portal: Portal, tmp_path: Path) -> None:
    result = register_subject(
        portal,
        actor=MANAGER,
        channel="paper",
        name="Paula Paper",
        choices={"internal": True, "partners": True, "face_matching": False},
        signed_on=date.today() - timedelta(days=3),
        scan=PDF_SCAN,
        locale="sv",
        is_minor=True,
        guardian_name="Maria Lind",
        guardian_verification="staff_checked_id",
    )
    (data,) = _check_receipts(portal, result.subject.id, "sv", tmp_path, count=1)
    guardian = data["services"][0]["purposes"][0]["x-portal"]["guardian"]
    assert guardian["name"] == "Maria Lind" and guardian["verifiedByCode"] == "staff_checked_id"
    assert guardian["verifiedBy"] not in ("staff_checked_id", "Staff checked the guardian's ID")


def test_cli(
    portal: Portal, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = register_subject(
        portal, actor=OPERATOR, channel="staff", name="Cli Person", choices={"print": True}, locale="sv"
    )
    sid = result.subject.id
    # The CLI stores files under the data folder's blobs/: the same folder as this test's portal.
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path))
    assert cli_main(["subjects", "withdraw", sid, "--purpose", "print", "--database-url", db_url]) == 0
    capsys.readouterr()
    # The CLI made the withdrawal's receipt at once; the registration's waits for its first download.
    _first, withdrawal = _check_receipts(portal, sid, "sv", tmp_path, count=2, pending=1)
    assert _states(withdrawal) == {"print": "withdrawn"}
    path = tmp_path / "withdrawal.json"
    path.write_text(json.dumps(withdrawal, ensure_ascii=False), encoding="utf-8")
    assert cli_main(["receipts", "verify", str(path), "--database-url", db_url]) == 0
    assert "is genuine" in capsys.readouterr().out


def test_expiry_job(portal: Portal, tmp_path: Path) -> None:
    start = datetime(2024, 1, 10, 9, 0, tzinfo=UTC)
    result = register_subject(
        portal, actor=OPERATOR, channel="staff", name="Eva Expiry", choices={"website": True}, locale="sv", now=start
    )
    run_daily_jobs(portal, actor=OPERATOR, now=start + timedelta(days=3 * 365))
    # The daily jobs render every pending receipt, the registration's and the expiry's.
    _first, expiry = _check_receipts(portal, result.subject.id, "sv", tmp_path, count=2, pending=0)
    assert _states(expiry) == {"website": "expired"}
    assert expiry["services"][0]["purposes"][0]["consentType"] == "N/A"
    assert expiry["x-portal"]["channel"] == "system"
