"""Getting one's link back on a phone (issue 15 item 3): a dead link, "Lost your link?", the e-mail arrives at a real
SMTP server, and its link opens the person's page."""

from __future__ import annotations

import re

import pytest

from portal.backend.ops.mailer import send_pending
from portal.backend.people.services import register_subject, revoke_personal_links
from portal.backend.platform.actors import Actor
from portal.backend.platform.blobs import LocalBlobStore
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.runtime import Portal
from tests.e2e.conftest import LivePortal, settle
from tests.smtp import Mailbox, smtp_server, text_part

__all__ = ["smtp_server"]  # the fixture, imported for pytest to find
LINK = re.compile(r"https?://\S+\?link=\S+")


@pytest.fixture
def live_portal_env(smtp_server: Mailbox) -> dict[str, str]:
    """The live portal sends through the test's SMTP server."""
    return smtp_server.env()


def _new_mail(box: Mailbox, address: str, seen: int) -> str:
    """The personal link in the newest message to `address` (after the `seen` ones before it)."""
    received = box.to(address)
    assert len(received) == seen + 1
    [url] = LINK.findall(text_part(received[-1]))
    return url


def test_lost_link_on_a_phone(live_portal: LivePortal, smtp_server: Mailbox, browser_page) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    db = Database(live_portal.database_url)
    settings = load_settings(
        env={}, secrets_path=None, database_url=live_portal.database_url, base_url=live_portal.url,
        **smtp_server.settings(),
    )  # fmt: skip
    portal = Portal(settings=settings, db=db, blobs=LocalBlobStore(live_portal.folder / "data" / "blobs"))
    person = register_subject(
        portal, actor=Actor(kind="subject"), channel="qr_form", name="Lena Lost", email="lena@example.org",
        choices={"website": True},
    ).subject.id  # fmt: skip
    send_pending(portal, now=utcnow())  # `outbox send`: the welcome e-mail (and the demo's waiting ones)
    welcome = _new_mail(smtp_server, "lena@example.org", 0)
    # Opening the e-mailed link confirms Lena's address.
    page.goto(welcome)
    page.get_by_text("Lena Lost").first.wait_for()
    settle(page)
    # She loses it; the organisation retires her links (or they ran out).
    revoke_personal_links(portal, actor=Actor.operator("e2e"), subject_id=person)
    page.goto(welcome)
    page.get_by_text("Lost your link?").wait_for()
    settle(page)
    page.locator(".st-key-lost_link_email input").fill("Lena@Example.org")
    page.get_by_role("button", name="Send me a new link").click()
    page.get_by_text("If this address is registered and confirmed").wait_for()
    send_pending(portal, now=utcnow())
    fresh = _new_mail(smtp_server, "lena@example.org", 1)
    assert fresh != welcome
    page.goto(fresh)
    page.get_by_text("Lena Lost").first.wait_for()
    settle(page)
    assert not page.get_by_text("Lost your link?").count()
    db.dispose()
