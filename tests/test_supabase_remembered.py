"""Issue 16, item 6 in hosted mode: a Supabase Auth sign-in is remembered by the browser like an embedded one (the
HttpOnly cookie's token, kept as a hash), with the same 12-hour end and revocation, and with the Supabase session
renewed through the row (Supabase rotates refresh tokens). Supabase is the recorded exchange replayed on 127.0.0.1
(tests/recordings/supabase_remembered.json); the database and the pages are the real ones."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from portal.backend.platform.actors import Actor
from portal.backend.platform.blobs import LocalBlobStore
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import audit_log, staff_session_tokens
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import SessionExpired
from portal.backend.platform.runtime import Portal
from portal.backend.staff import remember
from portal.backend.staff.accounts import StaffUser
from portal.backend.staff.services import (
    add_staff,
    disable_staff,
    enable_staff,
    forget_sign_in,
    redeem_sign_in_code,
    remember_sign_in,
    renew_session,
    restore_sign_in,
    sign_in,
    sign_out,
)
from portal.backend.staff.sessions import StaffSession
from tests.conftest import ROOT
from tests.factories import OPERATOR
from tests.supabase_replay import ANON_KEY, ReplayServer, load

SECRET = "hosted-test-Secret-4u7Qz9kVw2Lp8Xr3Nt6Bm1Yc"
MANAGER = "manager@demo.example"


@pytest.fixture
def expiries() -> dict[str, int]:
    """Token expiry times for the recordings: an hour and two hours from now."""
    now = int(datetime.now(UTC).timestamp())
    return {"expires_at": now + 3600, "expires_later": now + 7200}


def _replay(request: pytest.FixtureRequest, subs: dict[str, int]) -> ReplayServer:
    """The running test's recorded exchange."""
    return ReplayServer(load("supabase_remembered", request.node.originalname), anon_key=ANON_KEY, **subs)


def _portal(db: Database, url: str, tmp_path: Path) -> Portal:
    """The portal in hosted sign-in mode against `url`, with a manager who has a portal account (and an admin)."""
    settings = load_settings(
        env={
            "PORTAL_AUTH_BACKEND": "supabase",
            "SUPABASE_URL": url,
            "SUPABASE_ANON_KEY": ANON_KEY,
            "PORTAL_SECRET_KEY": SECRET,
        },
        secrets_path=None,
        database_url=db.url,
    )
    return Portal(settings=settings, db=db, blobs=LocalBlobStore(tmp_path / "blobs"))


def _staff(portal: Portal) -> tuple[StaffUser, Actor]:
    """The manager Supabase vouches for in the recordings (a portal account without a password: Supabase holds it),
    and an admin who acts."""
    manager = add_staff(portal, actor=OPERATOR, email=MANAGER, name="Maja", role="manager")
    admin = add_staff(portal, actor=OPERATOR, email="ada@example.org", name="Ada", role="admin")
    return manager, admin.as_actor()


def _cookie(portal: Portal) -> tuple[StaffSession, str]:
    """The manager signs in with Supabase and the browser gets its cookie: (the tab's session, the cookie's token)."""
    session, code = remember_sign_in(portal, session=sign_in(portal, email=MANAGER, password="right-password"))
    assert session.provider == "supabase" and session.token_id is not None
    got = redeem_sign_in_code(portal, code=code)
    assert got is not None
    token, ends_at = got
    assert ends_at == session.ends_at  # the same 12-hour end as the sign-in
    return session, token


def _row(db: Database) -> Any:
    with db.read() as conn:
        return conn.execute(select(staff_session_tokens)).one()


def test_a_remembered_supabase_sign_in_comes_back_renewed_and_signs_out_everywhere(
    request: pytest.FixtureRequest, org_db: Database, tmp_path: Path, expiries: dict[str, int]
) -> None:
    with _replay(request, expiries) as server:
        portal = _portal(org_db, server.url, tmp_path)
        _staff(portal)
        tab, token = _cookie(portal)
        row = _row(org_db)
        assert row.provider == "supabase" and row.token_hash == remember.digest(token)
        stored = " ".join(str(v) for v in row)
        assert "access-token-1" not in stored and "refresh-token-1" not in stored and token not in stored  # sealed
        # A reload: the cookie brings the sign-in back, renewed at Supabase (which proves the session still stands).
        restored = restore_sign_in(portal, token=token)
        assert restored is not None
        reloaded, kiosk = restored
        assert kiosk is None and (reloaded.provider, reloaded.user.email, reloaded.user.role) == (
            "supabase",
            MANAGER,
            "manager",
        )
        assert (reloaded.token_id, reloaded.started_at, reloaded.ends_at) == (tab.token_id, tab.started_at, tab.ends_at)
        assert reloaded.access_token == "access-token-2"
        assert reloaded.expires_at == datetime.fromtimestamp(expiries["expires_later"], UTC)
        # The first tab's refresh token was replaced by that renewal: near its expiry it takes the newer pair from
        # the row instead of using its own again (Supabase would end the whole session for that reuse).
        renewed = renew_session(portal, session=tab, now=tab.expires_at - timedelta(seconds=30))
        assert renewed.access_token == "access-token-2" and renewed.refresh_token == "refresh-token-2"
        # Sign-out in the first tab signs the newest access token out at Supabase and ends every tab and reload.
        sign_out(portal, session=tab)
        assert restore_sign_in(portal, token=token) is None  # no request: the row is revoked
        with pytest.raises(SessionExpired, match="signed out in another tab"):
            renew_session(portal, session=reloaded)
        server.assert_complete()
    row = _row(org_db)
    assert row.revoked_reason == "signed_out" and row.supabase_tokens is None
    with org_db.read() as conn:
        assert conn.execute(select(audit_log.c.id).where(audit_log.c.action == "remembered_sign_in")).all()


