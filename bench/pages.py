"""The portal's pages against Streamlit itself: seconds until each page's main element is visible in headless
Chromium, beside a bare "hello" Streamlit page served and measured in the same run, at 10,000 photos.

    python bench/pages.py [--photos 10000] [--runs 4] [--postgres URL] [--skip-sqlite] [--no-browser] [--profile]

Every load is a new browser session opened by URL (`page.goto`), as a visitor arrives: the QR form by its event
link, the personal page by a person's link, the staff pages by deep link in a browser that signed in once (the
sign-in cookie brings the session back). "First" is the first load of a page after the server started, "warm" the
best of the later ones; the pages are loaded in rounds, so a busy moment of the machine hits all of them alike.
Ratios are to the bare page's figure of the same kind. Goals: the public pages (form, personal page) within 1.5x,
the staff pages (Photos, dashboard) within 2.5x.

The time is the page's own (`performance.now()` from the start of the navigation), taken in the first animation
frame in which the main element is visible and Streamlit's run has finished (`bench.browser.shown_at`). Until
2026-12 this bench waited with Playwright's locator waits, which check on a back-off (0, 20, 50, 100, 100, 500 ms,
then every 500 ms): pages whose main element came after ~0.3 s were measured up to 0.5 s late.

Main element, per page (and Streamlit's run has finished, as for the bare page):
- bare page: its one button;
- QR form: the submit button at the end of the form;
- personal page: the person's five photos, every image loaded;
- Photos page: the grid's last card's Review button, every thumbnail loaded;
- dashboard: the headline figures and the per-purpose bar chart drawn.

--profile runs each page once more in Streamlit's AppTest under cProfile (the script run alone, no browser) and
prints the portal's functions that cost the most per rerun.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import and_, select, text

from bench.browser import (
    BARE,
    ROOT,
    app_env,
    browser_cpu,
    browser_cpu_since,
    chromium_page,
    cpu_seconds,
    free_port,
    portal_and_bare,
    settled,
    shown_at,
)
from bench.databases import add_database_options, each_database
from portal.backend.consent.queries import list_purposes
from portal.backend.events.queries import event_url
from portal.backend.events.services import create_event
from portal.backend.people.subjects import link_token
from portal.backend.photos.services import link_face
from portal.backend.platform.blobs import make_blob_store
from portal.backend.platform.config import load_settings
from portal.backend.platform.db import migrate
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import detections
from portal.backend.platform.runtime import Portal
from portal.backend.staff.accounts import create_user
from tests.factories import create_personal_link, make_org, make_subject
from tests.library_fill import fill_library

MANAGER = ("bench-manager@example.org", "bench-manager-password")
PERSON_PHOTOS = 5
GOALS = {"QR form": 1.5, "personal page": 1.5, "Photos page": 2.5, "dashboard": 2.5}


@dataclass(frozen=True)
class Scene:
    """What the pages open: an event's QR token, a person's link token, and the grid's last card on page one."""

    event_token: str
    link_token: str
    last_card: int


def prepare(db: Database, data_dir: Path, photos: int) -> tuple[Portal, Scene]:
    """The organisation, a manager, a library of `photos`, an event asking every purpose, and a person confirmed
    in five photos (linked through the service, so the risk index follows) with a personal link."""
    settings = load_settings(env=app_env(db, data_dir), secrets_path=None, database_url=db.url)
    portal = Portal(settings=settings, db=db, blobs=make_blob_store(settings))
    migrate.upgrade(db)
    make_org(db)
    now = datetime.now(UTC)
    with db.write() as conn:
        user = create_user(conn, email=MANAGER[0], display_name="Bench", role="manager", password=MANAGER[1], now=now)
    actor = user.as_actor()
    start = time.perf_counter()
    lib = fill_library(db, portal.blobs, photos=photos)
    codes = [p.code for p in list_purposes(portal)]
    event = create_event(portal, actor=actor, name="Autumn ball", date=None, place="Lund", purpose_codes=codes)
    person = make_subject(db, name="Petra Five", choices={"website": True, "internal": True})
    with db.read() as conn:
        faces = (
            conn.execute(
                select(detections.c.id)
                .where(and_(detections.c.asset_id.in_(sorted(lib.with_stranger)), detections.c.subject_id.is_(None)))
                .order_by(detections.c.id)
                .limit(PERSON_PHOTOS)
            )
            .scalars()
            .all()
        )
    for face in faces:
        link_face(portal, actor=actor, detection_id=face, subject_id=person)
    link = create_personal_link(
        db, subject_id=person, secret=settings.secret_key, base_url=settings.base_url, ttl_days=30
    )
    token = parse_qs(urlsplit(event_url(portal, event_id=event.id)).query)["event"][0]
    if db.dialect == "postgresql":
        with db.write() as conn:
            conn.execute(text("ANALYZE"))
    print(
        f"{photos:,} photos, an event and a person in {len(faces)} photos ready in {time.perf_counter() - start:.0f} s"
    )
    return portal, Scene(event_token=token, link_token=link_token(link), last_card=max(lib.asset_ids) - 23)


