"""Receipt rendering: the PDF as `issue_receipt` and `jobs run` make it, beside a render that parses the stylesheets
and loads the bundled fonts afresh for every receipt (what each render did before they were kept per process).

    python bench/receipts.py [--receipts 20]

Prints milliseconds per receipt for both, in one run on the same receipts (alternating, so machine load hits both
alike), and the size of the PDFs, which must be the same give or take the document's own id and date.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench.databases  # noqa: F401  (a throw-away ledger key, as every bench signs with)
from portal.backend.consent.receipts import Receipt, build_receipt
from portal.backend.consent.records import Context
from portal.backend.platform.db import migrate
from portal.backend.platform.db.engine import Database
from portal.backend.reports import receipt as report
from tests.factories import make_org, register_subject

CTX = Context(channel="qr_form", actor="subject", evidence={"act": "checkbox"})


def fresh_render(receipt: Receipt) -> bytes:
    """The baseline: the same PDF with the font configuration and stylesheets built for this one receipt."""
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    assets = report.ASSETS.resolve()
    fetcher = report.local_url_fetcher(assets, report.TEMPLATES)
    fonts = FontConfiguration()
    sheets = [
        CSS(string=report._font_face_css(assets / "fonts"), font_config=fonts, url_fetcher=fetcher),
        CSS(filename=str(report.TEMPLATES / "receipt.css"), font_config=fonts, url_fetcher=fetcher),
    ]
    text = report.printable(report.render_receipt_html(receipt), assets / "fonts")
    html = HTML(string=text, base_url=str(report.TEMPLATES) + "/", url_fetcher=fetcher)
    return html.write_pdf(stylesheets=sheets, font_config=fonts)


def main() -> None:
    """Build receipts for a few people in both languages, then time both renders alternately."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--receipts", type=int, default=20)
    args = ap.parse_args()
    db = Database(f"sqlite:///{tempfile.mkdtemp(prefix='bench-receipts-')}/r.db")
    migrate.upgrade(db)
    make_org(db)
    receipts = []
    for k in range(args.receipts):
        reg = register_subject(
            db,
            name=f"Åsa Person {k}",
            choices={"internal": True, "website": k % 2 == 0, "print": False, "social_media": True},
            locale="sv" if k % 2 else "en",
            context=CTX,
        )
        with db.read() as conn:
            receipts.append(build_receipt(conn, subject_id=reg.subject.id, entries=reg.entries))
    report.render_receipt_pdf(receipts[0])  # first render: imports, caches, font files; not counted
    fresh_render(receipts[0])
    kept_s, fresh_s, sizes = [], [], []
    for receipt in receipts:
        start = time.perf_counter()
        pdf = report.render_receipt_pdf(receipt)
        kept_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        base = fresh_render(receipt)
        fresh_s.append(time.perf_counter() - start)
        sizes.append((len(pdf), len(base)))
    kept, fresh = statistics.median(kept_s) * 1000, statistics.median(fresh_s) * 1000
    print(f"receipt PDF, stylesheets and fonts built afresh per receipt (baseline): median {fresh:.0f} ms")
    print(f"receipt PDF as the portal renders it (kept per process):                median {kept:.0f} ms")
    print(f"ratio {fresh / kept:.2f}x faster; PDF bytes (portal, baseline) of the first three: {sizes[:3]}")


if __name__ == "__main__":
    main()
