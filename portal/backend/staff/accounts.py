"""Staff accounts, roles, password hashes (scrypt) and the audit log."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from portal.backend.platform.actors import Actor
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import ROLES, staff_users
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import AuthError, NotFound, ValidationError
from portal.backend.platform.text import clean_email, clean_name
from portal.backend.staff.audit import audit

# scrypt parameters (RFC 7914): about 16 MiB and ~50 ms per hash, slow enough for guessing, fine for sign-in.
_N, _R, _P = 2**14, 8, 1
PASSWORD_MIN = 10
RANK = {"staff": 1, "manager": 2, "admin": 3}


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


def list_users(conn: Connection) -> list[StaffUser]:
    """All staff accounts."""
    return [_user(r) for r in conn.execute(select(staff_users).order_by(staff_users.c.email))]


def authenticate(db: Database, *, email: str, password: str, now: datetime | None = None) -> StaffUser:
    """Check e-mail and password; the same message for every failure so accounts cannot be probed."""
    now = now or utcnow()
    with db.write() as conn:
        row = conn.execute(
            select(staff_users).where(staff_users.c.email == (email or "").strip().lower())
        ).one_or_none()
        if row is None:
            verify_password(password, hash_password("timing-equaliser"))
            user = None
        elif not row.active or not verify_password(password or "", row.password_hash):
            # Logged and committed before the error is raised, so failed attempts leave a trace.
            audit(conn, actor=Actor.staff(row.id, row.role).ref, action="sign_in_failed", now=now)
            user = None
        else:
            conn.execute(update(staff_users).where(staff_users.c.id == row.id).values(last_sign_in_at=now))
            audit(conn, actor=Actor.staff(row.id, row.role).ref, action="sign_in", now=now)
            user = _user(row)
    if user is None:
        raise AuthError("E-mail or password is wrong, or the account is disabled.")
    return user
