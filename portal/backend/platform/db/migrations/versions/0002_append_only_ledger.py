"""Append-only ledger and texts (database triggers), the chain head row, and row-level security on PostgreSQL.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Supabase exposes every table of the public schema through its REST API to these roles.
SUPABASE_API_ROLES = ("anon", "authenticated")
# Spelled out, not imported from today's schema: this revision must do the same on every future checkout.
APPEND_ONLY_TABLES = ("consent_ledger", "purpose_texts")


def upgrade() -> None:
    op.execute(
        "INSERT INTO ledger_head (id, seq, entry_hash) VALUES (1, 0, '"
        + "0" * 64
        + "')"
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql()
    else:
        _sqlite()


def _sqlite() -> None:
    for table in APPEND_ONLY_TABLES:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} is not allowed'); END"
            )


def _postgresql() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION portal_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    for table in APPEND_ONLY_TABLES:
        # Triggers bind the table owner too, unlike privileges, which the owner could grant back to itself.
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION portal_reject_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION portal_reject_change()"
        )
    roles = [
        r
        for (r,) in op.get_bind().exec_driver_sql(
            "SELECT rolname FROM pg_roles WHERE rolname IN ('anon', 'authenticated')"
        )
    ]
    # Only the tables that exist at this revision: later migrations secure the tables they add.
    existing = {n for (n,) in op.get_bind().exec_driver_sql("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
    for table in sorted(existing - {"alembic_version"}) + ["alembic_version"]:
        # RLS with no policy: Supabase's API roles see and change nothing; the owner connection is unaffected.
        op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
        for role in roles:
            op.execute(f'REVOKE ALL ON TABLE "{table}" FROM {role}')


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS portal_reject_change()")
    else:
        for table in APPEND_ONLY_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    op.execute("DELETE FROM ledger_head")
