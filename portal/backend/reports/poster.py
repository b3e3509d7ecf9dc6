"""The printable QR poster of an event (WeasyPrint, bundled fonts, the QR as inline SVG: nothing is fetched)."""

from __future__ import annotations

import io
import re
from datetime import date

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M

from portal.backend.platform.organisation import Organisation
from portal.backend.reports.receipt import _ENV, ASSETS, TEMPLATES, _font_face_css, local_url_fetcher

TEXTS = {
    "en": {
        "heading": "Photos are taken here",
        "notice": "{controller} takes photos at this event. Scan the code to decide, purpose by purpose, whether "
        "photos of you may be used. Nothing is decided for you, saying no is fine, and you can withdraw at any time.",
        "scan": "Scan with your phone's camera",
        "small": "Questions: {email}. No app needed; the form opens in your browser.",
    },
    "sv": {
        "heading": "Här fotograferas det",
        "notice": "{controller} fotograferar på evenemanget. Skanna koden för att bestämma, ändamål för ändamål, "
        "om bilder på dig får användas. Inget är bestämt åt dig, det går bra att säga nej och du kan återkalla "
        "när du vill.",
        "scan": "Skanna med mobilens kamera",
        "small": "Frågor: {email}. Ingen app behövs; formuläret öppnas i webbläsaren.",
    },
}


def qr_svg(data: str, *, size_mm: int = 110) -> str:
    """An inline SVG QR code (vector, so it prints sharp at any size)."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4, image_factory=qrcode.image.svg.SvgPathImage)
    code.add_data(data)
    code.make(fit=True)
    out = io.BytesIO()
    code.make_image().save(out)
    text = out.getvalue().decode()
    svg = text[text.index("<svg") :]
    # The library writes its own size in mm; the poster sets the printed size itself.
    svg = re.sub(r'\s(width|height)="[^"]*"', "", svg, count=2)
    return svg.replace("<svg", f'<svg width="{size_mm}mm" height="{size_mm}mm"', 1)


def render_poster_pdf(
    *,
    org: Organisation,
    event_name: str,
    url: str,
    place: str = "",
    starts_on: date | None = None,
    locale: str = "en",
) -> bytes:
    """An A4 poster PDF: heading, plain-language notice, the QR and the link written out."""
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    words = TEXTS.get(locale, TEXTS["en"])
    html = _ENV.get_template("poster.html").render(
        locale=locale,
        controller=org.controller_name,
        event_name=event_name,
        place=place,
        date=starts_on.isoformat() if starts_on else "",
        url=url,
        qr_svg=qr_svg(url),
        heading=words["heading"],
        notice=words["notice"].format(controller=org.controller_name),
        scan=words["scan"],
        small=words["small"].format(email=org.contact_email),
    )
    fetcher = local_url_fetcher(ASSETS, TEMPLATES)
    fonts = FontConfiguration()
    sheets = [
        CSS(string=_font_face_css(ASSETS / "fonts"), font_config=fonts, url_fetcher=fetcher),
        CSS(filename=str(TEMPLATES / "poster.css"), font_config=fonts, url_fetcher=fetcher),
    ]
    return HTML(string=html, base_url=str(TEMPLATES) + "/", url_fetcher=fetcher).write_pdf(
        stylesheets=sheets, font_config=fonts
    )
