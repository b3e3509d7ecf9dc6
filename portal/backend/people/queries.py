"""Read models of people: lists of subjects with their status per purpose, and a subject's own record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal.backend.people import subjects as _subjects
from portal.backend.people.export import safe_cell
from portal.backend.people.subjects import Subject, SubjectRow
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.runtime import Portal

__all__ = ["Subject", "SubjectPage", "SubjectRow", "link_token", "list_subjects", "resolve_personal_link", "safe_cell"]

link_token = _subjects.link_token


@dataclass(frozen=True)
class SubjectPage:
    """One page of a subject list and how many match in all."""

    total: int
    rows: list[SubjectRow]


def list_subjects(portal: Portal, *, now: datetime, search: str = "", limit: int = 50, offset: int = 0) -> SubjectPage:
    """A page of (not erased) subjects matching `search`, with their status per purpose, computed in SQL."""
    with portal.db.read() as conn:
        total, rows = _subjects.list_subjects(conn, now=now, search=search, limit=limit, offset=offset)
    return SubjectPage(total=total, rows=rows)


def resolve_personal_link(portal: Portal, *, token: str, now: datetime | None = None) -> Subject:
    """The person a personal-link token opens; TokenError for forged, expired, revoked or erased links."""
    with portal.db.read() as conn:
        return _subjects.resolve_link(conn, token=token, secret=portal.settings.secret_key, now=now or utcnow())