def test_a_session_ended_at_supabase_ends_the_remembered_sign_in(
    request: pytest.FixtureRequest, org_db: Database, tmp_path: Path, expiries: dict[str, int]
) -> None:
    with _replay(request, expiries) as server:
        portal = _portal(org_db, server.url, tmp_path)
        _staff(portal)
        tab, token = _cookie(portal)
        # Signed out in Supabase's dashboard (or the user banned): the refresh token is refused on the next reload.
        assert restore_sign_in(portal, token=token) is None
        assert _row(org_db).revoked_reason == "supabase_ended"
        assert restore_sign_in(portal, token=token) is None  # for good, without asking Supabase again
        with org_db.read() as conn:
            said = conn.execute(select(audit_log.c.action, audit_log.c.detail).where(audit_log.c.action.like("remem%")))
            assert [(a, json.loads(d)) for a, d in said] == [
                ("remembered_sign_in_refused", {"reason": "supabase_ended"})
            ]
        with pytest.raises(SessionExpired, match="ended in Supabase Auth"):
            renew_session(portal, session=tab)
        server.assert_complete()


def test_disabling_and_the_sign_out_route_end_a_remembered_supabase_sign_in(
    request: pytest.FixtureRequest, org_db: Database, tmp_path: Path, expiries: dict[str, int]
) -> None:
    with _replay(request, expiries) as server:
        portal = _portal(org_db, server.url, tmp_path)
        _, admin = _staff(portal)
        tab, token = _cookie(portal)
        disable_staff(portal, actor=admin, email=MANAGER)
        assert restore_sign_in(portal, token=token) is None  # refused before Supabase is asked
        enable_staff(portal, actor=admin, email=MANAGER)
        assert restore_sign_in(portal, token=token) is None  # revoked, not only refused while disabled
        with pytest.raises(SessionExpired, match="disabled or removed"):
            renew_session(portal, session=tab)
        with org_db.read() as conn:
            first = conn.execute(select(staff_session_tokens).where(staff_session_tokens.c.id == tab.token_id)).one()
        assert first.revoked_reason == "account_disabled" and first.supabase_tokens is None
        # The sign-out route (DELETE /api/session with the cookie) ends the row and the Supabase session.
        again, token2 = _cookie(portal)
        assert forget_sign_in(portal, token=token2) is True
        assert forget_sign_in(portal, token=token2) is False
        assert restore_sign_in(portal, token=token2) is None
        server.assert_complete()  # the logout with the second sign-in's access token was made
    assert again.token_id != tab.token_id


def test_a_row_sealed_under_another_secret_is_ended_not_used(
    org_db: Database, tmp_path: Path, expiries: dict[str, int]
) -> None:
    portal = _portal(org_db, "http://127.0.0.1:9", tmp_path)  # never reached
    user, _ = _staff(portal)
    now = utcnow()
    held = remember.HeldTokens(
        expires_at=datetime.fromtimestamp(expiries["expires_at"], UTC), access_token="a", refresh_token="r"
    )
    token_id, code = remember.issue(
        org_db,
        user=user,
        started_at=now,
        ends_at=now + timedelta(hours=12),
        now=now,
        provider="supabase",
        tokens=held,
        secret="another-secret-entirely-9f8e7d6c5b4a3210",
    )
    assert remember.unseal(_row(org_db).supabase_tokens, secret=SECRET, token_id=token_id) is None
    got = redeem_sign_in_code(portal, code=code)
    assert got is not None
    assert restore_sign_in(portal, token=got[0]) is None
    assert _row(org_db).revoked_reason == "supabase_ended"


@pytest.fixture
def app_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """The app on a fresh database (it migrates and seeds the demo data itself)."""
    monkeypatch.setenv("PORTAL_DATABASE_URL", db_url)
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    db = Database(db_url)
    yield db
    db.dispose()


def test_a_supabase_sign_in_on_the_page_is_remembered(
    request: pytest.FixtureRequest, app_env: Database, monkeypatch: pytest.MonkeyPatch, expiries: dict[str, int]
) -> None:
    with _replay(request, expiries) as server:
        for name, value in {
            "PORTAL_AUTH_BACKEND": "supabase",
            "SUPABASE_URL": server.url,
            "SUPABASE_ANON_KEY": ANON_KEY,
            "PORTAL_SECRET_KEY": SECRET,
        }.items():
            monkeypatch.setenv(name, value)
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
        at.text_input[0].input(MANAGER)
        at.text_input[1].input("right-password")
        at.button[0].click().run()
        assert not at.exception and [t.value for t in at.title] == ["Overview"]
        session = at.session_state["staff_session"]
        assert session.provider == "supabase" and session.token_id is not None
        # The page handed its browser the one-time code for the cookie (as for an embedded sign-in).
        with app_env.read() as conn:
            row = conn.execute(select(staff_session_tokens)).one()
        assert row.provider == "supabase" and row.handoff_hash is not None and row.supabase_tokens
        at.sidebar.button(key="sign_out").click().run()
        assert "staff_session" not in at.session_state
        server.assert_complete()  # the sign-out revoked the session at Supabase
    with app_env.read() as conn:
        assert conn.execute(select(staff_session_tokens.c.revoked_reason)).scalar_one() == "signed_out"
