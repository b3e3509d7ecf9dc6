"""Versioned migrations (Alembic) run programmatically, inside one write transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from portal.backend.platform import signing
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import ConfigError

_MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same for every portal process.
_PG_MIGRATION_LOCK = 727_560_001
# Supabase serves every table of an exposed schema through its REST API to requests made with these roles (the
# anon key, a signed-in user's token and the service_role key); the portal talks SQL and needs none of that.
SUPABASE_API_ROLES = ("anon", "authenticated", "service_role")
# The least-privilege role the portal runs as: what it may do per table (every other table: all DML). No DDL,
# no ownership, so it can neither disable the ledger's triggers nor alter the tables.
APP_ROLE_GRANTS = {
    "consent_ledger": "SELECT, INSERT",
    "purpose_texts": "SELECT, INSERT",
    "ledger_heads": "SELECT, INSERT",
    "ledger_head": "SELECT, UPDATE",
    "alembic_version": "SELECT",
}
_DML = "SELECT, INSERT, UPDATE, DELETE"
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# The revision that put the ledger's heads under signatures: the upgrade that crosses it signs an existing head.
_SIGNED_HEADS_REVISION = 7


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


@dataclass(frozen=True)
class RoleReport:
    """What `ensure_app_role` did: created, updated, or skipped (and why)."""

    role: str
    state: str
    detail: str


def upgrade(
    db: Database, revision: str = "head", *, app_role: str | None = None, app_role_password: str = ""
) -> tuple[str | None, str]:
    """Upgrade to `revision`; returns (before, after). Safe to call from several processes at once.

    On PostgreSQL with `app_role`, also (re)creates the least-privilege role the portal should run as, where the
    connecting role may. A ledger written before heads were signed gets its head signed on the upgrade that adds
    signatures, when the ledger key is at hand.
    """
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
        if _crosses_signed_heads(before, after):
            _adopt_head(conn)
        if conn.dialect.name == "postgresql":
            lock_down_api_roles(conn)
            if app_role:
                ensure_app_role(conn, app_role, app_role_password)
    assert after is not None
    return before, after


def _crosses_signed_heads(before: str | None, after: str | None) -> bool:
    """True when this upgrade created the signed-heads table on a database that already had a ledger."""
    if before is None or after is None or not before.isdigit() or not after.isdigit():
        return False
    return int(before) < _SIGNED_HEADS_REVISION <= int(after)


def _adopt_head(conn: Connection) -> None:
    """Sign the head of an existing ledger once, so that it is covered from now on (needs the key)."""
    # Imported here: the consent package sits above the platform's database layer.
    from portal.backend.consent import ledger

    try:
        key = signing.signing_key_for(conn)
    except signing.LedgerKeyMissing:
        # `ledger verify` will say the head is unsigned; `python -m portal ledger adopt` signs it with the key.
        return
    ledger.adopt_unsigned_head(conn, key, now=utcnow())


def _sql_literal(value: str) -> str:
    """A string literal for a statement that takes no bind parameters (CREATE/ALTER ROLE ... PASSWORD)."""
    if "\x00" in value:
        raise ConfigError("PORTAL_APP_ROLE_PASSWORD must not contain a NUL character.")
    # standard_conforming_strings is on (the default since PostgreSQL 9.1): only the quote needs doubling.
    return "'" + value.replace("'", "''") + "'"


def ensure_app_role(conn: Connection, role: str, password: str = "") -> RoleReport:
    """Create (where permitted) the portal's least-privilege role and grant it DML on the schema's tables only.

    NOLOGIN without a password (connect as the owner and `SET ROLE`, or give it a password later); LOGIN with one.
    The role owns nothing and gets no CREATE, so it cannot ALTER, DROP or disable triggers. Row-level security stays
    on: a policy lets this role (and no API role) see the rows. Run as the tables' owner; skipped otherwise.
    """
    if not _ROLE_NAME.fullmatch(role):
        raise ConfigError(f"PORTAL_APP_ROLE {role!r} is not a plain role name (lower-case letters, digits, _).")
    me, may_create, superuser = conn.execute(
        text("SELECT current_user, rolcreaterole, rolsuper FROM pg_roles WHERE rolname = current_user")
    ).one()
    if me == role:
        return RoleReport(role, "skipped", "connected as the application role itself; run `db upgrade` as the owner")
    existing = conn.execute(
        text("SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = :r"), {"r": role}
    ).one_or_none()
    login = f"LOGIN PASSWORD {_sql_literal(password)}" if password else "NOLOGIN"
    state = "updated"
    if existing is None:
        if not (may_create or superuser):
            return RoleReport(role, "skipped", f"{me} may not create roles (needs CREATEROLE)")
        options = f"{login} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT"
        with conn.begin_nested():
            # Several portals starting at once may race to create the same (cluster-wide) role.
            conn.execute(
                text(
                    f"DO $$ BEGIN CREATE ROLE {role} {options}; "
                    "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
                )
            )
        state = "created"
    elif any(existing):
        raise ConfigError(
            f"The role {role} may bypass the database's protections (superuser, BYPASSRLS, CREATEROLE or "
            "CREATEDB); the portal must run as a role without them. Choose another PORTAL_APP_ROLE."
        )
    elif password and (may_create or superuser):
        conn.execute(text(f"ALTER ROLE {role} WITH {login}"))
    quote = conn.dialect.identifier_preparer.quote
    try:
        with conn.begin_nested():
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
            conn.execute(text(f"GRANT USAGE ON SCHEMA {quote(schema)} TO {role}"))
            conn.execute(text(f"REVOKE CREATE ON SCHEMA {quote(schema)} FROM {role}"))
            relations = conn.execute(
                text(
                    "SELECT c.relname, c.relkind, EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = :s "
                    "AND p.tablename = c.relname AND p.policyname = :policy) FROM pg_class c "
                    "WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = :s) "
                    "AND c.relkind IN ('r', 'p', 'S') ORDER BY c.relname"
                ),
                {"s": schema, "policy": f"{role}_access"},
            ).all()
            for name, kind, has_policy in relations:
                if kind == "S":
                    conn.execute(text(f"GRANT USAGE, SELECT, UPDATE ON SEQUENCE {quote(name)} TO {role}"))
                    continue
                conn.execute(text(f"REVOKE ALL ON TABLE {quote(name)} FROM {role}"))
                conn.execute(text(f"GRANT {APP_ROLE_GRANTS.get(name, _DML)} ON TABLE {quote(name)} TO {role}"))
                if not has_policy:
                    # RLS stays on (Supabase's API roles see nothing); this role alone is let through.
                    conn.execute(
                        text(
                            f"CREATE POLICY {quote(role + '_access')} ON {quote(name)} TO {role} "
                            "USING (true) WITH CHECK (true)"
                        )
                    )
    except DBAPIError as exc:
        return RoleReport(role, "skipped", f"{me} may not grant on these tables: {str(exc.orig).strip()}")
    return RoleReport(role, state, f"{'LOGIN' if password else 'NOLOGIN'}; DML on {len(relations)} relations")


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
