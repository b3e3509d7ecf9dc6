"""Read models of people: lists of subjects with their status per purpose, and a subject's own record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal.backend.people import subjects as _subjects
from portal.backend.people.subjects import Subject, SubjectRow
from portal.backend.platform.runtime import Portal

__all__ = ["Subject", "SubjectPage", "SubjectRow", "list_subjects"]


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
