"""Opening the portal: settings -> database (migrated) -> blob store -> demo data when empty."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text

from portal.backend.ops.demo import is_demo, is_empty, seed_demo
from portal.backend.photos.vision.weights import status_line as person_status_line
from portal.backend.platform import signing
from portal.backend.platform.blobs import make_blob_store
from portal.backend.platform.config import Settings, load_settings
from portal.backend.platform.db import migrate
from portal.backend.platform.db.engine import Database, safe_url
from portal.backend.platform.db.schema import metadata
from portal.backend.platform.errors import ConfigError, PortalError, ValidationError
from portal.backend.platform.runtime import Portal
from portal.backend.staff.accounts import demo_users


@dataclass(frozen=True)
class SchemaState:
    """Where the database is (password hidden), its schema revision, and the newest this code knows."""

    where: str
    current: str | None
    head: str


def schema_state(settings: Settings) -> SchemaState:
    """The database's schema revision, without changing anything."""
    db = Database(settings.database_url, pool=settings.pool)
    try:
        return SchemaState(safe_url(settings.database_url), migrate.current_revision(db), migrate.head_revision())
    finally:
        db.dispose()


def upgrade_database(settings: Settings) -> tuple[SchemaState, SchemaState]:
    """Run the migrations (keeping every row); the state before and after."""
    db = Database(settings.database_url, pool=settings.pool)
    try:
        # The key signs an existing ledger's head on the upgrade that adds signatures (made on first use in dev).
        signing.attach(db.engine, signing.load_signing_key(settings))
        before, after = migrate.upgrade(db, app_role=settings.app_role, app_role_password=settings.app_role_password)
    finally:
        db.dispose()
    where, head = safe_url(settings.database_url), migrate.head_revision()
    return SchemaState(where, before, head), SchemaState(where, after, head)


def attach_portal(settings: Settings, *, require_schema: bool = True) -> Portal:
    """Open an existing portal database without migrating it (the CLI); refuse one whose schema is not current."""
    db = Database(settings.database_url, create=not require_schema, pool=settings.pool)
    if require_schema:
        current = migrate.current_revision(db)
        head = migrate.head_revision()
        if current != head:
            state = "empty" if current is None else f"at schema revision {current}"
            raise ConfigError(
                f"The database at {safe_url(settings.database_url)} is {state}; this portal needs revision {head}. "
                "Run `python -m portal db upgrade` first."
            )
    # Loaded at the first append (made then in development, as on a first start): a read-only command makes none.
    signing.attach(db.engine, lambda: signing.load_signing_key(settings))
    return Portal(settings=settings, db=db, blobs=make_blob_store(settings))


def production_problems(db: Database) -> list[str]:
    """What keeps this database from serving in production: the demo data, or any demo account (public passwords)."""
    problems = []
    if not is_empty(db) and is_demo(db):
        problems.append(
            "The database holds the demo data (public demo accounts, invented people): production needs a fresh "
            "database (`python -m portal db upgrade` on an empty one, then `python -m portal staff add`)."
        )
    with db.read() as conn:
        demo = [u.email for u in demo_users(conn)]
    if demo:
        problems.append(
            f"Demo accounts with public passwords exist ({', '.join(demo)}): remove them (Settings, Staff accounts, "
            "or `python -m portal staff remove-demo`)."
        )
    return problems


def open_portal(settings: Settings, *, upgrade: bool = True, seed: bool | None = None) -> Portal:
    """Connect, upgrade the schema, and seed demo data into an empty database when enabled; production refuses a
    demo database or demo accounts."""
    db = Database(settings.database_url, pool=settings.pool)
    # Every ledger append signs the new head with this key, held outside the database (required in production).
    signing.attach(db.engine, signing.load_signing_key(settings))
    if upgrade:
        migrate.upgrade(db, app_role=settings.app_role, app_role_password=settings.app_role_password)
    if settings.is_production and (problems := production_problems(db)):
        db.dispose()
        raise ConfigError("Production mode refuses to start: " + " ".join(problems))
    blobs = make_blob_store(settings)
    if (settings.demo_data if seed is None else seed) and is_empty(db):
        seed_demo(db, blobs=blobs, max_pixels=settings.max_image_pixels)
    return Portal(settings=settings, db=db, blobs=blobs)


