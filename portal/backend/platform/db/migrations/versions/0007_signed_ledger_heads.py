"""Signed ledger heads: an append-only table of every head the portal signed with its key outside the database.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from portal.backend.platform.db.types import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Spelled out, not imported from today's schema: this revision must do the same on every future checkout.
TABLE = "ledger_heads"


def upgrade() -> None:
    seq_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        TABLE,
        sa.Column("seq", seq_type, primary_key=True, autoincrement=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("base_seq", seq_type, nullable=False),
        sa.Column("base_hash", sa.String(length=64), nullable=False),
        sa.Column("prev_signature", sa.String(length=64), nullable=False, server_default=""),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("signed_at", UTCDateTime(), nullable=False),
        sa.Column("adopted", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("signature", sa.String(length=100), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        # portal_reject_change() comes from revision 0002; triggers bind the table owner too.
        op.execute(
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION portal_reject_change()"
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION portal_reject_change()"
        )
        op.execute(f"ALTER TABLE {TABLE} ENABLE ROW LEVEL SECURITY")
        roles = [
            r
            for (r,) in op.get_bind().exec_driver_sql(
                "SELECT rolname FROM pg_roles WHERE rolname IN ('anon', 'authenticated', 'service_role')"
            )
        ]
        for role in roles:
            op.execute(f"REVOKE ALL ON TABLE {TABLE} FROM {role}")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {TABLE}_no_{verb.lower()} BEFORE {verb} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: {verb} is not allowed'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_delete")
    op.drop_table(TABLE)
