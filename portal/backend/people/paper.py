"""Paper consent forms entered by staff: the choices as ticked on paper, with the signed scan kept as proof."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from PIL import Image, ImageFile, UnidentifiedImageError

from portal.backend.consent.ledger import LedgerEntry
from portal.backend.consent.records import Context
from portal.backend.people.subjects import Subject, register_subject_in
from portal.backend.platform.blobs import BlobStore
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import ValidationError
from portal.backend.platform.text import clean_email, clean_name
from portal.backend.staff.audit import audit

MAX_SCAN_BYTES = 10 * 1024 * 1024
# Content type -> file extension of the scans we keep; anything else is refused by its content, not its name.
SCAN_TYPES = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}
_MAGIC = ((b"%PDF-", "application/pdf"), (b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))
# A scan's pixels are never fully decoded (a JPEG only at 1/8 scale), so this mainly guards the header parser.
_MAX_SCAN_PIXELS = 200_000_000
# Paper forms are entered within days or weeks; a signature date years back is a typo, not a late entry.
_OLDEST_YEARS = 5


@dataclass(frozen=True)
class PaperConsent:
    """A registered paper form: the new subject, their ledger entries, and the stored scan."""

    subject: Subject
    entries: list[LedgerEntry]
    scan_key: str
    scan_sha256: str
    replayed: bool


def scan_prefix(subject_id: str) -> str:
    """Blob-key prefix of a subject's paper scans (export and erasure find them here)."""
    return f"paper/{subject_id}/"


def sniff_scan(data: bytes, *, max_bytes: int = MAX_SCAN_BYTES) -> str:
    """The content type of a scan judged by its bytes (PDF, JPEG, PNG), or ValidationError saying why not."""
    if not data:
        raise ValidationError("The scan is empty (0 bytes); scan the signed form again.")
    if len(data) > max_bytes:
        raise ValidationError(
            f"The scan is {len(data) / 1048576:.1f} MB; at most {max_bytes / 1048576:.0f} MB are accepted. "
            "Scan at a lower resolution (200-300 dpi is enough)."
        )
    kind = next((ctype for magic, ctype in _MAGIC if data.startswith(magic)), None)
    if kind is None:
        # The file name is the uploader's claim; only the content decides (a renamed .exe stays out).
        raise ValidationError("The scan is not a PDF, JPEG or PNG file (judged by its content, not its name).")
    if kind == "application/pdf":
        if b"%%EOF" not in data[-2048:]:
            raise ValidationError("The PDF scan is cut off (no end marker); upload the whole file again.")
        return kind
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > _MAX_SCAN_PIXELS:
                raise ValidationError("The scanned image has too many pixels; scan at 200-300 dpi.")
            if kind == "image/jpeg":
                # verify() does not read a JPEG's image data, so a scan cut off in upload would pass; decoding at
                # 1/8 scale reads all of it for a fraction of the memory.
                ImageFile.LOAD_TRUNCATED_IMAGES = False  # WeasyPrint switches it on for the whole process
                img.draft("L", (max(1, img.width // 8), max(1, img.height // 8)))
                img.load()
            else:
                img.verify()  # checks structure and checksums without decoding the pixels
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValidationError("The scanned image is damaged or cut off; upload the file again.") from None
    return kind


def _signed_at(signed_on: date, now: datetime) -> datetime:
    """The signature date as a UTC time, refusing dates in the future or implausibly far back."""
    if isinstance(signed_on, datetime):
        signed_on = signed_on.date()
    # One day of slack: a form signed this morning in UTC+2 is dated "tomorrow" in UTC for two hours.
    if signed_on > now.date() + timedelta(days=1):
        raise ValidationError(f"The form cannot be signed in the future ({signed_on.isoformat()}).")
    if signed_on.year < now.year - _OLDEST_YEARS:
        raise ValidationError(f"The signature date {signed_on.isoformat()} is more than {_OLDEST_YEARS} years ago.")
    return datetime.combine(signed_on, time.min, tzinfo=UTC)


def record_paper_consent(
    db: Database,
    blobs: BlobStore,
    *,
    name: str,
    choices: Mapping[str, bool],
    signed_on: date,
    scan: bytes,
    actor: str,
    email: str | None = None,
    phone: str | None = None,
    locale: str = "en",
    event_id: int | None = None,
    is_minor: bool = False,
    birth_year: int | None = None,
    guardian_name: str | None = None,
    guardian_verification: str | None = None,
    note: str | None = None,
    submission_id: str | None = None,
    now: datetime | None = None,
) -> PaperConsent:
    """Register a person from a signed paper form (channel `paper`) with its scan; all of it or nothing.

    The scan goes to the blob store first and the subject, ledger and audit rows after, in one transaction;
    if that transaction fails or was a double submit, the scan is deleted again, so there is never a blob
    without its rows nor rows without their blob. The ledger evidence holds the scan's SHA-256, not the scan.
    """
    now = now or utcnow()
    # Everything that can be checked without the database is checked before a byte is stored.
    if not choices:
        # Every paper form has boxes, ticked or not; at least one answer makes it a consent record (and replayable).
        raise ValidationError("Record the answer to at least one purpose as it is on the paper form.")
    clean_name(name)
    clean_email(email)
    if is_minor:
        clean_name(guardian_name, field_label="Guardian's name")
    content_type = sniff_scan(scan)
    signed_at = _signed_at(signed_on, now)
    sha = hashlib.sha256(scan).hexdigest()
    evidence: dict[str, object] = {
        "act": "signature",
        "form": "paper",
        "signed_on": signed_at.date().isoformat(),
        "scan_sha256": sha,
        "scan_type": content_type,
    }
    if note and note.strip():
        evidence["note"] = note.strip()[:500]
    context = Context(
        channel="paper",
        actor=actor,
        event_id=event_id,
        evidence=evidence,
        submission_id=submission_id,
        locale=locale,
        valid_from=signed_at,
    )
    subject_id = str(uuid.uuid4())
    key = f"{scan_prefix(subject_id)}{sha}{SCAN_TYPES[content_type]}"
    blobs.put(key, scan, content_type=content_type)
    try:
        with db.write() as conn:
            reg = register_subject_in(
                conn,
                name=name,
                context=context,
                choices=choices,
                email=email,
                phone=phone,
                locale=locale,
                birth_year=birth_year,
                is_minor=is_minor,
                guardian_name=guardian_name,
                guardian_verification=guardian_verification,
                event_id=event_id,
                subject_id=subject_id,
                now=now,
            )
            replayed = reg.subject.id != subject_id
            if not replayed:
                audit(
                    conn,
                    actor=actor,
                    action="enter_paper_consent",
                    target_type="subject",
                    target_id=subject_id,
                    now=now,
                    detail={"scan_sha256": sha, "event_id": event_id, "entries": len(reg.entries)},
                )
    except BaseException:
        blobs.delete(key)
        raise
    if replayed:
        # The same submission was entered before: it keeps its own scan, this copy goes.
        blobs.delete(key)
        earlier = blobs.list_keys(scan_prefix(reg.subject.id))
        return PaperConsent(
            subject=reg.subject,
            entries=reg.entries,
            scan_key=earlier[0] if earlier else "",
            scan_sha256=str(reg.entries[0].evidence_data.get("scan_sha256", "")),
            replayed=True,
        )
    return PaperConsent(subject=reg.subject, entries=reg.entries, scan_key=key, scan_sha256=sha, replayed=False)
