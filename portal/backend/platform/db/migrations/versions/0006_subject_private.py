"""Personal text out of the ledger: a per-person salt and the plain text of notes, deleted on erasure.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from portal.backend.platform.db.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Entries written before this revision keep the plain evidence they were hashed with (the chain forbids
    # rewriting them); from now on the ledger holds HMACs under the salt kept here.
    op.create_table(
        "subject_private",
        sa.Column("subject_id", sa.String(length=36), sa.ForeignKey("subjects.id"), primary_key=True),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("subject_private")
