"""Versioned migrations (Alembic) run programmatically, inside one write transaction."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, text

from portal.backend.db.engine import Database
from portal.backend.errors import ConfigError

_MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same for every portal process.
_PG_MIGRATION_LOCK = 727_560_001


def _config(conn: Connection, schema: str | None) -> Config:
    """An Alembic config bound to an open connection."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = conn
    cfg.attributes["schema"] = schema
    return cfg


def head_revision() -> str:
    """The newest migration shipped with this code."""
    head = ScriptDirectory(str(_MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def current_revision(db: Database) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with db.read() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database, revision: str = "head") -> tuple[str | None, str]:
    """Upgrade to `revision`; returns (before, after). Safe to call from several processes at once."""
    with db.write() as conn:
        if conn.dialect.name == "postgresql":
            # Serialises concurrent starts: the second one waits, then finds nothing left to do.
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        before = MigrationContext.configure(conn).get_current_revision()
        try:
            command.upgrade(_config(conn, db.schema), revision)
        except CommandError as exc:
            raise ConfigError(
                f"Cannot upgrade the database from revision {before}: {exc}. "
                "It was probably written by a newer version of the portal; run that version instead."
            ) from None
        after = MigrationContext.configure(conn).get_current_revision()
    assert after is not None
    return before, after
