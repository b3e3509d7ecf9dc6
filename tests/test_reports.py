"""Compliance report and Art. 30 record: real PDFs, text checked with pdftotext, pages rendered with pdftoppm."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import Column, MetaData, String, select, update

from portal.backend.consent.records import Decision
from portal.backend.ops.outbox import queue
from portal.backend.people.services import erase_subject
from portal.backend.photos.services import publish_photo, unpublish_photo
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import asset_uses, assets, audit_log, metadata
from portal.backend.platform.errors import AuthError, ValidationError
from portal.backend.platform.runtime import Portal
from portal.backend.reports import art30
from portal.backend.reports.compliance import compliance_report_pdf, period_figures, record_of_processing_pdf
from portal.backend.reports.services import art30_record, compliance_report, report_period
from portal.backend.staff.services import add_recipient, change_recipient, remove_recipient
from tests.conftest import SeededPortal
from tests.factories import MANAGER, STAFF, make_subject, record_consent
from tests.test_pages import _run, _sign_in
from tests.test_risk import OPERATOR, _asset, portal_of

ADMIN = Actor.staff(1, "admin", "Test Admin")
LONG_NAME = "2026-05-04_Sommarfestival_Folkets_park_stora_scenen_publiken_IMG_48213.jpg"


def _text_and_page(pdf: bytes, tmp_path: Path, name: str) -> tuple[str, np.ndarray]:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(path), str(tmp_path / name)], check=True)
    page = np.asarray(Image.open(next(tmp_path.glob(f"{name}*.png"))).convert("L"))
    return text, page


def _flat(text: str) -> str:
    """pdftotext output with runs of whitespace as one space (table cells wrap over lines and columns)."""
    return re.sub(r"\s+", " ", text)


# --- the record's data map -------------------------------------------------------------------------------------


def test_every_column_of_the_schema_is_mapped_to_a_category_or_declared_free_of_personal_data() -> None:
    assert art30.unmapped_columns(metadata) == []
    # A new column nobody classified is caught, as is a mapping to a column that is gone.
    grown = MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(grown)
    grown.tables["subjects"].append_column(Column("nickname", String(50)))
    assert art30.unmapped_columns(grown) == ["subjects.nickname"]
    assert all(c.key in art30.category_sources() and art30.category_sources()[c.key] for c in art30.CATEGORIES)


# --- recipients ---------------------------------------------------------------------------------------------------


def test_recipients_are_validated_and_every_change_is_audited(org_db: Database) -> None:
    portal = portal_of(org_db)
    with pytest.raises(AuthError):
        add_recipient(portal, actor=MANAGER, purpose="partners", name="X AB", country="SE", kind="recipient")
    with pytest.raises(ValidationError, match="outside the EU/EEA"):
        add_recipient(portal, actor=ADMIN, purpose="partners", name="US Partner Inc.", country="US", kind="recipient")
    with pytest.raises(ValidationError, match="two-letter"):
        add_recipient(portal, actor=ADMIN, purpose="partners", name="X AB", country="Sweden", kind="recipient")
    with pytest.raises(ValidationError, match="no purpose"):
        add_recipient(portal, actor=ADMIN, purpose="nope", name="X AB", country="SE", kind="recipient")
    se = add_recipient(
        portal,
        actor=ADMIN,
        purpose="partners",
        name="Nordic Event Partners AB",
        country="se",
        kind="recipient",
        transfer_safeguard="EU SCCs 2021/914",  # dropped: no transfer inside the EU/EEA
    )
    assert (se.country, se.transfer_safeguard, se.is_transfer) == ("SE", "", False)
    with pytest.raises(ValidationError, match="already recorded"):
        add_recipient(
            portal, actor=ADMIN, purpose="partners", name="Nordic Event Partners AB", country="SE", kind="recipient"
        )
    moved = change_recipient(
        portal,
        actor=ADMIN,
        recipient_id=se.id or 0,
        purpose="partners",
        name="Nordic Event Partners AB",
        country="NO",
        kind="processor",
        service="Prints the event book",
    )
    assert (moved.country, moved.kind, moved.is_transfer) == ("NO", "processor", False)  # Norway: EEA
    remove_recipient(portal, actor=ADMIN, recipient_id=se.id or 0)
    with org_db.read() as conn:
        rows = conn.execute(select(audit_log.c.action, audit_log.c.detail).order_by(audit_log.c.id)).all()
    assert [r.action for r in rows] == ["add_recipient", "change_recipient", "remove_recipient"]
    assert json.loads(rows[1].detail)["before"]["country"] == "SE"
    assert json.loads(rows[1].detail)["after"]["country"] == "NO"


# --- the Art. 30 record follows the configuration -------------------------------------------------------------


def test_record_follows_recipients_and_configuration(org_db: Database, tmp_path: Path) -> None:
    portal = portal_of(org_db)
    base = art30.make_record(org_db, portal.settings)
    assert base.transfers == [] and base.version.startswith(base.revision + ".")
    assert any("partners" in w and "no recipient" in w for w in base.warnings)

    add_recipient(
        portal, actor=ADMIN, purpose="partners", name="Nordic Event Partners AB", country="SE", kind="recipient"
    )
    se_only = art30.make_record(org_db, portal.settings)
    assert se_only.transfers == [] and se_only.version != base.version
    assert not any("(partners)" in w for w in se_only.warnings)
    assert any(w.startswith("Sharing with partners (partners): ") for w in base.warnings)  # by title (issue 16)
    add_recipient(
        portal,
        actor=ADMIN,
        purpose="social_media",
        name="Photo Cloud Inc.",
        country="US",
        kind="processor",
        transfer_safeguard="EU SCCs 2021/914",
    )

    # Hosted on Supabase (region in the US) with e-mail through a provider whose country is not stated.
    hosted = replace(
        portal.settings,
        blob_backend="supabase",
        auth_backend="supabase",
        supabase_country="US",
        smtp_host="smtp.mailer.example",
        smtp_from="consent@example.org",
        smtp_provider="Mailer AB",
    )
    record = art30.make_record(org_db, hosted)
    assert {(r.name, r.country, r.transfer_safeguard) for r in record.transfers} == {
        ("Photo Cloud Inc.", "US", "EU SCCs 2021/914"),
        ("Supabase Inc.", "US", hosted.supabase_safeguard),
    }
    assert any(w.startswith("Mailer AB: country not stated") for w in record.warnings)
    text, page = _text_and_page(
        record_of_processing_pdf(Portal(settings=hosted, db=org_db, blobs=portal.blobs), author="Test Admin"),
        tmp_path,
        "hosted",
    )
    flat = _flat(text)
    for needle in (
        "Record of processing activities",
        f"Version {record.version}",
        "Made by Test Admin",
        "Nordlys Events AB",
        "Karin Berg",
        "Integritetsskyddsmyndigheten (IMY)",
        "Sharing with partners",
        "Giving photos of people to named event partners",  # the record's description, not the consent wording
        "Explicit consent, Art. 6(1)(a) and Art. 9(2)(a)",
        "Nordic Event Partners AB (SE, recipient)",
        "Supabase Inc.",
        "Mailer AB",
        "EU SCCs 2021/914",
        "Private Supabase Storage bucket",
        "Staff sign in through Supabase Auth",
        "Face templates computed from a selfie",
        "subjects.email",
        "Time limits for erasure",
    ):
        assert needle.lower() in flat.lower(), needle
    assert "We may give photos of you" not in flat  # the person-facing wording is not the record's purpose
    if org_db.dialect == "sqlite":
        assert "no row-level security" in flat and "row-level security switched on" not in flat
    else:
        assert re.search(r"row-level security switched on for (\d+) of \1 tables", flat), flat
    assert (page < 128).mean() > 0.01

    # Back on the embedded configuration: no Supabase, no e-mail provider, only the stored US transfer.
    embedded = art30.make_record(org_db, portal.settings)
    assert [r.name for r in embedded.transfers] == ["Photo Cloud Inc."]
    assert not any(r.configured for r in embedded.recipients)
    if org_db.dialect == "sqlite":
        assert any("SQLite file" in m and "no row-level security" in m for m in embedded.measures)
        assert not any("switched on" in m for m in embedded.measures)


def test_record_of_processing_service_is_audited_and_names_no_transfer_for_eu_recipients(
    org_db: Database, tmp_path: Path
) -> None:
    portal = portal_of(org_db)
    add_recipient(portal, actor=ADMIN, purpose="partners", name="Lunds kommun", country="SE", kind="recipient")
    text, _ = _text_and_page(art30_record(portal, actor=MANAGER), tmp_path, "art30")
    flat = _flat(text)
    assert "None: every recipient and processor with a stated country is in the EU/EEA." in flat
    assert "Made by Test Manager (staff:1)" in flat
    assert "standard contractual clauses" not in flat.lower()
    with org_db.read() as conn:
        actions = conn.execute(select(audit_log.c.action).order_by(audit_log.c.id)).scalars().all()
    assert actions == ["add_recipient", "export_record_of_processing"]


# --- the compliance report for a period -----------------------------------------------------------------------

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
JUNE = report_period(date(2026, 6, 1), date(2026, 6, 30), now=NOW)


def _day(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 9, 0, tzinfo=UTC)


def _published(db: Database, portal: Portal, n: int, sid: str, when: datetime, filename: str | None = None) -> int:
    asset = _asset(db, n, [(sid, 0.1)])
    if filename:
        with db.write() as conn:
            conn.execute(update(assets).where(assets.c.id == asset).values(filename=filename))
    publish_photo(
        portal, actor=OPERATOR, asset_id=asset, purpose="website", where=f"https://example.org/p{n}", now=when
    )
    return asset


def test_compliance_report_counts_what_happened_in_the_period(org_db: Database, tmp_path: Path) -> None:
    portal = portal_of(org_db)
    web = {"website": True}
    # A: published in May, withdraws in June -> a critical photo and a takedown still open.
    a = make_subject(org_db, name="A", choices=web, now=_day(4, 1))
    _published(org_db, portal, 1, a, _day(5, 4), LONG_NAME)
    record_consent(org_db, subject_id=a, decisions=[Decision("website", "withdrawn")], context=STAFF, now=_day(6, 10))
    # D: withdraws in June, the photo comes down three days later -> a takedown opened and closed in June.
    d = make_subject(org_db, name="D", choices=web, now=_day(4, 1))
    _published(org_db, portal, 2, d, _day(5, 4))
    record_consent(org_db, subject_id=d, decisions=[Decision("website", "withdrawn")], context=STAFF, now=_day(6, 5))
    with org_db.read() as conn:
        use_d = conn.execute(select(asset_uses.c.id).where(asset_uses.c.place.like("%/p2"))).scalar_one()
    unpublish_photo(portal, actor=OPERATOR, use_id=use_d, now=_day(6, 8))
    # E: withdrew and was taken down in March -> outside the period.
    e = make_subject(org_db, name="E", choices=web, now=_day(1, 15))
    _published(org_db, portal, 3, e, _day(2, 1))
    record_consent(org_db, subject_id=e, decisions=[Decision("website", "withdrawn")], context=STAFF, now=_day(3, 1))
    with org_db.read() as conn:
        use_e = conn.execute(select(asset_uses.c.id).where(asset_uses.c.place.like("%/p3"))).scalar_one()
    unpublish_photo(portal, actor=OPERATOR, use_id=use_e, now=_day(3, 2))
    # Erasures: one in June, one in April.
    erase_subject(
        portal, actor=MANAGER, subject_id=make_subject(org_db, name="B", choices=web, now=_day(3, 1)), now=_day(6, 15)
    )
    erase_subject(
        portal, actor=MANAGER, subject_id=make_subject(org_db, name="C", choices=web, now=_day(3, 1)), now=_day(4, 1)
    )
    # Renewals: F asked in June and renews; G asked in June, no answer; H asked in May (outside).
    f, g, h = (make_subject(org_db, name=n, choices=web, now=_day(1, 5)) for n in "FGH")
    with org_db.write() as conn:
        for sid, when in ((f, _day(6, 3)), (g, _day(6, 4)), (h, _day(5, 20))):
            queue(
                conn,
                kind="renewal",
                now=when,
                recipient=f"{sid}@example.org",
                subject_id=sid,
                payload={"purpose": "website", "reason": "expiring"},
                dedupe_key=f"renewal:{sid}",
            )
    record_consent(org_db, subject_id=f, decisions=[Decision("website", "given")], context=STAFF, now=_day(6, 12))

    with org_db.read() as conn:
        figures = period_figures(conn, period=JUNE, now=NOW, window_days=30)
    website = next(row for row in figures["decisions"] if row["code"] == "website")
    assert website["withdrawn"] == 3  # A, D and B's erasure (it withdraws); E's was in March, C's erasure in April
    assert [x["subject_id"] for x in figures["erasures"]] != [] and len(figures["erasures"]) == 1
    assert figures["renewals"]["total"] == 2
    (renewal,) = figures["renewals"]["rows"]
    assert (renewal["asked"], renewal["renewed"], renewal["unanswered"]) == (2, 1, 1)
    takedowns = figures["takedowns"]
    assert takedowns["opened"] == 2
    assert [(t["asset_id"], t["days"]) for t in takedowns["closed"]] == [(2, 3)]
    assert [(t["filename"], t["days"]) for t in takedowns["open"]] == [(LONG_NAME, 20)]

    text, page = _text_and_page(
        compliance_report_pdf(portal, period=JUNE, author="Test Manager (staff:1)", now=NOW), tmp_path, "june"
    )
    flat = _flat(text)
    for needle in (
        "Photo consent compliance report",
        "Period 2026-06-01 00:00 to 2026-06-30 23:59 UTC",
        "Made by Test Manager (staff:1)",
        "report format",
        "1 person was erased in the period",
        "2 renewal requests were queued in the period",
        "2 opened and 1 closed in the period; 1 open when the report was made",
        "Withdrawn",  # the critical photo's reason, by its label
        "Signed head",
    ):
        assert needle in flat, needle
    # Each file name stays whole on one line (never broken inside a word across lines or pages).
    assert text.count(LONG_NAME) == 2  # the critical list and the open takedown
    # Purposes by their titles (issue 16): the code only once, in the key at the top that ties titles to codes.
    assert "Our website = website" in flat and "Social media = social_media" in flat
    assert len(re.findall(r"(?<!Our )\bwebsite\b", flat)) == 1 and flat.count("social_media") == 1
    assert flat.count("Our website") >= 6  # coverage, reasons, critical, decisions, renewals, takedowns, ...
    assert re.search(r"Intact: \d+ entries verified", flat)
    assert (page < 128).mean() > 0.01


def test_compliance_service_defaults_to_the_last_30_days_and_is_audited(org_db: Database) -> None:
    portal = portal_of(org_db)
    period = report_period(None, None, now=NOW)
    assert (period.start, period.end) == (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))
    assert report_period(None, date(2026, 6, 30)).start == datetime(2026, 6, 1, tzinfo=UTC)
    with pytest.raises(ValidationError):
        report_period(date(2026, 7, 1), date(2026, 6, 1))
    pdf = compliance_report(portal, actor=MANAGER, period=JUNE, now=NOW)
    assert pdf.startswith(b"%PDF")
    with org_db.read() as conn:
        (detail,) = conn.execute(
            select(audit_log.c.detail).where(audit_log.c.action == "export_compliance_report")
        ).scalars()
    assert json.loads(detail)["from"] == "2026-06-01T00:00:00+00:00"


# --- the demo and the Settings page ---------------------------------------------------------------------------


def test_demo_records_its_eu_recipients_and_settings_adds_one_outside_the_eea(seeded_portal: SeededPortal) -> None:
    db = seeded_portal.db
    portal = portal_of(db)
    demo = art30.make_record(db, portal.settings)
    assert demo.transfers == [] and demo.warnings == []
    partners = next(a for a in demo.activities if a.code == "partners")
    assert {r.name for r in partners.recipients} == {"Nordic Event Partners AB", "Lunds kommun, kulturförvaltningen"}
    assert {r.country for r in demo.recipients} <= {"SE", "IE"}

    at = _sign_in(_run(), "admin@demo.example", "demo-admin-pass").switch_page("portal/pages/settings.py").run()
    at.text_input(key="recipient_name").input("Photo Cloud Inc.")
    at.text_input(key="recipient_country").input("US")
    at.selectbox(key="recipient_purpose").select("social_media")
    next(b for b in at.button if b.label == "Add the recipient").click().run()
    assert any("outside the EU/EEA" in str(e.value) for e in at.error)  # no safeguard: refused, nothing stored
    at.text_input(key="recipient_name").input("Photo Cloud Inc.")
    at.text_input(key="recipient_country").input("US")
    at.selectbox(key="recipient_purpose").select("social_media")
    at.text_input(key="recipient_safeguard").input("EU SCCs 2021/914")
    next(b for b in at.button if b.label == "Add the recipient").click().run()
    assert not at.exception
    assert any("Added Photo Cloud Inc. (US)" in str(s.value) for s in at.success)
    after = art30.make_record(db, portal.settings)
    assert [(r.name, r.transfer_safeguard) for r in after.transfers] == [("Photo Cloud Inc.", "EU SCCs 2021/914")]
    assert after.version != demo.version
