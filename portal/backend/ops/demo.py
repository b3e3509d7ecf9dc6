"""Demo data: an organisation, staff, purposes, two events and subjects with a realistic history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from portal.backend.consent.records import Context, Decision, record_decisions
from portal.backend.events.store import create_event
from portal.backend.i18n.purposes import install_standard_purposes
from portal.backend.people.subjects import add_subject
from portal.backend.platform.actors import Actor
from portal.backend.platform.blobs import BlobStore
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import consent_ledger, organisation, purposes, subjects
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.organisation import Organisation, save_organisation
from portal.backend.staff.accounts import create_user
from portal.backend.staff.recipients import add_recipient

# Shown in the README; the demo banner reminds people these are public.
DEMO_ACCOUNTS = (
    ("admin@demo.example", "Ada Admin", "admin", "demo-admin-pass"),
    ("manager@demo.example", "Maja Manager", "manager", "demo-manager-pass"),
    ("staff@demo.example", "Sam Staff", "staff", "demo-staff-pass"),
)

DEMO_ORGANISATION = Organisation(
    controller_name="Nordlys Events AB",
    street="Storgatan 1",
    postal_code="222 22",
    locality="Lund",
    country="SE",
    contact_email="privacy@nordlys.example",
    contact_phone="+46-46-123456",
    dpo_name="Karin Berg",
    dpo_email="dpo@nordlys.example",
    policy_url="https://nordlys.example/privacy",
    consent_validity_days=365,
    languages="en,sv",
    # On, so the demo's forms offer face matching (its events ask for it); photos still keep no face template.
    matching_enabled=True,
    is_demo=True,
    authority_name="Integritetsskyddsmyndigheten (IMY)",
    authority_url="https://www.imy.se",
)


@dataclass(frozen=True)
class DemoSummary:
    """What the seed created."""

    subjects: int
    ledger_entries: int
    photos: int = 0


def is_empty(db: Database) -> bool:
    """True when the organisation has not been set up (a fresh database)."""
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(organisation)).scalar_one() == 0


def is_demo(db: Database) -> bool:
    """True when the database holds demo data."""
    with db.read() as conn:
        return bool(conn.execute(select(organisation.c.is_demo).where(organisation.c.id == 1)).scalar())


# Retention periods of the demo's purposes in days (face matching keeps no photos: its template goes with consent).
DEMO_RETENTION_DAYS = {
    "internal": 5 * 365,
    "print": 5 * 365,
    "website": 3 * 365,
    "social_media": 2 * 365,
    "partners": 365,
}


# (purpose, name, country, kind, service) of the demo's recipients; the partners are the partner purpose's text's.
DEMO_RECIPIENTS = (
    ("social_media", "LinkedIn Ireland Unlimited Company", "IE", "recipient", "Publishes photos on our LinkedIn page"),
    ("social_media", "Meta Platforms Ireland Ltd", "IE", "recipient", "Publishes photos on Instagram and Facebook"),
    ("print", "Tryckeri Syd AB", "SE", "processor", "Prints brochures and posters on our behalf"),
    ("partners", "Nordic Event Partners AB", "SE", "recipient", "Reports on the joint event"),
    ("partners", "Lunds kommun, kulturförvaltningen", "SE", "recipient", "Reports on the joint event"),
)


def seed_demo(
    db: Database, *, now: datetime | None = None, blobs: BlobStore | None = None, max_pixels: int = 60_000_000
) -> DemoSummary:
    """Fill an empty database with demo data; the history is back-dated so some consents have expired.

    With a blob store it also adds the demo photo library (analysed, linked, partly published)."""
    now = now or utcnow()
    day = timedelta(days=1)
    with db.write() as conn:
        save_organisation(conn, DEMO_ORGANISATION, now=now - 900 * day)
        for email, name, role, password in DEMO_ACCOUNTS:
            create_user(conn, email=email, display_name=name, role=role, password=password, now=now - 900 * day)
        install_standard_purposes(conn, now=now - 900 * day)
        # Retention of the photo archive (R17): the longest period decides when a photo is past retention.
        for code, days in DEMO_RETENTION_DAYS.items():
            conn.execute(update(purposes).where(purposes.c.code == code).values(retention_days=days))
        # Who receives the photos (Art. 30(1)(d)): all in the EU/EEA, so the record lists no transfer. Processors
        # that follow from the configuration (Supabase, the SMTP provider) are derived when the record is made.
        for code, name, country, kind, service in DEMO_RECIPIENTS:
            add_recipient(
                conn, purpose=code, name=name, country=country, kind=kind, service=service, now=now - 900 * day
            )
        spring = create_event(
            conn,
            name="Spring conference",
            purpose_codes=["internal", "website", "social_media", "print", "face_matching"],
            starts_on=(now - 210 * day).date(),
            place="Lund, Stadshallen",
            now=now - 240 * day,
        )
        summer = create_event(
            conn,
            name="Summer festival",
            purpose_codes=["internal", "website", "social_media", "print", "partners", "face_matching"],
            starts_on=(now - 40 * day).date(),
            place="Malmö, Folkets park",
            now=now - 60 * day,
        )

    people: dict[str, str] = {}

    def register(
        name: str,
        locale: str,
        choices: dict[str, bool],
        days_ago: int,
        channel: str,
        event_id: int | None = None,
        **kw: Any,
    ) -> str:
        """Register one demo subject at a past time."""
        actor = {"qr_form": "subject", "kiosk": "guardian"}.get(channel, Actor.staff(3, "staff").ref)
        evidence: dict[str, Any] = {"act": "signature" if channel == "paper" else "checkbox"}
        if channel == "staff":
            # Recorded on a staff member's word, as the portal records staff entries (issue 12, item 7).
            evidence = {"act": "staff_declaration", "person_present": False}
        with db.write() as conn:
            reg = add_subject(
                conn,
                name=name,
                locale=locale,
                choices=choices,
                context=Context(channel=channel, actor=actor, evidence=evidence, event_id=event_id),
                event_id=event_id,
                now=now - days_ago * day,
                **kw,
            )
        people[name] = reg.subject.id
        return reg.subject.id

    def change(subject_id: str, purpose: str, action: str, days_ago: int) -> None:
        """Record a later change by the subject through their personal link."""
        with db.write() as conn:
            record_decisions(
                conn,
                subject_id=subject_id,
                decisions=[Decision(purpose=purpose, action=action)],
                context=Context(channel="portal", actor="subject", evidence={"act": "button"}),
                now=now - days_ago * day,
            )

    # Oldest first, so the ledger's order matches the story's time line.
    register("Liam O'Brien", "en", {"internal": True, "print": True}, 800, "paper", email="liam@example.org")
    register("Noah Berg", "en", {"website": True, "social_media": True}, 340, "staff", email="noah@example.org")
    erik = register(
        "Erik Johansson",
        "sv",
        {"internal": True, "website": True, "social_media": False},
        300,
        "staff",
        email="erik.johansson@example.se",
    )
    register(
        "Anna Lindqvist",
        "sv",
        {"internal": True, "website": True, "social_media": True, "print": True, "face_matching": False},
        210,
        "qr_form",
        email="anna.lindqvist@example.se",
        event_id=spring.id,
    )
    register(
        "Sofia Nilsson",
        "en",
        {"internal": False, "website": False, "social_media": False, "print": False, "face_matching": False},
        209,
        "qr_form",
        event_id=spring.id,
    )
    register(
        "Ella Svensson",
        "sv",
        {"internal": True, "website": True, "partners": False},
        40,
        "kiosk",
        birth_year=(now - 10 * 365 * day).year,
        guardian_name="Maria Svensson",
        guardian_verification="staff_checked_id",
        event_id=summer.id,
    )
    olivia = register(
        "Olivia Karlsson",
        "en",
        {"internal": True, "website": True, "social_media": True, "print": True, "partners": True},
        39,
        "qr_form",
        email="olivia@example.org",
        event_id=summer.id,
    )
    change(erik, "website", "withdrawn", 20)
    change(olivia, "partners", "withdrawn", 5)
    photos = 0
    if blobs is not None:
        from portal.backend.ops.demo_photos import add_demo_photos  # loads the face detector: only when asked

        photos = add_demo_photos(
            db,
            blobs,
            people=people,
            events={"spring": spring.id, "summer": summer.id},
            max_pixels=max_pixels,
            now=now - 3 * day,
        )
    with db.read() as conn:
        n_subjects = conn.execute(select(func.count()).select_from(subjects)).scalar_one()
        n_entries = conn.execute(select(func.count()).select_from(consent_ledger)).scalar_one()
    return DemoSummary(subjects=n_subjects, ledger_entries=n_entries, photos=photos)
