"""Receipts as rows: one per consent change, written in its transaction and rendered after the commit.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from portal.backend.platform.db.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "receipts",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("subject_id", sa.String(length=36), sa.ForeignKey("subjects.id"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("summary", sa.String(length=32), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("entry_seqs", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False, server_default="pending"),
        sa.Column("issued_at", UTCDateTime()),
        sa.Column("json_key", sa.String(length=300)),
        sa.Column("pdf_key", sa.String(length=300)),
        sa.Column("error", sa.String(length=300)),
        sa.CheckConstraint("state IN ('pending', 'issued', 'failed')", name=op.f("ck_receipts_state")),
    )
    op.create_index("ix_receipts_subject", "receipts", ["subject_id", "created_at"])
    op.create_index("ix_receipts_state", "receipts", ["state"])


def downgrade() -> None:
    op.drop_index("ix_receipts_state", table_name="receipts")
    op.drop_index("ix_receipts_subject", table_name="receipts")
    op.drop_table("receipts")