def _loads(app_url: str, bare_url: str, scene: Scene) -> dict[str, tuple[str, str, object]]:
    """Per page: its address, and its main element as a condition for `shown_at` (with its argument)."""
    return {
        "bare page": (
            bare_url,
            "[...document.querySelectorAll('button')].some((b) => b.innerText.trim() === 'Ready' && visible(b))",
            None,
        ),
        "QR form": (
            f"{app_url}/?event={scene.event_token}",
            "visible(document.querySelector('.st-key-form_submit button'))",
            None,
        ),
        "personal page": (f"{app_url}/?link={scene.link_token}", "imagesLoaded(arg)", PERSON_PHOTOS),
        "Photos page": (
            f"{app_url}/photos",
            "visible(document.querySelector(`.st-key-open_${arg} button`)) && imagesLoaded(24)",
            scene.last_card,
        ),
        "dashboard": (
            f"{app_url}/dashboard",
            "visible(document.querySelectorAll(\"[data-testid='stMetric']\")[3])"
            " && visible(document.querySelector(\"[data-testid='stVegaLiteChart'] canvas,"
            " [data-testid='stVegaLiteChart'] svg\"))",
            None,
        ),
    }


@dataclass
class Loads:
    """Per page and load (the first load first): seconds to the main element, and the CPU seconds the server and
    Chromium spent on it (a busy machine stretches the seconds far more than it stretches the CPU time)."""

    wall: dict[str, list[float]] = field(default_factory=dict)
    server_cpu: dict[str, list[float]] = field(default_factory=dict)
    browser_cpu: dict[str, list[float]] = field(default_factory=dict)
    sent: dict[str, list[int]] = field(default_factory=dict)


def browser_figures(db: Database, data_dir: Path, scene: Scene, runs: int) -> Loads:
    """Each page loaded `runs` times by URL in rounds, timed to its main element."""
    port = free_port()
    env = app_env(db, data_dir, PORTAL_BASE_URL=f"http://127.0.0.1:{port}")
    out = Loads()
    with portal_and_bare(env, app_port=port) as servers, chromium_page() as page:
        loads = _loads(servers.app_url, servers.bare_url, scene)
        sent = [0]
        # Messages the page sends on its websocket: one asks for the first script run; more mean reruns.
        page.on("websocket", lambda ws: ws.on("framesent", lambda _frame: sent.__setitem__(0, sent[0] + 1)))
        # Sign in once: afterwards the cookie signs every new session of this browser in, as on a staff laptop.
        page.goto(servers.app_url)
        page.get_by_role("textbox", name="E-mail").fill(MANAGER[0])
        page.get_by_role("textbox", name="Password").fill(MANAGER[1])
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Signed in as").wait_for()
        settled(page)
        page.goto("about:blank")
        for _ in range(runs):
            for name, (url, main_element, arg) in loads.items():
                server = servers.bare_pid if name == "bare page" else servers.app_pid
                server_before, browser_before, sent[0] = cpu_seconds(server), browser_cpu(), 0
                page.goto(url)
                try:
                    seconds = shown_at(page, main_element, arg)
                except Exception:
                    shot = Path(tempfile.gettempdir()) / f"bench-pages-{name.replace(' ', '-')}.png"
                    page.screenshot(path=str(shot), full_page=True)
                    print(f"{name} never showed its main element; the page as it was: {shot}")
                    raise
                out.wall.setdefault(name, []).append(seconds)
                out.server_cpu.setdefault(name, []).append(cpu_seconds(server) - server_before)
                out.browser_cpu.setdefault(name, []).append(browser_cpu_since(browser_before))
                out.sent.setdefault(name, []).append(sent[0])
                page.goto("about:blank")
    return out


