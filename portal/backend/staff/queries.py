"""Read models of the staff domain: accounts, the organisation and the audit log as typed values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection

from portal.backend.platform.actors import Actor
from portal.backend.platform.db.schema import ROLES
from portal.backend.platform.errors import AuthError
from portal.backend.platform.organisation import (
    AGE_OF_CONSENT,
    DEFAULT_AGE_OF_CONSENT,
    Organisation,
    get_organisation,
)
from portal.backend.platform.runtime import Portal
from portal.backend.staff import audit as _audit
from portal.backend.staff.accounts import StaffUser, account_or_none, demo_users, get_user_by_email, list_users
from portal.backend.staff.recipients import EU_EEA, SAFEGUARD_EXAMPLES, Recipient, configured_processors
from portal.backend.staff.recipients import list_recipients as _list_recipients
from portal.backend.staff.sessions import StaffSession

__all__ = [
    "AGE_OF_CONSENT",
    "DEFAULT_AGE_OF_CONSENT",
    "EU_EEA",
    "ROLES",
    "SAFEGUARD_EXAMPLES",
    "AuditFilter",
    "AuditLine",
    "Organisation",
    "Recipient",
    "StaffSession",
    "StaffUser",
    "account",
    "actor_label",
    "audit_choices",
    "audit_count",
    "audit_log",
    "demo_accounts",
    "list_staff",
    "organisation",
    "recipients",
    "staff_actor",
]


@dataclass(frozen=True)
class AuditLine:
    """One line of the audit log: who did what to which record, and the details they left."""

    id: int
    at: datetime
    actor: str
    action: str
    target_type: str | None
    target_id: str | None
    detail: str  # JSON as stored: shown and exported verbatim
    actor_name: str = ""  # who, for people: a staff member's name, a person pseudonymously by id, or the system

    @property
    def details(self) -> dict[str, Any]:
        """The detail as a dict (empty when it does not parse)."""
        try:
            value = json.loads(self.detail or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


def staff_actor(portal: Portal, *, email: str) -> Actor:
    """The Actor of the active staff account with this e-mail; AuthError names what is wrong."""
    with portal.db.read() as conn:
        user = get_user_by_email(conn, email)
    if not user.active:
        raise AuthError(f"The staff account {user.email} is deactivated; it cannot act.")
    return user.as_actor()


def list_staff(portal: Portal) -> list[StaffUser]:
    """Every staff account, active or not."""
    with portal.db.read() as conn:
        return list_users(conn)


def account(portal: Portal, *, user_id: int) -> StaffUser | None:
    """The account with this id as the database holds it now (role, active), or None when it is gone."""
    with portal.db.read() as conn:
        return account_or_none(conn, user_id)


def demo_accounts(portal: Portal) -> list[StaffUser]:
    """The demo accounts (public passwords) still in the database; production refuses to start while any exists."""
    with portal.db.read() as conn:
        return demo_users(conn)


def organisation(portal: Portal) -> Organisation:
    """The organisation's settings: controller, contacts, consent rules, languages."""
    with portal.db.read() as conn:
        return get_organisation(conn)


@dataclass(frozen=True)
class AuditFilter:
    """Which audit lines to read: one action, one actor ref, and a half-open range [since, until) of times."""

    action: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def for_days(
        cls, first: date | None = None, last: date | None = None, *, action: str | None = None, actor: str | None = None
    ) -> AuditFilter:
        """A filter of whole UTC days, `last` included (what the page's and the CLI's date ranges mean)."""
        return cls(
            action=action or None,
            actor=actor or None,
            since=None if first is None else datetime.combine(first, time(), tzinfo=UTC),
            until=None if last is None else datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC),
        )

    def as_kwargs(self) -> dict[str, Any]:
        """The filter as keyword arguments of the audit module's reads."""
        return {"action": self.action, "actor": self.actor, "since": self.since, "until": self.until}


def actor_label(ref: str, names: dict[int, str]) -> str:
    """An actor ref for people: staff by name, a person only by a short id (the log is not a list of people)."""
    kind, _, rest = ref.partition(":")
    if kind == "staff" and rest.isdigit():
        name = names.get(int(rest))
        return f"{name} (staff {rest})" if name else f"Removed staff account {rest}"
    if kind == "subject" and rest:
        return f"Person {rest[:8]}"
    if kind == "guardian" and rest:
        return f"Guardian of person {rest[:8]}"
    if kind == "system":
        return f"System ({rest})" if rest else "System"
    if kind == "operator":
        return f"Operator {rest} (command line)" if rest else "Operator (command line)"
    return ref


def audit_lines(conn: Connection, *, chosen: AuditFilter, limit: int, offset: int = 0) -> list[AuditLine]:
    """Audit lines of a filter on an open connection, newest first, with the actors' names."""
    rows = _audit.recent(conn, limit=limit, offset=offset, **chosen.as_kwargs())
    names = _audit.staff_names(conn)
    return [
        AuditLine(
            id=int(r["id"]),
            at=r["at"],
            actor=r["actor"],
            action=r["action"],
            target_type=r["target_type"],
            target_id=r["target_id"],
            detail=r["detail"] or "{}",
            actor_name=actor_label(r["actor"], names),
        )
        for r in rows
    ]


def audit_log(
    portal: Portal,
    *,
    limit: int = 200,
    offset: int = 0,
    action: str | None = None,
    chosen: AuditFilter | None = None,
) -> list[AuditLine]:
    """The newest audit lines first, optionally filtered (`action` alone is a shorthand for a filter of it)."""
    chosen = chosen or AuditFilter(action=action)
    with portal.db.read() as conn:
        return audit_lines(conn, chosen=chosen, limit=limit, offset=offset)


def audit_count(portal: Portal, *, chosen: AuditFilter | None = None) -> int:
    """How many audit lines a filter finds in all."""
    with portal.db.read() as conn:
        return _audit.count(conn, **(chosen or AuditFilter()).as_kwargs())


def audit_choices(portal: Portal) -> tuple[list[str], dict[str, str]]:
    """(actions, {actor ref: label}) the log holds: the page's filter options."""
    with portal.db.read() as conn:
        names = _audit.staff_names(conn)
        return _audit.actions(conn), {ref: actor_label(ref, names) for ref in _audit.actors(conn)}


def recipients(portal: Portal) -> tuple[list[Recipient], list[Recipient]]:
    """(recorded recipients, processors the configuration implies): what the record of processing names."""
    with portal.db.read() as conn:
        stored = _list_recipients(conn)
    return stored, configured_processors(portal.settings, dialect=portal.db.dialect)
