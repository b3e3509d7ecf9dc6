"""Data subjects: registration with their first choices, look-up, lists and personal links."""

from __future__ import annotations

import calendar
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, insert, select, update

from portal.backend.consent.ledger import LedgerEntry
from portal.backend.consent.records import Context, Decision, record_decisions, replayed_entries
from portal.backend.consent.status import status_sql
from portal.backend.people.guardians import METHODS, check_method
from portal.backend.platform import tokens
from portal.backend.platform.db.schema import (
    consent_ledger,
    events,
    purposes,
    subject_links,
    subjects,
)
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import SubjectErased, TokenError, UnknownSubject, ValidationError
from portal.backend.platform.organisation import get_organisation
from portal.backend.platform.text import NAME_MAX, clean_email, clean_name, clean_text

_LINK_KIND = "subject-link"
_INSERT_SUBJECT = insert(subjects)


@dataclass(frozen=True)
class Subject:
    """A person who appears in photos; after erasure only the pseudonymous id remains."""

    id: str
    display_name: str | None
    email: str | None
    phone: str | None
    locale: str
    birth_year: int | None
    birth_month: int | None
    birth_day: int | None
    is_minor: bool
    guardian_name: str | None
    guardian_verification: str | None
    event_id: int | None
    created_at: datetime
    erased_at: datetime | None
    # Set on a duplicate merged into another person (people/duplicates.py).
    merged_into: str | None = None
    merged_at: datetime | None = None


@dataclass(frozen=True)
class Registration:
    """A new subject and the ledger entries of their first choices."""

    subject: Subject
    entries: list[LedgerEntry]


# Nobody registering is older than this; an earlier year is a typo (R15 needs a plausible age, not a precise one).
MAX_AGE_YEARS = 120


def check_birth(year: int | None, month: int | None, day: int | None, *, today: date) -> None:
    """Refuse an impossible, future or implausibly old date of birth (year alone, year+month or the full date)."""
    if year is None:
        if month is not None or day is not None:
            raise ValidationError("Give the year of birth with the month (and day).")
        return
    if month is None and day is not None:
        raise ValidationError("Give the month of birth with the day.")
    if month is not None and not 1 <= month <= 12:
        raise ValidationError(f"Month of birth must be 1-12, not {month}.")
    if year > today.year:
        raise ValidationError(f"Year of birth {year} is in the future.")
    if year < today.year - MAX_AGE_YEARS:
        raise ValidationError(f"Year of birth {year} is more than {MAX_AGE_YEARS} years ago.")
    if day is not None and month is not None and not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise ValidationError(f"{year}-{month:02d} has no day {day}.")
    if earliest_birth(year, month, day) > today:
        raise ValidationError("The date of birth is in the future.")


def earliest_birth(year: int, month: int | None, day: int | None) -> date:
    """The first day the birth data allows."""
    return date(year, month or 1, day or 1)


def latest_birth(year: int, month: int | None, day: int | None) -> date:
    """The last day the birth data allows: with only a year, 31 December; with year and month, its last day."""
    if month is None:
        return date(year, 12, 31)
    return date(year, month, day or calendar.monthrange(year, month)[1])


def _birthday(born: date, years: int) -> date:
    """The day someone born on `born` turns `years` (29 February: 1 March in other years, the later day)."""
    try:
        return born.replace(year=born.year + years)
    except ValueError:
        return date(born.year + years, 3, 1)


def minor_on(
    birth_year: int | None, birth_month: int | None, birth_day: int | None, *, consent_age: int, on: date
) -> bool | None:
    """Whether the person is below `consent_age` on day `on`, judged conservatively (Art. 8): a minor unless
    even the latest birth date the data allows had its birthday by then. None when the year is unknown."""
    if birth_year is None:
        return None
    return on < _birthday(latest_birth(birth_year, birth_month, birth_day), consent_age)


