"""Consent receipts (R13, R24): Kantara JSON that the schema checks, and a PDF that says what was agreed."""

from __future__ import annotations

import copy
import json
import subprocess
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from PIL import Image

from portal.backend.consent import ledger
from portal.backend.consent.ledger import LedgerEntry, entries_for_subject
from portal.backend.consent.purposes import TextContent, current_text, get_purpose, publish_text
from portal.backend.consent.receipts import (
    SCHEMA_PATH,
    Receipt,
    build_receipt,
    receipt_blob_keys,
    store_receipt,
    tel_uri,
    validate_receipt,
)
from portal.backend.consent.records import Context, Decision
from portal.backend.events.store import create_event
from portal.backend.i18n.receipts import RECEIPT_MESSAGES
from portal.backend.platform.blobs import LocalBlobStore
from portal.backend.platform.db.engine import Database
from portal.backend.platform.errors import ValidationError
from portal.backend.platform.organisation import get_organisation, save_organisation
from portal.backend.reports.receipt import ASSETS, TEMPLATES, local_url_fetcher, render_receipt_html, render_receipt_pdf
from tests.factories import STAFF, record_consent, register_subject

NOW = datetime(2025, 3, 1, 14, 5, 30, tzinfo=UTC)
VALIDATOR = Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
HOSTILE_SCRIPT = "<script>alert(1)</script>"
HOSTILE_IMG = "<img src=x onerror=alert(1)>"


def _register(db: Database, choices: dict[str, bool], **kw: Any) -> tuple[str, list[LedgerEntry]]:
    """Register a subject with choices; returns (subject id, the submission's entries)."""
    kw.setdefault("context", STAFF)
    reg = register_subject(db, name=kw.pop("name", "Test Person"), choices=choices, now=NOW, **kw)
    return reg.subject.id, reg.entries


def _receipt(db: Database, subject_id: str, entries: list[LedgerEntry]) -> Receipt:
    """Build a receipt on a read connection."""
    with db.read() as conn:
        return build_receipt(conn, subject_id=subject_id, entries=entries, now=NOW)


def _purposes(receipt: Receipt) -> dict[str, dict[str, Any]]:
    """The receipt's Kantara purposes keyed by purpose code."""
    return {p["x-portal"]["purposeCode"]: p for p in receipt.json["services"][0]["purposes"]}


def _assert_valid(data: dict[str, Any]) -> None:
    """The receipt conforms to the schema (messages listed when it does not)."""
    errors = [e.message for e in VALIDATOR.iter_errors(data)]
    assert errors == []


def _pdf_text(pdf: bytes, tmp_path: Path) -> str:
    """The PDF's text as pdftotext extracts it, whitespace collapsed."""
    path = tmp_path / "receipt.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["/usr/bin/pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True)
    return " ".join(out.stdout.decode("utf-8").split())


def _shows(text: str, literal: str) -> bool:
    """True when the PDF text holds `literal`; whitespace is ignored because long words may wrap mid-word."""
    return "".join(literal.split()) in "".join(text.split())


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def test_registration_receipt_conforms_and_is_minimal(org_db: Database) -> None:
    sid, entries = _register(
        org_db, {"internal": True, "website": True, "print": False}, name="Anna Andersson", email="anna@example.org"
    )
    receipt = _receipt(org_db, sid, entries)
    data = receipt.json
    _assert_valid(data)
    assert validate_receipt(data) == []
    assert data["version"] == "KI-CR-v1.1.0"
    assert data["jurisdiction"] == "SE"
    assert data["consentTimestamp"] == int(NOW.timestamp())
    assert str(uuid.UUID(data["consentReceiptID"], version=4)) == data["consentReceiptID"] == receipt.receipt_id
    assert data["language"] == "en"
    assert data["collectionMethod"] == "entered by staff"
    # R12: the pseudonymous id, never the name or e-mail.
    assert data["piiPrincipalId"] == sid
    text = json.dumps(data, ensure_ascii=False)
    assert "Anna" not in text and "anna@example.org" not in text
    controller = data["piiControllers"][0]
    assert controller["piiController"] == "Nordlys Events AB"
    assert controller["phone"] == "tel:+46-46-123456"
    assert controller["address"] == {
        "@type": "PostalAddress",
        "streetAddress": "Storgatan 1",
        "postalCode": "222 22",
        "addressLocality": "Lund",
        "addressCountry": "SE",
    }
    assert data["policyUrl"] == "https://nordlys.example/privacy"
    assert data["sensitive"] is False and "spiCat" not in data
    purposes = _purposes(receipt)
    assert list(purposes) == ["internal", "website", "print"]
    assert purposes["internal"]["purpose"] == "Internal use"
    assert purposes["internal"]["purposeCategory"] == ["dpv:InternalResourceOptimisation"]
    assert purposes["internal"]["consentType"] == "EXPLICIT"
    assert purposes["internal"]["piiCategory"] == ["Photo"]
    assert purposes["internal"]["termination"].startswith("valid until 2026-03-01, withdraw any time")
    assert purposes["print"]["x-portal"]["action"] == "refused"
    assert "not given" in purposes["print"]["termination"]
    assert purposes["internal"]["x-portal"]["scope"] == "all images"
    assert "personal link" in purposes["internal"]["x-portal"]["withdrawalMethod"]


