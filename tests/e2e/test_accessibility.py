"""WCAG 2.1 AA (axe-core) on every public and staff page, on a phone (390x844) and a laptop (1280x900): the QR
consent form (in English and Swedish, whose page then says lang="sv") and its thank-you, sign-in, the Photos grid and
one photo's review view, the dashboard and its drill-down, reports and the kiosk; on the phone every touch target is
at least 44 px, and no control's text is wider than the control. One live portal, one browser and one sign-in for
all of them; each page is checked at both sizes where it is reached (the page is resized in place). Screenshots of
every page go to test-artifacts/e2e/a11y-*.png, what was found to a11y-violations.txt beside them."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.backend.consent.records import Context
from portal.backend.events.store import event_url
from portal.backend.photos.services import analyse_pending, import_photos, link_face, publish_photo
from portal.backend.platform.actors import Actor
from portal.backend.platform.blobs import make_blob_store
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import assets, detections
from portal.backend.platform.runtime import Portal
from tests.e2e.axe import axe_violations, clipped_controls, format_violations, small_touch_targets
from tests.e2e.conftest import ARTIFACTS, LivePortal, settle
from tests.e2e.test_mail_journey import _open_in_sidebar
from tests.e2e.test_review_desk import _images_loaded
from tests.e2e.test_staff_journey import _choose, _sign_in
from tests.factories import register_subject
from tests.imagery import group_photo

SIZES = {"phone": (390, 844), "laptop": (1280, 900)}
REPORT = ARTIFACTS / "a11y-violations.txt"


@pytest.fixture
def live_portal_env() -> dict[str, str]:
    """No file watcher: a source file saved while this long test runs must not reload the portal's modules under it."""
    return {"STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}


def _seed_photos(live_portal: LivePortal) -> int:
    """Two analysed photos, one with a face linked to a person who refused the website yet published there: the
    review view shows a person's statuses, and the dashboard's drill-down has a card."""
    db = Database(live_portal.database_url)
    settings = load_settings(
        env={"PORTAL_DATA_DIR": str(live_portal.folder / "data")},
        secrets_path=None,
        database_url=live_portal.database_url,
        base_url=live_portal.url,
    )
    portal = Portal(settings=settings, db=db, blobs=make_blob_store(settings))
    erik = register_subject(
        db,
        name="Erik Ek",
        email="erik@example.org",
        choices={"internal": True, "website": False},
        context=Context(channel="staff", actor="staff:e2e", evidence={"act": "e2e"}),
    ).subject
    staff = Actor.staff(3, "staff")
    import_photos(
        portal,
        actor=staff,
        files=[
            ("gala-pair.jpg", group_photo(["astronaut", "grace_hopper"])),
            ("spring-panel.jpg", group_photo(["grace_hopper"])),
        ],
    )
    analyse_pending(portal, actor=staff)
    with db.read() as conn:
        panel = conn.execute(select(assets.c.id).where(assets.c.filename == "spring-panel.jpg")).scalar_one()
        face = (
            conn.execute(
                select(detections.c.id)
                .where(detections.c.asset_id == panel, detections.c.kind == "face")
                .order_by((detections.c.w * detections.c.h).desc())
            )
            .scalars()
            .first()
        )
    assert face is not None
    link_face(portal, actor=staff, detection_id=face, subject_id=erik.id)
    publish_photo(
        portal,
        actor=Actor.staff(1, "admin"),
        asset_id=panel,
        purpose="website",
        where="https://example.org/spring",
        override_reason="published before Erik said no (e2e)",
    )
    db.dispose()
    return panel


def _drawn(page) -> None:  # type: ignore[no-untyped-def]
    """Wait until the script run is over, every lazily loaded widget is drawn (Streamlit shows a skeleton until its
    code has loaded) and every image is decoded: axe must see the page a person sees."""
    settle(page)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stSkeleton\"]')")
    _images_loaded(page)


def _screenshot(page, path: Path) -> None:  # type: ignore[no-untyped-def]
    """The whole page: Streamlit scrolls inside its main section, so the window is made as tall as that section's
    content for the picture, then given back its size."""
    size = page.viewport_size
    tall = page.evaluate(
        '() => Math.max(...[...document.querySelectorAll(\'[data-testid="stMain"], [data-testid="stAppViewContainer"]\')]'
        ".map(e => e.scrollHeight), window.innerHeight)"
    )
    page.set_viewport_size({"width": size["width"], "height": min(int(tall), 12_000)})
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")  # laid out
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


