"""Staff actions: accounts and roles, the organisation's settings, and signing in and out.

Each function is one action: it checks the actor's role, owns its transaction and writes its audit row in it.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

from sqlalchemy import Connection

from portal.backend.people.queries import safe_cell
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import ValidationError
from portal.backend.platform.organisation import Organisation
from portal.backend.platform.organisation import save_organisation as _save_organisation
from portal.backend.platform.runtime import Portal
from portal.backend.staff import audit as _audit
from portal.backend.staff import recipients as _recipients
from portal.backend.staff import remember as _remember
from portal.backend.staff import sessions as _sessions
from portal.backend.staff.accounts import (
    DEMO_EMAILS,
    StaffUser,
    change_account,
    create_user,
    get_user,
    get_user_by_email,
    list_users,
    remove_user,
    set_password,
)
from portal.backend.staff.audit import audit
from portal.backend.staff.queries import AuditFilter, audit_lines
from portal.backend.staff.recipients import Recipient
from portal.backend.staff.roles import require
from portal.backend.staff.sessions import StaffSession

__all__ = [
    "AUDIT_CSV_HEADERS",
    "AUDIT_EXPORT_LIMIT",
    "AuditFilter",
    "Organisation",
    "Recipient",
    "StaffSession",
    "StaffUser",
    "add_recipient",
    "add_staff",
    "change_recipient",
    "disable_staff",
    "enable_staff",
    "export_audit_log",
    "remove_demo_accounts",
    "remove_recipient",
    "renew_session",
    "save_organisation",
    "set_staff_password",
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


def disable_staff(
    portal: Portal,
    *,
    actor: Actor,
    user_id: int | None = None,
    email: str | None = None,
    now: datetime | None = None,
) -> StaffUser:
    """Disable a staff account (admins only): it can no longer sign in or act, and an open session ends on its next
    click; its history stays. Audited as `deactivate_staff`."""
    require(actor, "admin", to="disable staff accounts")
    now = now or utcnow()
    with portal.db.write() as conn:
        user = change_account(conn, _target(conn, user_id=user_id, email=email), active=False)
        audit(conn, actor=actor.ref, action="deactivate_staff", target_type="staff", target_id=str(user.id), now=now)
    return user


def enable_staff(
    portal: Portal,
    *,
    actor: Actor,
    user_id: int | None = None,
    email: str | None = None,
    now: datetime | None = None,
) -> StaffUser:
    """Enable a disabled staff account again (admins only); audited as `enable_staff`."""
    require(actor, "admin", to="enable staff accounts")
    now = now or utcnow()
    with portal.db.write() as conn:
        user = _target(conn, user_id=user_id, email=email)
        if user.email in DEMO_EMAILS and portal.settings.is_production:
            raise ValidationError(f"{user.email} is a demo account with a public password; remove it instead.")
        user = change_account(conn, user, active=True)
        audit(conn, actor=actor.ref, action="enable_staff", target_type="staff", target_id=str(user.id), now=now)
    return user


def set_staff_password(
    portal: Portal,
    *,
    actor: Actor,
    password: str,
    user_id: int | None = None,
    email: str | None = None,
    now: datetime | None = None,
) -> StaffUser:
    """Give an embedded account a new password (admins only; the password itself is never logged); audited as
    `set_staff_password`. In hosted mode Supabase Auth holds passwords, so this refuses."""
    require(actor, "admin", to="set staff passwords")
    if portal.settings.auth_backend == "supabase":
        raise ValidationError(
            "Passwords live in Supabase Auth in hosted mode: reset it there (Authentication, Users, Send password "
            "recovery)."
        )
    now = now or utcnow()
    with portal.db.write() as conn:
        user = _target(conn, user_id=user_id, email=email)
        set_password(conn, user, password)
        audit(conn, actor=actor.ref, action="set_staff_password", target_type="staff", target_id=str(user.id), now=now)
    return user


def remove_demo_accounts(portal: Portal, *, actor: Actor, now: datetime | None = None) -> list[str]:
    """Remove the demo accounts (public passwords) so production may start (admins only): deleted, or, where rows
    point at one, stripped of e-mail and password and disabled. Audited as `remove_demo_account`; returns the
    e-mails removed."""
    require(actor, "admin", to="remove the demo accounts")
    now = now or utcnow()
    removed: list[str] = []
    with portal.db.write() as conn:
        found = [u for u in list_users(conn) if u.email in DEMO_EMAILS]
        if actor.staff_id is not None and actor.staff_id in {u.id for u in found}:
            raise ValidationError(
                "You are signed in with a demo account: create your own admin account, sign in with it, and remove "
                "the demo accounts from there."
            )
        for user in found:
            if user.active:
                change_account(conn, user, active=False)  # refuses to leave the portal without an active admin
            how = remove_user(conn, user)
            audit(
                conn,
                actor=actor.ref,
                action="remove_demo_account",
                target_type="staff",
                target_id=str(user.id),
                now=now,
                detail={"email": user.email, "how": how},
            )
            removed.append(user.email)
    return removed


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


def _recipient_detail(r: Recipient) -> dict[str, str | None]:
    """What the audit log keeps of a recipient row."""
    return {
        "purpose": r.purpose,
        "name": r.name,
        "country": r.country,
        "kind": r.kind,
        "service": r.service,
        "safeguard": r.transfer_safeguard,
    }


def add_recipient(
    portal: Portal,
    *,
    actor: Actor,
    purpose: str | None,
    name: str,
    country: str,
    kind: str,
    service: str = "",
    transfer_safeguard: str = "",
    now: datetime | None = None,
) -> Recipient:
    """Record a recipient or processor (admins only); one outside the EU/EEA needs a transfer safeguard.
    Audited as `add_recipient`."""
    require(actor, "admin", to="change the recipients")
    now = now or utcnow()
    with portal.db.write() as conn:
        added = _recipients.add_recipient(
            conn,
            purpose=purpose,
            name=name,
            country=country,
            kind=kind,
            service=service,
            transfer_safeguard=transfer_safeguard,
            now=now,
        )
        audit(
            conn,
            actor=actor.ref,
            action="add_recipient",
            target_type="recipient",
            target_id=str(added.id),
            now=now,
            detail=_recipient_detail(added),
        )
    return added


def change_recipient(
    portal: Portal,
    *,
    actor: Actor,
    recipient_id: int,
    purpose: str | None,
    name: str,
    country: str,
    kind: str,
    service: str = "",
    transfer_safeguard: str = "",
    now: datetime | None = None,
) -> Recipient:
    """Change a recorded recipient (admins only); audited as `change_recipient` with the values before and after."""
    require(actor, "admin", to="change the recipients")
    now = now or utcnow()
    with portal.db.write() as conn:
        before, after = _recipients.update_recipient(
            conn,
            recipient_id=recipient_id,
            purpose=purpose,
            name=name,
            country=country,
            kind=kind,
            service=service,
            transfer_safeguard=transfer_safeguard,
        )
        audit(
            conn,
            actor=actor.ref,
            action="change_recipient",
            target_type="recipient",
            target_id=str(recipient_id),
            now=now,
            detail={"before": _recipient_detail(before), "after": _recipient_detail(after)},
        )
    return after


def remove_recipient(portal: Portal, *, actor: Actor, recipient_id: int, now: datetime | None = None) -> Recipient:
    """Remove a recorded recipient (admins only); audited as `remove_recipient`."""
    require(actor, "admin", to="change the recipients")
    now = now or utcnow()
    with portal.db.write() as conn:
        removed = _recipients.remove_recipient(conn, recipient_id=recipient_id)
        audit(
            conn,
            actor=actor.ref,
            action="remove_recipient",
            target_type="recipient",
            target_id=str(recipient_id),
            now=now,
            detail=_recipient_detail(removed),
        )
    return removed


AUDIT_EXPORT_LIMIT = 100_000  # lines in one file; a longer range is exported in parts
AUDIT_CSV_HEADERS = ("id", "at", "actor", "actor_name", "action", "target_type", "target_id", "detail")


def export_audit_log(
    portal: Portal, *, actor: Actor, chosen: AuditFilter | None = None, now: datetime | None = None
) -> tuple[str, int]:
    """(CSV text, lines) of the audit lines a filter finds, newest first, every cell formula-safe; managers only.

    The export is itself audited (`export_audit_log`, with the filter and the count), in the same transaction that
    reads the lines: a copy of who-saw-what leaving the portal is an act someone must answer for.
    """
    require(actor, "manager", to="export the audit log")
    chosen = chosen or AuditFilter()
    if chosen.since is not None and chosen.until is not None and chosen.until <= chosen.since:
        raise ValidationError("The end of the range must come after its start.")
    now = now or utcnow()
    with portal.db.write() as conn:
        found = _audit.count(conn, **chosen.as_kwargs())
        if found > AUDIT_EXPORT_LIMIT:
            raise ValidationError(
                f"{found} lines match; export at most {AUDIT_EXPORT_LIMIT} at a time (choose a shorter range)."
            )
        lines = audit_lines(conn, chosen=chosen, limit=AUDIT_EXPORT_LIMIT)
        audit(
            conn,
            actor=actor.ref,
            action="export_audit_log",
            now=now,
            target_type="audit_log",
            detail={
                "lines": len(lines),
                **{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in chosen.as_kwargs().items() if v},
            },
        )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(AUDIT_CSV_HEADERS)
    for a in lines:
        row = (a.id, a.at, a.actor, a.actor_name, a.action, a.target_type, a.target_id, a.detail)
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue(), len(lines)


def sign_in(portal: Portal, *, email: str, password: str, now: datetime | None = None) -> StaffSession:
    """Check a staff member's e-mail and password (embedded or Supabase Auth); audited as sign_in / sign_in_failed."""
    return _sessions.sign_in(portal.settings, portal.db, email=email, password=password, now=now)