def test_receipt_carries_the_ledger_hashes(org_db: Database) -> None:
    sid, entries = _register(org_db, {"internal": True, "social_media": True})
    receipt = _receipt(org_db, sid, entries)
    assert ledger.verify(org_db).ok
    with org_db.read() as conn:
        stored = {e.entry_id: e for e in entries_for_subject(conn, sid)}
        shown = {
            code: current_text(conn, get_purpose(conn, code).id, "en").text_hash
            for code in ("internal", "social_media")
        }
    for code, purpose in _purposes(receipt).items():
        proof = purpose["x-portal"]
        entry = stored[proof["entryId"]]
        assert proof["entryHash"] == entry.entry_hash
        assert proof["prevHash"] == entry.prev_hash
        assert proof["ledgerSeq"] == entry.seq
        assert proof["textHash"] == entry.text_hash == shown[code]
        assert (proof["textVersion"], proof["textLocale"]) == (1, "en")


def test_withdrawal_receipt(org_db: Database) -> None:
    sid, _ = _register(org_db, {"website": True})
    later = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
    entries = record_consent(
        org_db,
        subject_id=sid,
        decisions=[Decision(purpose="website", action="withdrawn")],
        context=Context(channel="portal", actor="subject", evidence={"act": "button"}),
        now=later,
    )
    receipt = _receipt(org_db, sid, entries)
    _assert_valid(receipt.json)
    assert receipt.json["consentTimestamp"] == int(later.timestamp())
    assert receipt.json["collectionMethod"] == "personal link"
    website = _purposes(receipt)["website"]
    assert website["x-portal"]["action"] == "withdrawn"
    assert website["termination"].startswith("consent withdrawn on 2025-06-02")
    # A withdrawal refers to the wording the consent was given under.
    assert website["purpose"] == "Our website"


def test_face_matching_receipt_is_sensitive(org_db: Database) -> None:
    sid, entries = _register(org_db, {"internal": True, "face_matching": True})
    receipt = _receipt(org_db, sid, entries)
    _assert_valid(receipt.json)
    assert receipt.json["sensitive"] is True
    assert receipt.json["spiCat"] == ["Biometric data (face template)"]
    assert "Face template (biometric data)" in _purposes(receipt)["face_matching"]["piiCategory"]


def test_refused_face_matching_is_not_sensitive(org_db: Database) -> None:
    # R24: refusing face matching means no biometric data is processed, so the receipt is not sensitive; the
    # refusal itself is still on it.
    sid, entries = _register(org_db, {"internal": True, "face_matching": False})
    receipt = _receipt(org_db, sid, entries)
    _assert_valid(receipt.json)
    assert receipt.json["sensitive"] is False and "spiCat" not in receipt.json
    assert _purposes(receipt)["face_matching"]["x-portal"]["action"] == "refused"


def test_partners_receipt_names_third_parties(org_db: Database) -> None:
    sid, entries = _register(org_db, {"partners": True, "internal": True})
    receipt = _receipt(org_db, sid, entries)
    _assert_valid(receipt.json)
    partners = _purposes(receipt)["partners"]
    assert partners["thirdPartyDisclosure"] is True
    assert partners["thirdPartyName"] == "Nordic Event Partners AB, City of Lund, culture department"
    internal = _purposes(receipt)["internal"]
    assert internal["thirdPartyDisclosure"] is False and "thirdPartyName" not in internal