def minor_now(conn: Connection, subject_id: str, *, now: datetime) -> bool:
    """Whether a registered person is a minor today: from their birth data when known, else as registered."""
    row = conn.execute(
        select(subjects.c.birth_year, subjects.c.birth_month, subjects.c.birth_day, subjects.c.is_minor).where(
            subjects.c.id == subject_id
        )
    ).one_or_none()
    if row is None:
        raise UnknownSubject(subject_id)
    if row.birth_year is None:
        return bool(row.is_minor)
    age = get_organisation(conn).consent_age
    return bool(minor_on(row.birth_year, row.birth_month, row.birth_day, consent_age=age, on=now.date()))


def _subject(row: Any) -> Subject:
    """Row to Subject."""
    m = row._mapping
    return Subject(**{f.name: m[f.name] for f in fields(Subject)})


def get_subject(conn: Connection, subject_id: str) -> Subject:
    """The subject with this id or UnknownSubject."""
    try:
        uuid.UUID(str(subject_id))
    except ValueError:
        raise UnknownSubject(str(subject_id)) from None
    row = conn.execute(select(subjects).where(subjects.c.id == str(subject_id))).one_or_none()
    if row is None:
        raise UnknownSubject(str(subject_id))
    return _subject(row)


def add_subject(
    conn: Connection,
    *,
    name: str,
    context: Context,
    choices: Mapping[str, bool] | None = None,
    email: str | None = None,
    phone: str | None = None,
    locale: str = "en",
    birth_year: int | None = None,
    birth_month: int | None = None,
    birth_day: int | None = None,
    is_minor: bool | None = None,
    guardian_name: str | None = None,
    guardian_verification: str | None = None,
    event_id: int | None = None,
    subject_id: str | None = None,
    now: datetime | None = None,
) -> Registration:
    """Create a subject and record their choices (True given, False refused) in the caller's write transaction.

    A person is a minor when `is_minor` says so or their birth data does not prove they reached the organisation's
    consent age today; a minor's guardian is named with one of the enumerated verification methods, and the
    registration's ledger entries carry the guardian's sealed evidence. `subject_id` presets the new id (a UUID).

    A caller that stores a file under the subject's id before the rows exist (a paper scan) needs the id first.
    """
    now = now or utcnow()
    clean = clean_name(name)
    mail = clean_email(email)
    phone = clean_text(phone, field_label="Phone number", max_length=40)
    check_birth(birth_year, birth_month, birth_day, today=now.date())
    if subject_id is not None:
        try:
            subject_id = str(uuid.UUID(subject_id))
        except ValueError:
            raise ValidationError(f"A subject id must be a UUID, not {subject_id[:60]!r}.") from None
    if context.submission_id:
        earlier = _registration_for_submission(conn, context.submission_id, list(choices or {}))
        if earlier is not None:
            # A double submit of the same form: answer with the registration it already made.
            return earlier
    org = get_organisation(conn)
    if locale not in org.locales:
        locale = "en"
    minor = bool(is_minor) or bool(
        minor_on(birth_year, birth_month, birth_day, consent_age=org.consent_age, on=now.date())
    )
    guardian = method = None
    if minor:
        # R15: below the threshold a guardian consents, and the record says who and how they were checked.
        guardian = clean_name(guardian_name, field_label="Guardian's name")
        if not guardian_verification:
            raise ValidationError(f"Say how the guardian was verified: one of {', '.join(METHODS)}.")
        method = check_method(guardian_verification)
        # The registration is the guardian's act: its entries commit to who they are and how they were checked.
        context = replace(context, guardian=(guardian, method))
    if event_id is not None and conn.execute(select(events.c.id).where(events.c.id == event_id)).first() is None:
        raise ValidationError(f"No event with id {event_id}.")
    subject = Subject(
        id=subject_id or str(uuid.uuid4()),
        display_name=clean,
        email=mail,
        phone=phone,
        locale=locale,
        birth_year=birth_year,
        birth_month=birth_month,
        birth_day=birth_day,
        is_minor=minor,
        guardian_name=guardian,
        guardian_verification=method,
        event_id=event_id,
        created_at=now,
        erased_at=None,
    )
    conn.execute(_INSERT_SUBJECT, subject.__dict__)
    decisions = [Decision(purpose=code, action="given" if ok else "refused") for code, ok in (choices or {}).items()]
    entries = record_decisions(conn, subject_id=subject.id, decisions=decisions, context=context, now=now)
    return Registration(subject=subject, entries=entries)