@dataclass(frozen=True)
class Check:
    """One start-up check as `python -m portal doctor` prints it: what was checked and the problem, if any."""

    name: str
    problem: str | None = None
    note: str = ""


def _blob_problem(settings: Settings) -> str | None:
    """Why the blob store cannot be used (the local folder not writable, the bucket not reachable or public)."""
    if settings.blob_backend == "local":
        # The nearest existing folder decides whether the store's folder can be made and written.
        folder = settings.blob_dir.resolve()
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"The blob folder {settings.blob_dir} cannot be written (nearest folder: {folder})."
        return None
    make_blob_store(settings)  # checks the bucket: reachable, the right key, private
    return None


def startup_checks(load: Callable[[], Settings] = load_settings) -> list[Check]:
    """The checks the portal makes when it starts, each reported rather than raised (`python -m portal doctor`)."""
    try:
        settings = load()
    except PortalError as exc:
        # Everything else needs the settings.
        return [Check("settings", str(exc))]
    checks = [Check("settings", note=f"{settings.environment} mode, auth {settings.auth_backend}")]
    try:
        state = schema_state(settings)
    except PortalError as exc:
        return [*checks, Check("database", str(exc))]
    except Exception as exc:  # a driver error a person can act on; never a traceback
        return [*checks, Check("database", f"Cannot use the database at {safe_url(settings.database_url)}: {exc}")]
    if state.current != state.head:
        checks.append(
            Check(
                "database",
                f"The database at {state.where} is at schema revision {state.current or '(empty)'}, not {state.head}: "
                "run `python -m portal db upgrade`.",
            )
        )
    else:
        checks.append(Check("database", note=f"{state.where} at revision {state.head}"))
    try:
        checks.append(Check("blob store", _blob_problem(settings), note=settings.blob_backend))
    except PortalError as exc:
        checks.append(Check("blob store", str(exc)))
    try:
        # create=False: the doctor only looks; the portal makes the development key on its first start.
        key = signing.load_signing_key(settings, create=False)
        checks.append(Check("ledger key", note=f"Ed25519 key {key.key_id}"))
    except signing.LedgerKeyMissing as exc:
        checks.append(
            Check("ledger key", str(exc)) if settings.is_production else Check("ledger key", note="made on first start")
        )
    except PortalError as exc:
        checks.append(Check("ledger key", str(exc)))
    # Never a problem: the portal works without person detection; the note says whether it is on and how to turn it on.
    checks.append(Check("person detection", note=person_status_line(settings)))
    if state.current is not None:
        db = Database(settings.database_url, pool=settings.pool)
        try:
            production = production_problems(db)
        finally:
            db.dispose()
        if settings.is_production:
            checks += [Check("production", p) for p in production] or [Check("production", note="no demo data")]
        elif production:
            checks.append(Check("production", note="demo data or accounts present (refused in production mode)"))
    return checks


def reset_database(db: Database, *, force: bool = False) -> None:
    """Drop every portal table (demo databases only unless forced); the ledger's triggers go with it."""
    if not force and not is_empty(db) and not is_demo(db):
        raise ValidationError(
            "This database holds real (non-demo) data; refusing to reset it. "
            "Back it up and pass --force if you really mean to destroy it."
        )
    with db.write() as conn:
        if conn.dialect.name == "postgresql":
            for table in reversed(metadata.sorted_tables):
                conn.execute(text(f'DROP TABLE IF EXISTS "{table.name}" CASCADE'))
            conn.execute(text("DROP FUNCTION IF EXISTS portal_reject_change() CASCADE"))
        else:
            for table in reversed(metadata.sorted_tables):
                conn.execute(text(f'DROP TABLE IF EXISTS "{table.name}"'))
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
