"""Staying signed in (an HttpOnly cookie bound to a server-side row) and the kiosk's resets, in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update

from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import audit_log, staff_session_tokens, staff_users
from tests.e2e.conftest import ARTIFACTS, LivePortal, _open_page, settle
from tests.e2e.test_staff_journey import _choose

SIGNED_IN = "Signed in as"


@pytest.fixture
def tablet_page(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A tablet held upright (820x1180), as people fill in the kiosk's form."""
    yield from _open_page(request, 820, 1180)


def _sign_in(page, url: str, email: str, password: str) -> None:  # type: ignore[no-untyped-def]
    """Sign in on the start page and wait until the browser holds the sign-in cookie."""
    page.goto(url)
    settle(page)
    page.get_by_role("textbox", name="E-mail").fill(email)
    page.get_by_role("textbox", name="Password").fill(password)
    with page.expect_response(lambda r: r.url.endswith("/api/session") and r.request.method == "POST") as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 204
    expect(page.get_by_text(SIGNED_IN)).to_be_visible()
    settle(page)


def _cookie(page) -> dict | None:  # type: ignore[no-untyped-def,type-arg]
    """The portal's sign-in cookie as the browser holds it (Playwright sees HttpOnly cookies; page scripts do not)."""
    return next((c for c in page.context.cookies() if c["name"] == "portal_session"), None)


def _restored(db: Database) -> int:
    """How many sign-ins a cookie brought back (each is audited)."""
    with db.read() as conn:
        return len(conn.execute(select(audit_log.c.id).where(audit_log.c.action == "remembered_sign_in")).all())


