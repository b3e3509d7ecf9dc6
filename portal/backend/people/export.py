"""Access and portability (Art. 15, 20; R18, R19): everything about one person in one ZIP."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from portal.backend.consent.iso27560 import ConsentRecords, Deployment, subject_records
from portal.backend.consent.ledger import LedgerEntry
from portal.backend.consent.purposes import list_purposes, text_version
from portal.backend.consent.receipts import subject_receipts
from portal.backend.consent.status import ConsentStatus, subject_consents
from portal.backend.people.duplicates import history_entries
from portal.backend.people.paper import scan_prefix
from portal.backend.people.subjects import Subject, get_subject
from portal.backend.photos.renditions import safe_rendition
from portal.backend.platform.blobs import BlobStore
from portal.backend.platform.config import Settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import detections
from portal.backend.platform.errors import ConsentStateError
from portal.backend.platform.organisation import Organisation, get_organisation

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

README = """Your data at {controller}
Exported {time} (UTC) for the person with the pseudonymous id {subject_id}.

subject.json        what we hold about you
consents.csv/.json  your current choice per purpose (and per photo where you decided per photo)
history.csv/.json   every consent event, oldest first, with the exact text version and its hash
texts.json          the wording of every text version you answered
photos/             every photo you are linked to; other people in them are blurred
receipts/           the receipts you were given
iso27560/           every consent event as an ISO/IEC TS 27560 consent record (JSON-LD with W3C DPV terms);
                    index.jsonld lists them
paper/              the scans of paper consent forms you signed

Questions or corrections: {email}.
"""


def safe_cell(value: Any) -> str:
    """A CSV cell that spreadsheets show as text: values starting with = + - @ would otherwise run as formulas."""
    text = "" if value is None else value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV text with every cell made safe."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()


def _json(data: Any) -> str:
    """Indented JSON with times as ISO strings."""
    return json.dumps(
        data, indent=2, ensure_ascii=False, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v)
    )


@dataclass(frozen=True)
class ExportData:
    """Everything an access export holds that comes from the database, read in one transaction."""

    subject: Subject
    organisation: Organisation
    statuses: list[ConsentStatus]
    history: list[LedgerEntry]
    codes: dict[int, str]
    texts: dict[str, dict[str, Any]]
    asset_ids: list[int]
    receipt_keys: list[str]
    consent_records: ConsentRecords


def gather(
    conn: Connection, *, subject_id: str, now: datetime, deployment: Deployment, settings: Settings | None = None
) -> ExportData:
    """Read what an export of one person holds; refuses erased people (only pseudonymous records remain).

    `deployment` says where the data are stored (the 27560 records name it); `settings` add the processors the
    configuration implies to the records' recipients."""
    subject = get_subject(conn, subject_id)
    if subject.erased_at is not None:
        raise ConsentStateError("This person was erased; only pseudonymous consent records remain.")
    # With the entries of duplicates merged into this person: one person, one history.
    history = history_entries(conn, subject_id)
    codes = {p.id: p.code for p in list_purposes(conn, active_only=False)}
    texts = {
        f"{codes[e.purpose_id]} v{e.text_version} {e.text_locale}": text_version(
            conn, e.purpose_id, e.text_version, e.text_locale
        ).__dict__
        for e in history
    }
    asset_ids = sorted(
        set(
            conn.execute(
                select(detections.c.asset_id).where(
                    detections.c.subject_id == subject_id, detections.c.link_status == "confirmed"
                )
            ).scalars()
        )
    )
    receipt_keys = [
        key for r in subject_receipts(conn, subject_id) if r.issued for key in (r.json_key, r.pdf_key) if key
    ]
    return ExportData(
        subject=subject,
        organisation=get_organisation(conn),
        statuses=subject_consents(conn, subject_id, now),
        history=history,
        codes=codes,
        texts=texts,
        asset_ids=asset_ids,
        receipt_keys=receipt_keys,
        consent_records=subject_records(
            conn, subject_id=subject_id, deployment=deployment, now=now, settings=settings, entries=history
        ),
    )


def build_zip(db: Database, blobs: BlobStore, data: ExportData, *, max_pixels: int, now: datetime) -> bytes:
    """The export ZIP: data, consents, history, texts, receipts, paper scans and photos with others blurred."""
    subject, org, statuses, history, codes = data.subject, data.organisation, data.statuses, data.history, data.codes
    subject_id = subject.id
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "README.txt",
            README.format(
                controller=org.controller_name,
                time=now.strftime("%Y-%m-%d %H:%M"),
                subject_id=subject_id,
                email=org.contact_email,
            ),
        )
        zf.writestr("subject.json", _json(subject.__dict__))
        consent_rows = [s.__dict__ | {"allowed": s.allowed} for s in statuses]
        zf.writestr("consents.json", _json(consent_rows))
        zf.writestr(
            "consents.csv",
            _csv(
                ["purpose", "image", "status", "since", "valid_until", "text_version"],
                [
                    [s.purpose_code, s.scope_asset_id or "all", s.status, s.since, s.valid_until, s.text_version]
                    for s in statuses
                ],
            ),
        )
        history_rows = [e.__dict__ | {"purpose_code": codes[e.purpose_id]} for e in history]
        zf.writestr("history.json", _json(history_rows))
        zf.writestr(
            "history.csv",
            _csv(
                [
                    "seq",
                    "time",
                    "purpose",
                    "action",
                    "image",
                    "channel",
                    "actor",
                    "text_version",
                    "text_locale",
                    "text_hash",
                    "valid_until",
                    "entry_hash",
                ],
                [
                    [
                        e.seq,
                        e.recorded_at,
                        codes[e.purpose_id],
                        e.action,
                        e.scope_asset_id or "all",
                        e.channel,
                        e.actor,
                        e.text_version,
                        e.text_locale,
                        e.text_hash,
                        e.valid_until,
                        e.entry_hash,
                    ]
                    for e in history
                ],
            ),
        )
        zf.writestr("texts.json", _json(data.texts))
        # ISO/IEC TS 27560: one record per consent event, and a receipt that lists them (Art. 20: machine-readable).
        for seq, record in data.consent_records.records:
            zf.writestr(ConsentRecords.file(seq), _json(record))
        zf.writestr("iso27560/index.jsonld", _json(data.consent_records.index()))
        for asset_id in data.asset_ids:
            photo = safe_rendition(db, blobs, asset_id=asset_id, keep_subject=subject_id, max_pixels=max_pixels)
            zf.writestr(f"photos/{asset_id}.jpg", photo.data)
        for key in data.receipt_keys:
            zf.writestr(key, blobs.get(key))
        for key in blobs.list_keys(scan_prefix(subject_id)):
            # The signed paper form is data the person supplied (Art. 15(3), 20).
            zf.writestr(key, blobs.get(key))
    return buffer.getvalue()
