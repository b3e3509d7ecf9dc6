"""A person says ("That's not me") a photo linked to them does not show them, and the personal page's photo cards.

The person's confirmed links in that photo are rejected, not cleared: a rejected link keeps whom it was rejected for,
so library matching never suggests the same person for that face again, and the review desk counts the face as one to
review (`library.needs_review`). The risk index re-judges the photo (an unidentified face is at risk; a publication
gets its takedown task), the audit log records the person's own act, and every active manager and admin gets a notice
by e-mail (outbox kind `not_me_notice`), all in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, and_, func, select, update

from portal.backend.ops import outbox
from portal.backend.platform.db.schema import asset_uses, assets, detections, events, purposes, staff_users
from portal.backend.platform.errors import ConsentStateError, NotFound
from portal.backend.risk import index as risk_index
from portal.backend.staff.audit import audit

NOTICE_KIND = "not_me_notice"


class AlreadyDisputed(ConsentStateError):
    """The person already said this photo is not them: nothing is left to unlink."""

    reason = "not_me.already"


class NotYourPhoto(NotFound):
    """The photo is not linked to this person (or does not exist): they cannot dispute it."""

    reason = "not_me.not_linked"


@dataclass(frozen=True)
class NotMe:
    """What "That's not me" changed: the photo, the detections unlinked, and the staff notices queued."""

    asset_id: int
    detection_ids: tuple[int, ...]
    notices: int


@dataclass(frozen=True)
class PersonalPhoto:
    """One photo a person is confirmed in, as their page describes it (never naming anyone else in it)."""

    asset_id: int
    event_name: str | None
    taken_on: date | None  # when it was taken, else the event's day, else when it was uploaded
    uses: tuple[tuple[str, str, datetime], ...]  # (purpose code, place, since)


def not_me(conn: Connection, *, subject_id: str, asset_id: int, now: datetime) -> NotMe:
    """Unlink the person's confirmed faces (and person boxes) in one photo, re-judge it, audit, tell staff."""
    mine = and_(detections.c.asset_id == asset_id, detections.c.subject_id == subject_id)
    ids = tuple(
        conn.execute(
            select(detections.c.id)
            .where(mine, detections.c.link_status == "confirmed")
            .order_by(detections.c.id)
            .with_for_update()
        ).scalars()
    )
    if not ids:
        disputed = conn.execute(
            select(func.count()).select_from(detections).where(mine, detections.c.link_status == "rejected")
        ).scalar_one()
        if disputed:
            raise AlreadyDisputed("You already told us that this photo does not show you.")
        raise NotYourPhoto("This photo is not linked to you.")
    # Rejected (not cleared): identifiable, nobody confirmed, so "to review" on the desk; the kept subject id stops a
    # later matching run from suggesting this person for the face again.
    conn.execute(
        update(detections)
        .where(detections.c.id.in_(ids))
        .values(
            link_status="rejected",
            link_method=None,
            link_distance=None,
            confirmed_by=None,
            confirmed_at=now,
            identifiable=True,
        )
    )
    risk_index.refresh_assets(conn, [asset_id], now=now)
    audit(
        conn,
        actor="subject",
        action="subject_not_me",
        target_type="asset",
        target_id=str(asset_id),
        detail={"subject_id": subject_id, "detections": list(ids)},
        now=now,
    )
    notices = 0
    for email in conn.execute(
        select(staff_users.c.email)
        .where(staff_users.c.role.in_(("manager", "admin")), staff_users.c.active.is_(True))
        .order_by(staff_users.c.id)
    ).scalars():
        if not email:
            continue
        # No subject id on the row: the notice names no one, and the person's later erasure leaves staff's task.
        added = outbox.queue(
            conn,
            kind=NOTICE_KIND,
            now=now,
            recipient=email,
            asset_id=asset_id,
            payload={"detections": list(ids)},
            dedupe_key=f"{NOTICE_KIND}:{ids[0]}:{email}"[:200],
        )
        notices += added is not None
    return NotMe(asset_id=asset_id, detection_ids=ids, notices=notices)


def personal_photos(conn: Connection, *, subject_id: str) -> list[PersonalPhoto]:
    """The photos a person is confirmed in, newest first, with the event and day (for alt text) and publications."""
    rows = conn.execute(
        select(assets.c.id, assets.c.taken_at, assets.c.uploaded_at, events.c.name, events.c.starts_on)
        .outerjoin(events, events.c.id == assets.c.event_id)
        .where(
            assets.c.deleted_at.is_(None),
            assets.c.id.in_(
                select(detections.c.asset_id).where(
                    detections.c.subject_id == subject_id, detections.c.link_status == "confirmed"
                )
            ),
        )
        .order_by(assets.c.id.desc())
    ).all()
    uses: dict[int, list[tuple[str, str, datetime]]] = {}
    for u in conn.execute(
        select(asset_uses.c.asset_id, purposes.c.code, asset_uses.c.place, asset_uses.c.since)
        .join(purposes, purposes.c.id == asset_uses.c.purpose_id)
        .where(asset_uses.c.asset_id.in_([r.id for r in rows]), asset_uses.c.until.is_(None))
        .order_by(asset_uses.c.id)
    ):
        uses.setdefault(u.asset_id, []).append((u.code, u.place, u.since))
    return [
        PersonalPhoto(
            asset_id=r.id,
            event_name=r.name,
            taken_on=r.taken_at.date() if r.taken_at else r.starts_on or r.uploaded_at.date(),
            uses=tuple(uses.get(r.id, ())),
        )
        for r in rows
    ]