def report(label: str, loads: Loads) -> None:
    """First and warm seconds per page, CPU seconds, their ratios to the bare page, and whether each goal is met."""
    wall, server, browser = loads.wall, loads.server_cpu, loads.browser_cpu
    bare_first, bare_warm = wall["bare page"][0], min(wall["bare page"][1:])
    bare_cpu = median(server["bare page"][1:]) + median(browser["bare page"][1:])
    print(
        f"{label:10} {'page':14} {'first s':>7} {'ratio':>6} {'warm s':>7} {'ratio':>6}"
        f" {'server cpu':>10} {'browser cpu':>11} {'ratio':>6} {'ws sent':>7}  goal (warm)"
    )
    for name, seconds in wall.items():
        first, warm = seconds[0], min(seconds[1:])
        cpu_server, cpu_browser = median(server[name][1:]), median(browser[name][1:])
        goal = GOALS.get(name)
        verdict = "" if goal is None else f"{goal}x {'met' if warm / bare_warm <= goal else 'NOT met'}"
        print(
            f"{label:10} {name:14} {first:7.2f} {first / bare_first:5.1f}x {warm:7.2f} {warm / bare_warm:5.1f}x"
            f" {cpu_server:10.2f} {cpu_browser:11.2f} {(cpu_server + cpu_browser) / bare_cpu:5.1f}x"
            f" {max(loads.sent[name][1:]):7d}  {verdict}"
        )


def profile(db: Database, data_dir: Path, scene: Scene, top: int = 12) -> None:
    """Each page run in AppTest (warm: a second run), its script time, and the portal's costliest functions."""
    from streamlit.testing.v1 import AppTest

    os.environ.update(app_env(db, data_dir))
    app = str(ROOT / "streamlit_app.py")
    bare_file = data_dir / "bare_profile.py"
    bare_file.write_text(BARE)

    def opened(script: str, **query: str) -> AppTest:
        at = AppTest.from_file(script, default_timeout=300)
        for key, value in query.items():
            at.query_params[key] = value
        return at

    staff = AppTest.from_file(app, default_timeout=300).run()
    staff.text_input[0].input(MANAGER[0])
    staff.text_input[1].input(MANAGER[1])
    staff.button[0].click().run()

    def staff_page(path: str) -> Callable[[], AppTest]:
        staff.switch_page(path)
        return staff.run

    # A rerun of one session (as a click or the next load on a running server: Streamlit's script cache is warm).
    pages: dict[str, Callable[[], AppTest]] = {
        "bare page": opened(str(bare_file)).run,
        "QR form": opened(app, event=scene.event_token).run,
        "personal page": opened(app, link=scene.link_token).run,
        "Photos page": lambda: staff_page("portal/pages/assets.py")(),
        "dashboard": lambda: staff_page("portal/pages/dashboard.py")(),
    }
    for name, run in pages.items():
        run()  # warm: the portal is open and the modules are imported
        start = time.perf_counter()
        run()
        elapsed = time.perf_counter() - start
        with _profiled() as profiles:
            at = run()
        assert not at.exception, at.exception
        print(
            f"\n{name}: one rerun in AppTest {elapsed * 1000:.0f} ms; costliest portal functions (cumulative, profiled):"
        )
        stats = pstats.Stats(*profiles)
        if dump := os.environ.get("BENCH_PROFILE_DIR"):
            stats.dump_stats(str(Path(dump) / f"{name.replace(' ', '-')}.prof"))
        rows = [
            (cum, calls, f"{Path(file).relative_to(ROOT)}:{line} {fn}")
            for (file, line, fn), (_cc, calls, _tt, cum, _callers) in stats.stats.items()  # type: ignore[attr-defined]
            if file.startswith(str(ROOT / "portal"))
        ]
        for cum, calls, where in sorted(rows, reverse=True)[:top]:
            print(f"  {cum * 1000:7.1f} ms  {calls:5d}x  {where}")


@contextmanager
def _profiled() -> Iterator[list[cProfile.Profile]]:
    """cProfile every thread started inside the block (AppTest runs the script in its own thread)."""
    profiles: list[cProfile.Profile] = []

    def start(*_: object) -> None:
        prof = cProfile.Profile()
        profiles.append(prof)
        prof.enable()  # replaces this hook for the rest of the thread

    threading.setprofile(start)
    try:
        yield profiles
    finally:
        threading.setprofile(None)
        for prof in profiles:
            prof.create_stats()


def main() -> None:
    """Fill each database, then time the pages in Chromium (and profile them in AppTest when asked)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=4, help="loads per page: the first, then the best of the rest")
    ap.add_argument("--no-browser", action="store_true", help="skip the Chromium timings")
    ap.add_argument("--profile", action="store_true", help="profile one run of each page in AppTest")
    add_database_options(ap)
    args = ap.parse_args()
    for label, db in each_database(args):
        data_dir = Path(tempfile.mkdtemp(prefix="bench-pages-data-"))
        try:
            _portal, scene = prepare(db, data_dir, args.photos)
            if not args.no_browser:
                report(label, browser_figures(db, data_dir, scene, max(2, args.runs)))
            if args.profile:
                profile(db, data_dir, scene)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
