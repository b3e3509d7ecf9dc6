"""The channel of each current consent in `consent_current`, with an index over the staff-declared ones, so the
dashboard's "resting only on a staff declaration" figure reads those rows instead of joining every current consent
to the ledger (seconds per page load at a million photos on SQLite).

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consent_current") as batch:
        batch.add_column(sa.Column("channel", sa.String(32), nullable=True))
    # Existing rows: the channel of the ledger entry each row points at.
    op.execute(
        "UPDATE consent_current SET channel = "
        "(SELECT c.channel FROM consent_ledger c WHERE c.seq = consent_current.seq)"
    )
    op.create_index(
        "ix_consent_current_staff",
        "consent_current",
        ["purpose_id", "subject_id"],
        sqlite_where=sa.text("channel = 'staff'"),
        postgresql_where=sa.text("channel = 'staff'"),
    )


def downgrade() -> None:
    op.drop_index("ix_consent_current_staff", table_name="consent_current")
    with op.batch_alter_table("consent_current") as batch:
        batch.drop_column("channel")
