"""Staff actions: accounts and roles, the organisation's settings, and signing in and out.

Each function is one action: it checks the actor's role, owns its transaction and writes its audit row in it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from portal.backend.platform.actors import Actor
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import ValidationError
from portal.backend.platform.organisation import Organisation
from portal.backend.platform.organisation import save_organisation as _save_organisation
from portal.backend.platform.runtime import Portal
from portal.backend.staff import sessions as _sessions
from portal.backend.staff.accounts import StaffUser, change_account, create_user, get_user, get_user_by_email
from portal.backend.staff.audit import audit
from portal.backend.staff.roles import require
from portal.backend.staff.sessions import StaffSession

__all__ = [
    "Organisation",
    "StaffSession",
    "StaffUser",
    "add_staff",
    "deactivate_staff",
    "renew_session",
    "save_organisation",
    "set_staff_role",
    "sign_in",
    "sign_out",
]


def add_staff(
    portal: Portal,
    *,
    actor: Actor,
    email: str,
    name: str,
    role: str,
    password: str | None = None,
    now: datetime | None = None,
) -> StaffUser:
    """Create a staff account with a role (admins and CLI operators only); audited as `create_user`."""
    require(actor, "admin", to="add staff accounts")
    if password is None and portal.settings.auth_backend != "supabase":
        # Embedded mode checks passwords itself: an account without one could never sign in.
        raise ValidationError("Give the new account a first password (at least 10 characters).")
    now = now or utcnow()
    with portal.db.write() as conn:
        user = create_user(conn, email=email, display_name=name, role=role, password=password, now=now)
        audit(
            conn,
            actor=actor.ref,
            action="create_user",
            target_type="staff",
            target_id=str(user.id),
            now=now,
            detail={"email": user.email, "role": user.role},
        )
    return user


def _target(conn: Connection, *, user_id: int | None, email: str | None) -> StaffUser:
    """The account an admin names by id or e-mail."""
    if user_id is not None:
        return get_user(conn, user_id)
    if email:
        return get_user_by_email(conn, email)
    raise ValidationError("Name the staff account by id or e-mail.")


def set_staff_role(
    portal: Portal,
    *,
    actor: Actor,
    role: str,
    user_id: int | None = None,
    email: str | None = None,
    now: datetime | None = None,
) -> StaffUser:
    """Give a staff account another role (admins only); never leaves the portal without an active admin."""
    require(actor, "admin", to="change staff roles")
    now = now or utcnow()
    with portal.db.write() as conn:
        before = _target(conn, user_id=user_id, email=email)
        after = change_account(conn, before, role=role)
        audit(
            conn,
            actor=actor.ref,
            action="set_staff_role",
            target_type="staff",
            target_id=str(after.id),
            now=now,
            detail={"from": before.role, "to": after.role},
        )
    return after


def deactivate_staff(
    portal: Portal,
    *,
    actor: Actor,
    user_id: int | None = None,
    email: str | None = None,
    now: datetime | None = None,
) -> StaffUser:
    """Disable a staff account (admins only): it can no longer sign in or act; its history stays."""
    require(actor, "admin", to="deactivate staff accounts")
    now = now or utcnow()
    with portal.db.write() as conn:
        user = change_account(conn, _target(conn, user_id=user_id, email=email), active=False)
        audit(conn, actor=actor.ref, action="deactivate_staff", target_type="staff", target_id=str(user.id), now=now)
    return user


def save_organisation(
    portal: Portal, *, actor: Actor, organisation: Organisation, now: datetime | None = None
) -> Organisation:
    """Replace the organisation's details and consent rules (admins only); audited as `update_organisation`."""
    require(actor, "admin", to="change the organisation's settings")
    if not organisation.contact_phone.strip() or not organisation.policy_url.strip():
        raise ValidationError("Receipts need a contact phone and a privacy policy URL.")
    now = now or utcnow()
    with portal.db.write() as conn:
        saved = _save_organisation(conn, organisation, now=now)
        audit(conn, actor=actor.ref, action="update_organisation", now=now)
    return saved


def sign_in(portal: Portal, *, email: str, password: str, now: datetime | None = None) -> StaffSession:
    """Check a staff member's e-mail and password (embedded or Supabase Auth); audited as sign_in / sign_in_failed."""
    return _sessions.sign_in(portal.settings, portal.db, email=email, password=password, now=now)


def renew_session(portal: Portal, *, session: StaffSession, now: datetime | None = None) -> StaffSession:
    """The session, renewed when its Supabase token is about to lapse; SessionExpired when it is over."""
    return _sessions.keep_alive(portal.settings, portal.db, session, now=now)


def sign_out(portal: Portal, *, session: StaffSession) -> None:
    """End a session (revoked at Supabase in hosted mode); the page forgets its state."""
    _sessions.sign_out(portal.settings, session)
