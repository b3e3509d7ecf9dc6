"""Events (photo shoots, gatherings): what they ask consent for and their rotatable QR secret."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, insert, select, update

from portal.backend.consent.purposes import resolve_codes
from portal.backend.platform import tokens
from portal.backend.platform.db.schema import event_purposes, events, purposes
from portal.backend.platform.errors import NotFound, TokenError
from portal.backend.platform.text import clean_name, clean_text


@dataclass(frozen=True)
class Event:
    """An event and the purpose codes its consent form asks for."""

    id: int
    name: str
    starts_on: date | None
    place: str
    purpose_codes: tuple[str, ...]


def create_event(
    conn: Connection,
    *,
    name: str,
    purpose_codes: Sequence[str],
    now: datetime,
    starts_on: date | None = None,
    place: str = "",
    created_by: int | None = None,
) -> Event:
    """Create an event with a fresh QR secret."""
    found = resolve_codes(conn, list(purpose_codes))
    event_id = conn.execute(
        insert(events)
        .values(
            name=clean_name(name, field_label="Event name"),
            starts_on=starts_on,
            place=clean_text(place, field_label="Place", max_length=200) or "",
            qr_secret=secrets.token_hex(16),
            created_at=now,
            created_by=created_by,
        )
        .returning(events.c.id)
    ).scalar_one()
    if found:
        conn.execute(insert(event_purposes), [{"event_id": event_id, "purpose_id": p.id} for p in found.values()])
    return get_event(conn, event_id)


def get_event(conn: Connection, event_id: int) -> Event:
    """The event with this id or NotFound."""
    row = conn.execute(select(events).where(events.c.id == event_id)).one_or_none()
    if row is None:
        raise NotFound(f"No event with id {event_id}.")
    codes = conn.execute(
        select(purposes.c.code)
        .join(event_purposes, event_purposes.c.purpose_id == purposes.c.id)
        .where(event_purposes.c.event_id == event_id)
        .order_by(purposes.c.sort_order)
    ).scalars()
    return Event(id=row.id, name=row.name, starts_on=row.starts_on, place=row.place, purpose_codes=tuple(codes))


def list_events(conn: Connection) -> list[Event]:
    """All events, newest first."""
    ids = conn.execute(select(events.c.id).order_by(events.c.starts_on.desc(), events.c.id.desc())).scalars()
    return [get_event(conn, i) for i in ids]


_EVENT_KIND = "event-qr"


def event_url(conn: Connection, *, event_id: int, secret: str, base_url: str) -> str:
    """The URL an event's QR code carries: a signed token bound to the event's current QR secret."""
    row = conn.execute(select(events.c.id, events.c.qr_secret).where(events.c.id == event_id)).one_or_none()
    if row is None:
        raise NotFound(f"No event with id {event_id}.")
    token = tokens.sign({"eid": row.id}, secret=secret, kind=_EVENT_KIND, extra=row.qr_secret)
    return f"{base_url.rstrip('/')}/?event={token}"


def resolve_event_token(conn: Connection, *, token: str, secret: str, now: datetime) -> Event:
    """The event a QR token belongs to; TokenError if it is forged or its QR secret was rotated."""
    data = tokens.peek(token)
    event_id = data.get("eid")
    row = None
    # A bool is an int to Python but not to PostgreSQL, and an id past the column's range breaks the query.
    if isinstance(event_id, int) and not isinstance(event_id, bool) and 0 < event_id < 2**31:
        row = conn.execute(select(events.c.id, events.c.qr_secret).where(events.c.id == event_id)).one_or_none()
    if row is None:
        raise TokenError("This QR code does not belong to an event of this organisation.", reason="qr_unknown")
    try:
        tokens.verify(token, secret=secret, kind=_EVENT_KIND, now=now, extra=row.qr_secret)
    except TokenError:
        raise TokenError(
            "This QR code is no longer valid (the poster was replaced). Ask the staff for the current one.",
            reason="qr_replaced",
        ) from None
    return get_event(conn, row.id)


def rotate_qr_secret(conn: Connection, *, event_id: int) -> None:
    """Give the event a new QR secret: every printed poster with the old code stops working."""
    done = conn.execute(update(events).where(events.c.id == event_id).values(qr_secret=secrets.token_hex(16))).rowcount
    if not done:
        raise NotFound(f"No event with id {event_id}.")
