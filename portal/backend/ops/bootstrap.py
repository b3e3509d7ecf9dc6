"""Opening the portal: settings -> database (migrated) -> blob store -> demo data when empty."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from portal.backend.ops.demo import is_demo, is_empty, seed_demo
from portal.backend.platform.blobs import make_blob_store
from portal.backend.platform.config import Settings
from portal.backend.platform.db import migrate
from portal.backend.platform.db.engine import Database, safe_url
from portal.backend.platform.db.schema import metadata
from portal.backend.platform.errors import ConfigError, ValidationError
from portal.backend.platform.runtime import Portal


@dataclass(frozen=True)
class SchemaState:
    """Where the database is (password hidden), its schema revision, and the newest this code knows."""

    where: str
    current: str | None
    head: str


def schema_state(settings: Settings) -> SchemaState:
    """The database's schema revision, without changing anything."""
    db = Database(settings.database_url)
    try:
        return SchemaState(safe_url(settings.database_url), migrate.current_revision(db), migrate.head_revision())
    finally:
        db.dispose()


def upgrade_database(settings: Settings) -> tuple[SchemaState, SchemaState]:
    """Run the migrations (keeping every row); the state before and after."""
    db = Database(settings.database_url)
    try:
        before, after = migrate.upgrade(db)
    finally:
        db.dispose()
    where, head = safe_url(settings.database_url), migrate.head_revision()
    return SchemaState(where, before, head), SchemaState(where, after, head)


def attach_portal(settings: Settings, *, require_schema: bool = True) -> Portal:
    """Open an existing portal database without migrating it (the CLI); refuse one whose schema is not current."""
    db = Database(settings.database_url, create=not require_schema)
    if require_schema:
        current = migrate.current_revision(db)
        head = migrate.head_revision()
        if current != head:
            state = "empty" if current is None else f"at schema revision {current}"
            raise ConfigError(
                f"The database at {safe_url(settings.database_url)} is {state}; this portal needs revision {head}. "
                "Run `python -m portal db upgrade` first."
            )
    return Portal(settings=settings, db=db, blobs=make_blob_store(settings))


def open_portal(settings: Settings, *, upgrade: bool = True, seed: bool | None = None) -> Portal:
    """Connect, upgrade the schema, and seed demo data into an empty database when enabled."""
    db = Database(settings.database_url)
    if upgrade:
        migrate.upgrade(db)
    blobs = make_blob_store(settings)
    if (settings.demo_data if seed is None else seed) and is_empty(db):
        seed_demo(db, blobs=blobs, max_pixels=settings.max_image_pixels)
    return Portal(settings=settings, db=db, blobs=blobs)


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
