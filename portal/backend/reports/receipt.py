"""The human-readable PDF consent receipt (R13), rendered offline with WeasyPrint and the bundled DejaVu fonts."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from jinja2 import Environment, FileSystemLoader

from portal.backend.consent.receipts import Receipt
from portal.backend.i18n.receipts import rt
from portal.backend.people.guardians import method_label

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
        guardian=_guardian_shown(receipt, locale),
    )


def _guardian_shown(receipt: Receipt, locale: str) -> dict[str, Any] | None:
    """The guardian a receipt names, with the verification method in plain words (the JSON keeps the code)."""
    guardian = next((item.guardian for item in receipt.items if item.guardian), None)
    if guardian is None:
        return None
    return {**guardian, "verified_by": method_label(guardian.get("verified_by"), locale)}


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
