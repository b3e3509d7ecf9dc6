"""Issue 16, item 6: a staff sign-in the browser remembers (an HttpOnly cookie's token, kept only as a hash), with the
same 12-hour end as the sign-in and revoked by sign-out, disabling, a new password or another role."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from portal.backend.platform.actors import Actor
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import audit_log, staff_session_tokens, staff_users
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import SessionExpired
from portal.backend.platform.runtime import Portal
from portal.backend.staff import remember
from portal.backend.staff.services import (
    add_staff,
    disable_staff,
    enable_staff,
    forget_sign_in,
    redeem_sign_in_code,
    remember_kiosk,
    remember_sign_in,
    renew_session,
    restore_sign_in,
    set_staff_password,
    set_staff_role,
    sign_in,
    sign_out,
)
from portal.backend.staff.sessions import StaffSession
from tests.factories import OPERATOR, make_portal

SAM = "sam@example.org"


@pytest.fixture
def portal(org_db: Database, tmp_path: Path) -> Portal:
    return make_portal(org_db, tmp_path / "blobs")


def _admin(portal: Portal) -> Actor:
    """A real admin (acting), and sam@example.org, a manager with a password."""
    admin = add_staff(
        portal, actor=OPERATOR, email="ada@example.org", name="Ada", role="admin", password="ada password 1"
    )
    add_staff(portal, actor=OPERATOR, email=SAM, name="Sam", role="manager", password="sam password 1")
    return admin.as_actor()


def _cookie(portal: Portal) -> tuple[StaffSession, str]:
    """Sam signs in and the browser gets its cookie: (the tab's session, the cookie's token)."""
    session, code = remember_sign_in(portal, session=sign_in(portal, email=SAM, password="sam password 1"))
    got = redeem_sign_in_code(portal, code=code)
    assert got is not None
    token, ends_at = got
    assert ends_at == session.ends_at
    return session, token


def _row(db: Database) -> object:
    with db.read() as conn:
        return conn.execute(select(staff_session_tokens)).one()


def test_a_code_gives_one_cookie_and_only_hashes_are_kept(portal: Portal) -> None:
    _admin(portal)
    session, code = remember_sign_in(portal, session=sign_in(portal, email=SAM, password="sam password 1"))
    assert session.token_id is not None
    got = redeem_sign_in_code(portal, code=code)
    assert got is not None
    token, _ = got
    assert redeem_sign_in_code(portal, code=code) is None  # one use
    assert redeem_sign_in_code(portal, code="x" * 43) is None
    row = _row(portal.db)
    assert row.token_hash == remember.digest(token) and row.handoff_hash is None  # type: ignore[attr-defined]
    with portal.db.read() as conn:
        stored = " ".join(str(v) for v in conn.execute(select(staff_session_tokens)).one())
    assert token not in stored and code not in stored
    restored = restore_sign_in(portal, token=token)
    assert restored is not None
    again, kiosk = restored
    assert kiosk is None and again.user.email == SAM and again.user.role == "manager"
    assert (again.started_at, again.ends_at, again.token_id) == (session.started_at, session.ends_at, session.token_id)
    assert restore_sign_in(portal, token=token + "x") is None
    with portal.db.read() as conn:
        assert conn.execute(select(audit_log.c.action).where(audit_log.c.action == "remembered_sign_in")).all()


def test_a_stale_code_gives_no_cookie(portal: Portal) -> None:
    _admin(portal)
    session = sign_in(portal, email=SAM, password="sam password 1")
    two_minutes_ago = utcnow() - timedelta(minutes=2)
    _, code = remember.issue(
        portal.db, user=session.user, started_at=two_minutes_ago, ends_at=session.ends_at, now=two_minutes_ago
    )
    assert redeem_sign_in_code(portal, code=code) is None


def test_sign_out_revokes_the_cookie_and_ends_every_tab(portal: Portal) -> None:
    _admin(portal)
    session, token = _cookie(portal)
    restored = restore_sign_in(portal, token=token)
    assert restored is not None
    other_tab = restored[0]
    sign_out(portal, session=session)
    assert restore_sign_in(portal, token=token) is None
    with pytest.raises(SessionExpired, match="signed out in another tab"):
        renew_session(portal, session=other_tab)
    assert _row(portal.db).revoked_reason == "signed_out"  # type: ignore[attr-defined]


def test_the_sign_out_route_revokes_by_the_cookie(portal: Portal) -> None:
    _admin(portal)
    session, token = _cookie(portal)
    assert forget_sign_in(portal, token=token) is True
    assert forget_sign_in(portal, token=token) is False
    assert restore_sign_in(portal, token=token) is None
    with pytest.raises(SessionExpired):
        renew_session(portal, session=session)


def test_a_disabled_account_loses_its_cookie_for_good(portal: Portal) -> None:
    admin = _admin(portal)
    session, token = _cookie(portal)
    disable_staff(portal, actor=admin, email=SAM)
    assert restore_sign_in(portal, token=token) is None
    enable_staff(portal, actor=admin, email=SAM)
    assert restore_sign_in(portal, token=token) is None  # revoked, not just refused while disabled
    assert _row(portal.db).revoked_reason == "account_disabled"  # type: ignore[attr-defined]
    with pytest.raises(SessionExpired, match="disabled or removed"):
        renew_session(portal, session=session)
    with portal.db.read() as conn:
        refused = conn.execute(select(audit_log).where(audit_log.c.action == "remembered_sign_in_refused")).one()
    assert "account_disabled" in refused.detail


def test_a_new_password_ends_the_tab_and_the_cookie(portal: Portal) -> None:
    admin = _admin(portal)
    session, token = _cookie(portal)
    set_staff_password(portal, actor=admin, email=SAM, password="sam password 2")
    with pytest.raises(SessionExpired, match="password was changed"):
        renew_session(portal, session=session)
    assert restore_sign_in(portal, token=token) is None
    assert _row(portal.db).revoked_reason == "password_changed"  # type: ignore[attr-defined]


def test_a_demotion_follows_the_open_tab_but_no_reload_brings_the_old_role_back(portal: Portal) -> None:
    admin = _admin(portal)
    session, token = _cookie(portal)
    set_staff_role(portal, actor=admin, email=SAM, role="staff")
    demoted = renew_session(portal, session=session)
    assert demoted.user.role == "staff" and demoted.token_id == session.token_id  # from the next click, as before
    assert restore_sign_in(portal, token=token) is None
    assert _row(portal.db).revoked_reason == "role_changed"  # type: ignore[attr-defined]
    # The open tab is not signed out by a demotion (only by sign-out, disabling or a new password).
    assert renew_session(portal, session=demoted).user.role == "staff"
    sign_out(portal, session=demoted)
    assert _row(portal.db).revoked_reason == "signed_out"  # type: ignore[attr-defined]
    with pytest.raises(SessionExpired, match="signed out in another tab"):
        renew_session(portal, session=demoted)


def test_a_removed_and_recreated_account_does_not_inherit_the_cookie(portal: Portal) -> None:
    _admin(portal)
    session, token = _cookie(portal)
    with portal.db.write() as conn:
        conn.execute(delete(staff_users).where(staff_users.c.id == session.user.id))
    add_staff(portal, actor=OPERATOR, email="new@example.org", name="New", role="admin", password="new password 1")
    assert restore_sign_in(portal, token=token) is None


def test_the_cookie_ends_with_the_sign_in(portal: Portal) -> None:
    _admin(portal)
    session, token = _cookie(portal)
    later = session.ends_at + timedelta(seconds=1)
    assert remember.restore(portal.db, token=token, now=later) is None
    assert _row(portal.db).revoked_reason == "expired"  # type: ignore[attr-defined]
    with portal.db.write() as conn:  # even a row someone un-revoked: the end is checked on every use
        conn.execute(update(staff_session_tokens).values(revoked_at=None))
    assert remember.restore(portal.db, token=token, now=later) is None
    with pytest.raises(SessionExpired, match="12 hours"):
        renew_session(portal, session=session, now=later)


def test_the_kiosk_comes_back_with_the_cookie(portal: Portal) -> None:
    _admin(portal)
    session, token = _cookie(portal)
    remember_kiosk(portal, session=session, event_id=7)
    restored = restore_sign_in(portal, token=token)
    assert restored is not None and restored[1] == 7
    remember_kiosk(portal, session=session, event_id=None)
    restored = restore_sign_in(portal, token=token)
    assert restored is not None and restored[1] is None
