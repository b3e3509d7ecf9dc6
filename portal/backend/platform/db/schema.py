"""The one schema definition (SQLAlchemy Core); migrations are checked against it by a test."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from portal.backend.platform.db.types import UTCDateTime

# Named constraints keep migrations reproducible on both databases.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ROLES = ("admin", "manager", "staff")
LEDGER_ACTIONS = ("given", "refused", "withdrawn", "renewed", "revoked", "expired")
CHANNELS = ("qr_form", "portal", "kiosk", "paper", "staff", "system")
DETECTION_KINDS = ("face", "person")
LINK_METHODS = ("manual", "match", "registration")
ANALYSIS_STATES = ("pending", "processing", "done", "failed")


def _in(column: str, values: tuple[str, ...]) -> str:
    """SQL CHECK expression restricting a column to a fixed set of strings."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


organisation = Table(
    "organisation",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("controller_name", String(200), nullable=False),
    Column("street", String(200), nullable=False, server_default=""),
    Column("postal_code", String(20), nullable=False, server_default=""),
    Column("locality", String(100), nullable=False, server_default=""),
    Column("country", String(2), nullable=False),
    Column("contact_email", String(254), nullable=False),
    Column("contact_phone", String(40), nullable=False, server_default=""),
    Column("dpo_name", String(200), nullable=False, server_default=""),
    Column("dpo_email", String(254), nullable=False, server_default=""),
    Column("policy_url", String(500), nullable=False, server_default=""),
    Column("age_of_consent", Integer),
    Column("consent_validity_days", Integer, nullable=False, server_default="730"),
    Column("languages", String(100), nullable=False, server_default="en,sv"),
    Column("matching_enabled", Boolean, nullable=False, server_default="0"),
    Column("is_demo", Boolean, nullable=False, server_default="0"),
    # The supervisory authority a person may complain to (Art. 13(2)(d)), named in the notice at collection.
    Column("authority_name", String(200), nullable=False, server_default=""),
    Column("authority_url", String(500), nullable=False, server_default=""),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

staff_users = Table(
    "staff_users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255)),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_sign_in_at", UTCDateTime),
    CheckConstraint(_in("role", ROLES), name="role"),
)

