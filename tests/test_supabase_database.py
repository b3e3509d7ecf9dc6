"""Supabase's database, reproduced on the real PostgreSQL: its API roles reach no table, and the ledger stays
append-only for the (non-superuser) role that owns the tables, as Supabase's `postgres` role does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from portal.backend.consent import ledger
from portal.backend.ops.demo import seed_demo
from portal.backend.platform.db import migrate
from portal.backend.platform.db.engine import Database
from tests.conftest import require_postgres

pytestmark = pytest.mark.postgres

API_ROLES = ("anon", "authenticated", "service_role")
# As Supabase creates them: no login of their own (PostgREST switches to them), service_role bypasses RLS.
ROLE_OPTIONS = {
    "anon": "NOLOGIN NOINHERIT",
    "authenticated": "NOLOGIN NOINHERIT",
    "service_role": "NOLOGIN NOINHERIT BYPASSRLS",
}


@dataclass(frozen=True)
class SupabaseLike:
    """A schema shaped like Supabase's `public`: owned by a non-superuser, API roles granted by default."""

    url: str  # connects as that owner, with the schema first on the search path
    schema: str
    owner: str
    admin_url: str


def _ensure_role(conn: Connection, role: str) -> None:
    """Create a cluster-wide role once; several test runs may race to do it."""
    conn.execute(
        text(
            f"DO $$ BEGIN CREATE ROLE {role} {ROLE_OPTIONS[role]}; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
    )


@pytest.fixture
def supabase_like() -> Iterator[SupabaseLike]:
    """A fresh schema and owner role; the portal migrates it as that owner, like on a Supabase project."""
    base = require_postgres()
    tag = uuid.uuid4().hex[:12]
    schema, owner = f"t_sb_{tag}", f"t_owner_{tag}"
    admin = create_engine(base)
    with admin.begin() as conn:
        for role in API_ROLES:
            _ensure_role(conn, role)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE ROLE {owner} NOLOGIN"))
        conn.execute(text(f"CREATE SCHEMA {schema} AUTHORIZATION {owner}"))
        conn.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO anon, authenticated, service_role"))
        # Supabase's default privileges: everything the owner creates is granted to the API roles.
        for kind in ("TABLES", "SEQUENCES", "FUNCTIONS"):
            conn.execute(
                text(
                    f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} "
                    f"GRANT ALL ON {kind} TO anon, authenticated, service_role"
                )
            )
    # The test server trusts the superuser login only; `role` makes every statement run as the owner.
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema} -crole={owner}"})
    try:
        yield SupabaseLike(url.render_as_string(hide_password=False), schema, owner, base)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            conn.execute(text(f"DROP OWNED BY {owner} CASCADE"))
            conn.execute(text(f"DROP ROLE {owner}"))
        admin.dispose()


def _relations(conn: Connection, kinds: str) -> list[str]:
    """Names of the relations of the given pg_class kinds in the current schema."""
    return (
        conn.execute(
            text(
                "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
                "AND relkind = ANY(:k) ORDER BY relname"
            ),
            {"k": list(kinds)},
        )
        .scalars()
        .all()
    )


def _refused(conn: Connection, sql: str, role: str | None = None) -> str:
    """Run `sql` (as `role`) in a savepoint; return the error PostgreSQL raised, failing if it succeeded."""
    with conn.begin_nested() as sp:
        if role:
            conn.execute(text(f"SET LOCAL ROLE {role}"))
        try:
            conn.execute(text(sql))
        except DBAPIError as exc:
            sp.rollback()
            return str(exc.orig)
        sp.rollback()
    pytest.fail(f"{role or 'the owner'} was allowed to run: {sql}")


