"""Read models of operations: the outbox as staff see it (never a message body or a personal link)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from portal.backend.ops.outbox import MAIL_KINDS
from portal.backend.platform.db.schema import OUTBOX_STATUSES, outbox
from portal.backend.platform.errors import ValidationError
from portal.backend.platform.runtime import Portal

__all__ = ["KIND_LABELS", "OUTBOX_STATUSES", "OutboxMessage", "OutboxOverview", "outbox_overview"]

# What a kind of outbox row is, in words for staff.
KIND_LABELS = {
    "email": "welcome e-mail with the personal link",
    "renewal": "renewal request",
    "digest": "manager digest",
    "expiry": "expiry notice",
    "erasure_confirmation": "erasure confirmation",
    "takedown_notice": "takedown notice to staff",
    "not_me_notice": "notice to staff: a person said a photo is not them",
    "confirm_changes": "request to confirm choices from a second form",
    "takedown": "takedown task (from before takedown tasks existed)",
}


@dataclass(frozen=True)
class OutboxMessage:
    """One outbox row as staff may see it: who, what kind, where it stands; not what it says."""

    id: int
    kind: str
    recipient: str | None
    subject_line: str | None  # the e-mail's subject line once sent (a digest's, a renewal's purpose before)
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    is_mail: bool


@dataclass(frozen=True)
class OutboxOverview:
    """Counts per status, whether e-mail can be sent, and the rows asked for."""

    mail_configured: bool
    counts: dict[str, int]
    messages: list[OutboxMessage]


def _subject_line(kind: str, status: str, payload_text: str) -> str | None:
    """The harmless summary a row's payload allows: the subject line, or a renewal's purpose code."""
    try:
        payload = json.loads(payload_text or "{}")
    except ValueError:
        return None
    if status == "sent" or kind == "email":
        return payload.get("subject")
    if kind == "renewal" and payload.get("purpose"):
        return f"{payload['purpose']} ({payload.get('reason', '')})"
    if kind == "expiry" and payload.get("purpose"):
        return f"{payload['purpose']} (expired)"
    if kind == "takedown_notice" and payload.get("task"):
        return f"task {payload['task']}"
    return None


def outbox_overview(portal: Portal, *, status: str | None = None, limit: int = 200) -> OutboxOverview:
    """The newest outbox rows (of one status), with counts per status; ValidationError for an unknown status."""
    if status is not None and status not in OUTBOX_STATUSES:
        raise ValidationError(f"Unknown status {status!r}: use one of {', '.join(OUTBOX_STATUSES)}.")
    if limit < 1:
        raise ValidationError("The limit must be at least 1.")
    stmt = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(outbox.c.status == status)
    with portal.db.read() as conn:
        grouped = conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)).all()
        counts = {str(status): int(n) for status, n in grouped}
        rows = conn.execute(stmt).all()
    return OutboxOverview(
        mail_configured=portal.settings.smtp_configured,
        counts={s: int(counts.get(s, 0)) for s in OUTBOX_STATUSES},
        messages=[
            OutboxMessage(
                id=r.id,
                kind=r.kind,
                recipient=r.recipient,
                subject_line=_subject_line(r.kind, r.status, r.payload),
                status=r.status,
                attempts=r.attempts,
                created_at=r.created_at,
                next_attempt_at=r.next_attempt_at,
                sent_at=r.sent_at,
                last_error=r.last_error,
                is_mail=r.kind in MAIL_KINDS,
            )
            for r in rows
        ],
    )
