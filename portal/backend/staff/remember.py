"""Staff sign-ins a browser remembers: an opaque token in an HttpOnly cookie, kept here only as a SHA-256 hash.

The token never passes through the page: the signed-in page hands the browser a one-time code (60 seconds, one use),
the browser posts it to the portal's /api/session route, and that route answers with the cookie. A reload or a deep
link then finds the row by the cookie's hash. A row ends with the sign-in's absolute end (PORTAL_SESSION_HOURS), on
sign-out, and as soon as its account is disabled, removed, given another role or another password.

A Supabase Auth sign-in is remembered the same way. Its Supabase tokens live in the row, sealed with AES-GCM under a
key derived from PORTAL_SECRET_KEY (a copy of the database alone opens no Supabase session), and the row is the one
place they are renewed: Supabase rotates the refresh token on every use and ends the whole session when an old one is
used again, so every tab and every reload takes the newest pair from here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection, insert, or_, select, update

from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import staff_session_tokens, staff_users
from portal.backend.staff.accounts import StaffUser
from portal.backend.staff.audit import audit

HANDOFF_LIFETIME = timedelta(seconds=60)
# Only write `last_seen_at` this often: a page run must not turn into a write every time.
SEEN_EVERY = timedelta(minutes=5)
# Why a remembered sign-in stops working; all but role_changed and expired end a sign-in that is open in a tab, too
# (expired ends it through the session's own end).
REASONS = ("signed_out", "account_disabled", "password_changed", "role_changed", "expired", "supabase_ended")


@dataclass(frozen=True)
class HeldTokens:
    """A Supabase session's tokens as a remembered sign-in keeps them (never shown, never logged)."""

    expires_at: datetime  # when the access token lapses
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)


def _cipher(secret: str) -> AESGCM:
    """AES-256-GCM under a key derived from the portal's secret for this one use."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"portal staff_session_tokens supabase").derive(
        secret.encode()
    )
    return AESGCM(key)


def seal(tokens: HeldTokens, *, secret: str, token_id: int) -> str:
    """The stored form of `tokens`: nonce + ciphertext, base64; bound to its row, so it cannot be moved to another."""
    nonce = os.urandom(12)
    body = json.dumps(
        {"a": tokens.access_token, "r": tokens.refresh_token, "e": tokens.expires_at.isoformat()}
    ).encode()
    sealed = _cipher(secret).encrypt(nonce, body, f"staff_session_tokens:{token_id}".encode())
    return base64.b64encode(nonce + sealed).decode()


def unseal(text: str | None, *, secret: str, token_id: int) -> HeldTokens | None:
    """The tokens a row holds, or None (none held, another secret since, or a changed value)."""
    if not text:
        return None
    try:
        raw = base64.b64decode(text)
        body = json.loads(_cipher(secret).decrypt(raw[:12], raw[12:], f"staff_session_tokens:{token_id}".encode()))
        return HeldTokens(expires_at=datetime.fromisoformat(body["e"]), access_token=body["a"], refresh_token=body["r"])
    except (InvalidTag, ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class Remembered:
    """A remembered sign-in that is still good: its account as it is now and the times of the original sign-in."""

    token_id: int
    user: StaffUser
    started_at: datetime
    ends_at: datetime
    kiosk_event_id: int | None
    provider: str = "embedded"
    tokens: HeldTokens | None = None  # a Supabase sign-in's tokens (None when they cannot be opened)


def digest(value: str) -> str:
    """The stored form of a token or code: SHA-256, hex (the values are 256-bit random, so no salt is needed)."""
    return hashlib.sha256(value.encode()).hexdigest()


def password_stamp(password_hash: str | None) -> str:
    """A fingerprint of the account's password hash: a new password makes the row's stamp differ."""
    return digest(password_hash or "")


def issue(
    db: Database,
    *,
    user: StaffUser,
    started_at: datetime,
    ends_at: datetime,
    now: datetime,
    provider: str = "embedded",
    tokens: HeldTokens | None = None,
    secret: str = "",
) -> tuple[int, str]:
    """A row for a new sign-in (made at `started_at`), with a Supabase sign-in's tokens sealed under `secret`, and
    the one-time code that turns into its cookie: (row id, code)."""
    if provider == "supabase" and (tokens is None or not secret):
        raise ValueError("A remembered Supabase sign-in needs its tokens and the portal's secret.")
    code = secrets.token_urlsafe(32)
    with db.write() as conn:
        password_hash = conn.execute(
            select(staff_users.c.password_hash).where(staff_users.c.id == user.id)
        ).scalar_one_or_none()
        inserted = conn.execute(
            insert(staff_session_tokens).values(
                staff_id=user.id,
                email=user.email,
                role=user.role,
                password_stamp=password_stamp(password_hash),
                handoff_hash=digest(code),
                handoff_expires_at=now + HANDOFF_LIFETIME,
                created_at=started_at,
                ends_at=ends_at,
                provider=provider,
            )
        ).inserted_primary_key
        assert inserted is not None
        token_id = int(inserted[0])
        if tokens is not None:
            conn.execute(
                update(staff_session_tokens)
                .where(staff_session_tokens.c.id == token_id)
                .values(supabase_tokens=seal(tokens, secret=secret, token_id=token_id))
            )
    return token_id, code


def redeem(db: Database, *, code: str, now: datetime) -> tuple[str, datetime] | None:
    """The cookie's token for a one-time code, and when it ends; None for an unknown, used or stale code."""
    if not code or len(code) > 100:
        return None
    token = secrets.token_urlsafe(32)
    with db.write() as conn:
        row = conn.execute(
            select(staff_session_tokens).where(staff_session_tokens.c.handoff_hash == digest(code))
        ).one_or_none()
        if row is None:
            return None
        # The code works once, whatever happens next.
        changes: dict[str, Any] = {"handoff_hash": None, "handoff_expires_at": None}
        good = row.revoked_at is None and row.token_hash is None and now < row.handoff_expires_at < row.ends_at
        if good:
            changes |= {"token_hash": digest(token), "last_seen_at": now}
        conn.execute(update(staff_session_tokens).where(staff_session_tokens.c.id == row.id).values(**changes))
    return (token, row.ends_at) if good else None


