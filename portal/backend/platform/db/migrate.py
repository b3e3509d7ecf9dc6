"""Versioned migrations (Alembic) run programmatically, inside one write transaction."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, text

from portal.backend.platform.db.engine import Database
from portal.backend.platform.errors import ConfigError

_MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same for every portal process.
_PG_MIGRATION_LOCK = 727_560_001
# Supabase serves every table of an exposed schema through its REST API to requests made with these roles (the
# anon key, a signed-in user's token and the service_role key); the portal talks SQL and needs none of that.
SUPABASE_API_ROLES = ("anon", "authenticated", "service_role")


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
        if conn.dialect.name == "postgresql":
            lock_down_api_roles(conn)
    assert after is not None
    return before, after


def lock_down_api_roles(conn: Connection) -> list[str]:
    """Row-level security on every table of the portal's schema and no privilege at all for Supabase's API roles.

    The migrations do this for the tables they create; this check after every upgrade catches whatever a
    migration missed, and what Supabase's default privileges granted since (they grant new tables, sequences
    and functions in `public` to the API roles). Returns what it had to fix, normally nothing.
    """
    roles = [
        r
        for (r,) in conn.execute(
            text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:r)"), {"r": list(SUPABASE_API_ROLES)}
        )
    ]
    quote = conn.dialect.identifier_preparer.quote
    fixed: list[str] = []
    relations = conn.execute(
        text(
            """
            SELECT c.relname, c.relkind, c.relrowsecurity,
                   ARRAY(SELECT DISTINCT r.rolname FROM aclexplode(c.relacl) a JOIN pg_roles r ON r.oid = a.grantee
                         WHERE r.rolname = ANY(:roles)) AS granted
            FROM pg_class c
            WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
              AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
            ORDER BY c.relname
            """
        ),
        {"roles": roles},
    ).all()
    for name, kind, secured, granted in relations:
        if kind in ("r", "p") and not secured:
            # RLS with no policy: even a role that somehow gains a privilege sees and changes no row.
            conn.execute(text(f"ALTER TABLE {quote(name)} ENABLE ROW LEVEL SECURITY"))
            fixed.append(f"{name}: row-level security")
        if granted:
            what = "SEQUENCE" if kind == "S" else "TABLE"
            conn.execute(text(f"REVOKE ALL ON {what} {quote(name)} FROM {', '.join(quote(r) for r in granted)}"))
            fixed.append(f"{name}: revoked from {', '.join(granted)}")
    functions = conn.execute(
        text(
            """
            SELECT p.oid::regprocedure::text,
                   ARRAY(SELECT DISTINCT r.rolname FROM aclexplode(p.proacl) a JOIN pg_roles r ON r.oid = a.grantee
                         WHERE r.rolname = ANY(:roles)) AS granted
            FROM pg_proc p
            WHERE p.pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
            """
        ),
        {"roles": roles},
    ).all()
    for signature, granted in functions:
        if granted:
            conn.execute(text(f"REVOKE ALL ON FUNCTION {signature} FROM {', '.join(quote(r) for r in granted)}"))
            fixed.append(f"{signature}: revoked from {', '.join(granted)}")
    return fixed
