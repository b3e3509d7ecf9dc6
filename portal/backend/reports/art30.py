"""The Art. 30(1) record of processing, built from what the portal really holds and how this deployment runs.

Personal-data categories come from the schema through `PERSONAL_DATA` (every column of every table is either mapped
to a category or listed in `NOT_PERSONAL`; a test fails on a new column that is neither). Recipients come from the
`recipients` table plus the processors the settings imply; transfers are listed only for recipients outside the
EU/EEA; security measures are checked against the running database (SQLite file mode, PostgreSQL row-level
security and the role the portal connects as). Nothing here is a claim the code does not back.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, MetaData, text
from sqlalchemy.engine import make_url

from portal.backend.consent import dpv
from portal.backend.consent.purposes import Purpose, current_texts, list_purposes
from portal.backend.ops.jobs import SCRUB_DAYS
from portal.backend.photos.retention import retention_days
from portal.backend.platform.config import Settings
from portal.backend.platform.db import migrate
from portal.backend.platform.db.engine import Database
from portal.backend.platform.organisation import Organisation, get_organisation
from portal.backend.staff.recipients import EU_EEA, Recipient, configured_processors, list_recipients


@dataclass(frozen=True)
class Category:
    """A category of personal data as the record names it; `activity` says which processing uses it."""

    key: str
    label: str
    activity: str  # "photos" (every photo purpose), "biometric", "consent" (administration) or "staff"
    special: str = ""  # why it is special or sensitive (Art. 8, Art. 9), empty when it is not
    dpv: str = ""  # a DPV-PD code, only where consent/dpv.py lists one as verified


CATEGORIES: tuple[Category, ...] = (
    Category(
        "photo",
        "Photos in which people can be recognised, with file name, date taken and checksum",
        "photos",
        dpv=dpv.PICTURE,
    ),
    Category("faces", "Positions of faces and people in photos, and which person a face is linked to", "photos"),
    Category("publication", "Where, for which purpose and since when a photo is published; takedown tasks", "photos"),
    Category(
        "biometric",
        "Face templates computed from a selfie or a photo (biometric data)",
        "biometric",
        special="Art. 9 special category",
        dpv=dpv.FACIAL_PRINT,
    ),
    Category("name", "Name", "consent"),
    Category("contact", "E-mail address and phone number", "consent"),
    Category("language", "Preferred language", "consent"),
    Category(
        "age",
        "Date of birth (or year) and whether the person is a child",
        "consent",
        special="children's data (Art. 8)",
    ),
    Category("guardian", "Guardian's name and how the guardian was verified", "consent"),
    Category("notes", "Free-text notes by staff, and the salt that pseudonymises them in the ledger", "consent"),
    Category("event", "Which event the person registered at", "consent"),
    Category(
        "consent",
        "Consent decisions: purpose, decision, time, channel, text version, validity, evidence "
        "(ticked box, signature, paper scan) and receipts",
        "consent",
    ),
    Category("links", "Personal links (random identifiers) and when they were sent or revoked", "consent"),
    Category("messages", "E-mail messages to the person: address, content, status", "consent"),
    Category("staff", "Staff accounts and sign-in sessions: name, e-mail, role, password hash, session times", "staff"),
    Category("activity", "Who did what to which record, and when (audit log, actor of ledger entries)", "staff"),
)
_CATEGORY = {c.key: c for c in CATEGORIES}


def _cols(category: str, names: str) -> dict[str, str]:
    """Map space-separated column names to one category."""
    return dict.fromkeys(names.split(), category)


# table -> column -> category. Keys and ids that only point at other rows count as personal where they single out
# a person (a subject id), not where they point at a photo or a purpose.
PERSONAL_DATA: dict[str, dict[str, str]] = {
    "subjects": {
        **_cols("name", "id display_name merged_into merged_at created_at erased_at"),
        **_cols("contact", "email phone email_confirmed_at"),
        **_cols("language", "locale"),
        **_cols("age", "birth_year birth_month birth_day is_minor"),
        **_cols("guardian", "guardian_name guardian_verification"),
        **_cols("event", "event_id"),
    },
    "subject_private": _cols("notes", "subject_id salt notes created_at"),
    "subject_links": _cols("links", "id subject_id created_at expires_at revoked_at emailed_at"),
    "subject_templates": _cols("biometric", "subject_id template model created_at"),
    "pending_changes": {
        **_cols("consent", "subject_id channel choices evidence submission_id created_at expires_at used_at"),
        **_cols("guardian", "guardian_name"),
        **_cols("language", "locale"),
        **_cols("event", "event_id"),
    },
    "assets": _cols("photo", "sha256 blob_key thumb_key filename taken_at width height bytes content_type"),
    "detections": {
        **_cols(
            "faces",
            "x y w h kind score subject_id link_method link_status link_distance confirmed_by "
            "confirmed_at identifiable",
        ),
        **_cols("biometric", "template"),
    },
    "asset_uses": _cols("publication", "place since until override_reason"),
    "takedowns": _cols("publication", "opened_at closed_at closed_by closed_note cause"),
    "consent_ledger": {
        **_cols(
            "consent",
            "subject_id purpose_id action scope_asset_id text_version text_hash channel recorded_at "
            "valid_until evidence entry_id idempotency_key",
        ),
        **_cols("language", "text_locale"),
        **_cols("event", "event_id"),
        **_cols("activity", "actor"),
    },
    "consent_current": _cols("consent", "subject_id purpose_id scope_asset_id action text_version valid_until channel"),
    "receipts": {
        **_cols("consent", "id subject_id created_at channel summary entry_seqs issued_at json_key pdf_key"),
        **_cols("language", "locale"),
        **_cols("activity", "actor"),
    },
    "outbox": _cols("messages", "recipient subject_id payload status created_at processed_at sent_at last_error"),
    "staff_users": _cols("staff", "id email display_name role password_hash active created_at last_sign_in_at"),
    "staff_session_tokens": _cols(
        "staff",
        "staff_id email role password_stamp token_hash handoff_hash handoff_expires_at created_at ends_at "
        "last_seen_at revoked_at revoked_reason supabase_tokens",
    ),
    "audit_log": _cols("activity", "at actor action target_type target_id detail"),
}

# table -> columns that hold no personal data ("*": the whole table). Configuration, keys that point at photos or
# purposes, hashes of the ledger chain (they identify no one), processing state and aggregate figures.
NOT_PERSONAL: dict[str, str] = {
    "organisation": "*",  # the controller's own details, published on every form
    "purposes": "*",
    "purpose_texts": "*",
    "recipients": "*",
    "events": "*",
    "event_purposes": "*",
    "risk_snapshots": "*",  # counts per day and purpose
    "asset_risk": "*",  # why a photo is at risk, per purpose: derived from the consents above
    "risk_counts": "*",  # how many photos per event, purpose, reasons and lapse day: counts only
    "ledger_head": "*",
    "ledger_heads": "*",
    "ledger_checkpoints": "*",  # the seq and hash a full verification reached, signed
    "subjects": "",
    "subject_private": "",
    "subject_links": "",
    "subject_templates": "",
    "pending_changes": "id",
    "assets": "id uploaded_at uploaded_by event_id analysis_state analysis_error analyzed_at detectors matched_at "
    "retention_flagged_at deleted_at",
    "detections": "id asset_id detector created_at",
    "asset_uses": "id asset_id purpose_id created_by accepted_reasons",
    "takedowns": "id kind use_id asset_id purpose_id reasons open_key",
    "consent_ledger": "seq prev_hash entry_hash",
    "consent_current": "scope_key seq",
    "receipts": "state error",
    "outbox": "id kind asset_id dedupe_key attempts next_attempt_at claim_token claimed_until",
    "staff_users": "",
    "staff_session_tokens": "id kiosk_event_id provider",
    "audit_log": "id",
}


def unmapped_columns(meta: MetaData) -> list[str]:
    """`table.column` of every column neither mapped to a category nor declared free of personal data, and of every
    mapping that names a column the schema does not have (both mean this module is out of date)."""
    problems = []
    for table in meta.sorted_tables:
        mapped = PERSONAL_DATA.get(table.name, {})
        spec = NOT_PERSONAL.get(table.name)
        plain = set() if spec is None or spec == "*" else set(spec.split())
        names = {c.name for c in table.columns}
        for name in sorted(names):
            known = spec == "*" or name in mapped or name in plain
            if not known or (name in mapped and (name in plain or spec == "*")):
                problems.append(f"{table.name}.{name}")
        problems += [f"{table.name}.{n} (no such column)" for n in sorted((set(mapped) | plain) - names)]
    return problems


def category_sources() -> dict[str, list[str]]:
    """Category key -> the `table.column`s that hold it, in schema order."""
    out: dict[str, list[str]] = {c.key: [] for c in CATEGORIES}
    for table, columns in PERSONAL_DATA.items():
        for column, key in columns.items():
            out[key].append(f"{table}.{column}")
    return out


# What each standard purpose is for, as the record describes it (the consent wording is written for the person).
RECORD_PURPOSES: dict[str, str] = {
    "internal": "Showing photos of people inside the organisation (intranet, internal newsletters, office screens).",
    "website": "Publishing photos of people on the organisation's public website, without their names.",
    "social_media": "Posting photos of people on the organisation's own social-media accounts.",
    "print": "Using photos of people in the organisation's printed material (brochures, posters, reports).",
    "partners": "Giving photos of people to named event partners, who use them only to report on the joint event.",
    "face_matching": "Finding a person's photos by comparing a template of their face with the faces in the photo "
    "library, instead of staff searching by hand.",
}


def _purpose_description(p: Purpose) -> str:
    """The record's description of a purpose; generated from its flags for a purpose the portal did not ship."""
    if p.code in RECORD_PURPOSES:
        return RECORD_PURPOSES[p.code]
    concept = dpv.PURPOSE_CATEGORIES.get(p.dpv_code)
    what = concept.label("en").lower() if concept else p.code.replace("_", " ")
    shared = "; photos are given to the recipients named below" if p.third_party else ""
    return f"Using photos of people for {what}{shared}."


