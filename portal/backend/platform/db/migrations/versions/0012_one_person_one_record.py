"""One person, one record: a person merged into another, and choices from a second form waiting for confirmation.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

from portal.backend.platform.db.types import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_FK = "fk_subjects_merged_into_subjects"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its own REFERENCES clause; a batch copy would drop tables that reference subjects.
        op.execute(f"ALTER TABLE subjects ADD COLUMN merged_into VARCHAR(36) CONSTRAINT {_FK} REFERENCES subjects (id)")
    else:
        op.add_column("subjects", sa.Column("merged_into", sa.String(36), nullable=True))
        op.create_foreign_key(_FK, "subjects", "subjects", ["merged_into"], ["id"])
    op.add_column("subjects", sa.Column("merged_at", UTCDateTime(), nullable=True))
    op.create_table(
        "pending_changes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("subject_id", sa.String(36), sa.ForeignKey("subjects.id"), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("event_id", sa.Integer(), sa.ForeignKey("events.id")),
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("choices", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("guardian_name", sa.String(200)),
        sa.Column("submission_id", sa.String(64), unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime()),
    )
    op.create_index("ix_pending_changes_subject_id", "pending_changes", ["subject_id"])


def downgrade() -> None:
    op.drop_index("ix_pending_changes_subject_id", table_name="pending_changes")
    op.drop_table("pending_changes")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(_FK, "subjects", type_="foreignkey")
    # Plain ALTER TABLE (SQLite 3.35+): a batch copy would drop tables that others reference.
    op.execute("ALTER TABLE subjects DROP COLUMN merged_at")
    op.execute("ALTER TABLE subjects DROP COLUMN merged_into")
