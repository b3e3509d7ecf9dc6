"""Per-purpose counters of the risk index (risk_counts) and an index on asset_risk.until, so the dashboard's summary
reads a handful of rows at a million photos; the counters are derived once from the existing index rows.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

from portal.backend.risk import counts as risk_counts

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_asset_risk_until", "asset_risk", ["until"])
    op.create_table(
        "risk_counts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("purpose_id", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.Integer(), nullable=False),
        sa.Column("until_day", sa.Integer(), nullable=True),
        sa.Column("n", sa.Integer(), nullable=False),
    )
    op.create_index("ix_risk_counts_key", "risk_counts", ["event_id", "purpose_id", "reasons", "until_day", "n"])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # Supabase grants new public tables to its API roles by default privileges: take that back at once.
        op.execute('ALTER TABLE "risk_counts" ENABLE ROW LEVEL SECURITY')
        roles = [
            r
            for (r,) in bind.exec_driver_sql("SELECT rolname FROM pg_roles WHERE rolname IN ('anon', 'authenticated')")
        ]
        for role in roles:
            op.execute(f'REVOKE ALL ON TABLE "risk_counts" FROM {role}')
    # Existing index rows: count them once.
    risk_counts.rebuild(bind)


def downgrade() -> None:
    op.drop_index("ix_risk_counts_key", table_name="risk_counts")
    op.drop_table("risk_counts")
    op.drop_index("ix_asset_risk_until", table_name="asset_risk")
