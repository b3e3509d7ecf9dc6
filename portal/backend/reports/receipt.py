"""The human-readable PDF consent receipt (R13), rendered offline with WeasyPrint and the bundled fonts."""

from __future__ import annotations

import threading
import unicodedata
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from jinja2 import Environment, FileSystemLoader

from portal.backend.consent.receipt_jws import receipt_public_key
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


# The bundled fonts (assets/fonts/README.md): DejaVu Sans for Latin, Greek and Cyrillic, Noto Sans Arabic and
# Hebrew, Droid Sans Fallback for Chinese and Japanese (and hanja), NanumSquare for Hangul. The receipt's CSS
# lists the families in this order.
FONT_FILES: tuple[tuple[str, str, str], ...] = (
    ("Receipt Sans", "normal", "DejaVuSans.ttf"),
    ("Receipt Sans", "bold", "DejaVuSans-Bold.ttf"),
    ("Receipt Sans Arabic", "normal", "NotoSansArabic-Regular.ttf"),
    ("Receipt Sans Arabic", "bold", "NotoSansArabic-Bold.ttf"),
    ("Receipt Sans Hebrew", "normal", "NotoSansHebrew-Regular.ttf"),
    ("Receipt Sans Hebrew", "bold", "NotoSansHebrew-Bold.ttf"),
    ("Receipt Sans CJK", "normal", "DroidSansFallbackFull.ttf"),
    ("Receipt Sans Korean", "normal", "NanumSquareR.ttf"),
)
REPLACEMENT = "\ufffd"


def _font_face_css(fonts: Path) -> str:
    """@font-face rules for the bundled fonts, by file URL, so no system font is ever used."""
    rules = []
    for family, weight, name in FONT_FILES:
        rules.append(
            f'@font-face {{ font-family: "{family}"; font-weight: {weight}; font-style: normal; '
            f'src: url("{(fonts / name).resolve().as_uri()}"); }}'
        )
    return "\n".join(rules)


@cache
def covered_code_points(fonts: Path) -> frozenset[int]:
    """Every character some bundled font draws."""
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]  # fontTools ships no type information

    points: set[int] = set()
    for _family, _weight, name in FONT_FILES:
        with TTFont(str(fonts / name), lazy=True) as font:
            points.update(font.getBestCmap())
    # Pictographs (emoji) are left out even where DejaVu has a glyph: Pango looks for them in an emoji font first
    # and would take a system font.
    return frozenset(p for p in points if not 0x1F000 <= p <= 0x1FAFF)


def printable(text: str, fonts: Path) -> str:
    """`text` with every character no bundled font draws replaced by U+FFFD (one per run), so a PDF never shows
    an empty box or falls back to a system font; invisible joiners and modifiers of such characters are dropped.

    Emoji are the case in practice: no bundled font has them (a colour emoji font would triple the assets), and a
    name typed with one prints the replacement mark in its place, as documented in assets/fonts/README.md.
    """
    points = covered_code_points(fonts.resolve())
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if code in points or ch in "\n\r\t":
            out.append(ch)
        elif unicodedata.category(ch) in ("Mn", "Me", "Cf", "Sk") or 0xFE00 <= code <= 0xFE0F:
            continue  # zero-width joiners, variation selectors, skin-tone modifiers of an emoji
        elif not out or out[-1] != REPLACEMENT:
            out.append(REPLACEMENT)
    return "".join(out)


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
        key_id=receipt_public_key(receipt.json).key_id,
    )


def _guardian_shown(receipt: Receipt, locale: str) -> dict[str, Any] | None:
    """The guardian a receipt names, with the verification method in plain words (the JSON keeps the code)."""
    guardian = next((item.guardian for item in receipt.items if item.guardian), None)
    if guardian is None:
        return None
    return {**guardian, "verified_by": method_label(guardian.get("verified_by"), locale)}


def render_receipt_pdf(receipt: Receipt, *, base_url_for_assets: Path | None = None) -> bytes:
    """The PDF receipt; `base_url_for_assets` is the assets folder holding fonts/ (default: the repository's)."""
    from weasyprint import HTML

    assets = (base_url_for_assets or ASSETS).resolve()
    fetcher = local_url_fetcher(assets, TEMPLATES)
    text = printable(render_receipt_html(receipt), assets / "fonts")
    html = HTML(string=text, base_url=str(TEMPLATES) + "/", url_fetcher=fetcher)
    fonts, stylesheets = _stylesheets(assets)
    # One render at a time per process: the shared font configuration is not documented as thread-safe, and the
    # render is CPU-bound Python (the GIL serialises it anyway).
    with _RENDER_LOCK:
        return html.write_pdf(stylesheets=stylesheets, font_config=fonts)


_RENDER_LOCK = threading.Lock()


@cache
def _stylesheets(assets: Path) -> tuple[Any, list[Any]]:
    """The font configuration and parsed stylesheets of a receipt, built once per process: parsing the CSS and
    loading the bundled font faces was about a quarter of each render (jobs pre-render hundreds in one run)."""
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

    fetcher = local_url_fetcher(assets, TEMPLATES)
    fonts = FontConfiguration()
    return fonts, [
        CSS(string=_font_face_css(assets / "fonts"), font_config=fonts, url_fetcher=fetcher),
        CSS(filename=str(TEMPLATES / "receipt.css"), font_config=fonts, url_fetcher=fetcher),
    ]
