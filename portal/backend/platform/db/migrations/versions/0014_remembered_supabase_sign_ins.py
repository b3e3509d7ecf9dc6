"""Supabase Auth sign-ins remembered like embedded ones: the row's provider and its Supabase tokens, encrypted.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_session_tokens") as batch:
        batch.add_column(sa.Column("provider", sa.String(16), nullable=False, server_default="embedded"))
        # AES-GCM under a key derived from PORTAL_SECRET_KEY: a copy of the database alone opens no Supabase session.
        batch.add_column(sa.Column("supabase_tokens", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("staff_session_tokens") as batch:
        batch.drop_column("supabase_tokens")
        batch.drop_column("provider")
