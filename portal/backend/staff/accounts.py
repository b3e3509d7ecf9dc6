"""Staff accounts, roles, password hashes (scrypt) and the audit log."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from portal.backend.platform.actors import Actor
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import ROLES, audit_log, staff_users
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import AuthError, NotFound, ValidationError
from portal.backend.platform.text import clean_email, clean_name, has_control
from portal.backend.staff.audit import audit

# scrypt parameters (RFC 7914): about 16 MiB and ~50 ms per hash, slow enough for guessing, fine for sign-in.
_N, _R, _P = 2**14, 8, 1
PASSWORD_MIN = 10
RANK = {"staff": 1, "manager": 2, "admin": 3}
# The demo's accounts (ops/demo.DEMO_ACCOUNTS, whose passwords are public); a test keeps the two equal. Production
# refuses to start while one exists.
DEMO_EMAILS = frozenset({"admin@demo.example", "manager@demo.example", "staff@demo.example"})


@dataclass(frozen=True)
class StaffUser:
    """A signed-in or listed staff account."""

    id: int
    email: str
    display_name: str
    role: str
    active: bool

    def can(self, role: str) -> bool:
        """True when this user's role is at least `role` (admin > manager > staff)."""
        return RANK[self.role] >= RANK[role]

    def as_actor(self) -> Actor:
        """This staff member as the Actor services record."""
        return Actor.staff(self.id, self.role, self.display_name)


def hash_password(password: str) -> str:
    """An scrypt hash with a random salt, in a self-describing string."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    """Constant-time check of a password against a stored hash."""
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, base64.b64decode(digest))


def _user(row: Any) -> StaffUser:
    """Row to StaffUser."""
    return StaffUser(id=row.id, email=row.email, display_name=row.display_name, role=row.role, active=row.active)


def create_user(
    conn: Connection, *, email: str, display_name: str, role: str, password: str | None, now: datetime
) -> StaffUser:
    """Create a staff account; in hosted mode the password may be None (Supabase Auth checks it)."""
    if role not in ROLES:
        raise ValidationError(f"Role must be one of {', '.join(ROLES)}, not {role!r}.")
    mail = clean_email(email)
    if mail is None:
        raise ValidationError("A staff account needs an e-mail address.")
    if password is not None and len(password) < PASSWORD_MIN:
        raise ValidationError(f"Passwords need at least {PASSWORD_MIN} characters.")
    if conn.execute(select(staff_users.c.id).where(staff_users.c.email == mail)).first():
        raise ValidationError(f"There is already an account for {mail}.")
    conn.execute(
        insert(staff_users).values(
            email=mail,
            display_name=clean_name(display_name),
            role=role,
            password_hash=hash_password(password) if password else None,
            created_at=now,
        )
    )
    return get_user_by_email(conn, mail)


def get_user_by_email(conn: Connection, email: str) -> StaffUser:
    """The account with this e-mail, or AuthError."""
    row = conn.execute(select(staff_users).where(staff_users.c.email == email.strip().lower())).one_or_none()
    if row is None:
        raise AuthError(f"No staff account for {email}.")
    return _user(row)


def get_user(conn: Connection, user_id: int) -> StaffUser:
    """The account with this id, or NotFound."""
    row = conn.execute(select(staff_users).where(staff_users.c.id == user_id)).one_or_none()
    if row is None:
        raise NotFound(f"No staff account with id {user_id}.")
    return _user(row)


def change_account(
    conn: Connection, user: StaffUser, *, role: str | None = None, active: bool | None = None
) -> StaffUser:
    """Give an account a new role and/or (de)activate it; refuses to leave the portal without an active admin."""
    new_role = user.role if role is None else role
    new_active = user.active if active is None else active
    if new_role not in ROLES:
        raise ValidationError(f"Role must be one of {', '.join(ROLES)}, not {new_role!r}.")
    if user.role == "admin" and user.active and not (new_role == "admin" and new_active):
        # Without an active admin nobody can manage staff or settings from the pages again.
        others = conn.execute(
            select(func.count())
            .select_from(staff_users)
            .where(staff_users.c.role == "admin", staff_users.c.active.is_(True), staff_users.c.id != user.id)
        ).scalar_one()
        if not others:
            raise ValidationError(
                f"{user.email} is the last active admin; make another account admin first, or nobody can manage "
                "staff and settings."
            )
    conn.execute(update(staff_users).where(staff_users.c.id == user.id).values(role=new_role, active=new_active))
    return get_user(conn, user.id)


def demo_users(conn: Connection) -> list[StaffUser]:
    """The demo accounts still present, active or not."""
    rows = conn.execute(select(staff_users).where(staff_users.c.email.in_(sorted(DEMO_EMAILS))).order_by("email"))
    return [_user(r) for r in rows]


def list_users(conn: Connection) -> list[StaffUser]:
    """All staff accounts."""
    return [_user(r) for r in conn.execute(select(staff_users).order_by(staff_users.c.email))]


# Sign-in throttling, per typed e-mail (known or not, so the throttle itself tells nobody which accounts exist):
# after THROTTLE_AFTER failures within THROTTLE_WINDOW since the last success, refuse without checking the password
# for THROTTLE_BASE, doubling with each further failure up to THROTTLE_MAX.
THROTTLE_AFTER = 5
THROTTLE_WINDOW = timedelta(hours=1)
THROTTLE_BASE = timedelta(minutes=1)
THROTTLE_MAX = timedelta(minutes=30)
PASSWORD_MAX = 1024
_SIGN_IN = "sign_in"  # target_type of the audit rows that carry the throttle key


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash no password matches, computed once: unknown e-mails cost one scrypt, like known ones."""
    return hash_password(secrets.token_urlsafe(32))


