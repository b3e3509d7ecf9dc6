"""Staff and manager journeys in a real browser: sign in, create an event, upload photos, review a face, publish;
the subject withdraws on their phone; the manager sees the dashboard change and exports the compliance report."""

from __future__ import annotations

import subprocess
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect
from sqlalchemy import select

from portal.backend.consent.records import Context
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import assets, detections, events
from portal.backend.risk import index as risk_index
from tests.e2e.conftest import ARTIFACTS, LivePortal, settle
from tests.factories import create_personal_link, register_subject
from tests.imagery import group_photo


def _sign_in(page, url: str, email: str, password: str) -> None:  # type: ignore[no-untyped-def]
    """Sign in on the start page."""
    page.goto(url)
    settle(page)
    page.get_by_role("textbox", name="E-mail").fill(email)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Signed in as").wait_for()
    settle(page)


def _choose(page, key: str, option: str) -> None:  # type: ignore[no-untyped-def]
    """Pick an option in the Streamlit selectbox with this key, and check it was taken."""
    field = page.locator(f".st-key-{key} input")
    for _ in range(4):
        if field.input_value() == option:
            return
        field.click()
        field.fill(option)  # filter first: long lists are virtualised and show only some options
        try:
            # A rerun that lands meanwhile closes the list; then this attempt is abandoned and made again.
            page.get_by_role("option").filter(has_text=option).first.wait_for(timeout=5_000)
        except PlaywrightTimeout:
            field.press("Escape")
            settle(page)
            continue
        # Keys go to the field itself, never to the page (where single keys are Streamlit shortcuts). The filtered
        # list holds the one match; ArrowDown puts the focus on it, so Enter selects it rather than nothing.
        field.press("ArrowDown")
        field.press("Enter")
        field.blur()  # an unselected filter text falls back to the old value here, so the check below is honest
        settle(page)
    assert field.input_value() == option, f"the selectbox {key} did not take {option!r}"


def _open(page, title: str) -> None:  # type: ignore[no-untyped-def]
    """Go to a page through the sidebar navigation, as a person would."""
    page.locator("[data-testid='stSidebarNav']").get_by_text(title, exact=True).click()
    settle(page)


def _expect_metric(page, label: str, value: str) -> None:  # type: ignore[no-untyped-def]
    """Wait until the metric with this label shows this value (a slow machine may still be drawing the page)."""
    metric = page.locator("[data-testid='stMetric']").filter(has_text=label)
    expect(metric.locator("[data-testid='stMetricValue']")).to_have_text(value, timeout=30_000)