def renew_session(portal: Portal, *, session: StaffSession, now: datetime | None = None) -> StaffSession:
    """The session, renewed when its Supabase token is about to lapse; SessionExpired when it is over."""
    return _sessions.keep_alive(portal.settings, portal.db, session, now=now)


def sign_out(portal: Portal, *, session: StaffSession) -> None:
    """End a session, in every tab its cookie reaches (and at Supabase in hosted mode); the page forgets its state."""
    _sessions.sign_out(portal.settings, session, db=portal.db)


def remember_sign_in(portal: Portal, *, session: StaffSession) -> tuple[StaffSession, str]:
    """Let this browser keep a sign-in (embedded or Supabase) across reloads: the session bound to its server-side
    row, and the one-time code the browser exchanges at /api/session for the HttpOnly cookie (staff/remember.py)."""
    return _sessions.remember_sign_in(portal.settings, portal.db, session)


def redeem_sign_in_code(portal: Portal, *, code: str) -> tuple[str, datetime] | None:
    """The cookie's token for a one-time code, and when it ends; None for an unknown, used or stale code."""
    return _remember.redeem(portal.db, code=code, now=utcnow())


def restore_sign_in(portal: Portal, *, token: str) -> tuple[StaffSession, int | None] | None:
    """The sign-in a cookie's token brings back (and its kiosk's event), audited; None when it no longer stands."""
    return _sessions.restore_sign_in(portal.settings, portal.db, token=token)


def forget_sign_in(portal: Portal, *, token: str) -> bool:
    """End the remembered sign-in of a cookie's token (the sign-out route), at Supabase too; True when one was
    ended."""
    return _sessions.forget_sign_in(portal.settings, portal.db, token=token)


def remember_kiosk(portal: Portal, *, session: StaffSession, event_id: int | None) -> None:
    """Record that this sign-in runs a kiosk for an event (None: no longer), so a reload returns to the form."""
    if session.token_id is not None:
        _remember.set_kiosk(portal.db, token_id=session.token_id, event_id=event_id)
