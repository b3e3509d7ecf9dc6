"""Staying signed in with Supabase Auth (hosted mode) in a real browser: the same HttpOnly cookie as an embedded
sign-in, each reload renewing the Supabase session through the row. Supabase is the recorded exchange replayed on
127.0.0.1 (tests/recordings/supabase_remembered.json), which fails the test on any request it does not expect."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import staff_session_tokens
from tests.e2e.conftest import ARTIFACTS, LivePortal, settle
from tests.e2e.test_signed_in import SIGNED_IN, _cookie, _restored, _sign_in
from tests.supabase_replay import ANON_KEY, ReplayServer, load

SECRET = "hosted-test-Secret-4u7Qz9kVw2Lp8Xr3Nt6Bm1Yc"


@pytest.fixture
def supabase(request: pytest.FixtureRequest) -> Iterator[ReplayServer]:
    """Supabase Auth as this test's recording, with token expiries an hour and two hours from now."""
    now = int(datetime.now(UTC).timestamp())
    exchanges = load("supabase_remembered", request.node.originalname)
    with ReplayServer(exchanges, anon_key=ANON_KEY, expires_at=now + 3600, expires_later=now + 7200) as server:
        yield server


@pytest.fixture
def live_portal_env(supabase: ReplayServer) -> dict[str, str]:
    """The live portal signs staff in with Supabase Auth (the replay server); blobs stay local."""
    return {
        "PORTAL_AUTH_BACKEND": "supabase",
        "SUPABASE_URL": supabase.url,
        "SUPABASE_ANON_KEY": ANON_KEY,
        "PORTAL_SECRET_KEY": SECRET,
    }


def test_a_hosted_sign_in_stays_through_a_reload_and_a_deep_link_until_sign_out(
    live_portal: LivePortal,
    supabase: ReplayServer,
    desktop_page,  # type: ignore[no-untyped-def]
) -> None:
    page = desktop_page
    _sign_in(page, live_portal.url, "manager@demo.example", "right-password")
    cookie = _cookie(page)
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    db = Database(live_portal.database_url)
    with db.read() as conn:
        row = conn.execute(select(staff_session_tokens)).one()
    assert row.provider == "supabase" and row.token_hash != cookie["value"] and row.supabase_tokens
    assert "access-token" not in row.supabase_tokens and "refresh-token" not in row.supabase_tokens

    page.reload()  # renews the Supabase session (refresh-token-1 -> 2): one more request than an embedded reload
    expect(page.get_by_text(SIGNED_IN)).to_be_visible(timeout=30_000)
    settle(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "supabase-signed-in-after-reload.png"), full_page=True)
    deep = page.context.new_page()
    deep.goto(f"{live_portal.url}/subjects")  # renews again (refresh-token-2 -> 3)
    expect(deep.get_by_role("heading", name="Subjects")).to_be_visible(timeout=30_000)
    expect(deep.get_by_text(SIGNED_IN)).to_be_visible()
    settle(deep)
    assert _restored(db) == 2

    # Sign-out signs the newest access token out at Supabase, revokes the row and drops the cookie.
    with page.expect_response(lambda r: r.url.endswith("/api/session") and r.request.method == "DELETE"):
        page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    assert _cookie(page) is None
    with db.read() as conn:
        assert conn.execute(select(staff_session_tokens.c.revoked_reason)).scalar_one() == "signed_out"
    deep.get_by_role("link", name="Overview").click()
    expect(deep.get_by_text("You signed out in another tab or window")).to_be_visible()
    supabase.assert_complete()
    db.dispose()
