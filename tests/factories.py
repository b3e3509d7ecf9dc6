"""Test-data factories on the real database (they go through the same backend functions as the app)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from portal.backend.consent.ledger import LedgerEntry
from portal.backend.consent.records import Context, Decision, record_decisions
from portal.backend.i18n.purposes import install_standard_purposes
from portal.backend.ops.demo import DEMO_ORGANISATION
from portal.backend.people.subjects import Registration, Subject, add_subject, create_link, resolve_link
from portal.backend.platform.actors import Actor
from portal.backend.platform.blobs import BlobStore, LocalBlobStore
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.organisation import save_organisation
from portal.backend.platform.runtime import Portal

STAFF = Context(channel="staff", actor="staff:test", evidence={"act": "staff_entry"})
# A manager (staff id 1) acting through a page, and the operator acting on the CLI.
MANAGER = Actor.staff(1, "manager", "Test Manager")
OPERATOR = Actor.operator("tester")


def make_staff(db: Database, *, role: str = "manager", email: str | None = None) -> Actor:
    """A real staff account (rows that name who confirmed something point at it) and its Actor."""
    from portal.backend.staff.accounts import create_user

    with db.write() as conn:
        user = create_user(
            conn,
            email=email or f"{role}-{utcnow().timestamp():.6f}@example.org",
            display_name=f"Test {role.title()}",
            role=role,
            password=None,
            now=utcnow(),
        )
    return user.as_actor()


def make_portal(db: Database, blobs: BlobStore | Path, **settings: object) -> Portal:
    """The Portal services take, over this test's database and blob store (a folder or a store)."""
    store = LocalBlobStore(blobs) if isinstance(blobs, Path) else blobs
    config = load_settings(env={}, secrets_path=None, database_url=db.url, **settings)  # type: ignore[arg-type]
    return Portal(settings=config, db=db, blobs=store)


def make_org(db: Database, *, validity_days: int = 365, matching: bool = True, now: datetime | None = None) -> None:
    """The demo organisation (not flagged as demo) with the six standard purposes and their texts; library face
    matching is on unless `matching` is False (a selfie is refused while it is off)."""
    now = now or utcnow()
    org = replace(DEMO_ORGANISATION, is_demo=False, consent_validity_days=validity_days, matching_enabled=matching)
    with db.write() as conn:
        save_organisation(conn, org, now=now)
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


def register_subject(db: Database, **kw: object) -> Registration:
    """add_subject in its own transaction: a person and their first choices, without receipt or audit row."""
    with db.write() as conn:
        return add_subject(conn, **kw)  # type: ignore[arg-type]


def record_consent(
    db: Database, *, subject_id: str, decisions: Sequence[Decision], context: Context, now: datetime | None = None
) -> list[LedgerEntry]:
    """record_decisions in its own transaction: ledger entries only (services add the receipt and audit row)."""
    with db.write() as conn:
        return record_decisions(conn, subject_id=subject_id, decisions=decisions, context=context, now=now or utcnow())


def create_personal_link(
    db: Database, *, subject_id: str, secret: str, base_url: str, ttl_days: int, now: datetime | None = None
) -> str:
    """create_link in its own transaction (no audit row): a link for a test to open."""
    with db.write() as conn:
        return create_link(
            conn, subject_id=subject_id, secret=secret, base_url=base_url, ttl_days=ttl_days, now=now or utcnow()
        )


def resolve_personal_link(db: Database, *, token: str, secret: str, now: datetime | None = None) -> Subject:
    """resolve_link on a read connection."""
    with db.read() as conn:
        return resolve_link(conn, token=token, secret=secret, now=now or utcnow())


def open_folded(at: Any, *keys: str) -> Any:
    """Open the folded expanders with these keys and rerun, as a tap on each does (portal/components/lazy.py: their
    content is drawn only while they are open)."""
    for key in keys:
        at.session_state[key] = True
    return at.run()
