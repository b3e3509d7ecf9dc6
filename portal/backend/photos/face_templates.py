"""Stored face templates: the light part (no dlib import) that consent changes and erasure call."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select, update

from portal.backend.platform.db.schema import detections, subject_templates


def delete_biometrics(conn: Connection, subject_id: str) -> int:
    """Delete a subject's template and unconfirmed match suggestions, in the caller's transaction."""
    removed = conn.execute(delete(subject_templates).where(subject_templates.c.subject_id == subject_id)).rowcount
    conn.execute(
        update(detections)
        .where(
            detections.c.subject_id == subject_id,
            detections.c.link_method == "match",
            detections.c.link_status == "suggested",
        )
        .values(subject_id=None, link_method=None, link_status=None, link_distance=None)
    )
    return removed or 0


def has_template(conn: Connection, subject_id: str) -> bool:
    """True when a template is stored for the subject."""
    return (
        conn.execute(select(subject_templates.c.subject_id).where(subject_templates.c.subject_id == subject_id)).first()
        is not None
    )