def test_qr_form_at_event_with_guardian(org_db: Database) -> None:
    with org_db.write() as conn:
        event = create_event(conn, name='Spring "Gala" & Fair', purpose_codes=["internal"], now=NOW)
    context = Context(channel="qr_form", actor="subject", event_id=event.id, evidence={"act": "checkbox"})
    sid, entries = _register(
        org_db,
        {"internal": True},
        context=context,
        event_id=event.id,
        is_minor=True,
        guardian_name="Maria Lind",
        guardian_verification="staff_checked_id",
    )
    receipt = _receipt(org_db, sid, entries)
    _assert_valid(receipt.json)
    assert receipt.json["collectionMethod"] == 'QR code form at event Spring "Gala" & Fair'
    proof = _purposes(receipt)["internal"]["x-portal"]
    assert proof["guardian"] == {"name": "Maria Lind", "verifiedBy": "staff_checked_id"}


@pytest.mark.parametrize(
    ("breakage", "why"),
    [
        (lambda d: d.pop("piiControllers"), "piiControllers is required"),
        (lambda d: d.pop("policyUrl"), "policyUrl is required"),
        (lambda d: d.update(sensitive=True), "sensitive without spiCat"),
        (lambda d: d.update(sensitive=True, spiCat=[]), "sensitive with an empty spiCat"),
        (lambda d: d["services"][0]["purposes"][0].update(thirdPartyDisclosure=True), "disclosure without a name"),
        (lambda d: d.update(consentReceiptID=str(uuid.uuid1())), "receipt id is not a UUID4"),
        (lambda d: d.update(consentTimestamp="2025-03-01T14:05:30Z"), "timestamp is not a number"),
        (lambda d: d["piiControllers"][0].update(phone="+46-46-123456"), "phone is not a tel: URI"),
        (lambda d: d["piiControllers"][0].update(address="Storgatan 1, Lund"), "address is not a PostalAddress"),
        (lambda d: d["services"][0]["purposes"][0].update(consentType="IMPLICIT"), "consent must be explicit"),
        (lambda d: d.update(version="KI-CR-v1.0.0"), "wrong version"),
        (lambda d: d.update(unknownField=1), "unknown top-level field"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_schema_rejects_broken_receipts(org_db: Database, breakage: Any, why: str) -> None:
    sid, entries = _register(org_db, {"internal": True})
    good = _receipt(org_db, sid, entries).json
    _assert_valid(good)
    broken = copy.deepcopy(good)
    breakage(broken)
    assert not VALIDATOR.is_valid(broken), why
    assert validate_receipt(broken) != []


def test_receipt_needs_controller_phone_and_policy(org_db: Database) -> None:
    sid, entries = _register(org_db, {"internal": True})
    with org_db.write() as conn:
        save_organisation(conn, replace(get_organisation(conn), contact_phone="", policy_url=""), now=NOW)
    with pytest.raises(ValidationError, match="phone and privacy-policy URL"):
        _receipt(org_db, sid, entries)


def test_tel_uri() -> None:
    assert tel_uri("+46 46 123456") == "tel:+46-46-123456"
    assert tel_uri("0046-46-123456") == "tel:+46-46-123456"
    with pytest.raises(ValidationError, match="international number"):
        tel_uri("046-123456")


def test_receipt_catalogue_is_complete() -> None:
    assert set(RECEIPT_MESSAGES["sv"]) == set(RECEIPT_MESSAGES["en"])


def test_blob_keys_and_store(org_db: Database, tmp_path: Path) -> None:
    sid, entries = _register(org_db, {"internal": True})
    receipt = _receipt(org_db, sid, entries)
    keys = receipt_blob_keys(receipt)
    assert keys == (f"receipts/{sid}/{receipt.receipt_id}.json", f"receipts/{sid}/{receipt.receipt_id}.pdf")
    blobs = LocalBlobStore(tmp_path / "blobs")
    assert store_receipt(blobs, receipt, b"%PDF-1.7 test") == keys
    assert json.loads(blobs.get(keys[0])) == receipt.json
    assert blobs.get(keys[1]) == b"%PDF-1.7 test"


def test_swedish_pdf_receipt(org_db: Database, tmp_path: Path) -> None:
    sid, entries = _register(
        org_db, {"internal": True, "face_matching": True, "print": False}, name="Åsa Öberg", locale="sv"
    )
    receipt = _receipt(org_db, sid, entries)
    assert receipt.locale == "sv" and receipt.json["language"] == "sv"
    pdf = render_receipt_pdf(receipt)
    assert pdf.startswith(b"%PDF")
    text = _pdf_text(pdf, tmp_path)
    with org_db.read() as conn:
        internal = current_text(conn, get_purpose(conn, "internal").id, "sv")
    for expected in (
        "Kvitto på samtycke",
        "Åsa Öberg",
        "Nordlys Events AB",
        "Karin Berg",
        "2025-03-01 14:05 UTC",
        "registrerat av personal",
        internal.title,
        " ".join(internal.body.split()),
        "Våra anställda",
        "Givet",
        "Inte givet",
        "Gäller till 2026-03-01",
        "Så återkallar du",
        "privacy@nordlys.example",
        "biometriska uppgifter",
        receipt.receipt_id,
        *(i.entry_hash for i in receipt.items),
    ):
        assert _shows(text, expected), expected
    assert "Consent receipt" not in text
    fonts = subprocess.run(
        ["/usr/bin/pdffonts", str(tmp_path / "receipt.pdf")], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    # Only the bundled DejaVu files, embedded: no system font was used.
    assert fonts and all("Receipt-Sans" in line and " yes yes yes " in line for line in fonts)


def test_hostile_text_is_inert(org_db: Database, tmp_path: Path) -> None:
    with org_db.write() as conn:
        publish_text(
            conn,
            code="website",
            texts={
                "en": TextContent(
                    title="<b>Web</b> & <i>more</i>",
                    body=f"Body {HOSTILE_SCRIPT} {HOSTILE_IMG} & <a href='https://evil.example'>link</a>",
                    recipients=("Tom & Jerry <jerry@evil.example>",),
                    data_categories=("Photo",),
                ),
            },
            carry_over=("sv",),
            now=NOW,
        )
    context = Context(
        channel="paper", actor="staff:test", evidence={"act": "signature", "note": f"{HOSTILE_IMG} & box 7"}
    )
    sid, entries = _register(
        org_db,
        {"website": True},
        name='Zoë "Z" O\'Brien & Sons',
        context=context,
        is_minor=True,
        guardian_name="Guardian & Co",
        guardian_verification="staff_checked_id",
    )
    receipt = _receipt(org_db, sid, entries)
    _assert_valid(receipt.json)
    html = render_receipt_html(receipt)
    assert "<script>" not in html and "<img" not in html and "<b>" not in html and "<a href" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    pdf = render_receipt_pdf(receipt)
    text = _pdf_text(pdf, tmp_path)
    for literal in (
        'Zoë "Z" O\'Brien & Sons',
        "Staff checked the guardian's ID",  # the method's label, not its code
        f"{HOSTILE_IMG} & box 7",
        "<b>Web</b> & <i>more</i>",
        f"Body {HOSTILE_SCRIPT} {HOSTILE_IMG} & <a href='https://evil.example'>link</a>",
        "Tom & Jerry <jerry@evil.example>",
        "Guardian & Co",
    ):
        assert _shows(text, literal), literal
    assert "&amp;" not in text and "&lt;" not in text
    subprocess.run(
        [
            "/usr/bin/pdftoppm",
            "-png",
            "-r",
            "50",
            "-f",
            "1",
            "-l",
            "1",
            str(tmp_path / "receipt.pdf"),
            str(tmp_path / "p"),
        ],
        check=True,
    )
    page = Image.open(next(tmp_path.glob("p*.png"))).convert("L")
    dark = sum(page.histogram()[:100])
    assert dark > 500  # text was drawn, the page is not blank


def test_fetcher_serves_only_local_asset_files(tmp_path: Path) -> None:
    fetcher = local_url_fetcher(ASSETS, TEMPLATES)
    font = (ASSETS / "fonts" / "DejaVuSans.ttf").resolve()
    response = fetcher.fetch(font.as_uri())
    assert response.read(4) == b"\x00\x01\x00\x00"
    response.close()
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    for url in (
        "https://example.com/font.ttf",
        "http://127.0.0.1/x.css",
        "data:text/plain,hello",
        outside.as_uri(),
        (ASSETS / "fonts" / ".." / ".." / "README.md").as_uri(),
        (ASSETS / "fonts" / "missing.ttf").as_uri(),
    ):
        with pytest.raises(ValueError, match="Refusing"):
            fetcher.fetch(url)
