"""Consent acted on: takedown tasks, publication overrides, birth month, matching and retention state.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from portal.backend.platform.db.types import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Spelled out, not imported from today's schema: this revision must do the same on every future checkout.
    op.create_table(
        "takedowns",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("use_id", sa.Integer(), sa.ForeignKey("asset_uses.id"), nullable=False),
        sa.Column("asset_id", sa.Integer(), sa.ForeignKey("assets.id"), nullable=False),
        sa.Column("purpose_id", sa.Integer(), sa.ForeignKey("purposes.id"), nullable=False),
        sa.Column("reasons", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("open_key", sa.String(length=40), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("closed_by", sa.String(length=100), nullable=True),
        sa.Column("closed_note", sa.String(length=300), nullable=True),
        sa.CheckConstraint("kind IN ('takedown', 'notify_partner')", name=op.f("ck_takedowns_kind")),
        sa.UniqueConstraint("open_key", name=op.f("uq_takedowns_open_key")),
    )
    op.create_index("ix_takedowns_asset_id", "takedowns", ["asset_id"])
    op.create_index("ix_takedowns_closed_at", "takedowns", ["closed_at"])
    op.add_column("asset_uses", sa.Column("accepted_reasons", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("asset_uses", sa.Column("override_reason", sa.String(length=300), nullable=True))
    op.add_column("subjects", sa.Column("birth_month", sa.Integer(), nullable=True))
    op.add_column("subjects", sa.Column("birth_day", sa.Integer(), nullable=True))
    op.add_column("assets", sa.Column("matched_at", UTCDateTime(), nullable=True))
    op.add_column("assets", sa.Column("retention_flagged_at", UTCDateTime(), nullable=True))
    op.add_column("assets", sa.Column("deleted_at", UTCDateTime(), nullable=True))
    # Art. 9, EDPB 3/2019: a face's template is computed in memory when matching runs and never kept; templates
    # stored by earlier versions for every face in every photo had no basis and go now.
    op.execute("UPDATE detections SET template = NULL WHERE template IS NOT NULL")


def downgrade() -> None:
    # Tasks first: they reference asset_uses and assets.
    op.drop_index("ix_takedowns_closed_at", table_name="takedowns")
    op.drop_index("ix_takedowns_asset_id", table_name="takedowns")
    op.drop_table("takedowns")
    for table, column in (
        ("assets", "deleted_at"),
        ("assets", "retention_flagged_at"),
        ("assets", "matched_at"),
        ("subjects", "birth_day"),
        ("subjects", "birth_month"),
        ("asset_uses", "override_reason"),
        ("asset_uses", "accepted_reasons"),
    ):
        # Plain ALTER TABLE (SQLite 3.35+): a batch copy of `assets` would drop a table that others reference.
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
