"""Event actions: create an event, replace its QR code, print its poster, run its form as a kiosk.

Each function is one action: it checks the actor, owns its transaction and writes its audit row in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from portal.backend.events import store
from portal.backend.events.store import Event
from portal.backend.people.kiosk import KioskSession, close_kiosk, open_kiosk
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import AuthError
from portal.backend.platform.organisation import get_organisation
from portal.backend.platform.runtime import Portal
from portal.backend.reports.poster import render_poster_pdf
from portal.backend.staff.audit import audit
from portal.backend.staff.roles import require

__all__ = ["Event", "KioskSession", "create_event", "end_kiosk", "event_poster", "rotate_event_qr", "start_kiosk"]


def create_event(
    portal: Portal,
    *,
    actor: Actor,
    name: str,
    date: date | None,
    place: str = "",
    purpose_codes: Sequence[str],
    now: datetime | None = None,
) -> Event:
    """Create an event with a fresh QR code, asking for these purposes; audited as `create_event`."""
    require(actor, "staff", to="create events")
    now = now or utcnow()
    with portal.db.write() as conn:
        event = store.create_event(
            conn,
            name=name,
            purpose_codes=purpose_codes,
            starts_on=date,
            place=place,
            now=now,
            created_by=actor.staff_id,
        )
        audit(
            conn,
            actor=actor.ref,
            action="create_event",
            target_type="event",
            target_id=str(event.id),
            now=now,
            detail={"purposes": list(event.purpose_codes)},
        )
    return event


def rotate_event_qr(portal: Portal, *, actor: Actor, event_id: int, now: datetime | None = None) -> str:
    """Give the event a new QR code (every printed poster stops working); returns the new form URL."""
    require(actor, "staff", to="replace an event's QR code")
    now = now or utcnow()
    with portal.db.write() as conn:
        store.rotate_qr_secret(conn, event_id=event_id)
        audit(conn, actor=actor.ref, action="rotate_event_qr", target_type="event", target_id=str(event_id), now=now)
        return store.event_url(
            conn, event_id=event_id, secret=portal.settings.secret_key, base_url=portal.settings.base_url
        )


def event_poster(portal: Portal, *, actor: Actor, event_id: int, locale: str = "en") -> bytes:
    """The event's printable QR poster (PDF).

    Not audited: it shows only what is pinned on the wall anyway (the organisation, the event, the form's URL) and
    nothing about any person, so it writes nothing."""
    require(actor, "staff", to="print event posters")
    with portal.db.read() as conn:
        event = store.get_event(conn, event_id)
        org = get_organisation(conn)
        url = store.event_url(
            conn, event_id=event_id, secret=portal.settings.secret_key, base_url=portal.settings.base_url
        )
    return render_poster_pdf(
        org=org, event_name=event.name, url=url, place=event.place, starts_on=event.starts_on, locale=locale
    )


def start_kiosk(portal: Portal, *, actor: Actor, event_id: int, now: datetime | None = None) -> KioskSession:
    """Put this device into kiosk mode for one event (a signed-in staff member); audited as `kiosk_start`."""
    require(actor, "staff", to="start kiosk mode")
    with portal.db.write() as conn:
        return open_kiosk(conn, actor=actor, event_id=event_id, now=now or utcnow())


def end_kiosk(
    portal: Portal, *, actor: Actor, password: str, event_id: int | None = None, now: datetime | None = None
) -> None:
    """Leave kiosk mode with the password of the staff member who started it (`actor`: Actor.kiosk(staff_id)).

    Every attempt is audited (`kiosk_end` / `kiosk_exit_failed`); a wrong password raises AuthError after the
    failed attempt is committed, and too many lock the exit for a while."""
    with portal.db.write() as conn:
        ok = close_kiosk(conn, actor=actor, password=password, event_id=event_id, now=now or utcnow())
    if not ok:
        raise AuthError("Wrong password: only the staff member who started kiosk mode can end it.")