def test_migrations_run_as_a_non_superuser_owner_and_secure_every_table(supabase_like: SupabaseLike) -> None:
    db = Database(supabase_like.url)
    try:
        migrate.upgrade(db)
        seed_demo(db)
        with db.read() as conn:
            assert conn.execute(text("SELECT current_user")).scalar_one() == supabase_like.owner
            tables = _relations(conn, "rp")
            sequences = _relations(conn, "S")
            assert {"consent_ledger", "purpose_texts", "staff_users", "assets", "alembic_version"} <= set(tables)
            unsecured = (
                conn.execute(
                    text(
                        "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
                        "AND relkind IN ('r', 'p') AND NOT relrowsecurity"
                    )
                )
                .scalars()
                .all()
            )
            assert unsecured == []  # row-level security on every table, including ones added by later migrations
        # An upgrade on an already-current database has nothing left to fix.
        with db.write() as conn:
            assert migrate.lock_down_api_roles(conn) == []
    finally:
        db.dispose()

    admin = create_engine(supabase_like.admin_url)
    try:
        with admin.connect() as conn, conn.begin():
            conn.execute(text(f"SET LOCAL search_path = {supabase_like.schema}"))
            for role in API_ROLES:
                for table in tables:
                    privileges = "SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER"
                    assert (
                        conn.execute(
                            text("SELECT has_table_privilege(:r, :t, :p)"), {"r": role, "t": table, "p": privileges}
                        ).scalar_one()
                        is False
                    ), (role, table)
                    quoted = f'"{table}"'
                    for sql in (
                        f"SELECT * FROM {quoted} LIMIT 1",
                        f"INSERT INTO {quoted} DEFAULT VALUES",
                        f"UPDATE {quoted} SET {_first_column(conn, table)} = {_first_column(conn, table)}",
                        f"DELETE FROM {quoted}",
                        f"TRUNCATE {quoted}",
                    ):
                        assert "permission denied" in _refused(conn, sql, role), (role, sql)
                for sequence in sequences:
                    assert "permission denied" in _refused(conn, f"SELECT nextval('{sequence}')", role)
    finally:
        admin.dispose()


def _first_column(conn: Connection, table: str) -> str:
    """A column of `table` to write in an UPDATE (the statement is refused before it matters which)."""
    return conn.execute(
        text(
            "SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = to_regclass(:t) AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum LIMIT 1"
        ),
        {"t": table},
    ).scalar_one()


def test_rls_hides_every_row_even_from_a_role_granted_select(supabase_like: SupabaseLike) -> None:
    """Defence in depth: should someone grant an API role SELECT by mistake, RLS without a policy shows nothing."""
    db = Database(supabase_like.url)
    try:
        migrate.upgrade(db)
        seed_demo(db)
        with db.write() as conn:
            assert conn.execute(text("SELECT count(*) FROM consent_ledger")).scalar_one() > 0
            with conn.begin_nested() as sp:
                conn.execute(text("GRANT SELECT ON consent_ledger, subjects TO anon"))
                conn.execute(text("SET LOCAL ROLE anon"))
                assert conn.execute(text("SELECT count(*) FROM consent_ledger")).scalar_one() == 0
                assert conn.execute(text("SELECT count(*) FROM subjects")).scalar_one() == 0
                sp.rollback()
    finally:
        db.dispose()


def test_the_ledger_is_append_only_for_the_owner_role(supabase_like: SupabaseLike) -> None:
    db = Database(supabase_like.url)
    try:
        migrate.upgrade(db)
        seed_demo(db)
        with db.write() as conn:
            assert conn.execute(text("SELECT current_user")).scalar_one() == supabase_like.owner
            # Even an owner that grants itself everything again is stopped by the triggers.
            conn.execute(text("GRANT ALL ON consent_ledger, purpose_texts TO CURRENT_USER"))
            for table in ("consent_ledger", "purpose_texts"):
                column = _first_column(conn, table)
                for sql in (f"UPDATE {table} SET {column} = {column}", f"DELETE FROM {table}", f"TRUNCATE {table}"):
                    assert "append-only" in _refused(conn, sql), sql
        assert ledger.verify(db).ok
    finally:
        db.dispose()


