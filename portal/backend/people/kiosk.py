"""Kiosk mode: a staff member hands a tablet to people who fill in an event's consent form (channel `kiosk`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from portal.backend.events.store import Event, get_event
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import audit_log, staff_users
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import AuthError
from portal.backend.staff.accounts import StaffUser, verify_password
from portal.backend.staff.audit import audit

# Someone holding the tablet may guess at the exit password: a few tries, then a pause (scrypt alone is not enough
# against a patient guesser with a short password).
MAX_EXIT_FAILURES = 5
EXIT_LOCKOUT = timedelta(minutes=15)


def start_kiosk(db: Database, *, staff: StaffUser, event_id: int, now: datetime | None = None) -> Event:
    """Check the event and log that `staff` put this device into kiosk mode for it."""
    now = now or utcnow()
    with db.write() as conn:
        event = get_event(conn, event_id)
        audit(
            conn, actor=f"staff:{staff.id}", action="kiosk_start", target_type="event", target_id=str(event.id), now=now
        )
    return event


def kiosk_evidence(staff_id: int) -> dict[str, Any]:
    """Evidence added to every kiosk entry: which staff member ran the tablet (the person still acts themselves)."""
    return {"kiosk_staff_id": staff_id}


def end_kiosk(
    db: Database, *, staff_id: int, password: str, event_id: int | None = None, now: datetime | None = None
) -> None:
    """Leave kiosk mode when `password` is the kiosk staff member's own; AuthError (and an audit line) otherwise."""
    now = now or utcnow()
    actor = f"staff:{staff_id}"
    with db.write() as conn:
        failures = conn.execute(
            select(func.count())
            .select_from(audit_log)
            .where(
                audit_log.c.actor == actor,
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
            select(staff_users.c.password_hash, staff_users.c.active).where(staff_users.c.id == staff_id)
        ).one_or_none()
        if row is not None and row.password_hash is None:
            # Hosted mode: Supabase Auth holds the password. Reloading the page ends the browser session, so the
            # staff member signs in again; someone else reloading only reaches the sign-in page.
            raise AuthError(
                "This account signs in through Supabase: reload the page and sign in again to leave kiosk mode."
            )
        ok = row is not None and row.active and verify_password(password or "", row.password_hash)
        audit(
            conn,
            actor=actor,
            action="kiosk_end" if ok else "kiosk_exit_failed",
            target_type="event",
            target_id=None if event_id is None else str(event_id),
            now=now,
        )
    # Raised after the commit, so the failed attempt stays in the audit log.
    if not ok:
        raise AuthError("Wrong password: only the staff member who started kiosk mode can end it.")
