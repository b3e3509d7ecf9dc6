"""Kiosk mode: a staff member hands a tablet to people who fill in an event's consent form (channel `kiosk`).

The helpers here work inside the caller's transaction; `portal.backend.events.services` opens it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from portal.backend.events.store import get_event
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.schema import audit_log, staff_users
from portal.backend.platform.errors import AuthError
from portal.backend.staff.accounts import verify_password
from portal.backend.staff.audit import audit

# Someone holding the tablet may guess at the exit password: a few tries, then a pause (scrypt alone is not enough
# against a patient guesser with a short password).
MAX_EXIT_FAILURES = 5
EXIT_LOCKOUT = timedelta(minutes=15)


@dataclass(frozen=True)
class KioskSession:
    """A device running one event's consent form for the people a staff member hands it to."""

    event_id: int
    event_name: str
    staff_id: int
    staff_name: str


def open_kiosk(conn: Connection, *, actor: Actor, event_id: int, now: datetime) -> KioskSession:
    """Check the event and log that the staff member `actor` put a device into kiosk mode for it."""
    if actor.staff_id is None:
        raise AuthError("Only a signed-in staff member can start kiosk mode.")
    event = get_event(conn, event_id)
    audit(conn, actor=actor.ref, action="kiosk_start", target_type="event", target_id=str(event.id), now=now)
    return KioskSession(
        event_id=event.id, event_name=event.name, staff_id=actor.staff_id, staff_name=actor.name or actor.ref
    )


def kiosk_evidence(staff_id: int) -> dict[str, Any]:
    """Evidence added to every kiosk entry: which staff member ran the tablet (the person still acts themselves)."""
    return {"kiosk_staff_id": staff_id}


def close_kiosk(conn: Connection, *, actor: Actor, password: str, event_id: int | None, now: datetime) -> bool:
    """Check the kiosk staff member's own password and audit the attempt; True when kiosk mode may end.

    The caller commits before raising on False, so a failed attempt stays in the audit log."""
    if actor.staff_id is None:
        raise AuthError("This device is not in kiosk mode for a staff member.")
    failures = conn.execute(
        select(func.count())
        .select_from(audit_log)
        .where(
            audit_log.c.actor == actor.ref,
            audit_log.c.action == "kiosk_exit_failed",
            audit_log.c.at > now - EXIT_LOCKOUT,
        )
    ).scalar_one()
    if failures >= MAX_EXIT_FAILURES:
        raise AuthError(
            f"Too many wrong passwords; kiosk mode can be ended again in "
            f"{int(EXIT_LOCKOUT.total_seconds() // 60)} minutes."
        )
    row = conn.execute(
        select(staff_users.c.password_hash, staff_users.c.active).where(staff_users.c.id == actor.staff_id)
    ).one_or_none()
    if row is not None and row.password_hash is None:
        # Hosted mode: Supabase Auth holds the password. Reloading the page ends the browser session, so the
        # staff member signs in again; someone else reloading only reaches the sign-in page.
        raise AuthError(
            "This account signs in through Supabase: reload the page and sign in again to leave kiosk mode."
        )
    ok = bool(row is not None and row.active and verify_password(password or "", row.password_hash))
    audit(
        conn,
        actor=actor.ref,
        action="kiosk_end" if ok else "kiosk_exit_failed",
        target_type="event",
        target_id=None if event_id is None else str(event_id),
        now=now,
    )
    return ok