def sign_in_key(email: str) -> str:
    """The throttle key of a typed e-mail: a hash, so addresses typed by mistake are not stored in the clear."""
    return hashlib.sha256(b"portal-sign-in:" + email.strip().lower().encode()).hexdigest()[:64]


def check_sign_in_input(email: str, password: str) -> str:
    """The normalised e-mail; ValidationError for control characters (a NUL once leaked SQL) or absurd lengths."""
    if has_control(email or ""):
        raise ValidationError(
            "The e-mail address contains a control character (such as NUL or a line break); type it again."
        )
    if len(email or "") > 254 or len(password or "") > PASSWORD_MAX:
        raise ValidationError(f"E-mail (254) or password ({PASSWORD_MAX} characters) is too long.")
    return (email or "").strip().lower()


def throttled_until(conn: Connection, key: str, now: datetime) -> datetime | None:
    """When sign-in for this key opens again, or None when it is open now."""
    rows = conn.execute(
        select(audit_log.c.at, audit_log.c.action)
        .where(
            audit_log.c.at > now - THROTTLE_WINDOW,  # `at` is indexed: this reads the last hour only
            audit_log.c.target_type == _SIGN_IN,
            audit_log.c.target_id == key,
            audit_log.c.action.in_(("sign_in", "sign_in_failed")),
        )
        .order_by(audit_log.c.at, audit_log.c.id)
    ).all()
    failures, last = 0, None
    for row in rows:
        failures, last = (0, None) if row.action == "sign_in" else (failures + 1, row.at)
    if failures < THROTTLE_AFTER or last is None:
        return None
    until = last + min(THROTTLE_BASE * 2 ** (failures - THROTTLE_AFTER), THROTTLE_MAX)
    return until if now < until else None


def refuse_if_throttled(conn: Connection, *, email: str, actor: str, now: datetime) -> datetime | None:
    """Audit and return the reopening time when this e-mail is throttled; None when it may try."""
    key = sign_in_key(email)
    until = throttled_until(conn, key, now)
    if until is not None:
        audit(conn, actor=actor, action="sign_in_throttled", now=now, target_type=_SIGN_IN, target_id=key)
    return until


