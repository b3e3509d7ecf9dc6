"""Consent receipts (R13, R24): signed Kantara JSON that the official schema checks, and a PDF that says what was
agreed, in one language, with fonts that draw the names people type."""

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
from jsonschema import Draft4Validator
from PIL import Image
from sqlalchemy import update

from portal.backend.consent import dpv, ledger
from portal.backend.consent.ledger import LedgerEntry, entries_for_subject
from portal.backend.consent.purposes import TextContent, current_text, get_purpose, publish_text
from portal.backend.consent.receipt_jws import JWS_FIELD, receipt_public_key, signature_problem
from portal.backend.consent.receipts import (
    KANTARA_DIR,
    SCHEMA_PATH,
    Receipt,
    build_receipt,
    check_receipt,
    receipt_blob_keys,
    receipt_json_bytes,
    receipt_schema,
    store_receipt,
    tel_uri,
    validate_receipt,
)
from portal.backend.consent.records import Context, Decision
from portal.backend.events.store import create_event
from portal.backend.i18n.purposes import STANDARD_PURPOSES
from portal.backend.i18n.receipts import RECEIPT_MESSAGES
from portal.backend.platform.blobs import LocalBlobStore
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import consent_ledger
from portal.backend.platform.errors import ValidationError
from portal.backend.platform.organisation import get_organisation, save_organisation
from portal.backend.platform.signing import signing_key_for
from portal.backend.reports.receipt import (
    ASSETS,
    REPLACEMENT,
    TEMPLATES,
    local_url_fetcher,
    render_receipt_html,
    render_receipt_pdf,
)
from portal.cli import main as cli_main
from tests.factories import STAFF, record_consent, register_subject
from tests.test_ledger_tamper import _drop_guards

NOW = datetime(2025, 3, 1, 14, 5, 30, tzinfo=UTC)
VALIDATOR = Draft4Validator(receipt_schema())
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
    """The receipt conforms to the official Kantara schema and carries the organisation's valid signature."""
    errors = [e.message for e in VALIDATOR.iter_errors(data)]
    assert errors == []
    assert signature_problem(data, receipt_public_key(data)) is None


def _pdf_text(pdf: bytes, tmp_path: Path) -> str:
    """The PDF's text as pdftotext extracts it, whitespace collapsed."""
    path = tmp_path / "receipt.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["/usr/bin/pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True)
    return " ".join(out.stdout.decode("utf-8").split())


def _shows(text: str, literal: str) -> bool:
    """True when the PDF text holds `literal`; whitespace is ignored because long words may wrap mid-word."""
    return "".join(literal.split()) in "".join(text.split())


def test_official_schema_is_shipped_verbatim_and_accepts_kantaras_example() -> None:
    text = SCHEMA_PATH.read_text(encoding="utf-8")
    # Verbatim: the published file, comment lines included (so it is read past them, not as plain JSON).
    assert text.startswith("{\n   // Kantara Consent Receipt Specification v 1.1.0 DRAFT 6\n")
    assert (KANTARA_DIR / "SOURCE.md").is_file()
    schema = receipt_schema()
    Draft4Validator.check_schema(schema)
    assert "spiCat" in schema["required"]
    example = json.loads((KANTARA_DIR / "kantara-consent-receipt-v1_1-example.json").read_text(encoding="utf-8"))
    assert validate_receipt(example) == []
    del example["spiCat"]
    assert any("spiCat" in p for p in validate_receipt(example))


