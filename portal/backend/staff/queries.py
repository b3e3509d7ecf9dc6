"""Read models of the staff domain: accounts, the organisation and the audit log as typed values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
from portal.backend.staff.accounts import StaffUser, account_or_none, demo_users, get_user_by_email, list_users
from portal.backend.staff.audit import recent
from portal.backend.staff.recipients import EU_EEA, SAFEGUARD_EXAMPLES, Recipient, configured_processors
from portal.backend.staff.recipients import list_recipients as _list_recipients
from portal.backend.staff.sessions import StaffSession

__all__ = [
    "AGE_OF_CONSENT",
    "DEFAULT_AGE_OF_CONSENT",
    "EU_EEA",
    "ROLES",
    "SAFEGUARD_EXAMPLES",
    "AuditLine",
    "Organisation",
    "Recipient",
    "StaffSession",
    "StaffUser",
    "account",
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


def audit_log(portal: Portal, *, limit: int = 200, action: str | None = None) -> list[AuditLine]:
    """The newest audit lines first, optionally of one action."""
    with portal.db.read() as conn:
        rows = recent(conn, limit=limit, action=action)
    return [
        AuditLine(
            id=int(r["id"]),
            at=r["at"],
            actor=r["actor"],
            action=r["action"],
            target_type=r["target_type"],
            target_id=r["target_id"],
            detail=r["detail"] or "{}",
        )
        for r in rows
    ]


def recipients(portal: Portal) -> tuple[list[Recipient], list[Recipient]]:
    """(recorded recipients, processors the configuration implies): what the record of processing names."""
    with portal.db.read() as conn:
        stored = _list_recipients(conn)
    return stored, configured_processors(portal.settings, dialect=portal.db.dialect)