@dataclass(frozen=True)
class Activity:
    """One processing activity of the record."""

    name: str
    code: str
    description: str
    basis: str
    subjects: str
    categories: list[str]
    recipients: list[Recipient]
    time_limits: list[str]
    dpv: str = ""


@dataclass(frozen=True)
class Record:
    """Everything the Art. 30 PDF shows; `version` hashes all of it but the date."""

    org: Organisation
    address: str
    activities: list[Activity]
    categories: list[dict[str, Any]]
    subject_categories: list[str]
    recipients: list[Recipient]
    transfers: list[Recipient]
    time_limits: list[str]
    measures: list[str]
    deployment: str
    revision: str
    warnings: list[str] = field(default_factory=list)
    version: str = ""


def _basis(p: Purpose, age: int) -> str:
    """The lawful basis of a consent purpose."""
    if p.biometric:
        return "Explicit consent, Art. 6(1)(a) and Art. 9(2)(a) GDPR (biometric data)"
    return f"Consent, Art. 6(1)(a) GDPR; below the age of {age} given by a guardian (Art. 8)"


def _for_purpose(stored: list[Recipient], code: str | None) -> list[Recipient]:
    """Stored recipients of one purpose (code None: the rows for every purpose)."""
    return [r for r in stored if r.purpose == code]