def test_standard_purposes_use_dpv_codes_that_exist() -> None:
    assert {p.code: p.dpv_code for p in STANDARD_PURPOSES} == dpv.STANDARD_PURPOSES
    for p in STANDARD_PURPOSES:
        assert dpv.is_known(p.dpv_code) and p.dpv_code in dpv.PURPOSE_CATEGORIES, p.code
    assert not dpv.is_known("dpv:ThirdPartySharing")
    assert dpv.iri("pd:FacialPrint") == "https://w3id.org/dpv/pd#FacialPrint"
    assert dpv.iri("dpv:PublicRelations") == "https://w3id.org/dpv#PublicRelations"
    assert dpv.concept(dpv.FACIAL_PRINT).special_category and not dpv.concept(dpv.PICTURE).special_category


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
    # spiCat is required on every receipt; empty when no special category is processed.
    assert data["sensitive"] is False and data["spiCat"] == []
    assert data["publicKey"].startswith("-----BEGIN PUBLIC KEY-----")
    assert data[JWS_FIELD].count(".") == 2 and ".." in data[JWS_FIELD]
    purposes = _purposes(receipt)
    assert list(purposes) == ["internal", "website", "print"]
    assert purposes["internal"]["purpose"] == "Internal use"
    assert purposes["internal"]["purposeCategory"] == ["dpv:CommunicationManagement"]
    assert purposes["website"]["purposeCategory"] == ["dpv:PublicRelations"]
    assert purposes["internal"]["consentType"] == "EXPLICIT"
    assert purposes["internal"]["piiCategory"] == ["pd:Picture"]
    assert purposes["internal"]["x-portal"]["piiCategoryLabel"] == ["Photo"]
    assert purposes["internal"]["x-portal"]["purposeCategoryLabel"] == ["Communication management"]
    assert purposes["internal"]["termination"].startswith("valid until 2026-03-01, withdraw any time")
    assert purposes["internal"]["x-portal"]["state"] == "given"
    assert purposes["internal"]["x-portal"]["consentInForce"] is True
    # A refusal gives the controller no authority: consentType N/A, the real state in the extension.
    assert purposes["print"]["consentType"] == "N/A"
    assert purposes["print"]["x-portal"]["state"] == "refused"
    assert purposes["print"]["x-portal"]["consentInForce"] is False
    assert "not given" in purposes["print"]["termination"]
    assert purposes["internal"]["x-portal"]["scope"] == "all photos of you"
    assert purposes["internal"]["x-portal"]["scopeAssetId"] is None
    assert "personal link" in purposes["internal"]["x-portal"]["withdrawalMethod"]
    for purpose in purposes.values():
        assert all(dpv.is_known(c) for c in purpose["purposeCategory"] + purpose["piiCategory"])


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
    assert website["x-portal"]["state"] == "withdrawn"
    assert website["consentType"] == "N/A"
    assert website["termination"].startswith("consent withdrawn on 2025-06-02")
    # A withdrawal refers to the wording the consent was given under.
    assert website["purpose"] == "Our website"


def test_face_matching_receipt_is_sensitive(org_db: Database) -> None:
    sid, entries = _register(org_db, {"internal": True, "face_matching": True})
    receipt = _receipt(org_db, sid, entries)
    _assert_valid(receipt.json)
    assert receipt.json["sensitive"] is True
    assert receipt.json["spiCat"] == ["pd:FacialPrint"]
    assert receipt.json["x-portal"]["spiCatLabel"] == ["Biometric data (face template)"]
    face = _purposes(receipt)["face_matching"]
    assert face["piiCategory"] == ["pd:Picture", "pd:FacialPrint"]
    assert face["purposeCategory"] == ["dpv:SearchFunctionalities"]
    assert face["consentType"] == "EXPLICIT"
    assert "Face template (biometric data)" in face["x-portal"]["piiCategoryLabel"]


def test_refused_face_matching_is_not_sensitive(org_db: Database) -> None:
    # R24: refusing face matching means no biometric data is processed, so the receipt is not sensitive; the
    # refusal itself is still on it.
    sid, entries = _register(org_db, {"internal": True, "face_matching": False})
    receipt = _receipt(org_db, sid, entries)
    _assert_valid(receipt.json)
    assert receipt.json["sensitive"] is False and receipt.json["spiCat"] == []
    assert _purposes(receipt)["face_matching"]["x-portal"]["state"] == "refused"


def test_partners_receipt_names_third_parties(org_db: Database) -> None:
    sid, entries = _register(org_db, {"partners": True, "internal": True})
    receipt = _receipt(org_db, sid, entries)
    _assert_valid(receipt.json)
    partners = _purposes(receipt)["partners"]
    assert partners["thirdPartyDisclosure"] is True
    assert partners["purposeCategory"] == ["dpv:PublicRelations"]
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
    assert proof["guardian"] == {
        "name": "Maria Lind",
        "verifiedBy": "Staff checked the guardian's ID",
        "verifiedByCode": "staff_checked_id",
    }