def _revoke(conn: Connection, token_id: int, reason: str, now: datetime) -> None:
    """Revoke a row; one revoked for a role change (which leaves open tabs working) takes the stronger reason."""
    conn.execute(
        update(staff_session_tokens)
        .where(
            staff_session_tokens.c.id == token_id,
            or_(staff_session_tokens.c.revoked_at.is_(None), staff_session_tokens.c.revoked_reason == "role_changed"),
        )
        # A Supabase session's tokens are of no use once the row is over: they go at once.
        .values(revoked_at=now, revoked_reason=reason, handoff_hash=None, supabase_tokens=None)
    )


def _problem(conn: Connection, row: Any, now: datetime, *, live: bool) -> str | None:
    """Why this row may no longer stand for its sign-in, or None. An open tab follows a role change (from the next
    click, as before); a remembered one is not brought back with a role it was not signed in with."""
    if now >= row.ends_at:
        return "expired"
    account = conn.execute(select(staff_users).where(staff_users.c.id == row.staff_id)).one_or_none()
    if account is None or not account.active or account.email != row.email:
        return "account_disabled"
    if password_stamp(account.password_hash) != row.password_stamp:
        return "password_changed"
    if not live and account.role != row.role:
        return "role_changed"
    return None


def restore(db: Database, *, token: str, now: datetime, secret: str = "") -> Remembered | None:
    """The sign-in a cookie's token stands for, with a Supabase sign-in's tokens opened with `secret`, or None
    (unknown, revoked, over, or its account changed: the row is revoked then, audited with the reason)."""
    if not token or len(token) > 100:
        return None
    with db.write() as conn:
        row = conn.execute(
            select(staff_session_tokens).where(staff_session_tokens.c.token_hash == digest(token))
        ).one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        if reason := _problem(conn, row, now, live=False):
            _revoke(conn, row.id, reason, now)
            audit(
                conn,
                actor=f"staff:{row.staff_id}",
                action="remembered_sign_in_refused",
                now=now,
                detail={"reason": reason},
            )
            return None
        account = conn.execute(select(staff_users).where(staff_users.c.id == row.staff_id)).one()
        conn.execute(update(staff_session_tokens).where(staff_session_tokens.c.id == row.id).values(last_seen_at=now))
        if row.provider != "supabase":  # a Supabase sign-in is audited once Supabase has renewed it (settle())
            audit(conn, actor=f"staff:{row.staff_id}", action="remembered_sign_in", now=now, detail={"session": row.id})
    user = StaffUser(
        id=account.id, email=account.email, display_name=account.display_name, role=account.role, active=True
    )
    return Remembered(
        token_id=row.id,
        user=user,
        started_at=row.created_at,
        ends_at=row.ends_at,
        kiosk_event_id=row.kiosk_event_id,
        provider=row.provider,
        tokens=unseal(row.supabase_tokens, secret=secret, token_id=row.id) if row.provider == "supabase" else None,
    )