def _registration_for_submission(conn: Connection, submission_id: str, codes: list[str]) -> Registration | None:
    """The registration an earlier submission with this id made, if any.

    An exact lookup of the keys this submission's entries would carry (the unique index answers it): a prefix
    search over every key scanned the whole ledger inside the write lock on each QR-form registration.
    """
    keys = [f"{submission_id}:{code}:*"[:120] for code in codes]
    if not keys:
        return None
    first = conn.execute(
        select(consent_ledger.c.subject_id).where(consent_ledger.c.idempotency_key.in_(keys)).limit(1)
    ).scalar()
    if first is None:
        return None
    return Registration(subject=get_subject(conn, first), entries=replayed_entries(conn, first, submission_id))


@dataclass(frozen=True)
class SubjectRow:
    """One person in a list: who they are and their current status per purpose code."""

    id: str
    name: str | None
    email: str | None
    minor: bool
    registered: datetime
    consents: dict[str, str]


def list_subjects(
    conn: Connection, *, now: datetime, search: str = "", limit: int = 50, offset: int = 0
) -> tuple[int, list[SubjectRow]]:
    """A page of subjects with their current status per purpose, computed in SQL; returns (total, rows)."""
    where: list[ColumnElement[bool]] = [subjects.c.erased_at.is_(None), subjects.c.merged_into.is_(None)]
    term = "".join(ch for ch in search if unicodedata.category(ch) != "Cc").strip()
    if term:
        # No name is longer than NAME_MAX, so a longer term matches nothing either way; cut, it stays under
        # SQLite's 50 kB limit on LIKE patterns.
        term = term[: NAME_MAX + 1]
        where.append(func.lower(subjects.c.display_name).contains(term.lower(), autoescape=True))
    total = conn.execute(select(func.count()).select_from(subjects).where(*where)).scalar_one()
    page = conn.execute(
        select(subjects.c.id, subjects.c.display_name, subjects.c.email, subjects.c.is_minor, subjects.c.created_at)
        .where(*where)
        .order_by(subjects.c.display_name, subjects.c.id)
        .limit(limit)
        .offset(offset)
    ).all()
    ids = [r.id for r in page]
    latest = (
        select(func.max(consent_ledger.c.seq).label("seq"))
        .where(consent_ledger.c.subject_id.in_(ids), consent_ledger.c.scope_asset_id.is_(None))
        .group_by(consent_ledger.c.subject_id, consent_ledger.c.purpose_id)
        .subquery()
    )
    statuses = conn.execute(
        select(consent_ledger.c.subject_id, purposes.c.code, status_sql(now).label("status"))
        .join(latest, latest.c.seq == consent_ledger.c.seq)
        .join(purposes, purposes.c.id == consent_ledger.c.purpose_id)
    ).all()
    by_subject: dict[str, dict[str, str]] = {}
    for s in statuses:
        by_subject.setdefault(s.subject_id, {})[s.code] = s.status
    rows = [
        SubjectRow(
            id=r.id,
            name=r.display_name,
            email=r.email,
            minor=r.is_minor,
            registered=r.created_at,
            consents=by_subject.get(r.id, {}),
        )
        for r in page
    ]
    return total, rows