@pytest.mark.parametrize(
    ("breakage", "why"),
    [
        (lambda d: d.pop("piiControllers"), "piiControllers is required"),
        (lambda d: d.pop("policyUrl"), "policyUrl is required"),
        (lambda d: d.pop("spiCat"), "spiCat is required on every receipt"),
        (lambda d: d.update(spiCat="pd:FacialPrint"), "spiCat is a list"),
        (lambda d: d["services"][0]["purposes"][0].update(thirdPartyDisclosure=True), "disclosure without a name"),
        (lambda d: d["services"][0]["purposes"][0].pop("consentType"), "consentType is required"),
        (lambda d: d["services"][0]["purposes"][0].update(piiCategory="pd:Picture"), "piiCategory is a list"),
        (lambda d: d.update(consentTimestamp="2025-03-01T14:05:30Z"), "timestamp is not a number"),
        (lambda d: d["piiControllers"][0].update(address="Storgatan 1, Lund"), "address is an object"),
        (lambda d: d["piiControllers"][0].pop("phone"), "the controller's phone is required"),
        (lambda d: d.update(sensitive="no"), "sensitive is a boolean"),
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


def test_receipt_is_signed_by_the_organisation_and_its_entries_are_in_the_chain(org_db: Database) -> None:
    sid, entries = _register(org_db, {"internal": True, "website": False})
    receipt = _receipt(org_db, sid, entries)
    with org_db.read() as conn:
        key = signing_key_for(conn).verify_key
        assert receipt_public_key(receipt.json).raw == key.raw
        good = check_receipt(conn, json.loads(receipt_json_bytes(receipt)), key)
        assert good.ok and good.entries == 2 and good.receipt_id == receipt.receipt_id, good.problem
        changed = copy.deepcopy(receipt.json)
        changed["services"][0]["purposes"][1]["x-portal"]["state"] = "given"
        assert "changed after it was signed" in (check_receipt(conn, changed, key).problem or "")
        wrong_seq = copy.deepcopy(receipt.json)
        wrong_seq["services"][0]["purposes"][0]["x-portal"]["ledgerSeq"] = 999
        assert not check_receipt(conn, wrong_seq, key).ok
    # Someone else's key: a valid signature, but not the organisation's.
    from portal.backend.consent.receipt_jws import public_key_pem, sign_receipt
    from portal.backend.platform.signing import SigningKey, _private_from_text, new_key_text

    other = SigningKey(_private_from_text(new_key_text(), "test"))
    forged = {k: v for k, v in receipt.json.items() if k != JWS_FIELD}
    forged["publicKey"] = public_key_pem(other.verify_key)
    forged[JWS_FIELD] = sign_receipt(forged, other)
    with org_db.read() as conn:
        assert "not with the organisation's key" in (check_receipt(conn, forged, key).problem or "")


def test_cli_receipts_verify(org_db: Database, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sid, entries = _register(org_db, {"internal": True})
    receipt = _receipt(org_db, sid, entries)
    path = tmp_path / "receipt.json"
    path.write_bytes(receipt_json_bytes(receipt))
    assert cli_main(["receipts", "verify", str(path), "--database-url", db_url]) == 0
    assert f"Receipt {receipt.receipt_id} is genuine" in capsys.readouterr().out
    # The ledger is rewritten under the receipt: its entry no longer has the hash the receipt holds.
    _drop_guards(org_db, "consent_ledger")
    with org_db.write() as conn:
        conn.execute(update(consent_ledger).where(consent_ledger.c.seq == entries[0].seq).values(actor="staff:evil"))
    assert cli_main(["receipts", "verify", str(path), "--database-url", db_url]) == 1
    out = capsys.readouterr().out
    assert out.startswith("RECEIPT NOT VALID: the consent ledger does not verify") and len(out.splitlines()) == 1
    path.write_text("{not json", encoding="utf-8")
    assert cli_main(["receipts", "verify", str(path), "--database-url", db_url]) == 1
    assert "not JSON" in capsys.readouterr().out


def test_swedish_receipt_is_swedish_throughout(org_db: Database, tmp_path: Path) -> None:
    """A person who chose Swedish gets Swedish purpose texts, headings, evidence and guardian line, JSON and PDF."""
    context = Context(channel="qr_form", actor="subject", evidence={"act": "checkbox"}, locale="sv")
    sid, entries = _register(
        org_db,
        {"internal": True, "partners": True, "face_matching": False},
        locale="sv",
        context=context,
        is_minor=True,
        guardian_name="Maria Lind",
        guardian_verification="staff_checked_id",
    )
    receipt = _receipt(org_db, sid, entries)
    _assert_valid(receipt.json)
    assert receipt.locale == "sv" and receipt.json["language"] == "sv"
    with org_db.read() as conn:
        english = [current_text(conn, get_purpose(conn, c).id, "en") for c in ("internal", "partners", "face_matching")]
        swedish = current_text(conn, get_purpose(conn, "internal").id, "sv")
    text_json = json.dumps(receipt.json, ensure_ascii=False)
    english_words = [t.title for t in english] + [t.body[:40] for t in english]
    english_words += ["Photo", "Our employees", "entered by staff", "QR code form", "valid until", "not given"]
    english_words += ["personal link", "Staff checked", "all photos", "Communication management"]
    for words in english_words:
        assert words not in text_json, words
    internal = _purposes(receipt)["internal"]
    assert internal["purpose"] == swedish.title == "Internt bruk"
    assert internal["x-portal"]["piiCategoryLabel"] == ["Bild"]
    assert internal["x-portal"]["guardian"]["verifiedBy"] != "staff_checked_id"
    pdf = _pdf_text(render_receipt_pdf(receipt), tmp_path)
    for words in [*english_words, *RECEIPT_MESSAGES["en"]["title"].split("\n"), "Your choices", "How to withdraw"]:
        assert not _shows(pdf, words), words
    for words in ("Kvitto på samtycke", swedish.title, " ".join(swedish.body.split()), "Maria Lind", "Dina val"):
        assert _shows(pdf, words), words
    assert _shows(pdf, f"organisationens nyckel {receipt_public_key(receipt.json).key_id}")


NAMES = {
    "greek": "Ἀλέξανδρος Παπαδόπουλος",
    "cyrillic": "Иван Петрович Сидоров",
    "arabic": "محمد عبد الله",
    "hebrew": "דוד לוי",
    "chinese": "王小明",
    "japanese": "山田 はなこ",
    "korean": "김민준",
}


def test_names_in_many_scripts_print(org_db: Database, tmp_path: Path) -> None:
    name = " / ".join(NAMES.values()) + " Zoë 😀👍🏽 end"
    sid, entries = _register(org_db, {"internal": True}, name=name)
    receipt = _receipt(org_db, sid, entries)
    pdf = render_receipt_pdf(receipt)
    (tmp_path / "receipt.pdf").write_bytes(pdf)
    text = _pdf_text(pdf, tmp_path)
    for script, written in NAMES.items():
        if script in ("arabic", "hebrew"):
            # pdftotext may give right-to-left words in visual order; every word must be there.
            assert all(_shows(text, w) or _shows(text, w[::-1]) for w in written.split()), script
        else:
            assert _shows(text, written), script
    # Emoji: no bundled font has them; each run prints one replacement mark, never an empty box.
    assert _shows(text, f"Zoë {REPLACEMENT} end")
    fonts = subprocess.run(
        ["/usr/bin/pdffonts", str(tmp_path / "receipt.pdf")], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    names = {line.split()[0].split("+")[-1] for line in fonts}
    assert all(" yes yes yes " in line for line in fonts)
    # Only bundled fonts, embedded (DejaVu draws the Greek, Cyrillic, Arabic and Hebrew here; Noto Arabic and
    # Hebrew stand behind it for letters it lacks): never a system font.
    assert {"Receipt-Sans", "Receipt-Sans-CJK", "Receipt-Sans-Korean"} <= names, names
    assert all(n.startswith("Receipt-Sans") for n in names), names