def throttle_error(until: datetime, now: datetime) -> AuthError:
    """The message for a throttled sign-in (the same for every e-mail, known or not)."""
    minutes = max(1, -(-int((until - now).total_seconds()) // 60))
    return AuthError(
        f"Too many failed sign-ins for this e-mail address; try again in {minutes} minute(s). "
        "An admin can reset a forgotten password (Settings, or `python -m portal staff password`)."
    )


def record_sign_in(conn: Connection, *, email: str, actor: str, ok: bool, now: datetime, **detail: Any) -> None:
    """Audit a sign-in or a failed one, keyed for the throttle."""
    audit(
        conn,
        actor=actor,
        action="sign_in" if ok else "sign_in_failed",
        now=now,
        target_type=_SIGN_IN,
        target_id=sign_in_key(email),
        detail=detail or None,
    )


def authenticate(db: Database, *, email: str, password: str, now: datetime | None = None) -> StaffUser:
    """Check e-mail and password; the same message, work and writes for every failure so accounts cannot be probed."""
    now = now or utcnow()
    mail = check_sign_in_input(email, password)
    until = None
    with db.write() as conn:
        row = conn.execute(select(staff_users).where(staff_users.c.email == mail)).one_or_none()
        actor = "unknown" if row is None else Actor.staff(row.id, row.role).ref
        until = refuse_if_throttled(conn, email=mail, actor=actor, now=now)
        user = None
        if until is None:
            # Always one scrypt, whether the account exists, is disabled or has no password (hosted accounts).
            stored = row.password_hash if row is not None and row.password_hash else _dummy_hash()
            matches = verify_password(password or "", stored)
            ok = row is not None and bool(row.active and row.password_hash and matches)
            if ok and row is not None:
                conn.execute(update(staff_users).where(staff_users.c.id == row.id).values(last_sign_in_at=now))
                user = _user(row)
            # Logged and committed before the error is raised, so failed attempts leave a trace.
            record_sign_in(conn, email=mail, actor=actor, ok=ok, now=now)
    if until is not None:
        raise throttle_error(until, now)
    if user is None:
        raise AuthError("E-mail or password is wrong, or the account is disabled.")
    return user


def set_password(conn: Connection, user: StaffUser, password: str) -> None:
    """Give an embedded account a new password (checked like a first one)."""
    if len(password) < PASSWORD_MIN:
        raise ValidationError(f"Passwords need at least {PASSWORD_MIN} characters.")
    if len(password) > PASSWORD_MAX:
        raise ValidationError(f"Passwords may have at most {PASSWORD_MAX} characters.")
    conn.execute(update(staff_users).where(staff_users.c.id == user.id).values(password_hash=hash_password(password)))


def account_or_none(conn: Connection, user_id: int) -> StaffUser | None:
    """The account with this id as it is now, or None when it was removed."""
    row = conn.execute(select(staff_users).where(staff_users.c.id == user_id)).one_or_none()
    return None if row is None else _user(row)


def references(conn: Connection, user_id: int) -> int:
    """How many rows elsewhere point at this account (uploads, events, confirmations): it cannot be deleted then."""
    total = 0
    for table in staff_users.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table is staff_users:
                total += conn.execute(select(func.count()).select_from(table).where(fk.parent == user_id)).scalar_one()
    return total


def remove_user(conn: Connection, user: StaffUser) -> str:
    """Delete an account, or, when rows point at it, strip it (no e-mail, no password, disabled); says which."""
    if references(conn, user.id):
        conn.execute(
            update(staff_users)
            .where(staff_users.c.id == user.id)
            .values(email=f"removed-{user.id}@invalid", password_hash=None, active=False)
        )
        return "stripped"
    conn.execute(delete(staff_users).where(staff_users.c.id == user.id))
    return "deleted"
