"""Read models of events: the list, one event, and the event a QR token opens."""

from __future__ import annotations

from datetime import datetime

from portal.backend.events import store
from portal.backend.events.store import Event
from portal.backend.platform.qr import qr_png
from portal.backend.platform.runtime import Portal

# qr_png is re-exported so pages draw an event's QR code without reaching into the platform package.
__all__ = ["Event", "event_for_token", "event_url", "get_event", "list_events", "qr_png"]


def list_events(portal: Portal) -> list[Event]:
    """Every event, newest first."""
    with portal.db.read() as conn:
        return store.list_events(conn)


def get_event(portal: Portal, event_id: int) -> Event:
    """One event or NotFound."""
    with portal.db.read() as conn:
        return store.get_event(conn, event_id)


def event_for_token(portal: Portal, *, token: str, now: datetime) -> Event:
    """The event a QR token opens; TokenError for forged, rotated or unknown tokens."""
    with portal.db.read() as conn:
        return store.resolve_event_token(conn, token=token, secret=portal.settings.secret_key, now=now)


def event_url(portal: Portal, *, event_id: int) -> str:
    """The public consent-form URL of an event's current QR code."""
    with portal.db.read() as conn:
        return store.event_url(
            conn, event_id=event_id, secret=portal.settings.secret_key, base_url=portal.settings.base_url
        )
