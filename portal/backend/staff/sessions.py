"""Staff sessions: sign-in (embedded accounts or Supabase Auth), expiry, renewal and sign-out.

In both modes the portal's role (staff, manager, admin) comes from the `staff_users` row with the person's e-mail;
Supabase Auth only proves who someone is. A Supabase user without an active portal account is refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from portal.backend.platform.actors import Actor
from portal.backend.platform.config import Settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import staff_users
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import AuthError, PortalError, SessionExpired
from portal.backend.staff import remember
from portal.backend.staff.accounts import (
    StaffUser,
    account_or_none,
    authenticate,
    check_sign_in_input,
    record_sign_in,
    refuse_if_throttled,
    throttle_error,
)
from portal.backend.staff.audit import audit

if TYPE_CHECKING:  # supabase-py is loaded only in hosted mode
    from portal.backend.platform.hosted import AuthTokens, SupabaseAuth

log = logging.getLogger(__name__)
# Renew a Supabase access token this long before it lapses, so a page run never works with an expired one.
RENEW_MARGIN = timedelta(seconds=60)


@dataclass(frozen=True)
class StaffSession:
    """One browser's sign-in; kept in that browser's server-side session state only."""

    user: StaffUser
    provider: str  # 'embedded' or 'supabase'
    started_at: datetime
    expires_at: datetime  # the Supabase access token's expiry, or `ends_at` for embedded sessions
    ends_at: datetime  # the absolute end (PORTAL_SESSION_HOURS after sign-in), whatever renewals happen
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    # The row of staff_session_tokens that lets the browser's cookie bring this sign-in back (both modes).
    token_id: int | None = None


# What a signed-in tab is told when its remembered sign-in was ended elsewhere.
_ENDED = {
    "signed_out": "You signed out in another tab or window; please sign in again.",
    "account_disabled": "Your portal account was disabled or removed; ask an admin.",
    "password_changed": "Your password was changed; please sign in again.",
    "supabase_ended": "Your session has ended in Supabase Auth; please sign in again.",
}


def _supabase(settings: Settings) -> SupabaseAuth:
    """The shared Supabase Auth client for these settings (supabase-py is loaded only in hosted mode)."""
    from portal.backend.platform.hosted import auth_for

    return auth_for(settings.supabase_url, settings.supabase_anon_key)


def _portal_user(db: Database, email: str, *, now: datetime, via: str) -> StaffUser:
    """The active portal account for a Supabase-authenticated e-mail; AuthError (audited) when there is none."""
    with db.write() as conn:
        row = conn.execute(select(staff_users).where(staff_users.c.email == email)).one_or_none()
        if row is None or not row.active:
            audit(
                conn,
                # Not a portal account (that is the point): the e-mail Supabase vouched for is all there is.
                actor=f"supabase:{email}",
                action="sign_in_refused",
                now=now,
                detail={"via": via, "reason": "no account" if row is None else "disabled"},
            )
            user = None
        else:
            conn.execute(update(staff_users).where(staff_users.c.id == row.id).values(last_sign_in_at=now))
            record_sign_in(conn, email=email, actor=Actor.staff(row.id, row.role).ref, ok=True, now=now, via=via)
            user = StaffUser(
                id=row.id, email=row.email, display_name=row.display_name, role=row.role, active=row.active
            )
    if user is None:
        raise AuthError(
            f"{email} is known to Supabase Auth but has no active account in this portal, so it has no role here. "
            "An admin adds it (with its role) under Settings, Staff accounts, or with `python -m portal staff add`."
        )
    return user


def _supabase_password(settings: Settings, db: Database, *, email: str, password: str, now: datetime) -> AuthTokens:
    """Ask Supabase Auth, behind the same per-e-mail throttle as embedded sign-in; failures are audited."""
    with db.write() as conn:
        until = refuse_if_throttled(conn, email=email, actor="unknown", now=now)
    if until is not None:
        raise throttle_error(until, now)
    try:
        return _supabase(settings).sign_in(email, password)
    except AuthError:
        with db.write() as conn:
            record_sign_in(conn, email=email, actor="unknown", ok=False, now=now, via="supabase")
        raise


def sign_in(
    settings: Settings, db: Database, *, email: str, password: str, now: datetime | None = None
) -> StaffSession:
    """Check e-mail and password the way the settings say and start a session that ends on its own."""
    now = now or utcnow()
    ends = now + timedelta(hours=settings.session_hours)
    if settings.auth_backend != "supabase":
        user = authenticate(db, email=email, password=password, now=now)
        return StaffSession(user=user, provider="embedded", started_at=now, expires_at=ends, ends_at=ends)
    mail = check_sign_in_input(email, password)
    tokens = _supabase_password(settings, db, email=mail, password=password, now=now)
    try:
        user = _portal_user(db, tokens.email, now=now, via="supabase")
    except AuthError:
        _revoke(settings, tokens.access_token)  # the Supabase session is of no use to anyone now
        raise
    return StaffSession(
        user=user,
        provider="supabase",
        started_at=now,
        expires_at=min(tokens.expires_at, ends),
        ends_at=ends,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
    )


def _reread(settings: Settings, db: Database, session: StaffSession) -> StaffSession:
    """The session with its account as the database holds it now; SessionExpired when disabled or removed."""
    with db.read() as conn:
        user = account_or_none(conn, session.user.id)
    if user is None or not user.active or user.email != session.user.email:
        _revoke(settings, session.access_token)
        raise SessionExpired("Your portal account was disabled or removed; ask an admin.")
    return session if user == session.user else replace(session, user=user)


def keep_alive(settings: Settings, db: Database, session: StaffSession, *, now: datetime | None = None) -> StaffSession:
    """The session with its account re-read (a demotion or disabling counts from the next click), renewed if its
    Supabase token is about to lapse; SessionExpired when it is over."""
    now = now or utcnow()
    if now >= session.ends_at:
        raise SessionExpired(f"Your session ended after {settings.session_hours} hours; please sign in again.")
    session = _reread(settings, db, session)
    if session.token_id is not None:
        # Sign-out in another tab, a new password or a disabled account ends this tab too (a role change does not:
        # the role is read again above).
        if reason := remember.check(db, token_id=session.token_id, now=now):
            raise SessionExpired(_ENDED.get(reason, "Your session has ended; please sign in again."))
    if now < session.expires_at - RENEW_MARGIN or session.provider != "supabase":
        return session
    refresh_token = session.refresh_token
    if session.token_id is not None:
        # A remembered sign-in renews through its row: another tab or a reload may have renewed it already, and
        # Supabase ends the whole session when a refresh token it has replaced is used again.
        held = remember.held_tokens(db, secret=settings.secret_key, token_id=session.token_id)
        if held is not None:
            tokens_now = held[1]
            if now < tokens_now.expires_at - RENEW_MARGIN:
                return replace(
                    session,
                    expires_at=min(tokens_now.expires_at, session.ends_at),
                    access_token=tokens_now.access_token,
                    refresh_token=tokens_now.refresh_token,
                )
            refresh_token = tokens_now.refresh_token
    if not refresh_token:
        raise SessionExpired("Your session has ended; please sign in again.")
    try:
        tokens = _supabase(settings).refresh(refresh_token)
        # The role is read again: a manager demoted or an account disabled since sign-in takes effect now.
        with db.read() as conn:
            row = conn.execute(select(staff_users).where(staff_users.c.email == tokens.email)).one_or_none()
    except SessionExpired:
        _forget_row(db, session.token_id, "supabase_ended", now)
        raise
    except PortalError as exc:
        raise SessionExpired(f"Your session could not be renewed ({exc}); please sign in again.") from None
    if row is None or not row.active:
        _revoke(settings, tokens.access_token)
        _forget_row(db, session.token_id, "account_disabled", now)
        raise SessionExpired("Your portal account was disabled or removed; ask an admin.")
    if session.token_id is not None:
        remember.keep_tokens(db, token_id=session.token_id, tokens=_held(tokens), secret=settings.secret_key)
    user = StaffUser(id=row.id, email=row.email, display_name=row.display_name, role=row.role, active=row.active)
    return replace(
        session,
        user=user,
        expires_at=min(tokens.expires_at, session.ends_at),
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
    )


def _held(tokens: AuthTokens) -> remember.HeldTokens:
    """Supabase's answer as a remembered sign-in keeps it."""
    return remember.HeldTokens(
        expires_at=tokens.expires_at, access_token=tokens.access_token, refresh_token=tokens.refresh_token
    )


