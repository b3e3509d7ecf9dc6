"""Paper consent forms entered by staff: the choices as ticked on paper, with the signed scan kept as proof."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from PIL import Image, ImageFile, UnidentifiedImageError

from portal.backend.platform.errors import ValidationError

MAX_SCAN_BYTES = 10 * 1024 * 1024
# Content type -> file extension of the scans we keep; anything else is refused by its content, not its name.
SCAN_TYPES = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}
_MAGIC = ((b"%PDF-", "application/pdf"), (b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))
# A scan's pixels are never fully decoded (a JPEG only at 1/8 scale), so this mainly guards the header parser.
_MAX_SCAN_PIXELS = 200_000_000
# Paper forms are entered within days or weeks; a signature date years back is a typo, not a late entry.
_OLDEST_YEARS = 5


@dataclass(frozen=True)
class PaperScan:
    """A checked scan of a signed paper form: its bytes, type, hash and the date it was signed."""

    data: bytes
    content_type: str
    sha256: str
    signed_at: datetime

    def key(self, subject_id: str) -> str:
        """Where the scan is stored for this subject."""
        return f"{scan_prefix(subject_id)}{self.sha256}{SCAN_TYPES[self.content_type]}"

    def evidence(self, note: str | None) -> dict[str, object]:
        """The ledger evidence of a paper form: the scan's SHA-256, never the scan (R12)."""
        evidence: dict[str, object] = {
            "act": "signature",
            "form": "paper",
            "signed_on": self.signed_at.date().isoformat(),
            "scan_sha256": self.sha256,
            "scan_type": self.content_type,
        }
        if note and note.strip():
            evidence["note"] = note.strip()[:500]
        return evidence


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


def check_scan(scan: bytes, *, signed_on: date, now: datetime) -> PaperScan:
    """Check a paper form's scan and signature date before anything is stored; ValidationError says why not."""
    content_type = sniff_scan(scan)
    return PaperScan(
        data=scan,
        content_type=content_type,
        sha256=hashlib.sha256(scan).hexdigest(),
        signed_at=_signed_at(signed_on, now),
    )
