"""Test-data factories on the real database (they go through the same backend functions as the app)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from portal.backend.consent.records import Context
from portal.backend.db.engine import Database
from portal.backend.db.types import utcnow
from portal.backend.demo import DEMO_ORGANISATION
from portal.backend.i18n.purposes import install_standard_purposes
from portal.backend.organisation import save_organisation
from portal.backend.subjects import register_subject

STAFF = Context(channel="staff", actor="staff:test", evidence={"act": "staff_entry"})


def make_org(db: Database, *, validity_days: int = 365, now: datetime | None = None) -> None:
    """The demo organisation (not flagged as demo) with the six standard purposes and their texts."""
    now = now or utcnow()
    with db.write() as conn:
        save_organisation(conn, replace(DEMO_ORGANISATION, is_demo=False, consent_validity_days=validity_days), now=now)
        install_standard_purposes(conn, now=now)


def make_subject(
    db: Database,
    *,
    name: str = "Test Person",
    choices: Mapping[str, bool] | None = None,
    now: datetime | None = None,
    context: Context = STAFF,
    **kw: object,
) -> str:
    """Register a subject and return their id."""
    reg = register_subject(db, name=name, choices=choices or {}, context=context, now=now, **kw)  # type: ignore[arg-type]
    return reg.subject.id
