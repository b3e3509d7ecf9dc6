"""Consent receipts (R13): a signed Kantara CR v1.1.0 JSON receipt for every consent submission, and its storage.

Every receipt validates against the official Kantara v1.1 JSON Schema (shipped in `kantara/`), carries W3C DPV codes
(`dpv.py`) as purpose and personal-data categories, the item's real state in the `x-portal` extension, and a detached
JWS (`receipt_jws.py`) made with the organisation's Ed25519 key, whose public half is the receipt's `publicKey`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, insert, literal, select, tuple_, update

from portal.backend.consent import dpv
from portal.backend.consent.ledger import LedgerEntry, SignedHead, latest_signed_head, verify_connection
from portal.backend.consent.purposes import Purpose, list_purposes, text_version
from portal.backend.consent.receipt_jws import (
    JWS_FIELD,
    public_key_pem,
    receipt_public_key,
    sign_receipt,
    signature_problem,
)
from portal.backend.i18n.receipts import RECEIPT_LOCALES, rt
from portal.backend.people.guardians import method_label
from portal.backend.people.private import reveal_evidence
from portal.backend.people.subjects import get_subject
from portal.backend.platform.blobs import BlobStore
from portal.backend.platform.db.schema import consent_ledger, events, receipts, subjects
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import ValidationError
from portal.backend.platform.organisation import Organisation, get_organisation
from portal.backend.platform.signing import VerifyKey, signing_key_for

KANTARA_DIR = Path(__file__).with_name("kantara")
# The official schema, verbatim (see kantara/SOURCE.md); it is JSON Schema draft-04 with two `//` comment lines.
SCHEMA_PATH = KANTARA_DIR / "kantara-consent-receipt-v1_1-schema.json"
KANTARA_VERSION = "KI-CR-v1.1.0"
EXTENSION = "x-portal"
_PHONE = re.compile(r"\+[0-9][0-9().-]*[0-9]")
_ALLOWING = ("given", "renewed")
# Kantara `consentType` is the kind of consent the controller relies on as its authority for the purpose. A given or
# renewed item rests on an explicit affirmative act (for face matching the explicit consent of GDPR Art. 9(2)(a));
# a refused, withdrawn, revoked or expired item gives no authority at all, which the specification's own example
# writes "N/A". The item's real state is `x-portal.state`.
CONSENT_TYPE_EXPLICIT = "EXPLICIT"
CONSENT_TYPE_NONE = "N/A"


@dataclass(frozen=True)
class ReceiptItem:
    """One ledger entry on a receipt, with the exact wording that was shown."""

    purpose_code: str
    title: str
    body: str
    recipients: tuple[str, ...]
    data_categories: tuple[str, ...]
    purpose_category: str
    biometric: bool
    third_party: bool
    action: str
    scope_asset_id: int | None
    valid_until: datetime | None
    seq: int
    entry_id: str
    entry_hash: str
    prev_hash: str
    text_version: int
    text_locale: str
    text_hash: str
    guardian: dict[str, Any] | None
    note: str | None


@dataclass(frozen=True)
class Receipt:
    """A receipt for one consent submission: the Kantara JSON plus what the PDF shows."""

    receipt_id: str
    subject_id: str
    locale: str
    json: dict[str, Any]
    subject_name: str | None
    organisation: Organisation
    recorded_at: datetime
    issued_at: datetime
    collection_method: str
    sensitive: bool
    items: tuple[ReceiptItem, ...]
    # The newest signed ledger head when the receipt was made: an anchor the person keeps outside our database.
    ledger_head: SignedHead | None = None


def tel_uri(phone: str) -> str:
    """An international phone number as an RFC 3966 `tel:` URI (Kantara requires the controller's phone)."""
    text = re.sub(r"\s+", "-", phone.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    if not _PHONE.fullmatch(text):
        raise ValidationError(
            f"The controller's phone {phone!r} must be an international number such as +46-46-123456 "
            "(a consent receipt needs it in RFC 3966 form); correct it in Settings."
        )
    return f"tel:{text}"


def _check_organisation(org: Organisation) -> None:
    """Refuse to issue a receipt that could not conform: say which settings are missing."""
    missing = [
        label
        for label, value in (("phone", org.contact_phone), ("privacy-policy URL", org.policy_url))
        if not value.strip()
    ]
    if missing:
        raise ValidationError(
            f"A consent receipt needs the controller's {' and '.join(missing)}; fill them in under Settings."
        )


def _controller(org: Organisation) -> dict[str, Any]:
    """The Kantara piiControllers entry for the organisation."""
    address: dict[str, Any] = {"@type": "PostalAddress"}
    for key, value in (
        ("streetAddress", org.street),
        ("postalCode", org.postal_code),
        ("addressLocality", org.locality),
    ):
        if value.strip():
            address[key] = value.strip()
    address["addressCountry"] = org.country.upper()
    controller: dict[str, Any] = {
        "piiController": org.controller_name,
        "contact": org.dpo_name.strip() or org.controller_name,
        "address": address,
        "email": org.contact_email,
        "phone": tel_uri(org.contact_phone),
    }
    parts = urlsplit(org.policy_url)
    if parts.scheme in ("http", "https") and parts.netloc:
        controller["piiControllerUrl"] = f"{parts.scheme}://{parts.netloc}/"
    return controller


def _collection_method(conn: Connection, entry: LedgerEntry, locale: str) -> str:
    """How the consent was collected, in words (the event is named when there was one)."""
    method = rt(f"method.{entry.channel}", locale)
    if entry.event_id is None:
        return method
    name = conn.execute(select(events.c.name).where(events.c.id == entry.event_id)).scalar()
    return rt("method.at_event", locale, method=method, event=name) if name else method


def _termination(item: ReceiptItem, recorded_at: datetime, org: Organisation, locale: str) -> str:
    """Kantara `termination`: when the consent ends and how to end it, or the fact that ended it."""
    if item.action in _ALLOWING:
        until = item.valid_until.date().isoformat() if item.valid_until else "-"
        return rt("termination.given", locale, date=until, email=org.contact_email)
    return rt(f"termination.{item.action}", locale, date=recorded_at.date().isoformat())


def _item(conn: Connection, entry: LedgerEntry, purpose: Purpose, locale: str) -> ReceiptItem:
    """A receipt line for one entry: the stored text version it refers to, in the receipt's language.

    The text is the version the entry was recorded under; its wording in the receipt's language when that version
    was published in it (a withdrawal on a Swedish receipt of a consent once given in English shows the Swedish
    wording of the same version; the proof keeps the hash of the text actually shown then).
    """
    shown = text_version(conn, entry.purpose_id, entry.text_version, locale)
    # The ledger holds HMACs of the guardian and notes; their text comes from the erasable tables.
    guardian, note = reveal_evidence(conn, entry.subject_id, entry.evidence_data)
    return ReceiptItem(
        purpose_code=purpose.code,
        title=shown.title,
        body=shown.body,
        recipients=shown.recipients,
        data_categories=shown.data_categories,
        purpose_category=purpose.dpv_code,
        biometric=purpose.biometric,
        third_party=purpose.third_party,
        action=entry.action,
        scope_asset_id=entry.scope_asset_id,
        valid_until=entry.valid_until,
        seq=entry.seq,
        entry_id=entry.entry_id,
        entry_hash=entry.entry_hash,
        prev_hash=entry.prev_hash,
        text_version=entry.text_version,
        text_locale=entry.text_locale,
        text_hash=entry.text_hash,
        guardian=guardian if isinstance(guardian, dict) else None,
        note=str(note) if note else None,
    )


def _purpose_json(item: ReceiptItem, recorded_at: datetime, org: Organisation, locale: str) -> dict:
    """The Kantara purpose object, with the item's state and ledger proof under the vendor extension key."""
    pii_codes = dpv.personal_data_categories(biometric=item.biometric)
    data: dict[str, Any] = {
        "purpose": item.title,
        "purposeCategory": [item.purpose_category],
        "consentType": CONSENT_TYPE_EXPLICIT if item.action in _ALLOWING else CONSENT_TYPE_NONE,
        "piiCategory": list(pii_codes),
        "primaryPurpose": False,
        "termination": _termination(item, recorded_at, org, locale),
        "thirdPartyDisclosure": item.third_party,
    }
    if item.third_party:
        data["thirdPartyName"] = ", ".join(item.recipients) or org.controller_name
    purpose_label = dpv.PURPOSE_CATEGORIES.get(item.purpose_category)
    proof: dict[str, Any] = {
        "purposeCode": item.purpose_code,
        # The item's real state: given, renewed, refused, withdrawn, revoked or expired.
        "state": item.action,
        "consentInForce": item.action in _ALLOWING,
        # The human wording next to the DPV codes, in the receipt's language.
        "purposeCategoryLabel": [purpose_label.label(locale) if purpose_label else item.purpose_category],
        "piiCategoryLabel": list(item.data_categories) or [dpv.concept(c).label(locale) for c in pii_codes],
        "textVersion": item.text_version,
        "textLocale": item.text_locale,
        "textHash": item.text_hash,
        "recipients": list(item.recipients),
        "scopeAssetId": item.scope_asset_id,
        "scope": rt("scope_all", locale)
        if item.scope_asset_id is None
        else rt("scope_asset", locale, id=item.scope_asset_id),
        "validUntil": item.valid_until.isoformat() if item.valid_until else None,
        "ledgerSeq": item.seq,
        "entryId": item.entry_id,
        "entryHash": item.entry_hash,
        "prevHash": item.prev_hash,
        "withdrawalMethod": rt("withdrawal_method", locale, email=org.contact_email),
    }
    if item.guardian:
        method = item.guardian.get("verified_by")
        proof["guardian"] = {
            "name": item.guardian.get("name"),
            "verifiedBy": method_label(method, locale) if method else None,
            "verifiedByCode": method,
        }
    if item.note:
        proof["note"] = item.note
    data[EXTENSION] = proof
    return data


def build_receipt(
    conn: Connection,
    *,
    subject_id: str,
    entries: list[LedgerEntry],
    receipt_id: str | None = None,
    now: datetime | None = None,
) -> Receipt:
    """The receipt for one submission (entries recorded together for one subject), validated against the schema.

    `receipt_id` is the id of the receipt's row (see `add_receipt`); the receipt carries it as its Kantara id.
    """
    if not entries:
        raise ValidationError("A receipt needs at least one ledger entry.")
    if any(e.subject_id != subject_id for e in entries):
        raise ValueError("Every entry on a receipt must belong to the receipt's subject.")
    org = get_organisation(conn)
    _check_organisation(org)
    subject = get_subject(conn, subject_id)
    ordered = sorted(entries, key=lambda e: e.seq)
    locale = receipt_locale(ordered, subject.locale)
    known = {p.id: p for p in list_purposes(conn, active_only=False)}
    items = tuple(_item(conn, e, known[e.purpose_id], locale) for e in ordered)
    recorded_at = max(e.recorded_at for e in ordered)
    # R24: only a face-matching consent that is given (or renewed) means processing biometric data; refusing or
    # withdrawing it does not.
    sensitive = any(i.biometric and i.action in _ALLOWING for i in items)
    method = _collection_method(conn, ordered[0], locale)
    receipt_id = receipt_id or str(uuid.uuid4())
    key = signing_key_for(conn)
    data: dict[str, Any] = {
        "version": KANTARA_VERSION,
        "jurisdiction": org.country.upper(),
        "consentTimestamp": int(recorded_at.timestamp()),
        "collectionMethod": method,
        "consentReceiptID": receipt_id,
        "publicKey": public_key_pem(key.verify_key),
        "language": locale,
        # R12: a pseudonymous id, never the name.
        "piiPrincipalId": subject_id,
        "piiControllers": [_controller(org)],
        "policyUrl": org.policy_url,
        "services": [
            {
                "service": rt("service", locale),
                "purposes": [_purpose_json(i, recorded_at, org, locale) for i in items],
            }
        ],
        "sensitive": sensitive,
        # Required on every receipt by the Kantara schema: the special categories processed, empty when none is.
        # R24: only given face matching processes one (the face template, DPV-PD FacialPrint).
        "spiCat": [dpv.FACIAL_PRINT] if sensitive else [],
    }
    data[EXTENSION] = {
        "channel": ordered[0].channel,
        "recordedAt": recorded_at.isoformat(),
        "spiCatLabel": [rt("spi_biometric", locale)] if sensitive else [],
    }
    head = latest_signed_head(conn)
    if head is not None and head.seq >= ordered[-1].seq:
        # `python -m portal ledger verify --anchor receipt.json` proves the chain still holds these entries.
        data[EXTENSION]["ledgerHead"] = head.to_json()
    else:
        head = None
    problems = validate_receipt(data)
    if problems:
        raise ValueError(f"The receipt does not conform to Kantara CR v1.1.0: {problems[0]}")
    # Signed last, over everything above (the JWS member itself excluded).
    data[JWS_FIELD] = sign_receipt(data, key)
    return Receipt(
        receipt_id=receipt_id,
        subject_id=subject_id,
        locale=locale,
        json=data,
        subject_name=subject.display_name,
        organisation=org,
        recorded_at=recorded_at,
        issued_at=now or utcnow(),
        collection_method=method,
        sensitive=sensitive,
        items=items,
        ledger_head=head,
    )


def receipt_locale(entries: list[LedgerEntry], subject_locale: str | None) -> str:
    """The one language of a receipt: the language the person chose and read the texts in.

    That is the language of the texts the entries were recorded under when they all share one the receipts speak,
    else (a withdrawal of consents given in several languages, an expiry) the person's own language.
    """
    shown = {e.text_locale for e in entries if e.action in ("given", "renewed", "refused")}
    if len(shown) == 1 and (only := shown.pop()) in RECEIPT_LOCALES:
        return only
    return subject_locale if subject_locale in RECEIPT_LOCALES else "en"


@cache
def receipt_schema() -> dict[str, Any]:
    """The official Kantara CR v1.1 JSON Schema (draft-04), read past its `//` comment lines."""
    lines = SCHEMA_PATH.read_text(encoding="utf-8").splitlines()
    return json.loads("\n".join(line for line in lines if not line.lstrip().startswith("//")))


def validate_receipt(data: dict[str, Any]) -> list[str]:
    """Every way `data` breaks the official Kantara schema, as readable messages (empty when it conforms)."""
    # Imported here: only receipt code needs jsonschema (it comes with Streamlit's altair).
    from jsonschema import Draft4Validator

    validator = Draft4Validator(receipt_schema())
    return [
        f"{'/'.join(str(p) for p in err.absolute_path) or '(top)'}: {err.message}"
        for err in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    ]


def receipt_json_bytes(receipt: Receipt) -> bytes:
    """The JSON receipt as UTF-8 bytes, as it is stored and handed to the subject."""
    return json.dumps(receipt.json, ensure_ascii=False, indent=2, sort_keys=False).encode("utf-8")


def receipt_blob_keys(receipt: Receipt, attempt: str | None = None) -> tuple[str, str]:
    """Blob keys of the JSON and PDF receipt: receipts/<subject_id>/<receipt_id>[.<attempt>].json and .pdf."""
    base = f"receipts/{receipt.subject_id}/{receipt.receipt_id}"
    if attempt:
        base = f"{base}.{attempt}"
    return f"{base}.json", f"{base}.pdf"


def store_receipt(blobs: BlobStore, receipt: Receipt, pdf: bytes, attempt: str | None = None) -> tuple[str, str]:
    """Store both receipt files with their content types; returns their keys."""
    json_key, pdf_key = receipt_blob_keys(receipt, attempt)
    blobs.put(json_key, receipt_json_bytes(receipt), content_type="application/json")
    blobs.put(pdf_key, pdf, content_type="application/pdf")
    return json_key, pdf_key


# The row of a receipt is written in the transaction of the change it documents; its files (signed JSON and PDF)
# are rendered later, off the request path: on the first download, by the export or the CLI that needs them, and in
# bounded batches by the daily jobs. Each render stores its files under keys of its own and then marks the row
# issued only if nobody did first, so two renders of one receipt never leave two different files behind one row.


@dataclass(frozen=True)
class ReceiptRecord:
    """One receipt's row: what it documents, and whether its files are stored yet."""

    id: str
    subject_id: str
    created_at: datetime
    channel: str
    actor: str
    summary: str
    locale: str
    entry_seqs: tuple[int, ...]
    state: str
    issued_at: datetime | None
    json_key: str | None
    pdf_key: str | None
    error: str | None

    @property
    def issued(self) -> bool:
        """True when the PDF and JSON files are stored and can be handed out."""
        return self.state == "issued" and bool(self.json_key) and bool(self.pdf_key)


def _record(row: Any) -> ReceiptRecord:
    """Row to ReceiptRecord."""
    m = row._mapping
    return ReceiptRecord(
        id=m["id"],
        subject_id=m["subject_id"],
        created_at=m["created_at"],
        channel=m["channel"],
        actor=m["actor"],
        summary=m["summary"],
        locale=m["locale"],
        entry_seqs=tuple(int(s) for s in json.loads(m["entry_seqs"])),
        state=m["state"],
        issued_at=m["issued_at"],
        json_key=m["json_key"],
        pdf_key=m["pdf_key"],
        error=m["error"],
    )


def summary_of(entries: list[LedgerEntry]) -> str:
    """The label of a receipt: the one action its entries share, or `mixed`."""
    actions = {e.action for e in entries}
    return actions.pop() if len(actions) == 1 else "mixed"


def add_receipt(conn: Connection, *, entries: list[LedgerEntry], actor: str, now: datetime) -> str | None:
    """Write the pending receipt row of one change in the caller's transaction; None when nothing was recorded."""
    return add_receipts(conn, changes=[entries], actor=actor, now=now)[0]


def add_receipts(
    conn: Connection, *, changes: Sequence[list[LedgerEntry]], actor: str, now: datetime
) -> list[str | None]:
    """Write one pending receipt row per change (each one person's entries) in one statement; the ids in order,
    None for a change that recorded nothing. The daily expiry writes thousands at once."""
    for entries in changes:
        if len({e.subject_id for e in entries}) > 1:
            raise ValueError("Every entry on a receipt must belong to one subject.")
    wanted = list({entries[0].subject_id for entries in changes if entries})
    locales: dict[str, str] = {}
    if wanted:
        found = conn.execute(select(subjects.c.id, subjects.c.locale).where(subjects.c.id.in_(wanted)))
        locales = {row[0]: row[1] for row in found}
    ids: list[str | None] = []
    rows = []
    for entries in changes:
        if not entries:
            ids.append(None)
            continue
        ordered = sorted(entries, key=lambda e: e.seq)
        receipt_id = str(uuid.uuid4())
        ids.append(receipt_id)
        rows.append(
            {
                "id": receipt_id,
                "subject_id": ordered[0].subject_id,
                "created_at": now,
                "channel": ordered[0].channel,
                "actor": actor[:100],
                "summary": summary_of(ordered),
                # The language the receipt is written in (the same rule `build_receipt` follows).
                "locale": receipt_locale(ordered, locales.get(ordered[0].subject_id)),
                "entry_seqs": json.dumps([e.seq for e in ordered]),
                "state": "pending",
            }
        )
    if rows:
        conn.execute(insert(receipts), rows)
    return ids


def receipt_for_entries(conn: Connection, entries: list[LedgerEntry]) -> str | None:
    """The id of the receipt that covers these entries (a replayed submission answers with its first receipt)."""
    if not entries:
        return None
    seqs = {e.seq for e in entries}
    rows = conn.execute(
        select(receipts).where(receipts.c.subject_id == entries[0].subject_id).order_by(receipts.c.created_at)
    ).all()
    return next((r.id for r in rows if seqs & set(json.loads(r.entry_seqs))), None)


def get_receipt(conn: Connection, receipt_id: str) -> ReceiptRecord | None:
    """One receipt row, or None."""
    row = conn.execute(select(receipts).where(receipts.c.id == receipt_id)).one_or_none()
    return None if row is None else _record(row)


def subject_receipts(conn: Connection, subject_id: str) -> list[ReceiptRecord]:
    """Every receipt row of a subject, oldest first."""
    rows = conn.execute(
        select(receipts).where(receipts.c.subject_id == subject_id).order_by(receipts.c.created_at, receipts.c.id)
    )
    return [_record(r) for r in rows]


def unissued_receipts(
    conn: Connection,
    receipt_ids: list[str] | None = None,
    *,
    limit: int | None = None,
    after: tuple[datetime, str] | None = None,
) -> list[ReceiptRecord]:
    """Receipt rows whose files are not stored yet (pending or failed), oldest first; only `receipt_ids` if given,
    at most `limit`, only those after the row `after` (its created_at and id: the next batch)."""
    stmt = select(receipts).where(receipts.c.state != "issued").order_by(receipts.c.created_at, receipts.c.id)
    if receipt_ids is not None:
        stmt = stmt.where(receipts.c.id.in_(receipt_ids))
    if after is not None:
        stmt = stmt.where(
            tuple_(receipts.c.created_at, receipts.c.id)
            > tuple_(literal(after[0], receipts.c.created_at.type), literal(after[1], receipts.c.id.type))
        )
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_record(r) for r in conn.execute(stmt)]


def receipt_entries(conn: Connection, record: ReceiptRecord) -> list[LedgerEntry]:
    """The ledger entries a receipt row covers, in chain order."""
    rows = conn.execute(
        select(consent_ledger).where(consent_ledger.c.seq.in_(record.entry_seqs)).order_by(consent_ledger.c.seq)
    )
    return [LedgerEntry.from_row(r) for r in rows]


def mark_issued(conn: Connection, receipt_id: str, *, json_key: str, pdf_key: str, now: datetime) -> bool:
    """Record that a receipt's files are stored under these keys, unless another render did first (or the row is
    gone with an erasure); True when this call issued it."""
    result = conn.execute(
        update(receipts)
        .where(receipts.c.id == receipt_id, receipts.c.state != "issued")
        .values(state="issued", issued_at=now, json_key=json_key, pdf_key=pdf_key, error=None)
    )
    return result.rowcount == 1


def mark_failed(conn: Connection, receipt_id: str, *, error: str) -> None:
    """Record why a receipt could not be rendered; it stays due and is tried again by the next run."""
    conn.execute(
        update(receipts)
        .where(receipts.c.id == receipt_id, receipts.c.state != "issued")
        .values(state="failed", error=error[:300])
    )


@dataclass(frozen=True)
class ReceiptCheck:
    """Outcome of checking a receipt a person holds against the organisation's key and the ledger."""

    ok: bool
    problem: str | None = None
    receipt_id: str | None = None
    key_id: str | None = None
    entries: int = 0


def _proofs(data: dict[str, Any]) -> list[tuple[int, str]]:
    """The (ledger seq, entry hash) pairs a receipt names, in order."""
    pairs: list[tuple[int, str]] = []
    for service in data.get("services") or []:
        for purpose in service.get("purposes") or [] if isinstance(service, dict) else []:
            proof = purpose.get(EXTENSION) if isinstance(purpose, dict) else None
            if not isinstance(proof, dict):
                continue
            seq, entry_hash = proof.get("ledgerSeq"), proof.get("entryHash")
            if isinstance(seq, int) and not isinstance(seq, bool) and isinstance(entry_hash, str):
                pairs.append((seq, entry_hash))
    return pairs


def check_receipt(conn: Connection, data: Any, key: VerifyKey) -> ReceiptCheck:
    """Check a receipt: Kantara schema, signature by `key` (the organisation's), and every ledger entry it names
    is in the chain at its sequence number with its hash, the chain itself intact."""
    if not isinstance(data, dict):
        return ReceiptCheck(False, "the file is not a JSON receipt (expected an object)")
    receipt_id = data.get("consentReceiptID") if isinstance(data.get("consentReceiptID"), str) else None

    def bad(problem: str) -> ReceiptCheck:
        return ReceiptCheck(False, problem, receipt_id, key.key_id)

    problems = validate_receipt(data)
    if problems:
        return bad(f"it does not conform to the Kantara CR v1.1 schema ({problems[0]})")
    try:
        carried = receipt_public_key(data)
    except ValueError as exc:
        return bad(str(exc))
    if carried.raw != key.raw:
        return bad(f"it was signed with key {carried.key_id}, not with the organisation's key {key.key_id}")
    if problem := signature_problem(data, key):
        return bad(problem)
    proofs = _proofs(data)
    if not proofs:
        return bad("it names no ledger entries")
    report = verify_connection(conn, key=key)
    if not report.ok:
        return bad(f"the consent ledger does not verify: {report.problem}")
    rows = {
        int(r.seq): r.entry_hash
        for r in conn.execute(
            select(consent_ledger.c.seq, consent_ledger.c.entry_hash).where(
                consent_ledger.c.seq.in_([seq for seq, _ in proofs])
            )
        )
    }
    for seq, entry_hash in proofs:
        if seq not in rows:
            return bad(f"ledger entry {seq} is not in the chain")
        if rows[seq] != entry_hash:
            return bad(f"ledger entry {seq} has hash {rows[seq][:16]}…, the receipt says {entry_hash[:16]}…")
    return ReceiptCheck(True, None, receipt_id, key.key_id, len(proofs))
