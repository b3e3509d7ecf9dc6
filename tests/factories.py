"""Test-data factories on the real database (they go through the same backend functions as the app)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime

from portal.backend.consent.records import Context
from portal.backend.i18n.purposes import install_standard_purposes
from portal.backend.ops.demo import DEMO_ORGANISATION
from portal.backend.people.subjects import register_subject
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.organisation import save_organisation

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


def in_parallel(url: str, work: Callable[[Database], object], *, threads: int = 3) -> list[BaseException]:
    """Run `work` at the same time in several threads, each with its own engine (like separate processes);
    returns the errors they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def run() -> None:
        own = Database(url)
        try:
            start.wait()
            work(own)
        except BaseException as exc:  # collected for the test to assert on
            errors.append(exc)
        finally:
            own.dispose()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return errors
