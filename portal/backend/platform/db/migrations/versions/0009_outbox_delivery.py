"""E-mail delivery: outbox rows claimed with a lease, tries counted with backoff, 'sending' and 'sent' states.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from portal.backend.platform.db.types import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_OLD_STATUSES = ("pending", "done", "failed", "cancelled")
_NEW_STATUSES = ("pending", "sending", "sent", "done", "failed", "cancelled")


def _check(statuses: Sequence[str]) -> str:
    """The status CHECK expression, as schema.py writes it."""
    return f"status IN ({', '.join(repr(s) for s in statuses)})"


def _delivery_columns() -> list[sa.Column]:
    """The columns this revision adds."""
    return [
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("claim_token", sa.String(length=36), nullable=True),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
    ]


def _outbox(statuses: Sequence[str], *, delivery: bool) -> sa.Table:
    """The outbox as it is before (or after) this revision, spelled out: SQLite changes a CHECK by copying the table,
    and the copy is made from this, never from today's schema or a reflection that may drop the CHECK."""
    return sa.Table(
        "outbox",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=True),
        sa.Column(
            "subject_id", sa.String(length=36), sa.ForeignKey("subjects.id", name="fk_outbox_subject_id_subjects")
        ),
        sa.Column("asset_id", sa.Integer(), sa.ForeignKey("assets.id", name="fk_outbox_asset_id_assets")),
        sa.Column("payload", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("status", sa.String(length=16), nullable=False, server_default="pending"),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("processed_at", UTCDateTime(), nullable=True),
        *(_delivery_columns() if delivery else []),
        sa.CheckConstraint(_check(statuses), name="ck_outbox_status"),
        sa.UniqueConstraint("dedupe_key", name="uq_outbox_dedupe_key"),
        sa.Index("ix_outbox_status", "status"),
    )


def upgrade() -> None:
    # The outbox is referenced by no other table, so SQLite may copy it (batch mode) to change its CHECK;
    # PostgreSQL alters it in place.
    with op.batch_alter_table("outbox", copy_from=_outbox(_OLD_STATUSES, delivery=False)) as batch:
        for column in _delivery_columns():
            batch.add_column(column)
        batch.drop_constraint(op.f("ck_outbox_status"), type_="check")
        batch.create_check_constraint(op.f("ck_outbox_status"), _check(_NEW_STATUSES))


def downgrade() -> None:
    # The older version knows no 'sending' or 'sent': a sent e-mail was 'done', a claimed one is waiting again.
    op.execute("UPDATE outbox SET status = 'done' WHERE status = 'sent'")
    op.execute("UPDATE outbox SET status = 'pending' WHERE status = 'sending'")
    with op.batch_alter_table("outbox", copy_from=_outbox(_NEW_STATUSES, delivery=True)) as batch:
        batch.drop_constraint(op.f("ck_outbox_status"), type_="check")
        batch.create_check_constraint(op.f("ck_outbox_status"), _check(_OLD_STATUSES))
        for column in reversed(_delivery_columns()):
            batch.drop_column(column.name)