@pytest.fixture
def app_role(supabase_like: SupabaseLike) -> Iterator[str]:
    """A unique name for the portal's least-privilege role; the owner may create roles, as Supabase's `postgres`."""
    name = f"t_app_{uuid.uuid4().hex[:12]}"
    admin = create_engine(supabase_like.admin_url)
    with admin.begin() as conn:
        conn.execute(text(f"ALTER ROLE {supabase_like.owner} CREATEROLE"))
    try:
        yield name
    finally:
        with admin.begin() as conn:
            if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": name}).first():
                conn.execute(text(f"DROP OWNED BY {name} CASCADE"))
                conn.execute(text(f"DROP ROLE {name}"))
        admin.dispose()


def _as_role(url: str, role: str) -> str:
    """`url` with every statement run as `role` (the test server trusts only the superuser's login)."""
    parsed = make_url(url)
    options = parsed.query["options"]
    assert isinstance(options, str)
    return parsed.update_query_dict({"options": options.split(" -crole=")[0] + f" -crole={role}"}).render_as_string(
        hide_password=False
    )


def test_db_upgrade_creates_a_least_privilege_role_that_cannot_disable_the_ledgers_triggers(
    supabase_like: SupabaseLike, app_role: str
) -> None:
    owner_db = Database(supabase_like.url)
    try:
        migrate.upgrade(owner_db, app_role=app_role)
        with owner_db.read() as conn:
            attributes = conn.execute(
                text(
                    "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolcanlogin FROM pg_roles "
                    "WHERE rolname = :r"
                ),
                {"r": app_role},
            ).one()
        assert tuple(attributes) == (False, False, False, False, False)
    finally:
        owner_db.dispose()
    # The portal at work as that role: seeding the demo writes to every table, the ledger signs and verifies.
    app_db = Database(_as_role(supabase_like.url, app_role))
    try:
        seed_demo(app_db)
        assert ledger.verify(app_db).ok
        with app_db.write() as conn:
            assert conn.execute(text("SELECT current_user")).scalar_one() == app_role
            assert conn.execute(text("SELECT count(*) FROM consent_ledger")).scalar_one() > 0
            for table in ("consent_ledger", "ledger_heads", "purpose_texts"):
                for sql in (
                    f"ALTER TABLE {table} DISABLE TRIGGER USER",
                    f"DROP TRIGGER {table}_append_only ON {table}",
                ):
                    assert "must be owner" in _refused(conn, sql), sql
                for sql in (
                    f"DELETE FROM {table}",
                    f"UPDATE {table} SET seq = seq" if table != "purpose_texts" else f"UPDATE {table} SET id = id",
                    f"TRUNCATE {table}",
                ):
                    assert "permission denied" in _refused(conn, sql), sql
            assert "permission denied" in _refused(conn, "CREATE TABLE portal_evil (id int)")
            assert "must be owner" in _refused(conn, "ALTER TABLE subjects DISABLE ROW LEVEL SECURITY")
        # A start of the portal as that role finds nothing to migrate and leaves the role as it is.
        migrate.upgrade(app_db, app_role=app_role)
    finally:
        app_db.dispose()
    # With a password the role can sign in (the connection string the README shows for Supabase).
    owner_db = Database(supabase_like.url)
    try:
        migrate.upgrade(owner_db, app_role=app_role, app_role_password="it's a long random password")
        with owner_db.read() as conn:
            assert conn.execute(
                text("SELECT rolcanlogin FROM pg_roles WHERE rolname = :r"), {"r": app_role}
            ).scalar_one()
    finally:
        owner_db.dispose()


def test_an_owner_without_createrole_is_left_as_it_is(supabase_like: SupabaseLike) -> None:
    db = Database(supabase_like.url)
    try:
        migrate.upgrade(db)
        with db.write() as conn:
            report = migrate.ensure_app_role(conn, f"t_none_{uuid.uuid4().hex[:8]}")
        assert report.state == "skipped" and "CREATEROLE" in report.detail
    finally:
        db.dispose()