def check(db: Database, *, token_id: int, now: datetime) -> str | None:
    """For a sign-in open in a tab: why it must end now (signed out elsewhere, disabled, a new password), or None."""
    with db.read() as conn:
        row = conn.execute(select(staff_session_tokens).where(staff_session_tokens.c.id == token_id)).one_or_none()
        if row is None:
            return "signed_out"
        # A role change only stops a reload bringing the old role back; this tab reads the new role on each click.
        if row.revoked_at is not None and row.revoked_reason != "role_changed":
            return str(row.revoked_reason or "signed_out")
        reason = _problem(conn, row, now, live=True)
        seen = row.last_seen_at
    if reason is not None or seen is None or now - seen >= SEEN_EVERY:
        with db.write() as conn:
            if reason is not None:
                _revoke(conn, token_id, reason, now)
            else:
                conn.execute(
                    update(staff_session_tokens).where(staff_session_tokens.c.id == token_id).values(last_seen_at=now)
                )
    return reason


def revoke(db: Database, *, now: datetime, reason: str, token_id: int | None = None, token: str | None = None) -> bool:
    """End a remembered sign-in by its row id or by its cookie's token; True when one was ended."""
    with db.write() as conn:
        if token_id is None and token:
            token_id = conn.execute(
                select(staff_session_tokens.c.id).where(staff_session_tokens.c.token_hash == digest(token))
            ).scalar_one_or_none()
        if token_id is None:
            return False
        before = conn.execute(
            select(staff_session_tokens.c.revoked_reason).where(staff_session_tokens.c.id == token_id)
        ).one_or_none()
        _revoke(conn, token_id, reason, now)
    return before is not None and before.revoked_reason in (None, "role_changed")


def set_kiosk(db: Database, *, token_id: int, event_id: int | None) -> None:
    """Remember (or forget) that this sign-in runs a kiosk, so a reload of the tablet comes back to the form."""
    with db.write() as conn:
        conn.execute(
            update(staff_session_tokens).where(staff_session_tokens.c.id == token_id).values(kiosk_event_id=event_id)
        )


def held_tokens(
    db: Database, *, secret: str, token_id: int | None = None, token: str | None = None
) -> tuple[int, HeldTokens] | None:
    """The Supabase tokens a live row holds now (by row id or by its cookie's token), with the row id; None for an
    embedded, revoked or unknown row."""
    where = (
        staff_session_tokens.c.id == token_id
        if token_id is not None
        else staff_session_tokens.c.token_hash == digest(token or "")
    )
    with db.read() as conn:
        row = conn.execute(
            select(staff_session_tokens.c.id, staff_session_tokens.c.supabase_tokens).where(
                where, staff_session_tokens.c.revoked_at.is_(None)
            )
        ).one_or_none()
    if row is None or (tokens := unseal(row.supabase_tokens, secret=secret, token_id=row.id)) is None:
        return None
    return row.id, tokens


def keep_tokens(db: Database, *, token_id: int, tokens: HeldTokens, secret: str) -> None:
    """Store a renewed pair in a live row, unless a pair that lasts longer is there already (two tabs renewing)."""
    with db.write() as conn:
        row = conn.execute(
            select(staff_session_tokens.c.supabase_tokens).where(
                staff_session_tokens.c.id == token_id, staff_session_tokens.c.revoked_at.is_(None)
            )
        ).one_or_none()
        if row is None:
            return
        held = unseal(row.supabase_tokens, secret=secret, token_id=token_id)
        if held is not None and held.expires_at > tokens.expires_at:
            return
        conn.execute(
            update(staff_session_tokens)
            .where(staff_session_tokens.c.id == token_id)
            .values(supabase_tokens=seal(tokens, secret=secret, token_id=token_id))
        )


def settle(db: Database, *, found: Remembered, now: datetime, refused: str | None = None) -> None:
    """Record how a remembered Supabase sign-in ended its check at Supabase: brought back (audited as for an
    embedded one) or `refused` for that reason (the row revoked for good, audited with the reason)."""
    with db.write() as conn:
        if refused is None:
            audit(
                conn,
                actor=f"staff:{found.user.id}",
                action="remembered_sign_in",
                now=now,
                detail={"session": found.token_id},
            )
            return
        _revoke(conn, found.token_id, refused, now)
        audit(
            conn,
            actor=f"staff:{found.user.id}",
            action="remembered_sign_in_refused",
            now=now,
            detail={"reason": refused},
        )
