"""Notice at collection and the record of processing (the supervisory authority, recipients with their country),
and an index for the daily expiry.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

from portal.backend.platform.db.types import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_ORGANISATION = (("authority_name", 200), ("authority_url", 500))


def upgrade() -> None:
    for column, length in _ORGANISATION:
        op.add_column("organisation", sa.Column(column, sa.String(length), nullable=False, server_default=""))
    op.create_table(
        "recipients",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        # NULL: a processor or recipient for every purpose (the hosting provider, the e-mail provider).
        sa.Column("purpose_id", sa.Integer(), sa.ForeignKey("purposes.id")),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("service", sa.String(300), nullable=False, server_default=""),
        # Art. 46 safeguard; required only where `country` is outside the EU/EEA.
        sa.Column("transfer_safeguard", sa.String(300), nullable=False, server_default=""),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('recipient', 'processor')", name=op.f("ck_recipients_kind")),
        sa.UniqueConstraint("purpose_id", "name", name=op.f("uq_recipients_purpose_name")),
    )
    # The daily expiry reads lapsed consents as an index range (issue 17: no ledger scan under the lock).
    op.create_index("ix_consent_current_valid_until", "consent_current", ["valid_until"])
    # Data: W3C DPV codes of the standard purposes that older versions stored wrongly (dpv:ThirdPartySharing does
    # not exist; the other two misdescribed the purpose). Frozen here; portal/backend/consent/dpv.py explains them.
    for code, old, new in _DPV_FIXES:
        op.execute(
            sa.text("UPDATE purposes SET dpv_code = :new WHERE code = :code AND dpv_code = :old").bindparams(
                code=code, old=old, new=new
            )
        )


_DPV_FIXES = (
    ("internal", "dpv:InternalResourceOptimisation", "dpv:CommunicationManagement"),
    ("partners", "dpv:ThirdPartySharing", "dpv:PublicRelations"),
    ("face_matching", "dpv:IdentityVerification", "dpv:SearchFunctionalities"),
)


def downgrade() -> None:
    op.drop_index("ix_consent_current_valid_until", table_name="consent_current")
    op.drop_table("recipients")
    for column, _ in reversed(_ORGANISATION):
        # Plain ALTER TABLE (SQLite 3.35+): a batch copy would drop tables that others reference.
        op.execute(f"ALTER TABLE organisation DROP COLUMN {column}")