def test_staff_review_then_the_dashboard_follows_a_withdrawal(  # type: ignore[no-untyped-def]
    live_portal: LivePortal, desktop_page, tmp_path: Path
) -> None:
    page = desktop_page
    db = Database(live_portal.database_url)
    settings = load_settings(env={}, secrets_path=None, database_url=live_portal.database_url, base_url=live_portal.url)
    # A person who agreed at the gala's stand: website yes.
    walter = register_subject(
        db,
        name="Walter Webb",
        choices={"internal": True, "website": True},
        context=Context(channel="staff", actor="staff:e2e", evidence={"act": "e2e"}),
    ).subject
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    # 1. Staff sign in and create an event.
    _sign_in(page, live_portal.url, "staff@demo.example", "demo-staff-pass")
    _open(page, "Events")
    page.get_by_text("Create an event").click()
    page.get_by_role("textbox", name="Name").fill("Autumn gala")
    page.get_by_role("textbox", name="Place").fill("Lund, Kulturen")
    page.get_by_role("button", name="Create event").click()
    page.get_by_role("heading", name="Autumn gala").wait_for()  # the run that wrote the event has finished
    settle(page)
    with db.read() as conn:
        gala = conn.execute(select(events.c.id).where(events.c.name == "Autumn gala")).scalar_one()

    # 2. Upload two photos (one broken) to the event; the good one is analysed on the spot.
    _open(page, "Photos")
    page.get_by_text("Upload photos").click()
    good, broken = tmp_path / "gala-stage.jpg", tmp_path / "broken.jpg"
    good.write_bytes(group_photo(["grace_hopper"]))
    broken.write_bytes(b"this is not a photo")
    page.locator(".st-key-uploads input[type='file']").set_input_files([str(good), str(broken)])
    settle(page)
    _choose(page, "upload_event", "Autumn gala")
    page.locator(".st-key-import button").click()
    page.get_by_text("1 imported, 0 duplicates, 1 rejected.").wait_for()
    page.get_by_text("Analysed 1 photos").wait_for()
    settle(page)
    with db.read() as conn:
        photo = conn.execute(select(assets.c.id, assets.c.event_id).where(assets.c.filename == "gala-stage.jpg")).one()
        face = (
            conn.execute(
                select(detections.c.id)
                .where(detections.c.asset_id == photo.id, detections.c.kind == "face")
                .order_by((detections.c.w * detections.c.h).desc())
            )
            .scalars()
            .first()
        )
    assert photo.event_id == gala and face is not None

    # 3. Review the photo: link the face to Walter, then record that it is on the website.
    page.locator(f".st-key-open_{photo.id} button").click()
    settle(page)
    page.locator(f".st-key-find_{face} input").fill("Walter Webb")
    page.locator(f".st-key-find_{face} input").press("Enter")
    settle(page)
    page.locator(f".st-key-link_{face}_{walter.id} button").click()
    page.get_by_text("linked to Walter Webb.").wait_for()
    expect(page.locator(f".st-key-face_{face}")).to_contain_text("· confirmed")
    settle(page)
    _choose(page, "publish_purpose", "Our website")
    page.locator(".st-key-publish_place input").fill("https://gala.example/photos")
    page.get_by_role("button", name="Record publication").click()
    # A typed URL is shown as text, never as a link: an invisible word joiner after "https:" keeps it inert.
    page.get_by_text("Our website: https:\u2060//gala.example/photos").wait_for()
    page.screenshot(path=str(ARTIFACTS / "staff-review-1280.png"), full_page=True)
    page.get_by_role("button", name="Sign out").click()
    settle(page)

    # 4. A manager sees no critical photo yet.
    _sign_in(page, live_portal.url, "manager@demo.example", "demo-manager-pass")
    _open(page, "At-risk photos")
    _expect_metric(page, "Critical (published, no basis)", "0")

    # 5. Walter withdraws website consent on his phone, through his personal link.
    phone = page.context.browser.new_page(viewport={"width": 390, "height": 844})
    link = create_personal_link(
        db, subject_id=walter.id, secret=settings.secret_key, base_url=live_portal.url, ttl_days=settings.link_ttl_days
    )
    phone.goto(link)
    phone.get_by_text("Hello Walter Webb").wait_for()
    settle(phone)
    # The summary's "Change" for the website opens its text and the one button; the answer appears right there.
    phone.locator(".st-key-change_website summary").click()
    phone.locator(".st-key-withdraw_website button").wait_for()
    settle(phone)  # a tap while a run is still drawing the page can be lost under load
    phone.locator(".st-key-withdraw_website button").click()
    phone.locator(".st-key-change_website").get_by_text("Withdrawn. We have recorded it").wait_for()
    phone.close()

    # 6. The manager's dashboard follows: the published gala photo is now critical, withdrawn.
    # (No reload: a reload is a new browser session and signs the manager out, as it should.)
    _open(page, "Overview")
    _open(page, "At-risk photos")
    _expect_metric(page, "Critical (published, no basis)", "1")
    page.get_by_role("tab", name="Critical").click()
    critical = page.locator("[data-testid='stDataFrame']").filter(has_text="gala-stage.jpg")
    critical.wait_for()
    page.screenshot(path=str(ARTIFACTS / "dashboard-critical-1280.png"), full_page=True)
    with db.read() as conn:
        assert risk_index.check(conn) == []

    # 7. The manager exports the compliance report; the PDF names the photo and why.
    _open(page, "Reports")
    page.locator(".st-key-make_compliance button").click()
    settle(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the compliance report (PDF)").click()
    pdf = tmp_path / "compliance.pdf"
    download.value.save_as(str(pdf))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Photo consent compliance report" in text
    assert "gala-stage.jpg" in text and "withdrawn" in text.lower()
    db.dispose()
