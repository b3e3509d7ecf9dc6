"""One person, one record on a 390x844 phone (issue 15 item 4): the lost-link flow, the form sent again with the
same confirmed address (the e-mail arrives, the person confirms, the same person changes), and a manager merging
a duplicate on the Subjects page; e-mail through a real SMTP server."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from portal.backend.consent.status import subject_consents
from portal.backend.events.store import event_url
from portal.backend.ops.mailer import send_pending
from portal.backend.people.services import register_subject, revoke_personal_links
from portal.backend.platform.actors import Actor
from portal.backend.platform.blobs import LocalBlobStore
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import subjects
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.runtime import Portal
from tests.e2e.conftest import ARTIFACTS, LivePortal, settle
from tests.e2e.test_mail_journey import _open_in_sidebar
from tests.e2e.test_staff_journey import _choose, _sign_in
from tests.smtp import Mailbox, smtp_server, text_part

__all__ = ["smtp_server"]  # the fixture, imported for pytest to find
LINK = re.compile(r"https?://\S+\?link=\S+")
CONFIRM = re.compile(r"https?://\S+\?confirm=\S+")
ADDRESS = "lena@example.org"
# The CI machine is slower than the 5 s Playwright allows by default for an expectation.
WAIT = 60_000


@pytest.fixture
def live_portal_env(smtp_server: Mailbox) -> dict[str, str]:
    """The live portal sends through the test's SMTP server."""
    return smtp_server.env()


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """A full-page screenshot of this step, to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"one-person-{name}-390x844.png"), full_page=True)


def _newest(box: Mailbox, pattern: re.Pattern[str], seen: int) -> str:
    """The link in the newest message to Lena, which must be the one after the `seen` before it."""
    received = box.to(ADDRESS)
    assert len(received) == seen + 1
    [url] = pattern.findall(text_part(received[-1]))
    return url


def _people(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(subjects)).scalar_one())


def test_one_person_one_record_on_a_phone(live_portal: LivePortal, smtp_server: Mailbox, browser_page) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    db = Database(live_portal.database_url)
    settings = load_settings(
        env={}, secrets_path=None, database_url=live_portal.database_url, base_url=live_portal.url,
        **smtp_server.settings(),
    )  # fmt: skip
    portal = Portal(settings=settings, db=db, blobs=LocalBlobStore(live_portal.folder / "data" / "blobs"))
    lena = register_subject(
        portal, actor=Actor(kind="subject"), channel="qr_form", name="Lena Lost", email=ADDRESS,
        choices={"website": True}, birth_year=1990, birth_month=6, event_id=2,
    ).subject.id  # fmt: skip
    send_pending(portal, now=utcnow())  # the welcome e-mail (and the demo's waiting ones)
    welcome = _newest(smtp_server, LINK, 0)

    # 1. Lost link: the welcome link confirms her address; later her links are retired and she asks for a new one.
    page.goto(welcome)
    expect(page.get_by_text("Lena Lost").first).to_be_visible(timeout=WAIT)
    settle(page)
    revoke_personal_links(portal, actor=Actor.operator("e2e"), subject_id=lena)
    page.goto(welcome)
    expect(page.get_by_text("This link has been withdrawn")).to_be_visible(timeout=WAIT)
    settle(page)
    _shot(page, "1-dead-link")
    page.locator(".st-key-lost_link_email input").fill("Lena@Example.org")
    page.get_by_role("button", name="Send me a new link").click()
    expect(page.get_by_text("If this address is registered and confirmed")).to_be_visible(timeout=WAIT)
    send_pending(portal, now=utcnow())
    fresh = _newest(smtp_server, LINK, 1)
    page.goto(fresh)
    expect(page.get_by_text("Lena Lost").first).to_be_visible(timeout=WAIT)
    settle(page)
    _shot(page, "2-new-link")

    # 2. A week later she fills in the festival form again with the same address: no second person.
    people = _people(db)
    with db.read() as conn:
        qr_url = event_url(conn, event_id=2, secret=settings.secret_key, base_url=live_portal.url)
    page.goto(qr_url)
    expect(page.get_by_text("Photos at Summer festival")).to_be_visible(timeout=WAIT)
    settle(page)
    page.locator(".st-key-form_name input").fill("Lena Lost")
    page.locator(".st-key-form_name input").press("Tab")
    for key, value in (("form_birth_month", "06"), ("form_birth_year", "1990")):
        _choose(page, key, value)
    page.locator(".st-key-form_email input").fill(" LENA@example.org")
    page.locator(".st-key-form_email input").press("Tab")
    for key in ("agree_website", "agree_internal"):
        page.locator(f".st-key-{key} label").click()
        settle(page)
    page.locator(".st-key-form_submit button").click()
    expect(page.get_by_text("Check your e-mail")).to_be_visible(timeout=WAIT)
    expect(page.get_by_text("is already registered with us")).to_be_visible(timeout=WAIT)
    settle(page)
    _shot(page, "3-sent-again")
    assert "?link=" not in page.content()  # nothing of the registered person is handed over
    assert _people(db) == people

    send_pending(portal, now=utcnow())
    confirm = _newest(smtp_server, CONFIRM, 2)
    page.goto(confirm)
    expect(page.get_by_text("Confirm your new choices")).to_be_visible(timeout=WAIT)
    expect(page.get_by_text("Given again (renewed)")).to_be_visible(timeout=WAIT)
    settle(page)
    _shot(page, "4-confirm")
    page.locator(".st-key-confirm_changes button").click()
    expect(page.get_by_text("Confirmed. Your choices are recorded")).to_be_visible(timeout=WAIT)
    settle(page)
    _shot(page, "5-confirmed")
    with db.read() as conn:
        status = {s.purpose_code: s.status for s in subject_consents(conn, lena, utcnow()) if not s.scope_asset_id}
    assert (status["website"], status["internal"]) == ("renewed", "given")
    assert _people(db) == people
    # The link works once.
    page.goto(confirm)
    expect(page.get_by_text("This link has already been used")).to_be_visible(timeout=WAIT)

    # 3. A duplicate from before (no address, same name at the same event); the manager merges it on the phone.
    duplicate = register_subject(
        portal, actor=Actor(kind="subject"), channel="qr_form", name="Lena  lost", choices={"print": True},
        birth_year=1990, birth_month=6, event_id=2,
    ).subject.id  # fmt: skip
    _sign_in(page, live_portal.url, "manager@demo.example", "demo-manager-pass")
    _open_in_sidebar(page, "Subjects")
    expect(page.get_by_text("Likely duplicates (1)")).to_be_visible(timeout=WAIT)
    expect(page.get_by_text("same name at the same event")).to_be_visible(timeout=WAIT)
    merge = page.locator(".st-key-dup_merge_0 button")
    expect(merge).to_be_disabled(timeout=WAIT)
    page.locator(".st-key-dup_sure_0 label").click()
    expect(merge).to_be_enabled(timeout=WAIT)
    settle(page)
    _shot(page, "6-duplicates")
    merge.click()
    expect(page.get_by_text("Merged Lena  lost")).to_be_visible(timeout=WAIT)
    expect(page.get_by_text("Likely duplicates (0)")).to_be_visible(timeout=WAIT)
    settle(page)
    _shot(page, "7-merged")
    with db.read() as conn:
        merged_into = conn.execute(select(subjects.c.merged_into).where(subjects.c.id == duplicate)).scalar()
        status = {s.purpose_code: s.status for s in subject_consents(conn, lena, utcnow()) if not s.scope_asset_id}
    assert merged_into == lena and status["print"] == "given"
    db.dispose()
