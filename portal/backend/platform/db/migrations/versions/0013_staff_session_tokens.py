"""Staff sign-ins remembered by a browser (an HttpOnly cookie whose token is kept here only as a hash).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

from portal.backend.platform.db.types import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_session_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_stamp", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), unique=True),
        sa.Column("handoff_hash", sa.String(64), unique=True),
        sa.Column("handoff_expires_at", UTCDateTime()),
        sa.Column("kiosk_event_id", sa.Integer()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime()),
        sa.Column("revoked_at", UTCDateTime()),
        sa.Column("revoked_reason", sa.String(32)),
    )
    op.create_index("ix_staff_session_tokens_staff_id", "staff_session_tokens", ["staff_id"])


def downgrade() -> None:
    op.drop_index("ix_staff_session_tokens_staff_id", table_name="staff_session_tokens")
    op.drop_table("staff_session_tokens")