def create_link(
    conn: Connection,
    *,
    subject_id: str,
    secret: str,
    base_url: str,
    ttl_days: int,
    now: datetime,
    keep_older: bool = False,
    emailed: bool = False,
) -> str:
    """Store a signed, expiring, revocable personal link in the caller's transaction and return its URL.

    The subject's older links are revoked unless `keep_older`: a new link replaces a lost or leaked one. The link
    lives `ttl_days`, or longer when the subject's consents run longer (their latest `valid_until`), so a person
    can withdraw what they gave for as long as it counts. An `emailed` link goes only into an e-mail to the
    person's address, so opening it confirms that address (`confirm_email`).
    """
    subject = get_subject(conn, subject_id)
    if subject.erased_at is not None:
        raise ValidationError("This subject was erased; no link can be made for them.")
    if not keep_older:
        revoke_links(conn, subject_id=subject_id, now=now)
    latest = conn.execute(
        select(func.max(consent_ledger.c.valid_until)).where(consent_ledger.c.subject_id == subject_id)
    ).scalar()
    expires = max(now + timedelta(days=ttl_days), latest or now)
    link_id = str(uuid.uuid4())
    conn.execute(
        insert(subject_links).values(
            id=link_id, subject_id=subject_id, created_at=now, expires_at=expires, emailed_at=now if emailed else None
        )
    )
    token = tokens.sign({"lid": link_id, "exp": int(expires.timestamp())}, secret=secret, kind=_LINK_KIND)
    return f"{base_url.rstrip('/')}/?link={token}"


def resolve_link(conn: Connection, *, token: str, secret: str, now: datetime) -> Subject:
    """The subject a personal-link token belongs to; TokenError for forged, expired, revoked or erased links."""
    data = tokens.verify(token, secret=secret, kind=_LINK_KIND, now=now)
    link = conn.execute(select(subject_links).where(subject_links.c.id == str(data.get("lid")))).one_or_none()
    if link is None:
        raise TokenError("This link has been withdrawn. Ask the organisation for a new one.", reason="withdrawn")
    subject = get_subject(conn, link.subject_id)
    if subject.erased_at is not None:
        # Checked first: erasure also revokes the links, and "ask for a new one" would be untrue.
        raise SubjectErased(subject.locale)
    if link.revoked_at is not None:
        raise TokenError("This link has been withdrawn. Ask the organisation for a new one.", reason="withdrawn")
    if link.expires_at <= now:
        raise TokenError("This link has expired. Ask the organisation for a new one.", reason="expired")
    return subject


def link_confirms_email(conn: Connection, *, token: str, secret: str, now: datetime) -> bool:
    """True when this (valid) link was e-mailed to its person and their address is not confirmed yet."""
    data = tokens.verify(token, secret=secret, kind=_LINK_KIND, now=now)
    row = conn.execute(
        select(subject_links.c.emailed_at, subjects.c.email, subjects.c.email_confirmed_at)
        .join(subjects, subjects.c.id == subject_links.c.subject_id)
        .where(subject_links.c.id == str(data.get("lid")))
    ).one_or_none()
    return bool(row and row.emailed_at is not None and row.email and row.email_confirmed_at is None)


def confirm_email(conn: Connection, *, subject_id: str, now: datetime) -> bool:
    """Record that the person's e-mail address is theirs (a link e-mailed to it was opened); False if it already
    was confirmed or is gone."""
    result = conn.execute(
        update(subjects)
        .where(subjects.c.id == subject_id, subjects.c.email.is_not(None), subjects.c.email_confirmed_at.is_(None))
        .values(email_confirmed_at=now)
    )
    return bool(result.rowcount)


def revoke_links(conn: Connection, *, subject_id: str, now: datetime) -> int:
    """Revoke every personal link of a subject in the caller's transaction; returns how many were active."""
    get_subject(conn, subject_id)
    result = conn.execute(
        update(subject_links)
        .where(subject_links.c.subject_id == subject_id, subject_links.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount or 0


def link_token(url: str) -> str:
    """The token part of a personal-link URL."""
    return url.split("link=", 1)[1] if "link=" in url else url