def _forget_row(db: Database, token_id: int | None, reason: str, now: datetime) -> None:
    """Revoke a remembered sign-in's row, if the session has one."""
    if token_id is not None:
        remember.revoke(db, token_id=token_id, reason=reason, now=now)


def _revoke(settings: Settings, access_token: str | None) -> None:
    """Revoke a Supabase session; best effort, because the portal forgets the tokens either way."""
    if not access_token:
        return
    try:
        _supabase(settings).sign_out(access_token)
    except PortalError as exc:
        log.warning("Could not revoke a Supabase session: %s", exc)


def sign_out(
    settings: Settings, session: StaffSession, *, db: Database | None = None, now: datetime | None = None
) -> None:
    """End a session: its remembered sign-in (every tab with the cookie) and, in hosted mode, its Supabase session;
    the caller clears the browser's session state."""
    access_token = session.access_token
    if session.token_id is not None and db is not None:
        # Another tab or a reload may hold a newer access token of the same Supabase session: sign that one out.
        held = remember.held_tokens(db, secret=settings.secret_key, token_id=session.token_id)
        if held is not None and held[1].expires_at >= session.expires_at:
            access_token = held[1].access_token
        remember.revoke(db, token_id=session.token_id, reason="signed_out", now=now or utcnow())
    if session.provider == "supabase":
        _revoke(settings, access_token)