# Twenty page views with axe on a shared 2-core machine take longer than the suite's default 300 s (5-7 min there);
# one portal and one sign-in for all of them is still far quicker than a test (and a portal) per page.
@pytest.mark.timeout(900)
def test_every_page_meets_wcag_2_1_aa_on_a_phone_and_a_laptop(live_portal: LivePortal, desktop_page) -> None:  # type: ignore[no-untyped-def]
    page = desktop_page
    panel = _seed_photos(live_portal)
    db = Database(live_portal.database_url)
    settings = load_settings(env={}, secrets_path=None, database_url=live_portal.database_url, base_url=live_portal.url)
    with db.read() as conn:
        qr_url = event_url(conn, event_id=2, secret=settings.secret_key, base_url=live_portal.url)
    db.dispose()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    found: list[str] = []
    checked: list[str] = []

    def check(name: str) -> None:
        """Run axe on the page as it is now at each size, measure its touch targets on the phone and look for text
        wider than its control; keep what is found, so that one run lists every page's problems."""
        for size, (width, height) in SIZES.items():
            page.set_viewport_size({"width": width, "height": height})
            _drawn(page)
            violations = axe_violations(page)
            checked.append(f"{name} {size}")
            if violations:
                found.append(f"== {name} at {width}x{height}\n{format_violations(violations)}")
            small = small_touch_targets(page) if size == "phone" else []
            if small:
                found.append(f"== {name} at {width}x{height}: touch targets under 44 px\n  " + "\n  ".join(small))
            clipped = clipped_controls(page)
            if clipped:
                found.append(f"== {name} at {width}x{height}: text wider than its control\n  " + "\n  ".join(clipped))
            _screenshot(page, ARTIFACTS / f"a11y-{name}-{size}.png")
            REPORT.write_text("\n".join(found) + f"\n(checked: {', '.join(checked)})\n", encoding="utf-8")

    # Public pages: the QR consent form (and its thank-you with the QR code of the personal link), sign-in.
    page.goto(qr_url)
    expect(page.get_by_role("heading", name="Photos at Summer festival")).to_be_visible(timeout=60_000)
    check("consent-form")
    # In Swedish the page says so (WCAG 3.1.1), so that a screen reader reads it with a Swedish voice.
    assert page.evaluate("document.documentElement.lang") == "en"
    page.locator(".st-key-form_locale").get_by_text("Svenska", exact=True).click()
    expect(page.get_by_role("heading", name="Bilder från Summer festival")).to_be_visible(timeout=60_000)
    page.wait_for_function("document.documentElement.lang === 'sv'")
    check("consent-form-sv")
    page.locator(".st-key-form_locale").get_by_text("English", exact=True).click()
    expect(page.get_by_role("heading", name="Photos at Summer festival")).to_be_visible(timeout=60_000)
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.locator(".st-key-form_name input").fill("Eva Example")
    page.locator(".st-key-form_name input").press("Tab")
    for key, value in (("form_birth_month", "06"), ("form_birth_year", "1990")):
        _choose(page, key, value)
    page.locator(".st-key-agree_website label").click()
    settle(page)
    page.locator(".st-key-form_submit button").click()
    expect(page.get_by_text("Thank you, Eva Example")).to_be_visible(timeout=60_000)
    check("consent-thanks")

    page.goto(live_portal.url)
    expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible(timeout=60_000)
    check("sign-in")

    # Staff pages, as a manager (who sees all of them).
    _sign_in(page, live_portal.url, "manager@demo.example", "demo-manager-pass")
    _open_in_sidebar(page, "Photos")
    expect(page.locator(f".st-key-card_{panel}")).to_be_visible(timeout=60_000)
    check("photos-grid")
    page.locator(f".st-key-open_{panel} button").click()
    expect(page.get_by_role("heading", name=f"#{panel} spring-panel.jpg")).to_be_visible(timeout=60_000)
    check("photos-review")

    _open_in_sidebar(page, "At-risk photos")
    expect(page.get_by_text("1 published photo lost its basis")).to_be_visible(timeout=60_000)
    check("dashboard")
    page.get_by_role("tab", name="Drill down").click()
    _choose(page, "drill_purpose", "Our website")
    _choose(page, "drill_what", "Refused")
    expect(page.locator(f".st-key-drill_card_{panel}")).to_contain_text("spring-panel.jpg", timeout=60_000)
    check("dashboard-drill")

    _open_in_sidebar(page, "Reports")
    expect(page.get_by_role("heading", name="Reports")).to_be_visible(timeout=60_000)
    check("reports")

    # The kiosk last: it takes over this browser until staff end it.
    _open_in_sidebar(page, "Events")
    page.locator(".st-key-kiosk_2").get_by_role("button", name="Start kiosk mode").click()
    expect(page.get_by_role("heading", name="Photos at Summer festival")).to_be_visible(timeout=60_000)
    check("kiosk")

    assert len(checked) == 2 * 10  # every page above at both sizes
    assert not found, "axe-core (WCAG 2.1 AA) found violations:\n" + "\n".join(found)
