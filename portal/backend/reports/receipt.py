"""The human-readable PDF consent receipt (R13), rendered offline with WeasyPrint and the bundled DejaVu fonts."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from jinja2 import Environment, FileSystemLoader

from portal.backend.consent.ledger import LedgerEntry
from portal.backend.consent.receipts import Receipt, build_receipt, store_receipt
from portal.backend.i18n.receipts import rt
from portal.backend.platform.blobs import BlobStore
from portal.backend.platform.db.engine import Database

TEMPLATES = Path(__file__).resolve().parent / "templates"
ASSETS = Path(__file__).resolve().parents[3] / "assets"
# Autoescape is always on: names, guardian details, notes and purpose texts are user-controlled.
_ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True, lstrip_blocks=True)


def local_url_fetcher(*roots: Path) -> Any:
    """A WeasyPrint URL fetcher that serves only files under `roots` (no network, no other files)."""
    from weasyprint.urls import URLFetcher

    class LocalOnlyFetcher(URLFetcher):
        """Refuses every URL that is not a file inside `roots`."""

        def __init__(self, roots: tuple[Path, ...]) -> None:
            super().__init__(allowed_protocols=("file",))
            self.roots = tuple(r.resolve() for r in roots)

        def fetch(self, url: str, headers: Any = None) -> Any:
            """Fetch a file URL under the allowed roots, refuse anything else."""
            parts = urlsplit(url)
            if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
                raise ValueError(f"Refusing to fetch {url[:80]!r}: receipts use local files only.")
            path = Path(unquote(parts.path)).resolve()
            if not path.is_file() or not any(path.is_relative_to(root) for root in self.roots):
                raise ValueError(f"Refusing to fetch {url[:80]!r}: not a file under the receipt's asset folders.")
            return super().fetch(url, headers)

    return LocalOnlyFetcher(roots)


def _font_face_css(fonts: Path) -> str:
    """@font-face rules for the bundled fonts, by file URL, so no system font is ever used."""
    rules = []
    for weight, name in (("normal", "DejaVuSans.ttf"), ("bold", "DejaVuSans-Bold.ttf")):
        rules.append(
            f'@font-face {{ font-family: "Receipt Sans"; font-weight: {weight}; font-style: normal; '
            f'src: url("{(fonts / name).resolve().as_uri()}"); }}'
        )
    return "\n".join(rules)


def _fmt_time(value: datetime | None) -> str:
    """A UTC time for people: 2025-03-01 14:05 UTC."""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def _fmt_date(value: datetime | None) -> str:
    """A date for people: 2025-03-01."""
    return value.date().isoformat() if value else "-"


def render_receipt_html(receipt: Receipt) -> str:
    """The receipt as HTML in the subject's language (every user-controlled value escaped)."""
    locale = receipt.locale

    def label(key: str, **values: object) -> str:
        """A receipt message in this receipt's language."""
        return rt(key, locale, **values)

    return _ENV.get_template("receipt.html").render(
        r=receipt,
        org=receipt.organisation,
        lang=locale,
        _=label,
        fmt_time=_fmt_time,
        fmt_date=_fmt_date,
        allowing=("given", "renewed"),
        # A submission's entries share one evidence record: show each distinct note once.
        notes=list(dict.fromkeys(item.note for item in receipt.items if item.note)),
        guardian=next((item.guardian for item in receipt.items if item.guardian), None),
    )


def render_receipt_pdf(receipt: Receipt, *, base_url_for_assets: Path | None = None) -> bytes:
    """The PDF receipt; `base_url_for_assets` is the assets folder holding fonts/ (default: the repository's)."""
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    assets = (base_url_for_assets or ASSETS).resolve()
    fetcher = local_url_fetcher(assets, TEMPLATES)
    fonts = FontConfiguration()
    stylesheets = [
        CSS(string=_font_face_css(assets / "fonts"), font_config=fonts, url_fetcher=fetcher),
        CSS(filename=str(TEMPLATES / "receipt.css"), font_config=fonts, url_fetcher=fetcher),
    ]
    html = HTML(string=render_receipt_html(receipt), base_url=str(TEMPLATES) + "/", url_fetcher=fetcher)
    return html.write_pdf(stylesheets=stylesheets, font_config=fonts)


def issue_receipt(
    db: Database, blobs: BlobStore, *, subject_id: str, entries: list[LedgerEntry], now: datetime | None = None
) -> Receipt | None:
    """Build, render and store the receipt of one submission (R13); None when nothing was recorded."""
    if not entries:
        return None
    with db.read() as conn:
        receipt = build_receipt(conn, subject_id=subject_id, entries=entries, now=now)
    store_receipt(blobs, receipt, render_receipt_pdf(receipt))
    return receipt


def list_receipts(blobs: BlobStore, *, subject_id: str) -> list[tuple[str, str, str]]:
    """(receipt id, JSON key, PDF key) of every stored receipt of a subject, oldest first."""
    prefix = f"receipts/{subject_id}/"
    keys = set(blobs.list_keys(prefix))
    found = []
    for json_key in sorted(k for k in keys if k.endswith(".json")):
        pdf_key = json_key[: -len(".json")] + ".pdf"
        if pdf_key in keys:
            stamp = json.loads(blobs.get(json_key)).get("consentTimestamp", 0)
            found.append((stamp, Path(json_key).stem, json_key, pdf_key))
    return [(rid, j, p) for _, rid, j, p in sorted(found)]
