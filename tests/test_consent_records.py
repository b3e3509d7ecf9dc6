"""Recording consent: rules per change, all-or-nothing writes, texts and versions, double submits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError

from portal.backend.consent import ledger
from portal.backend.consent.purposes import TextContent, current_text, get_purpose, publish_text
from portal.backend.consent.records import Context, Decision
from portal.backend.consent.services import withdraw_everything
from portal.backend.consent.status import status_for, subject_consents
from portal.backend.people.private import reveal_evidence
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import consent_ledger, purpose_texts, subjects
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import ConsentStateError, UnknownPurpose, UnknownSubject, ValidationError
from tests.factories import MANAGER, STAFF, make_portal, make_subject, record_consent

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _count(db: Database, table=consent_ledger) -> int:  # type: ignore[no-untyped-def]
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_registration_records_each_purpose_separately(org_db: Database) -> None:
    sid = make_subject(org_db, choices={"internal": True, "website": False, "social_media": True}, now=T0)
    with org_db.read() as conn:
        entries = ledger.entries_for_subject(conn, sid)
        statuses = subject_consents(conn, sid, T0)
    assert [(e.action, e.channel, e.actor) for e in entries] == [
        ("given", "staff", "staff:test"),
        ("refused", "staff", "staff:test"),
        ("given", "staff", "staff:test"),
    ]
    assert status_for(statuses, "internal") == "given"
    assert status_for(statuses, "website") == "refused"
    assert status_for(statuses, "print") == "unknown"  # R2: nothing pre-ticked, never asked
    assert entries[0].valid_until == T0 + timedelta(days=365)
    assert entries[1].valid_until is None


def test_refusing_everything_still_registers(org_db: Database) -> None:
    sid = make_subject(org_db, choices={"internal": False, "website": False, "face_matching": False})
    with org_db.read() as conn:
        assert conn.execute(select(subjects.c.id).where(subjects.c.id == sid)).scalar_one() == sid
        assert not any(s.allowed for s in subject_consents(conn, sid, utcnow()))


def test_unknown_purpose_writes_nothing(org_db: Database) -> None:
    before_ledger, before_subjects = _count(org_db), _count(org_db, subjects)
    with pytest.raises(UnknownPurpose, match=r"Unknown purpose .billboards.\. Known purposes: internal"):
        make_subject(org_db, choices={"internal": True, "billboards": True})
    assert (_count(org_db), _count(org_db, subjects)) == (before_ledger, before_subjects)


def test_withdrawing_what_was_never_given_is_refused(org_db: Database) -> None:
    sid = make_subject(org_db, choices={"internal": True})
    with pytest.raises(ConsentStateError, match="Nothing to withdraw: consent for 'print' was never given"):
        record_consent(org_db, subject_id=sid, decisions=[Decision("print", "withdrawn")], context=STAFF)
    # All or nothing: a valid withdrawal in the same request is not written either.
    before = _count(org_db)
    with pytest.raises(ConsentStateError):
        record_consent(
            org_db,
            subject_id=sid,
            context=STAFF,
            decisions=[Decision("internal", "withdrawn"), Decision("print", "withdrawn")],
        )
    assert _count(org_db) == before


def test_refusal_of_given_consent_must_be_a_withdrawal(org_db: Database) -> None:
    sid = make_subject(org_db, choices={"website": True})
    with pytest.raises(ConsentStateError, match="record a withdrawal"):
        record_consent(org_db, subject_id=sid, decisions=[Decision("website", "refused")], context=STAFF)


def test_renewal_needs_an_earlier_consent(org_db: Database) -> None:
    sid = make_subject(org_db, choices={"website": False})
    with pytest.raises(ConsentStateError, match="renewed"):
        record_consent(org_db, subject_id=sid, decisions=[Decision("website", "renewed")], context=STAFF)


def test_unknown_subject_and_bad_input(org_db: Database) -> None:
    with pytest.raises(UnknownSubject):
        record_consent(
            org_db,
            subject_id="8d0b0a4e-0000-4000-8000-000000000000",
            decisions=[Decision("website", "given")],
            context=STAFF,
        )
    sid = make_subject(org_db)
    with pytest.raises(ValidationError, match="channel"):
        record_consent(
            org_db, subject_id=sid, decisions=[Decision("website", "given")], context=Context(channel="fax", actor="x")
        )
    with pytest.raises(ValidationError, match="action"):
        record_consent(org_db, subject_id=sid, decisions=[Decision("website", "maybe")], context=STAFF)
    with pytest.raises(ValidationError, match="twice"):
        record_consent(
            org_db,
            subject_id=sid,
            context=STAFF,
            decisions=[Decision("website", "given"), Decision("website", "refused")],
        )
    with pytest.raises(ValidationError, match="evidence"):
        record_consent(
            org_db,
            subject_id=sid,
            decisions=[Decision("website", "given")],
            context=Context(channel="staff", actor="x", evidence={"blob": "x" * 5000}),
        )
    with pytest.raises(ValidationError, match="No image"):
        record_consent(org_db, subject_id=sid, decisions=[Decision("website", "given", 999)], context=STAFF)


def test_double_submit_records_once(org_db: Database) -> None:
    sid = make_subject(org_db, choices={"website": True, "print": True})
    ctx = Context(channel="portal", actor="subject", submission_id="1b4e28ba-2fa1-11d2-883f-0016d3cca427")
    decisions = [Decision("website", "withdrawn"), Decision("print", "withdrawn")]
    first = record_consent(org_db, subject_id=sid, decisions=decisions, context=ctx)
    count = _count(org_db)
    second = record_consent(org_db, subject_id=sid, decisions=decisions, context=ctx)
    assert [e.entry_id for e in second] == [e.entry_id for e in first]
    assert _count(org_db) == count
    with pytest.raises(ValidationError, match="submission id"):
        record_consent(
            org_db,
            subject_id=sid,
            decisions=decisions,
            context=Context(channel="portal", actor="subject", submission_id="x%_"),
        )


def test_texts_are_versioned_and_the_ledger_keeps_the_old_wording(org_db: Database) -> None:
    sid = make_subject(org_db, choices={"website": True}, locale="sv")
    with org_db.write() as conn:
        v1_sv = current_text(conn, get_purpose(conn, "website").id, "sv")
        publish_text(
            conn,
            code="website",
            now=utcnow(),
            texts={"en": TextContent("Website v2", "New wording."), "sv": TextContent("Webb v2", "Ny text.")},
        )
    other = make_subject(org_db, name="Later Person", choices={"website": True}, locale="sv")
    with org_db.read() as conn:
        first = ledger.entries_for_subject(conn, sid)[0]
        later = ledger.entries_for_subject(conn, other)[0]
        v2 = current_text(conn, first.purpose_id, "sv")
    assert (first.text_version, first.text_locale, first.text_hash) == (1, "sv", v1_sv.text_hash)
    assert (later.text_version, later.text_hash) == (2, v2.text_hash)
    assert v2.title == "Webb v2"
    # Withdrawal refers to the wording that was agreed to.
    withdrawal = record_consent(org_db, subject_id=sid, decisions=[Decision("website", "withdrawn")], context=STAFF)[0]
    assert (withdrawal.text_version, withdrawal.text_hash) == (1, v1_sv.text_hash)
    with pytest.raises(DBAPIError, match="append-only"), org_db.write() as conn:
        conn.execute(update(purpose_texts).values(body="rewritten"))


def test_minor_needs_a_guardian_and_the_record_says_who(org_db: Database) -> None:
    year = utcnow().year
    with pytest.raises(ValidationError, match="Guardian's name is empty"):
        make_subject(org_db, name="Child", birth_year=year - 9, choices={"internal": True})
    with pytest.raises(ValidationError, match="how the guardian was verified"):
        make_subject(org_db, name="Child", birth_year=year - 9, guardian_name="Parent", choices={"internal": True})
    sid = make_subject(
        org_db,
        name="Child",
        birth_year=year - 9,
        guardian_name="Parent Person",
        guardian_verification="staff_checked_id",
        choices={"internal": True},
    )
    # Sweden's threshold is 13 (R15): a 14-year-old consents alone.
    teen = make_subject(org_db, name="Teen", birth_year=year - 14, choices={"internal": True})
    with org_db.read() as conn:
        entry = ledger.entries_for_subject(conn, sid)[0]
        minor_flags = dict(conn.execute(select(subjects.c.id, subjects.c.is_minor)).all())
        revealed = reveal_evidence(conn, sid, entry.evidence_data)
    # The ledger commits to the guardian with a salted HMAC; the name stays in the erasable tables (Art. 17).
    assert set(entry.evidence_data["guardian"]) == {"hmac"} and "Parent Person" not in entry.evidence
    assert revealed == ({"name": "Parent Person", "verified_by": "staff_checked_id"}, None)
    assert minor_flags[sid] is True and minor_flags[teen] is False


def test_withdraw_all_covers_general_and_per_image(org_db: Database, tmp_path: Path) -> None:
    import io

    from PIL import Image

    from portal.backend.photos.assets import ingest

    jpeg = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 140, 160)).save(jpeg, format="JPEG")
    portal = make_portal(org_db, tmp_path / "blobs")
    sid = make_subject(org_db, choices={"internal": True, "website": True, "print": False})
    asset = ingest(org_db, portal.blobs, data=jpeg.getvalue(), filename="a.jpg", max_pixels=10**8).asset
    record_consent(org_db, subject_id=sid, decisions=[Decision("print", "given", asset_id=asset.id)], context=STAFF)
    change = withdraw_everything(portal, actor=MANAGER, subject_id=sid, channel="staff")
    assert sorted((e.action, e.scope_asset_id or 0) for e in change.entries) == [
        ("withdrawn", 0),
        ("withdrawn", 0),
        ("withdrawn", asset.id),
    ]
    assert change.receipt_id is not None
    with org_db.read() as conn:
        assert not any(s.allowed for s in subject_consents(conn, sid, utcnow()))
    again = withdraw_everything(portal, actor=MANAGER, subject_id=sid, channel="staff")
    assert again.entries == [] and again.receipt_id is None


def test_erased_subject_cannot_consent(org_db: Database) -> None:
    sid = make_subject(org_db)
    with org_db.write() as conn:
        conn.execute(update(subjects).where(subjects.c.id == sid).values(erased_at=utcnow(), display_name=None))
    with pytest.raises(ConsentStateError, match="erased"):
        record_consent(org_db, subject_id=sid, decisions=[Decision("website", "given")], context=STAFF)