def test_a_reload_and_a_deep_link_stay_signed_in_until_sign_out(live_portal: LivePortal, desktop_page) -> None:  # type: ignore[no-untyped-def]
    page = desktop_page
    _sign_in(page, live_portal.url, "manager@demo.example", "demo-manager-pass")
    cookie = _cookie(page)
    assert cookie is not None
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert page.evaluate("document.cookie").find("portal_session") == -1  # no script of the page can read it
    # The route answers only the portal's own pages, and only for a live one-time code.
    route = f"{live_portal.url}/api/session"
    json_body = {"Content-Type": "application/json"}
    foreign = page.request.post(route, headers={**json_body, "Origin": "https://evil.example"}, data='{"code": "x"}')
    assert foreign.status == 403
    assert page.request.delete(route, headers={"Origin": "https://evil.example"}).status == 403
    stale = page.request.post(route, headers={**json_body, "Origin": live_portal.url}, data='{"code": "x"}')
    assert stale.status == 400 and "set-cookie" not in stale.headers
    db = Database(live_portal.database_url)
    with db.read() as conn:
        row = conn.execute(select(staff_session_tokens)).one()
    assert row.token_hash and row.token_hash != cookie["value"] and row.revoked_at is None

    page.reload()
    expect(page.get_by_text(SIGNED_IN)).to_be_visible()
    settle(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "signed-in-after-reload.png"), full_page=True)

    # A deep link to a manager page in a new tab: the same sign-in, that page.
    deep = page.context.new_page()
    asked: list[str] = []
    deep.on("request", lambda r: asked.append(r.url))
    deep.goto(f"{live_portal.url}/subjects")
    expect(deep.get_by_role("heading", name="Subjects")).to_be_visible()
    # The page's address told the frontend where the server is: no probe of /subjects/_stcore/ first.
    assert f"{live_portal.url}/_stcore/health" in asked
    assert not [url for url in asked if "/subjects/_stcore/" in url]
    expect(deep.get_by_text(SIGNED_IN)).to_be_visible()
    settle(deep)
    deep.screenshot(path=str(ARTIFACTS / "signed-in-deep-link.png"), full_page=True)
    assert _restored(db) == 2  # the reload and the deep link
    # The subject side stays stateless, also in this browser: a personal link's page does not read the staff cookie.
    subject = page.context.new_page()
    subject.goto(f"{live_portal.url}/?link=v1.not-a-real-link")
    expect(subject.get_by_text("Lost your link?")).to_be_visible()
    settle(subject)
    assert _restored(db) == 2
    subject.close()

    # Sign out in the first tab: the cookie goes, the row is revoked, and the other tab is signed out on its next click.
    with page.expect_response(lambda r: r.url.endswith("/api/session") and r.request.method == "DELETE"):
        page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    assert _cookie(page) is None
    with db.read() as conn:
        assert conn.execute(select(staff_session_tokens.c.revoked_reason)).scalar_one() == "signed_out"
    page.reload()
    expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    settle(page)
    expect(page.get_by_text(SIGNED_IN)).to_have_count(0)
    deep.get_by_role("link", name="Overview").click()
    expect(deep.get_by_text("You signed out in another tab or window")).to_be_visible()
    expect(deep.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    db.dispose()


def test_a_disabled_account_s_cookie_stops_working(live_portal: LivePortal, desktop_page) -> None:  # type: ignore[no-untyped-def]
    page = desktop_page
    _sign_in(page, live_portal.url, "staff@demo.example", "demo-staff-pass")
    stolen = _cookie(page)
    assert stolen is not None
    db = Database(live_portal.database_url)
    with db.write() as conn:
        conn.execute(update(staff_users).where(staff_users.c.email == "staff@demo.example").values(active=False))
    page.reload()
    expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    settle(page)
    expect(page.get_by_text(SIGNED_IN)).to_have_count(0)
    with db.read() as conn:
        assert conn.execute(select(staff_session_tokens.c.revoked_reason)).scalar_one() == "account_disabled"
    # Enabling the account again does not bring the cookie back: it was revoked for good.
    with db.write() as conn:
        conn.execute(update(staff_users).where(staff_users.c.email == "staff@demo.example").values(active=True))
    other = page.context.browser.new_context(viewport={"width": 1280, "height": 900})
    other.add_cookies([stolen])
    replay = other.new_page()
    replay.goto(live_portal.url)
    expect(replay.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    settle(replay)
    expect(replay.get_by_text(SIGNED_IN)).to_have_count(0)
    other.close()
    db.dispose()


# --- The kiosk: a full reset between people and an idle reset. -----------------------------------------------------

IDLE_SECONDS = 3


@pytest.fixture
def live_portal_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """A short idle time for the idle test, so the reset can be watched; the others keep the default (90 s), long
    enough for a slow machine to fill in the form."""
    return {"PORTAL_KIOSK_IDLE_SECONDS": str(IDLE_SECONDS)} if "idle" in request.node.name else {}


def _start_kiosk(page, url: str) -> None:  # type: ignore[no-untyped-def]
    """Sign in as staff on a tablet-sized screen and start kiosk mode for the demo's Summer festival."""
    _sign_in(page, url, "staff@demo.example", "demo-staff-pass")
    page.get_by_role("link", name="Events").click()
    expect(page.get_by_role("heading", name="Events", exact=True)).to_be_visible()
    settle(page)
    page.locator(".st-key-kiosk_2").get_by_role("button", name="Start kiosk mode").click()
    expect(page.get_by_role("heading", name="Photos at Summer festival")).to_be_visible(timeout=30_000)
    settle(page)


def _language(page) -> str:  # type: ignore[no-untyped-def]
    """The language the form's language control shows as chosen."""
    active = page.locator(".st-key-form_locale").get_by_role("radio", checked=True)
    expect(active).to_have_count(1)
    return active.inner_text().strip()


def _half_fill_in_swedish(page) -> None:  # type: ignore[no-untyped-def]
    page.locator(".st-key-form_locale").get_by_text("Svenska", exact=True).click()
    expect(page.get_by_role("heading", name="Bilder från Summer festival")).to_be_visible(timeout=30_000)
    settle(page)
    name = page.locator(".st-key-form_name input")
    name.fill("Ylva Halvfylld")
    name.press("Tab")
    settle(page)
    page.locator(".st-key-agree_website label").filter(has_text="Ja, jag godkänner").click()
    expect(page.get_by_role("checkbox", name="Ja, jag godkänner: Vår webbplats")).to_be_checked()
    settle(page)


def _expect_fresh_english_form(page) -> None:  # type: ignore[no-untyped-def]
    expect(page.get_by_role("heading", name="Photos at Summer festival")).to_be_visible(timeout=30_000)
    settle(page)
    expect(page.locator(".st-key-form_name input")).to_have_value("")
    expect(page.get_by_role("checkbox", name="Yes, I agree to: Our website")).not_to_be_checked()
    assert _language(page) == "English"
    expect(page.get_by_text("Ylva Halvfylld")).to_have_count(0)


def test_an_idle_kiosk_form_clears_itself_with_a_countdown(live_portal: LivePortal, tablet_page) -> None:  # type: ignore[no-untyped-def]
    page = tablet_page
    _start_kiosk(page, live_portal.url)
    _half_fill_in_swedish(page)
    # The countdown, in the person's language, while the form stands untouched.
    countdown = page.get_by_text("Formuläret töms för nästa person")
    expect(countdown).to_be_visible()
    expect(countdown).to_be_in_viewport()  # fixed at the bottom of the screen, wherever the form is scrolled
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "kiosk-idle-countdown.png"), full_page=True)
    _expect_fresh_english_form(page)
    expect(page.get_by_text("Formuläret töms för nästa person")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "kiosk-idle-cleared.png"), full_page=True)
    # Nothing comes back on the next click either (the browser was told the empty values, not left with its own).
    page.locator(".st-key-form_email input").fill("next@example.org")
    page.locator(".st-key-form_email input").press("Tab")
    settle(page)
    expect(page.locator(".st-key-form_name input")).to_have_value("")
    # A reload of the tablet stays in kiosk mode (the remembered sign-in remembers the kiosk), with an empty form.
    page.reload()
    expect(page.get_by_role("heading", name="Photos at Summer festival")).to_be_visible()
    settle(page)
    expect(page.locator(".st-key-form_email input")).to_have_value("")
    expect(page.get_by_text("Signed in as")).to_have_count(0)


def test_next_person_gets_the_kiosk_s_language_and_an_empty_form(live_portal: LivePortal, tablet_page) -> None:  # type: ignore[no-untyped-def]
    page = tablet_page
    _start_kiosk(page, live_portal.url)
    _half_fill_in_swedish(page)
    for key, value in (("form_birth_month", "06"), ("form_birth_year", "1990")):
        _choose(page, key, value)
    settle(page)
    page.locator(".st-key-form_submit button").click()
    expect(page.get_by_role("heading", name="Klart, tack")).to_be_visible(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "kiosk-thanks-swedish.png"), full_page=True)
    page.get_by_role("button", name="Nästa person").click()
    _expect_fresh_english_form(page)
    expect(page.locator(".st-key-form_birth_year input")).to_have_value("")
    page.screenshot(path=str(ARTIFACTS / "kiosk-next-person.png"), full_page=True)
