"""The risk index (consent_current, asset_risk: projections kept in step with the ledger) and daily risk snapshots.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from portal.backend.risk import index as risk_index
from portal.backend.platform.db.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_current",
        sa.Column("subject_id", sa.String(length=36), sa.ForeignKey("subjects.id"), primary_key=True),
        sa.Column("purpose_id", sa.Integer(), sa.ForeignKey("purposes.id"), primary_key=True),
        sa.Column("scope_key", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("scope_asset_id", sa.Integer(), nullable=True),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("text_version", sa.Integer(), nullable=False),
        sa.Column("valid_until", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "asset_risk",
        sa.Column("asset_id", sa.Integer(), sa.ForeignKey("assets.id"), primary_key=True, autoincrement=False),
        sa.Column("purpose_id", sa.Integer(), sa.ForeignKey("purposes.id"), primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("reasons", sa.Integer(), nullable=False),
        sa.Column("until", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_asset_risk_purpose", "asset_risk", ["purpose_id", "reasons"])
    op.create_table(
        "risk_snapshots",
        sa.Column("day", sa.String(length=10), primary_key=True),
        sa.Column("purpose_id", sa.Integer(), sa.ForeignKey("purposes.id"), primary_key=True, autoincrement=False),
        sa.Column("with_people", sa.Integer(), nullable=False),
        sa.Column("at_risk", sa.Integer(), nullable=False),
        sa.Column("critical", sa.Integer(), nullable=False),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # Supabase grants new public tables to its API roles by default privileges: take that back at once.
        roles = [r for (r,) in bind.exec_driver_sql(
            "SELECT rolname FROM pg_roles WHERE rolname IN ('anon', 'authenticated')")]
        for table in ("consent_current", "asset_risk", "risk_snapshots"):
            op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
            for role in roles:
                op.execute(f'REVOKE ALL ON TABLE "{table}" FROM {role}')
    # Existing ledgers and detections: derive the projections once.
    risk_index.rebuild(bind)


def downgrade() -> None:
    op.drop_table("risk_snapshots")
    op.drop_index("ix_asset_risk_purpose", table_name="asset_risk")
    op.drop_table("asset_risk")
    op.drop_table("consent_current")
