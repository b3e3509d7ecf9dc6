"""Read models of people: lists of subjects with their status per purpose, and a subject's own record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal.backend.people import duplicates as _duplicates
from portal.backend.people import subjects as _subjects
from portal.backend.people.export import safe_cell
from portal.backend.people.subjects import Subject, SubjectRow
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.runtime import Portal

__all__ = [
    "DuplicateGroup",
    "DuplicatePerson",
    "Subject",
    "SubjectPage",
    "SubjectRow",
    "likely_duplicates",
    "link_token",
    "list_subjects",
    "resolve_personal_link",
    "safe_cell",
]

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


@dataclass(frozen=True)
class DuplicatePerson:
    """One person of a duplicate group, as staff compare them."""

    id: str
    name: str | None
    email: str | None
    email_confirmed: bool
    minor: bool
    event_id: int | None
    registered: datetime


@dataclass(frozen=True)
class DuplicateGroup:
    """People who are probably one: why (`email` or `name_event`) and who, oldest first."""

    reason: str
    people: list[DuplicatePerson]


def likely_duplicates(portal: Portal) -> list[DuplicateGroup]:
    """Groups of likely duplicates (the same e-mail address, or the same name at the same event), erased and
    merged people left out; staff decide whether to merge them."""
    with portal.db.read() as conn:
        groups = _duplicates.duplicate_groups(conn)
        out = []
        for g in groups:
            people = [_subjects.get_subject(conn, sid) for sid in g.subject_ids]
            out.append(
                DuplicateGroup(
                    reason=g.reason,
                    people=[
                        DuplicatePerson(
                            id=p.id,
                            name=p.display_name,
                            email=p.email,
                            email_confirmed=_duplicates.drop_confirmed(conn, p.id) is not None,
                            minor=p.is_minor,
                            event_id=p.event_id,
                            registered=p.created_at,
                        )
                        for p in people
                    ],
                )
            )
    return out
