"""E-mail end to end in a real browser on a phone-sized screen: a person registers on the kiosk with an e-mail
address, `outbox send` delivers the welcome to a real SMTP server (aiosmtpd), and its link opens their page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.backend.ops.mailer import send_pending
from portal.backend.platform.blobs import LocalBlobStore
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import outbox
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.runtime import Portal
from tests.e2e.conftest import LivePortal, settle
from tests.e2e.test_staff_journey import _choose, _sign_in
from tests.smtp import Mailbox, html_part, smtp_server, text_part

__all__ = ["smtp_server"]  # the fixture, imported for pytest to find
LINK = re.compile(r"https?://\S+\?link=\S+")


@pytest.fixture
def live_portal_env(smtp_server: Mailbox) -> dict[str, str]:
    """The live portal has e-mail configured (so the kiosk promises the e-mail) and points at the test server."""
    return smtp_server.env()


def _open_in_sidebar(page, title: str) -> None:  # type: ignore[no-untyped-def]
    """Open a page through the sidebar, which a phone-sized screen shows collapsed."""
    nav = page.locator("[data-testid='stSidebarNav']")
    if not nav.is_visible():
        page.locator(
            "[data-testid='stExpandSidebarButton'], [data-testid='stSidebarCollapsedControl'] button"
        ).first.click()
    nav.get_by_text(title, exact=True).click()
    settle(page)
    # On a phone the open sidebar covers the page: close it again, as a person would.
    sidebar = page.locator("[data-testid='stSidebar']")
    if sidebar.get_attribute("data-collapsed") == "false":
        page.locator("[data-testid='stSidebarCollapseButton'] button").click(force=True)
        page.locator("[data-testid='stSidebar'][data-collapsed='true']").wait_for(state="attached")


def test_kiosk_registration_email_arrives_and_its_link_opens_the_page(  # type: ignore[no-untyped-def]
    live_portal: LivePortal, smtp_server: Mailbox, browser_page
) -> None:
    page = browser_page
    # 1. Staff sign in on the phone and hand it over in kiosk mode for the summer festival.
    _sign_in(page, live_portal.url, "staff@demo.example", "demo-staff-pass")
    _open_in_sidebar(page, "Events")
    page.locator(".st-key-kiosk_2").get_by_role("button", name="Start kiosk mode").click()
    page.get_by_text("Photos at Summer festival").wait_for()
    settle(page)

    # 2. A visitor fills in the form with an e-mail address.
    page.locator(".st-key-form_name input").fill("Kim Kiosk")
    page.locator(".st-key-form_name input").press("Tab")
    for key, value in (("form_birth_month", "06"), ("form_birth_year", "1990")):
        _choose(page, key, value)  # retries when a rerun closes the list mid-choice (slow machines)
    page.locator(".st-key-form_email input").fill("kim@example.org")
    page.locator(".st-key-form_email input").press("Tab")
    page.locator(".st-key-agree_website label").click()
    settle(page)
    page.locator(".st-key-form_submit button").click()
    page.get_by_text("Done, thank you").wait_for()
    # E-mail is configured, so the kiosk promises the e-mail (and shows nothing of the person).
    page.get_by_text("We are sending your personal link to the e-mail address you gave").wait_for()
    assert "Kim Kiosk" not in page.content() and "?link=" not in page.content()

    # 3. The sender delivers it to the SMTP server.
    db = Database(live_portal.database_url)
    settings = load_settings(
        env={},
        secrets_path=None,
        database_url=live_portal.database_url,
        base_url=live_portal.url,
        **smtp_server.settings(),  # type: ignore[arg-type]
    )
    sender = Portal(settings=settings, db=db, blobs=LocalBlobStore(live_portal.folder / "data" / "blobs"))
    assert send_pending(sender, now=utcnow()).sent == 1
    [mail] = smtp_server.to("kim@example.org")
    body = text_part(mail)
    assert "Kim Kiosk" in body
    [url] = LINK.findall(body)
    assert url.startswith(f"{live_portal.url}/?link=") and url in html_part(mail)
    with db.read() as conn:
        [row] = conn.execute(select(outbox.c.status, outbox.c.payload).where(outbox.c.kind == "email")).all()
    assert row.status == "sent" and "link=" not in row.payload  # nothing secret at rest

    # 4. The link opens the person's own page in the browser (a new session: the kiosk stays behind).
    page.goto(url)
    page.get_by_text("Hello Kim Kiosk").wait_for()
    settle(page)
    db.dispose()