def forget_sign_in(settings: Settings, db: Database, *, token: str, now: datetime | None = None) -> bool:
    """End the remembered sign-in of a cookie's token (the sign-out route), its Supabase session included; True
    when one was ended."""
    held = remember.held_tokens(db, secret=settings.secret_key, token=token)
    ended = remember.revoke(db, token=token, reason="signed_out", now=now or utcnow())
    if held is not None:
        _revoke(settings, held[1].access_token)
    return ended


def remember_sign_in(
    settings: Settings, db: Database, session: StaffSession, *, now: datetime | None = None
) -> tuple[StaffSession, str]:
    """Let the browser keep this sign-in across reloads: the session with its row, and the one-time code the browser
    exchanges for the HttpOnly cookie. A Supabase sign-in's tokens go into the row, sealed (staff/remember.py)."""
    held = None
    if session.provider == "supabase":
        if not session.access_token or not session.refresh_token:
            raise AuthError("This Supabase sign-in has no tokens to remember; please sign in again.")
        held = remember.HeldTokens(
            expires_at=session.expires_at, access_token=session.access_token, refresh_token=session.refresh_token
        )
    token_id, code = remember.issue(
        db,
        user=session.user,
        started_at=session.started_at,
        ends_at=session.ends_at,
        now=now or utcnow(),
        provider=session.provider,
        tokens=held,
        secret=settings.secret_key,
    )
    return replace(session, token_id=token_id), code


def restore_sign_in(
    settings: Settings, db: Database, *, token: str, now: datetime | None = None
) -> tuple[StaffSession, int | None] | None:
    """The sign-in a browser's cookie stands for, with the event of its kiosk if it runs one; None when it is no
    longer good (see remember.restore) or, for a Supabase sign-in, when Supabase no longer renews its session."""
    now = now or utcnow()
    found = remember.restore(db, token=token, now=now, secret=settings.secret_key)
    if found is None:
        return None
    if found.provider == "supabase":
        return _restore_supabase(settings, db, found, now=now)
    session = StaffSession(
        user=found.user,
        provider="embedded",
        started_at=found.started_at,
        expires_at=found.ends_at,
        ends_at=found.ends_at,
        token_id=found.token_id,
    )
    return session, found.kiosk_event_id


def _restore_supabase(
    settings: Settings, db: Database, found: remember.Remembered, *, now: datetime
) -> tuple[StaffSession, int | None] | None:
    """A remembered Supabase sign-in, renewed at Supabase first: a reload asks Supabase whether the session still
    stands (signed out there, the user banned or deleted, the refresh token revoked or expired) and ends the row if
    it does not. An unreachable Supabase leaves the row for a later try."""
    if found.tokens is None or settings.auth_backend != "supabase":
        # Sealed under another secret, or the portal has left hosted sign-in since: nothing can renew it.
        remember.settle(db, found=found, now=now, refused="supabase_ended")
        return None
    try:
        tokens = _supabase(settings).refresh(found.tokens.refresh_token)
    except SessionExpired:
        remember.settle(db, found=found, now=now, refused="supabase_ended")
        return None
    except PortalError as exc:
        log.warning("Could not renew a remembered Supabase sign-in: %s", exc)
        return None
    if tokens.email != found.user.email:  # the Supabase user's address changed: it no longer names this account
        _revoke(settings, tokens.access_token)
        remember.settle(db, found=found, now=now, refused="account_disabled")
        return None
    remember.keep_tokens(db, token_id=found.token_id, tokens=_held(tokens), secret=settings.secret_key)
    remember.settle(db, found=found, now=now)
    session = StaffSession(
        user=found.user,
        provider="supabase",
        started_at=found.started_at,
        expires_at=min(tokens.expires_at, found.ends_at),
        ends_at=found.ends_at,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        token_id=found.token_id,
    )
    return session, found.kiosk_event_id
