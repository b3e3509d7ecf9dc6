"""Signed verification checkpoints, so `ledger verify` starts after the entries a full check already found intact.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

from portal.backend.platform.db.types import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_checkpoints",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.Column("head_digest", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("verified_at", UTCDateTime(), nullable=False),
        sa.Column("signature", sa.String(100), nullable=False),
    )
    op.create_index("ix_ledger_checkpoints_seq", "ledger_checkpoints", ["seq"])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # Supabase grants new public tables to its API roles by default privileges: take that back at once.
        op.execute('ALTER TABLE "ledger_checkpoints" ENABLE ROW LEVEL SECURITY')
        roles = [
            r
            for (r,) in bind.exec_driver_sql("SELECT rolname FROM pg_roles WHERE rolname IN ('anon', 'authenticated')")
        ]
        for role in roles:
            op.execute(f'REVOKE ALL ON TABLE "ledger_checkpoints" FROM {role}')


def downgrade() -> None:
    op.drop_index("ix_ledger_checkpoints_seq", table_name="ledger_checkpoints")
    op.drop_table("ledger_checkpoints")
