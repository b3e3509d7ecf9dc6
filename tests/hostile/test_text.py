"""Hostile text (HTML, script, SQL, right-to-left override, 100k characters, control characters, emoji) through
the real services, and the PDFs that print it.

Each value is either refused with a clear ValidationError (and nothing is written) or stored exactly as typed and
shown as inert text: the literal characters in every PDF, never interpreted as markup.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.backend.consent.purposes import TextContent, publish_text
from portal.backend.consent.services import issue_receipt
from portal.backend.events.store import create_event, event_url
from portal.backend.people.services import register_subject as register_person
from portal.backend.people.subjects import get_subject, list_subjects
from portal.backend.photos.analysis import Detectors
from portal.backend.photos.assets import ingest
from portal.backend.photos.services import publish_photo
from portal.backend.platform.db.schema import events, staff_users, subjects
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import ValidationError
from portal.backend.platform.organisation import get_organisation
from portal.backend.reports.compliance import compliance_report_pdf
from portal.backend.reports.poster import render_poster_pdf
from portal.backend.staff.accounts import create_user
from tests.factories import OPERATOR, STAFF, make_portal, make_subject, register_subject
from tests.hostile import snapshot
from tests.hostile.conftest import MAX_PIXELS, Site, analysed_photo, pdf_text, shows
from tests.imagery import group_photo

SCRIPT = "<script>alert(document.cookie)</script>"
SQL = "Robert'); DROP TABLE subjects;--"
RLO = "\u202e"

# (id, typed name, what must be stored or None when refused, the refusal's message)
NAMES = [
    ("html", "<b>Bold</b> Person", None, "cannot contain < or >"),
    ("script", SCRIPT, None, "cannot contain < or >"),
    ("sql", SQL, SQL, None),
    ("sql-quote", "x' OR '1'='1", "x' OR '1'='1", None),
    ("rlo", f"Anna {RLO}tsivqdnil", None, "control or invisible formatting"),
    ("100k", "A" * 100_000, None, "100,000 characters long; at most 200"),
    ("nul", "Ann\x00a", None, "control or invisible formatting"),
    ("escape", "Ann\x1b[31ma", None, "control or invisible formatting"),
    ("newline", "Anna\r\nBcc: all", None, "control or invisible formatting"),
    ("blank", " \t ", None, "is empty"),
    ("emoji", "Anna 📷🎉", "Anna 📷🎉", None),
    ("200-astral", "😀" * 200, "😀" * 200, None),
    ("201-astral", "😀" * 201, None, "201 characters long"),
    ("combining-nfc", "e\u0301" * 200, "é" * 200, None),
    ("quotes-amp", 'Zoë "Z" O\'Brien & Sons', 'Zoë "Z" O\'Brien & Sons', None),
    ("formula", '=HYPERLINK("http://evil.example","x")', '=HYPERLINK("http://evil.example","x")', None),
    ("like-wildcards", "100%_\\ Person", "100%_\\ Person", None),
]


@pytest.mark.parametrize(("typed", "stored", "message"), [n[1:] for n in NAMES], ids=[n[0] for n in NAMES])
def test_subject_name(site: Site, typed: str, stored: str | None, message: str | None) -> None:
    make_subject(site.db, name="Plain Person")  # a neighbour that a wildcard search must not find
    before = snapshot.take(site.db, site.blobs)
    if stored is None:
        with pytest.raises(ValidationError, match=message):
            register_subject(site.db, name=typed, context=STAFF, choices={"internal": True})
        snapshot.assert_unchanged(before, site.db, site.blobs)
        return
    reg = register_subject(site.db, name=typed, context=STAFF, choices={"internal": True})
    snapshot.expect(
        before, site.db, site.blobs, rows={"subjects": 1, "consent_ledger": 1, "consent_current": 1}, added=set()
    )
    with site.db.read() as conn:
        assert get_subject(conn, reg.subject.id).display_name == stored
        # The stored text searches as text: quotes, % and _ are not SQL, and find only this person.
        total, rows = list_subjects(conn, now=utcnow(), search=stored)
    assert total == 1 and [r.id for r in rows] == [reg.subject.id]


def test_search_with_hostile_text_finds_nothing_and_does_not_fail(site: Site) -> None:
    make_subject(site.db, name="Plain Person")
    with site.db.read() as conn:
        for search in ("%", "_", "' OR 1=1 --", SCRIPT, "a\x00b", RLO, "x" * 100_000):
            total, rows = list_subjects(conn, now=utcnow(), search=search)
            assert (total, rows) == (0, []), search


GUARDIAN = [
    ("name-html", {"guardian_name": "<i>Mum</i>"}, "Guardian's name cannot contain < or >"),
    ("name-nul", {"guardian_name": "Mum\x00"}, "Guardian's name contains control"),
    ("name-rlo", {"guardian_name": f"Mum {RLO}dad"}, "Guardian's name contains control"),
    ("name-100k", {"guardian_name": "M" * 100_000}, "Guardian's name is 100,000 characters"),
    # The verification is one of the enumerated methods: free text, hostile or not, is refused by name.
    ("verification-text", {"guardian_verification": "ID card checked"}, "Unknown guardian verification"),
    ("verification-nul", {"guardian_verification": "staff_checked_id\x00"}, "Unknown guardian verification"),
    ("verification-rlo", {"guardian_verification": f"staff_{RLO}checked_id"}, "Unknown guardian verification"),
    ("verification-100k", {"guardian_verification": "v" * 100_000}, "Unknown guardian verification"),
]


@pytest.mark.parametrize(("override", "message"), [g[1:] for g in GUARDIAN], ids=[g[0] for g in GUARDIAN])
def test_hostile_guardian_details_are_refused(site: Site, override: dict[str, str], message: str) -> None:
    details = {"guardian_name": "Maria Mum", "guardian_verification": "staff_checked_id", **override}
    before = snapshot.take(site.db, site.blobs)
    with pytest.raises(ValidationError, match=message):
        register_subject(site.db, name="Kim Kid", context=STAFF, choices={"internal": True}, is_minor=True, **details)
    snapshot.assert_unchanged(before, site.db, site.blobs)


CONTACT = [
    ("email-nul", {"email": "anna\x00@example.com"}, "is not an e-mail address"),
    ("email-rlo", {"email": f"anna{RLO}@example.com"}, "is not an e-mail address"),
    ("email-html", {"email": "<script>@example.com"}, "is not an e-mail address"),
    ("email-100k", {"email": "a" * 100_000 + "@example.com"}, "is not an e-mail address"),
    ("email-header-injection", {"email": "anna@example.com\r\nBcc: all@example.com"}, "is not an e-mail address"),
    ("phone-nul", {"phone": "+46 70\x00 123"}, "Phone number"),
    ("phone-escape", {"phone": "+46\x1b[2J"}, "Phone number"),
    ("phone-long", {"phone": "1" * 100_000}, "at most 40"),
]


@pytest.mark.parametrize(("override", "message"), [c[1:] for c in CONTACT], ids=[c[0] for c in CONTACT])
def test_hostile_contact_details_are_refused(site: Site, override: dict[str, str], message: str) -> None:
    before = snapshot.take(site.db, site.blobs)
    with pytest.raises(ValidationError, match=message):
        register_subject(site.db, name="Anna Contact", context=STAFF, **override)
    snapshot.assert_unchanged(before, site.db, site.blobs)


def test_odd_but_valid_contact_details_are_stored_verbatim(site: Site) -> None:
    before = snapshot.take(site.db, site.blobs)
    reg = register_subject(
        site.db, name="Anna Contact", context=STAFF, email="O'Brien+photos@Example.COM", phone="+46 (0)70-123 45 67"
    )
    snapshot.expect(before, site.db, site.blobs, rows={"subjects": 1}, added=set())
    assert (reg.subject.email, reg.subject.phone) == ("o'brien+photos@example.com", "+46 (0)70-123 45 67")


STAFF_NAMES = [
    ("html", "<b>Boss</b>", None, "cannot contain < or >"),
    ("sql", SQL, SQL, None),
    ("nul", "Bo\x00ss", None, "control or invisible"),
    ("100k", "B" * 100_000, None, "100,000 characters"),
]


@pytest.mark.parametrize(("typed", "stored", "message"), [s[1:] for s in STAFF_NAMES], ids=[s[0] for s in STAFF_NAMES])
def test_staff_display_name(site: Site, typed: str, stored: str | None, message: str | None) -> None:
    before = snapshot.take(site.db, site.blobs)
    if stored is None:
        with pytest.raises(ValidationError, match=message), site.db.write() as conn:
            create_user(conn, email="boss@example.com", display_name=typed, role="staff", password=None, now=utcnow())
        snapshot.assert_unchanged(before, site.db, site.blobs)
        return
    with site.db.write() as conn:
        user = create_user(
            conn, email="boss@example.com", display_name=typed, role="staff", password=None, now=utcnow()
        )
    snapshot.expect(before, site.db, site.blobs, rows={"staff_users": 1}, added=set())
    with site.db.read() as conn:
        assert (
            conn.execute(select(staff_users.c.display_name).where(staff_users.c.id == user.id)).scalar_one() == stored
        )


def test_staff_email_with_nul_is_refused(site: Site) -> None:
    before = snapshot.take(site.db, site.blobs)
    with pytest.raises(ValidationError, match="is not an e-mail address"), site.db.write() as conn:
        create_user(conn, email="boss\x00@example.com", display_name="Boss", role="staff", password=None, now=utcnow())
    snapshot.assert_unchanged(before, site.db, site.blobs)


EVENTS = [
    ("name-html", {"name": "<h1>Gala</h1>"}, "Event name cannot contain < or >"),
    ("name-rlo", {"name": f"Gala {RLO}2025"}, "Event name contains control"),
    ("name-100k", {"name": "G" * 100_000}, "Event name is 100,000 characters"),
    ("place-nul", {"place": "Aula\x00"}, "Place"),
    ("place-rlo", {"place": f"Aula {RLO}gpj.exe"}, "Place"),
    ("place-100k", {"place": "P" * 100_000}, "at most 200"),
]


@pytest.mark.parametrize(("override", "message"), [e[1:] for e in EVENTS], ids=[e[0] for e in EVENTS])
def test_hostile_event_details_are_refused(site: Site, override: dict[str, str], message: str) -> None:
    values = {"name": "Spring gala", "place": "Aula", **override}
    before = snapshot.take(site.db, site.blobs)
    with pytest.raises(ValidationError, match=message), site.db.write() as conn:
        create_event(conn, purpose_codes=["internal", "website"], now=utcnow(), **values)
    snapshot.assert_unchanged(before, site.db, site.blobs)


def test_event_markup_is_stored_verbatim_and_printed_literally_on_the_poster(site: Site, tmp_path: Path) -> None:
    name = 'Spring gala & "friends" 🎉 \' OR 1=1 --'
    place = f"<b>Aula</b> & {SCRIPT} <img src=http://evil.example/x.png>"
    before = snapshot.take(site.db, site.blobs)
    with site.db.write() as conn:
        event = create_event(
            conn,
            name=name,
            place=place,
            purpose_codes=["internal", "website"],
            now=utcnow(),
            starts_on=date(2026, 5, 1),
        )
    snapshot.expect(before, site.db, site.blobs, rows={"events": 1, "event_purposes": 2}, added=set())
    with site.db.read() as conn:
        row = conn.execute(select(events.c.name, events.c.place).where(events.c.id == event.id)).one()
        url = event_url(conn, event_id=event.id, secret="s" * 32, base_url="https://portal.example")
        org = get_organisation(conn)
    assert (row.name, row.place) == (name, place)
    text = pdf_text(render_poster_pdf(org=org, event_name=event.name, url=url, place=event.place), tmp_path)
    for literal in ("<b>Aula</b> &", SCRIPT, "<img src=http://evil.example/x.png>", 'Spring gala & "friends"'):
        assert shows(text, literal), literal
    assert "&amp;" not in text and "&lt;" not in text


PLACES = [
    ("nul", "https://example.com/\x00", "control or invisible"),
    ("rlo", f"Website {RLO}moc.live", "control or invisible"),
    ("100k", "p" * 100_000, "at most 300"),
    ("blank", "\t \n", "Say where the photo is published"),
]


@pytest.mark.parametrize(("place", "message"), [p[1:] for p in PLACES], ids=[p[0] for p in PLACES])
def test_hostile_publication_place_is_refused(site: Site, place: str, message: str) -> None:
    asset = ingest(
        site.db, site.blobs, data=group_photo(["astronaut"], height=120), filename="a.jpg", max_pixels=MAX_PIXELS
    ).asset
    before = snapshot.take(site.db, site.blobs)
    with pytest.raises(ValidationError, match=message):
        publish_photo(
            make_portal(site.db, site.blobs), actor=OPERATOR, asset_id=asset.id, purpose="website", where=place
        )
    snapshot.assert_unchanged(before, site.db, site.blobs)


def test_compliance_report_prints_hostile_file_name_and_place_literally(
    site: Site, detectors: Detectors, tmp_path: Path
) -> None:
    # Short values: the report's narrow table cells would otherwise wrap them between other columns' words.
    filename, places = "<b>a&b<b>.jpg", ("<b>P</b> & q", "<script>")
    asset_id = analysed_photo(site, detectors, filename)
    before = snapshot.take(site.db, site.blobs)
    for place in places:
        publish_photo(
            make_portal(site.db, site.blobs),
            actor=OPERATOR,
            asset_id=asset_id,
            purpose="website",
            where=place,
            override_reason="unidentified faces (test)",
        )
    snapshot.expect(before, site.db, site.blobs, rows={"asset_uses": 2, "audit_log": 2}, added=set())
    text = pdf_text(compliance_report_pdf(make_portal(site.db, site.blobs)), tmp_path)
    for literal in (filename, *places):
        assert shows(text, literal), literal
    assert "&amp;" not in text and "&lt;" not in text and "Intact:" in text


def test_receipt_prints_hostile_guardian_note_and_purpose_text_literally(site: Site, tmp_path: Path) -> None:
    title = "<b>Web</b> & <i>social</i>"
    body = f"We publish {SCRIPT} <a href='https://evil.example'>here</a> & there; ' OR 1=1 --"
    with site.db.write() as conn:
        publish_text(
            conn,
            code="website",
            texts={"en": TextContent(title=title, body=body, recipients=("Tom & Jerry <t@evil.example>",))},
            carry_over=("sv",),
            now=utcnow(),
        )
    note = "<img src=http://evil.example/track.png> box 7 & 8"
    verification = "signed_paper_form"
    before = snapshot.take(site.db, site.blobs)
    # Through the service, as the CLI's `subjects add --channel paper --note ...` records it.
    reg = register_person(
        make_portal(site.db, site.blobs),
        actor=OPERATOR,
        channel="paper",
        name="Kim O'Kid & Co",
        choices={"website": True},
        is_minor=True,
        guardian_name='Maria "Mum" Smith',
        guardian_verification=verification,
        note=note,
    )
    assert reg.receipt_id is not None
    snapshot.expect(
        before,
        site.db,
        site.blobs,
        rows={
            "subjects": 1,
            "consent_ledger": 1,
            "consent_current": 1,
            "subject_links": 1,
            "receipts": 1,
            "audit_log": 1,
            "subject_private": 1,  # the per-person salt the guardian and note digests in the ledger are keyed with
        },
        added=set(),  # the receipt's files are made on its first download, as here
    )
    receipt = issue_receipt(make_portal(site.db, site.blobs), receipt_id=reg.receipt_id)
    assert receipt.json_key and receipt.pdf_key
    assert receipt.pdf_key.startswith(f"receipts/{reg.subject.id}/{reg.receipt_id}.")
    stored = json.loads(site.blobs.get(receipt.json_key))
    assert verification in json.dumps(stored, ensure_ascii=False)  # the JSON keeps the method's code
    text = pdf_text(site.blobs.get(receipt.pdf_key), tmp_path)
    for literal in (
        title,
        SCRIPT,
        "<a href='https://evil.example'>here</a>",
        note,
        "Guardian signed the paper form",  # the PDF says it in words
        "Tom & Jerry <t@evil.example>",
        "Kim O'Kid & Co",
        'Maria "Mum" Smith',
    ):
        assert shows(text, literal), literal
    assert "&amp;" not in text and "&lt;" not in text


def test_sql_in_every_field_is_just_text(site: Site) -> None:
    before = snapshot.take(site.db, site.blobs)
    reg = register_subject(
        site.db,
        name=SQL,
        context=STAFF,
        email="x'--@example.com",
        phone="1; DROP TABLE x",
        is_minor=True,
        guardian_name=SQL,
        guardian_verification="staff_checked_id",
    )
    # A minor: the guardian's details are sealed with a per-person salt kept in the erasable subject_private row.
    snapshot.expect(before, site.db, site.blobs, rows={"subjects": 1, "subject_private": 1}, added=set())
    with site.db.read() as conn:
        row = conn.execute(select(subjects).where(subjects.c.id == reg.subject.id)).one()
    assert (row.display_name, row.email, row.phone, row.guardian_name, row.guardian_verification) == (
        SQL,
        "x'--@example.com",
        "1; DROP TABLE x",
        SQL,
        "staff_checked_id",
    )