def _days(n: int) -> str:
    """'N days (about Y years)' for long periods."""
    return f"{n} days" + (f" (about {n / 365:.1f} years)" if n >= 365 else "")


def _sqlite_measure(url: str) -> str:
    """What protects the SQLite file, read from the file itself."""
    database = make_url(url).database or ""
    path = Path(database)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return f"Database: a SQLite file ({path.name}) on the portal's server; its permissions could not be read."
    others = "readable by other users of the server" if mode & 0o044 else "readable only by the portal's user"
    return (
        f"Database: a SQLite file on the portal's server, file mode {mode:04o} ({others}); no network access to the "
        "database; no row-level security (SQLite has none): the operating system's access control is the boundary."
    )


def _postgres_measures(conn: Connection, settings: Settings) -> list[str]:
    """Row-level security and the connecting role, as the database reports them now."""
    total, secured = conn.execute(
        text(
            "SELECT count(*), count(*) FILTER (WHERE c.relrowsecurity) FROM pg_class c "
            "WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) "
            "AND c.relkind IN ('r', 'p')"
        )
    ).one()
    role, superuser, bypass = conn.execute(
        text("SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
    ).one()
    measures = [
        f"Database: PostgreSQL with row-level security switched on for {secured} of {total} tables; the API roles "
        "of a Supabase project (anon, authenticated) are granted nothing, checked after every schema upgrade.",
    ]
    if role == settings.app_role and not superuser and not bypass:
        measures.append(
            f"The portal connects as the role {role}: data access only, no schema changes, no bypass "
            "of row-level security."
        )
    else:
        measures.append(
            f"The portal connects as the role {role}, which is not the least-privilege role "
            f"{settings.app_role}" + (" and bypasses row-level security" if superuser or bypass else "") + "."
        )
    return measures


def _measures(conn: Connection, settings: Settings, dialect: str) -> list[str]:
    """Security measures (Art. 32) of this deployment, each backed by the code or read from the database."""
    measures = [_sqlite_measure(settings.database_url)] if dialect == "sqlite" else _postgres_measures(conn, settings)
    if settings.blob_backend == "supabase":
        measures.append(
            f"Photos, receipts and scans in a private Supabase Storage bucket ({settings.supabase_bucket}); the "
            f"browser sees them only through signed links valid for {settings.signed_url_seconds} seconds."
        )
    else:
        measures.append("Photos, receipts and scans as files in the portal's data folder on its server.")
    measures += [
        "Consent decisions in an append-only ledger: the database rejects changes and deletions of its rows, each "
        "entry carries the hash of the one before, and the head of the chain is signed with an Ed25519 key kept "
        "outside the database; `ledger verify` recomputes the chain and checks the signatures.",
        "Guardian details and staff notes enter the ledger only as salted HMACs; the text and the salt live in a "
        "row that erasure deletes.",
        (
            "Staff sign in through Supabase Auth; roles (staff, manager, admin) come from the portal's database."
            if settings.auth_backend == "supabase"
            else "Staff sign in with passwords stored as scrypt hashes; roles (staff, manager, admin) limit what "
            "each may do."
        ),
        f"Staff sign-ins end after {settings.session_hours} hours at the latest.",
        "Staff actions that change people's data or consents, erasures, exports and settings changes are written "
        "to an audit log (what staff only look at is not logged).",
        "Personal links and QR codes carry signed tokens; personal links expire and can be revoked.",
        "Face templates are stored only with explicit consent and deleted when it is withdrawn or lapses; "
        "selfies are not stored.",
        "Publishing a photo is refused while someone in it lacks valid consent for that purpose, unless an admin "
        "overrides with a recorded reason; the portal itself does not blur published photos.",
        "Erasure blurs the person's face in the stored originals, deletes their renditions, template, receipts and "
        "notes, and overwrites the freed database pages"
        + (" (SQLite secure_delete)." if dialect == "sqlite" else f" (VACUUM, repeated daily for {SCRUB_DAYS} days)."),
    ]
    if settings.is_production:
        measures.append(
            "Production mode: the portal refuses to start without an https:// address, with demo secrets or "
            "demo data, and refuses unencrypted SMTP except to a relay on the same machine."
        )
    else:
        measures.append(
            f"This deployment runs in {settings.environment} mode: the production checks (https:// address, no "
            "demo secrets or data, encrypted SMTP) are not enforced."
        )
    return measures


def _deployment(settings: Settings, dialect: str) -> str:
    """One line saying how this portal runs."""
    database = "PostgreSQL" + (" (Supabase)" if "supabase." in settings.database_url else "")
    parts = [
        f"database {'SQLite' if dialect == 'sqlite' else database}",
        f"files {'Supabase Storage' if settings.blob_backend == 'supabase' else 'local folder'}",
        f"staff sign-in {'Supabase Auth' if settings.auth_backend == 'supabase' else 'portal accounts'}",
        f"e-mail {'via ' + settings.smtp_host if settings.smtp_configured else 'not sent (no SMTP server set)'}",
        f"{settings.environment} mode",
    ]
    return "; ".join(parts)


def _time_limits(conn: Connection, org: Organisation, settings: Settings, purposes: list[Purpose]) -> list[str]:
    """Retention and erasure limits the code enforces (and what it keeps without a limit)."""
    archive = retention_days(conn)
    limits = [
        f"Consent lapses after {org.consent_validity_days} days unless renewed (some purposes set their own period, "
        "see above); renewal is asked by e-mail before it lapses, and the daily job records lapsed consents as "
        "expired.",
        (
            f"Photos: after {_days(archive)} (the longest retention period of the photo purposes) from the date "
            "taken or uploaded, a photo is flagged for a manager, who deletes it; deletion is not automatic."
            if archive
            else "Photos: no retention period is set on any purpose, so photos are kept until staff delete them."
        ),
        "Face templates: deleted at once when face-matching consent is withdrawn, lapses or the person is erased.",
        "Erasure on request (Art. 17): carried out at once when staff record it: name, contact details, birth date, "
        "guardian details, notes, template, receipts, personal links and pending messages are removed, the faces "
        "are blurred in stored photos and takedown tasks are opened for published ones; the database files are "
        f"scrubbed of old copies {'at once' if conn.dialect.name == 'sqlite' else f'daily for {SCRUB_DAYS} days'}.",
        "Messages to a person who is erased are cancelled and their address and content blanked; the address of "
        "an erasure confirmation is blanked once it is sent.",
        f"Personal links stay valid for {settings.link_ttl_days} days, or until the person's last consent lapses "
        "if that is later.",
        "Kept without a time limit: the consent ledger (after erasure it holds only a pseudonymous id, the "
        "decisions and their times, as proof of consent), the audit log, staff accounts until an admin removes "
        "them, and photo tombstones (checksum, no file name) of deleted photos.",
    ]
    return limits


def _subject_categories(org: Organisation) -> list[str]:
    """Categories of data subjects (Art. 30(1)(c))."""
    return [
        "People photographed at the organisation's events and premises: participants, visitors, employees.",
        f"Children below the age of {org.consent_age}, for whom a guardian decides; and those guardians.",
        "Staff who use the portal (their accounts and actions).",
    ]


def build_record(conn: Connection, db: Database, settings: Settings, *, revision: str) -> Record:
    """Assemble the record from the database, the schema mapping and the settings."""
    dialect = db.dialect
    org = get_organisation(conn)
    stored = list_recipients(conn)
    configured = configured_processors(settings, dialect=dialect)
    everyone = [*_for_purpose(stored, None), *configured]
    texts = current_texts(conn, "en")
    purposes = [p for p in list_purposes(conn) if p.id in texts]
    warnings: list[str] = []
    activities = []
    for p in purposes:
        validity = p.validity_days or org.consent_validity_days
        limits = [f"consent valid {_days(validity)} unless renewed"]
        if p.biometric:
            limits.append("template deleted with the consent")
        elif p.retention_days:
            limits.append(f"photos kept for this purpose at most {_days(p.retention_days)}")
        own = _for_purpose(stored, p.code)
        if p.third_party and not own:
            warnings.append(
                f"{texts[p.id].title} ({p.code}): this purpose gives photos to third parties, but no recipient is "
                "recorded."
            )
        activities.append(
            Activity(
                name=texts[p.id].title,
                code=p.code,
                dpv=p.dpv_code,
                description=_purpose_description(p),
                basis=_basis(p, org.consent_age),
                subjects="People in the photos who gave consent (or whose guardian did)",
                # Face matching compares templates with the faces in the photos, so it uses both.
                categories=[
                    c.key for c in CATEGORIES if c.activity == "photos" or (p.biometric and c.activity == "biometric")
                ],
                recipients=[*own, *everyone],
                time_limits=limits,
            )
        )
    activities.append(
        Activity(
            name="Consent administration",
            code="consent records",
            description="Recording, proving and acting on people's consent decisions: registration, receipts, "
            "personal links, renewal and expiry notices, withdrawals, erasure and takedowns.",
            basis="Legal obligation, Art. 6(1)(c) with Art. 7(1) GDPR (the controller must be able to demonstrate "
            "consent)",
            subjects="People who registered, children and their guardians",
            categories=[c.key for c in CATEGORIES if c.activity == "consent"],
            recipients=everyone,
            time_limits=["until erasure; the pseudonymous ledger without a time limit"],
        )
    )
    activities.append(
        Activity(
            name="Staff accounts and audit log",
            code="staff",
            description="Signing staff in, limiting what each role may do, and recording who did what.",
            basis="Legitimate interest in securing the processing, Art. 6(1)(f) with Art. 32 GDPR",
            subjects="Staff who use the portal",
            categories=[c.key for c in CATEGORIES if c.activity == "staff"],
            recipients=everyone,
            time_limits=["accounts until an admin removes them; audit log without a time limit"],
        )
    )
    for r in [*stored, *configured]:
        if not r.country:
            warnings.append(f"{r.name}: country not stated, so it cannot be told whether data leave the EU/EEA.")
        elif r.country not in EU_EEA and not r.transfer_safeguard:
            warnings.append(f"{r.name} ({r.country}): transfer outside the EU/EEA without a recorded safeguard.")
    sources = category_sources()
    categories = [
        {"key": c.key, "label": c.label, "special": c.special, "dpv": c.dpv, "sources": sources[c.key]}
        for c in CATEGORIES
    ]
    address = ", ".join(x for x in (org.street, f"{org.postal_code} {org.locality}".strip(), org.country) if x)
    all_recipients = [*stored, *configured]
    return Record(
        org=org,
        address=address,
        activities=activities,
        categories=categories,
        subject_categories=_subject_categories(org),
        recipients=all_recipients,
        transfers=[r for r in all_recipients if r.is_transfer],
        time_limits=_time_limits(conn, org, settings, purposes),
        measures=_measures(conn, settings, dialect),
        deployment=_deployment(settings, dialect),
        revision=revision,
        warnings=warnings,
    )


def record_version(record: Record) -> str:
    """`<schema revision>.<12 hex>`: the same configuration and data map give the same version, any change a new
    one (the date is not part of it)."""
    body = asdict(record)
    body.pop("version", None)
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"{record.revision}.{digest}"


def make_record(db: Database, settings: Settings) -> Record:
    """The record for this database and configuration, with its version."""
    revision = migrate.current_revision(db) or "none"
    with db.read() as conn:
        record = build_record(conn, db, settings, revision=revision)
    return replace(record, version=record_version(record))


def category_label(key: str) -> str:
    """The label of a category key."""
    return _CATEGORY[key].label


def recipient_line(r: Recipient) -> str:
    """A recipient as one line of the record."""
    where = r.country or "country not stated"
    return f"{r.name} ({where}, {r.kind}{', ' + r.service if r.service else ''})"


def at(now: datetime) -> str:
    """The date and time the record states."""
    return now.strftime("%Y-%m-%d %H:%M UTC")