# A staff sign-in remembered by this browser: only SHA-256 hashes of the HttpOnly cookie's token and of the one-time
# code that sets it are kept. No foreign key: an account can still be deleted; the e-mail, role and password stamp
# taken at sign-in make a row useless once the account is removed, re-created, demoted or given a new password.
staff_session_tokens = Table(
    "staff_session_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("staff_id", Integer, nullable=False, index=True),
    Column("email", String(254), nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_stamp", String(64), nullable=False),
    Column("token_hash", String(64), unique=True),
    Column("handoff_hash", String(64), unique=True),
    Column("handoff_expires_at", UTCDateTime),
    # The event this sign-in runs a kiosk for: a reload of the tablet comes back to the form, not to staff pages.
    Column("kiosk_event_id", Integer),
    Column("created_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    Column("revoked_reason", String(32)),
    # 'embedded' or 'supabase'; a Supabase sign-in keeps its tokens here, encrypted (staff/remember.py).
    Column("provider", String(16), nullable=False, server_default="embedded"),
    Column("supabase_tokens", Text),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("actor", String(100), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target_type", String(32)),
    Column("target_id", String(64)),
    Column("detail", Text, nullable=False, server_default="{}"),
)

purposes = Table(
    "purposes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("dpv_code", String(64), nullable=False),
    Column("sort_order", Integer, nullable=False, server_default="0"),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("biometric", Boolean, nullable=False, server_default="0"),
    Column("third_party", Boolean, nullable=False, server_default="0"),
    Column("validity_days", Integer),
    Column("retention_days", Integer),
    Column("created_at", UTCDateTime, nullable=False),
)

RECIPIENT_KINDS = ("recipient", "processor")

# Who receives the data and where (Art. 13(1)(e)-(f), Art. 30(1)(d)-(e)): the record of processing and the notice
# are generated from these rows. A NULL purpose means every purpose (the hosting or e-mail provider).
recipients = Table(
    "recipients",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("purpose_id", Integer, ForeignKey("purposes.id")),
    Column("name", String(200), nullable=False),
    Column("country", String(2), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("service", String(300), nullable=False, server_default=""),
    # The Art. 46 safeguard; needed only where `country` is outside the EU/EEA.
    Column("transfer_safeguard", String(300), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint(_in("kind", RECIPIENT_KINDS), name="kind"),
    UniqueConstraint("purpose_id", "name", name="uq_recipients_purpose_name"),
)

purpose_texts = Table(
    "purpose_texts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("purpose_id", Integer, ForeignKey("purposes.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("locale", String(8), nullable=False),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("recipients", Text, nullable=False, server_default="[]"),
    Column("data_categories", Text, nullable=False, server_default="[]"),
    Column("text_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("purpose_id", "version", "locale", name="uq_purpose_texts_version_locale"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("starts_on", Date),
    Column("place", String(200), nullable=False, server_default=""),
    Column("qr_secret", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", Integer, ForeignKey("staff_users.id")),
)

event_purposes = Table(
    "event_purposes",
    metadata,
    Column("event_id", Integer, ForeignKey("events.id", ondelete="CASCADE"), primary_key=True),
    Column("purpose_id", Integer, ForeignKey("purposes.id"), primary_key=True),
)

subjects = Table(
    "subjects",
    metadata,
    # A random UUID: the pseudonymous id that the ledger keeps after erasure.
    Column("id", String(36), primary_key=True),
    Column("display_name", String(200)),
    Column("email", String(254)),
    Column("phone", String(40)),
    Column("locale", String(8), nullable=False, server_default="en"),
    Column("birth_year", Integer),
    # Month (and day) of birth when given: minority is computed from the latest birthday they allow (Art. 8).
    Column("birth_month", Integer),
    Column("birth_day", Integer),
    Column("is_minor", Boolean, nullable=False, server_default="0"),
    Column("guardian_name", String(200)),
    Column("guardian_verification", String(200)),
    Column("event_id", Integer, ForeignKey("events.id")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("erased_at", UTCDateTime),
    # When a personal link e-mailed to `email` was opened: only a confirmed address receives a new link on request.
    Column("email_confirmed_at", UTCDateTime),
    # A duplicate merged into another person (its ledger stays under its own id; the kept person's history follows
    # this column); its personal fields are cleared like an erasure's, and it is left out of every list and job.
    Column("merged_into", String(36), ForeignKey("subjects.id")),
    Column("merged_at", UTCDateTime),
)
Index("ix_subjects_display_name", subjects.c.display_name)

# Choices from a second form with an already confirmed address: they wait here until the person confirms them
# through the link e-mailed to that address (one use, `expires_at`); erasure deletes them.
pending_changes = Table(
    "pending_changes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("subject_id", String(36), ForeignKey("subjects.id"), nullable=False, index=True),
    Column("channel", String(16), nullable=False),
    Column("event_id", Integer, ForeignKey("events.id")),
    Column("locale", String(8), nullable=False),
    # JSON object: purpose code -> True (given) / False (refused), as ticked on the form.
    Column("choices", Text, nullable=False),
    # JSON object: the form's evidence (the kiosk's staff member), completed when the person confirms.
    Column("evidence", Text, nullable=False, server_default="{}"),
    Column("guardian_name", String(200)),
    Column("submission_id", String(64), unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
)

# Personal text that proves a consent but must not outlive the person (R12, Art. 17): the ledger's evidence holds
# only HMACs under this per-person salt; erasure deletes the row, so the HMACs can no longer be linked to anyone.
subject_private = Table(
    "subject_private",
    metadata,
    Column("subject_id", String(36), ForeignKey("subjects.id"), primary_key=True),
    Column("salt", String(64), nullable=False),
    # JSON object: HMAC of a note -> the note's text (a note on a paper form, a staff entry).
    Column("notes", Text, nullable=False, server_default="{}"),
    Column("created_at", UTCDateTime, nullable=False),
)

subject_links = Table(
    "subject_links",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("subject_id", String(36), ForeignKey("subjects.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    # Set for a link that exists only in an e-mail to the person's address: opening it confirms that address.
    Column("emailed_at", UTCDateTime),
)

subject_templates = Table(
    "subject_templates",
    metadata,
    Column("subject_id", String(36), ForeignKey("subjects.id"), primary_key=True),
    Column("template", LargeBinary, nullable=False),
    Column("model", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

assets = Table(
    "assets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("blob_key", String(300), nullable=False),
    Column("thumb_key", String(300)),
    Column("filename", String(300), nullable=False),
    Column("content_type", String(64), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("taken_at", UTCDateTime),
    Column("uploaded_at", UTCDateTime, nullable=False),
    Column("uploaded_by", Integer, ForeignKey("staff_users.id")),
    Column("event_id", Integer, ForeignKey("events.id"), index=True),
    Column("analysis_state", String(16), nullable=False, server_default="pending"),
    Column("analysis_error", Text),
    Column("analyzed_at", UTCDateTime),
    # Which detectors looked at it (e.g. "dlib-hog,yolo"): without a person detector, risk says so.
    Column("detectors", String(64)),
    # When the matching batch last compared this photo's unlinked faces with the enrolled people.
    Column("matched_at", UTCDateTime),
    # When the daily job found the photo past the retention of every purpose (R17), for a manager to review.
    Column("retention_flagged_at", UTCDateTime),
    # Deleted past retention: the files and detections are gone, the row stays for the ledger's references.
    Column("deleted_at", UTCDateTime),
    CheckConstraint(_in("analysis_state", ANALYSIS_STATES), name="analysis_state"),
)
Index("ix_assets_analysis_state", assets.c.analysis_state)

asset_uses = Table(
    "asset_uses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("asset_id", Integer, ForeignKey("assets.id"), nullable=False, index=True),
    Column("purpose_id", Integer, ForeignKey("purposes.id"), nullable=False),
    Column("place", String(300), nullable=False),
    Column("since", UTCDateTime, nullable=False),
    Column("until", UTCDateTime),
    Column("created_by", Integer, ForeignKey("staff_users.id")),
    # Risk reasons (bit mask) an admin accepted when publishing despite them; only new reasons open a takedown.
    Column("accepted_reasons", Integer, nullable=False, server_default="0"),
    Column("override_reason", String(300)),
)

# Work a change left for staff: take a publication down, or tell a partner who received the photo (Art. 17(2),
# 19). Opened in the transaction of the change; a takedown closes when the publication is ended.
takedowns = Table(
    "takedowns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("use_id", Integer, ForeignKey("asset_uses.id"), nullable=False),
    Column("asset_id", Integer, ForeignKey("assets.id"), nullable=False, index=True),
    Column("purpose_id", Integer, ForeignKey("purposes.id"), nullable=False),
    Column("reasons", Integer, nullable=False, server_default="0"),  # risk_index.REASON_BITS when it opened
    Column("cause", String(32), nullable=False),  # consent, erasure, expiry, text_replaced, link, ...
    Column("opened_at", UTCDateTime, nullable=False),
    # "<kind>:<use_id>" while open, NULL once closed: at most one open task of a kind per publication.
    Column("open_key", String(40), unique=True),
    Column("closed_at", UTCDateTime, index=True),
    Column("closed_by", String(100)),
    Column("closed_note", String(300)),
    CheckConstraint(_in("kind", ("takedown", "notify_partner")), name="kind"),
)

detections = Table(
    "detections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("asset_id", Integer, ForeignKey("assets.id"), nullable=False, index=True),
    Column("kind", String(8), nullable=False),
    # Box relative to the EXIF-oriented image, each value in [0, 1].
    Column("x", Float, nullable=False),
    Column("y", Float, nullable=False),
    Column("w", Float, nullable=False),
    Column("h", Float, nullable=False),
    Column("score", Float),
    Column("detector", String(32), nullable=False),
    Column("template", LargeBinary),
    Column("subject_id", String(36), ForeignKey("subjects.id"), index=True),
    Column("link_method", String(16)),
    Column("link_status", String(16)),
    Column("link_distance", Float),
    Column("confirmed_by", Integer, ForeignKey("staff_users.id")),
    Column("confirmed_at", UTCDateTime),
    Column("identifiable", Boolean, nullable=False, server_default="1"),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint(_in("kind", DETECTION_KINDS), name="kind"),
    CheckConstraint(f"link_method IS NULL OR {_in('link_method', LINK_METHODS)}", name="link_method"),
    CheckConstraint(
        f"link_status IS NULL OR {_in('link_status', ('suggested', 'confirmed', 'rejected'))}", name="link_status"
    ),
)

consent_ledger = Table(
    "consent_ledger",
    metadata,
    # seq is assigned under the chain lock, so it is gapless: a gap means a deleted entry.
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("entry_id", String(36), nullable=False, unique=True),
    Column("subject_id", String(36), ForeignKey("subjects.id"), nullable=False),
    Column("purpose_id", Integer, ForeignKey("purposes.id"), nullable=False),
    Column("action", String(16), nullable=False),
    Column("scope_asset_id", Integer, ForeignKey("assets.id")),
    Column("text_version", Integer, nullable=False),
    Column("text_locale", String(8), nullable=False),
    Column("text_hash", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("event_id", Integer, ForeignKey("events.id")),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("valid_until", UTCDateTime),
    Column("evidence", Text, nullable=False, server_default="{}"),
    Column("idempotency_key", String(120), unique=True),
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False),
    CheckConstraint(_in("action", LEDGER_ACTIONS), name="action"),
    CheckConstraint(_in("channel", CHANNELS), name="channel"),
)
Index("ix_consent_ledger_status", consent_ledger.c.subject_id, consent_ledger.c.purpose_id, consent_ledger.c.seq)
Index("ix_consent_ledger_scope", consent_ledger.c.scope_asset_id)

# Projections for the risk index (portal/backend/risk/index.py): derived from the ledger and the detections in
# the same transaction as each change, and rebuildable from them at any time.
consent_current = Table(
    "consent_current",
    metadata,
    Column("subject_id", String(36), ForeignKey("subjects.id"), primary_key=True),
    Column("purpose_id", Integer, ForeignKey("purposes.id"), primary_key=True),
    # 0 for a general choice, else the asset id: a primary key cannot hold NULL.
    Column("scope_key", Integer, primary_key=True, autoincrement=False),
    Column("scope_asset_id", Integer),
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("action", String(16), nullable=False),
    Column("text_version", Integer, nullable=False),
    Column("valid_until", UTCDateTime),
    Column("channel", String(32)),  # the entry's channel: 'staff' marks a consent resting on a staff declaration
)
# The daily expiry reads lapsed consents as a range of this index instead of scanning the ledger under its lock.
Index("ix_consent_current_valid_until", consent_current.c.valid_until)
# The dashboard counts staff-declared consents from these rows alone (few, next to every current consent).
Index(
    "ix_consent_current_staff",
    consent_current.c.purpose_id,
    consent_current.c.subject_id,
    sqlite_where=consent_current.c.channel == "staff",
    postgresql_where=consent_current.c.channel == "staff",
)

asset_risk = Table(
    "asset_risk",
    metadata,
    Column("asset_id", Integer, ForeignKey("assets.id"), primary_key=True, autoincrement=False),
    Column("purpose_id", Integer, ForeignKey("purposes.id"), primary_key=True, autoincrement=False),
    Column("event_id", Integer),
    Column("reasons", Integer, nullable=False),  # bit mask of risk_index.REASON_BITS; 0 = covered
    Column("until", UTCDateTime),  # when the earliest consent covering the photo lapses
)
Index("ix_asset_risk_purpose", asset_risk.c.purpose_id, asset_risk.c.reasons)
# The summary reads the rows whose cover lapses on a window's boundary day as a range of this index.
Index("ix_asset_risk_until", asset_risk.c.until)

# Counters of the index per (event, purpose, reason mask, UTC day the cover lapses): signed deltas, only ever
# inserted in the transaction that changes the index rows, folded by the daily job (portal/backend/risk/counts.py).
risk_counts = Table(
    "risk_counts",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("event_id", Integer),
    Column("purpose_id", Integer, nullable=False),
    Column("reasons", Integer, nullable=False),
    Column("until_day", Integer),  # days since 1970-01-01 (UTC) of asset_risk.until; NULL: never lapses
    Column("n", Integer, nullable=False),  # photos; negative in a delta row
)
# Covering, in the summary's grouping order: the summary streams through it without sorting.
Index(
    "ix_risk_counts_key",
    risk_counts.c.event_id,
    risk_counts.c.purpose_id,
    risk_counts.c.reasons,
    risk_counts.c.until_day,
    risk_counts.c.n,
)

# One row per day and purpose, written by the daily job: consent coverage over time for the dashboard.
risk_snapshots = Table(
    "risk_snapshots",
    metadata,
    Column("day", String(10), primary_key=True),  # ISO date (UTC): compares the same on both databases
    Column("purpose_id", Integer, ForeignKey("purposes.id"), primary_key=True, autoincrement=False),
    Column("with_people", Integer, nullable=False),
    Column("at_risk", Integer, nullable=False),
    Column("critical", Integer, nullable=False),
)

# The chain head: one row, locked by every append so concurrent writers queue instead of forking.
ledger_head = Table(
    "ledger_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("entry_hash", String(64), nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

# Every head the portal ever signed (append-only): an Ed25519 signature, with a key held outside the database, over
# the head's seq and hash, the head it extended and the previous signature's digest. Whoever holds the database but
# not the key cannot sign a rewritten chain; kept for ever, so moving the head back to an older one shows.
ledger_heads = Table(
    "ledger_heads",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("entry_hash", String(64), nullable=False),
    # The head this append extended: equal to the previous signed head unless someone moved it behind our back.
    Column("base_seq", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("base_hash", String(64), nullable=False),
    # SHA-256 (hex) of the previous signed head's signature; empty for the first.
    Column("prev_signature", String(64), nullable=False, server_default=""),
    Column("key_id", String(16), nullable=False),
    Column("signed_at", UTCDateTime, nullable=False),
    # True only for the head signed when an existing ledger was first put under signatures (migration 0007).
    Column("adopted", Boolean, nullable=False, server_default="0"),
    Column("signature", String(100), nullable=False),
)

# A `ledger verify` that found entries 1..seq intact, signed with the ledger key: the next verify may start after
# it (`ledger verify --full` ignores it). Whoever writes the database without the key cannot forge one, so it cannot
# make a verify skip entries; the newest by seq is the one used.
ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), nullable=False, index=True),
    Column("entry_hash", String(64), nullable=False),
    Column("head_digest", String(64), nullable=False),  # SignedHead.digest() of the signed head at seq
    Column("key_id", String(16), nullable=False),
    Column("verified_at", UTCDateTime, nullable=False),
    Column("signature", String(100), nullable=False),
)

# 'done' is a staff task carried out, 'sent' an e-mail delivered, 'sending' claimed by a sender.
OUTBOX_STATUSES = ("pending", "sending", "sent", "done", "failed", "cancelled")
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("recipient", String(254)),
    Column("subject_id", String(36), ForeignKey("subjects.id")),
    Column("asset_id", Integer, ForeignKey("assets.id")),
    Column("payload", Text, nullable=False, server_default="{}"),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("dedupe_key", String(200), unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("processed_at", UTCDateTime),
    # Delivery of e-mail (portal/backend/ops/mailer.py): a sender claims a row ('sending') with a token and a lease
    # (claimed_until), so a crashed sender's row is taken again once the lease has passed; tries are counted and the
    # next one waits (next_attempt_at); the reason of the last failure is kept, never a secret.
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime),
    Column("claim_token", String(36)),
    Column("claimed_until", UTCDateTime),
    Column("last_error", String(300)),
    Column("sent_at", UTCDateTime),
    CheckConstraint(_in("status", OUTBOX_STATUSES), name="status"),
)
Index("ix_outbox_status", outbox.c.status)

# One row per receipt the portal owes a person, written in the transaction of the consent change it documents; the
# PDF and JSON are rendered after the commit (never inside the ledger lock) and `pending` rows are issued again by
# the daily job, so a crash between the two loses no receipt.
receipts = Table(
    "receipts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("subject_id", String(36), ForeignKey("subjects.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("actor", String(100), nullable=False),
    # What the receipt documents, for its label on the personal page: given, refused, withdrawn, renewed, mixed.
    Column("summary", String(32), nullable=False),
    Column("locale", String(8), nullable=False),
    # The ledger sequence numbers it covers, as a JSON list.
    Column("entry_seqs", Text, nullable=False),
    Column("state", String(16), nullable=False, server_default="pending"),
    Column("issued_at", UTCDateTime),
    Column("json_key", String(300)),
    Column("pdf_key", String(300)),
    Column("error", String(300)),
    CheckConstraint(_in("state", ("pending", "issued", "failed")), name="state"),
)
Index("ix_receipts_subject", receipts.c.subject_id, receipts.c.created_at)
Index("ix_receipts_state", receipts.c.state)

APPEND_ONLY_TABLES = ("consent_ledger", "purpose_texts", "ledger_heads")
