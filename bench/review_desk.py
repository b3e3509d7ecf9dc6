"""The review desk at 10,000 photos: its read models, then seconds to interactive in headless Chromium for the Photos
page (the grid) and the review view of one photo, beside a bare Streamlit page measured in the same run.

    python bench/review_desk.py [--photos 10000] [--postgres URL] [--skip-sqlite] [--no-browser]

The library is bulk-inserted (tests/library_fill.py: two faces per analysed photo, some pending or failed, one shared
thumbnail) and its risk index derived, as the other benches do. "Interactive" is: the page's last element to come
(the grid's last card's Review button, or every face card) is visible and Streamlit's run has finished, timed by
the page's own clock from the load or the click (`bench.browser.shown_at`; before 2026-12 Playwright's back-off
waits added up to 0.5 s).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from bench.browser import app_env, chromium_page, portal_and_bare, settled, shown_at
from bench.databases import add_database_options, each_database
from portal.backend.photos.queries import LibraryFilter, face_crops, review_picture, review_view
from portal.backend.photos.queries import library_page as grid
from portal.backend.photos.queries import next_photo_to_review as next_one
from portal.backend.platform.blobs import make_blob_store
from portal.backend.platform.config import load_settings
from portal.backend.platform.db import migrate
from portal.backend.platform.db.engine import Database
from portal.backend.platform.runtime import Portal
from portal.backend.staff.accounts import create_user
from tests.factories import make_org
from tests.library_fill import fill_library

STAFF = ("bench-staff@example.org", "bench-staff-password")


def _best(fn: Callable[[], object], runs: int = 3) -> tuple[float, float]:
    """(first, best of the rest) seconds of `fn()`."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times[0], min(times[1:])


def browser_figures(db: Database, data_dir: Path, first_id: int, photo: int) -> dict[str, float]:
    """Seconds to interactive: a bare page, the Photos page's grid, and one photo's review view."""
    out: dict[str, float] = {}
    with portal_and_bare(app_env(db, data_dir)) as servers, chromium_page() as page:
        app_url, bare_url = servers.app_url, servers.bare_url
        bare_times = []
        for _ in range(3):
            page.goto(bare_url)
            bare_times.append(
                shown_at(page, "[...document.querySelectorAll('button')].some((b) => b.innerText === 'Ready')")
            )
        out["bare page"] = min(bare_times)
        page.goto(app_url)
        page.get_by_role("textbox", name="E-mail").fill(STAFF[0])
        page.get_by_role("textbox", name="Password").fill(STAFF[1])
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Signed in as").wait_for()
        settled(page)
        grid_times, review_times = [], []
        nav = page.locator("[data-testid='stSidebarNav']")
        grid = "visible(document.querySelector(`.st-key-open_${arg} button`))"
        review = (
            "document.querySelectorAll(\"[class*='st-key-face_']\").length >= 2"
            " && visible(document.querySelector('.st-key-publish_place input'))"
        )
        for k in range(3):
            nav.get_by_text("Overview" if k % 2 == 0 else "Events", exact=True).click()
            settled(page)
            # From the click to the page's main element, by the page's own clock (bench.browser.shown_at).
            start = page.evaluate("performance.now()") / 1000
            nav.get_by_text("Photos", exact=True).click()
            grid_times.append(shown_at(page, grid, first_id - 23) - start)
            start = page.evaluate("performance.now()") / 1000
            page.locator(f".st-key-open_{photo} button").click()
            review_times.append(shown_at(page, review) - start)
            page.locator(".st-key-desk_back button").click()
            settled(page)
        out["Photos page (grid of 24)"] = min(grid_times)
        out["review view (one photo)"] = min(review_times)
    return out


def run(db: Database, label: str, photos: int, *, browser: bool) -> None:
    """Fill, time the read models, then (optionally) the pages in Chromium, and print the figures."""
    data_dir = Path(tempfile.mkdtemp(prefix="bench-desk-data-"))
    settings = load_settings(env={"PORTAL_DATA_DIR": str(data_dir)}, secrets_path=None, database_url=db.url)
    portal = Portal(settings=settings, db=db, blobs=make_blob_store(settings))
    migrate.upgrade(db)
    make_org(db)
    with db.write() as conn:
        create_user(conn, email=STAFF[0], display_name="Bench", role="staff", password=STAFF[1], now=datetime.now(UTC))
    start = time.perf_counter()
    lib = fill_library(db, portal.blobs, photos=photos)
    print(f"{label:10} {photos:,} photos filled in {time.perf_counter() - start:.0f} s")
    if db.dialect == "postgresql":
        with db.write() as conn:
            conn.execute(text("ANALYZE"))
    photo = max(lib.with_stranger)
    figures = {
        "grid, first page": lambda: grid(portal, chosen=LibraryFilter(), limit=24),
        "grid, page 200": lambda: grid(portal, chosen=LibraryFilter(), limit=24, offset=24 * 199),
        "grid, critical for the website": lambda: grid(
            portal, chosen=LibraryFilter(badge="critical", purpose="website"), limit=24
        ),
        "grid, search by person": lambda: grid(portal, chosen=LibraryFilter(search="walter"), limit=24),
        "review view + numbered picture + crops": lambda: (
            face_crops(portal, view=(v := review_view(portal, asset_id=photo))) and review_picture(portal, view=v)
        ),
        "next photo to review": lambda: next_one(portal, chosen=LibraryFilter(), after_id=photo),
    }
    for name, fn in figures.items():
        first, best = _best(fn)
        print(f"{label:10} {name}: first {first * 1000:.0f} ms, then {best * 1000:.0f} ms")
    if browser:
        for name, seconds in browser_figures(db, data_dir, max(lib.asset_ids), photo).items():
            print(f"{label:10} to interactive in Chromium, {name}: {seconds:.2f} s")
    shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    """Run on SQLite and, when a URL is given, on PostgreSQL."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=10_000)
    ap.add_argument("--no-browser", action="store_true", help="skip the Chromium page timings")
    add_database_options(ap)
    args = ap.parse_args()
    for label, db in each_database(args):
        run(db, label, args.photos, browser=not args.no_browser)


if __name__ == "__main__":
    main()
