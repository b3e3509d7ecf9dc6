"""E-mail confirmation: when a person's address was confirmed, and which personal links were sent by e-mail.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from portal.backend.platform.db.types import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_COLUMNS = (("subjects", "email_confirmed_at"), ("subject_links", "emailed_at"))


def upgrade() -> None:
    for table, column in _COLUMNS:
        op.add_column(table, sa.Column(column, UTCDateTime(), nullable=True))


def downgrade() -> None:
    for table, column in reversed(_COLUMNS):
        # Plain ALTER TABLE (SQLite 3.35+): a batch copy would drop tables that others reference.
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
