"""Status rules (R23, per-image veto, expiry), in Python and in SQL, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from portal.backend.consent.records import Decision
from portal.backend.consent.status import (
    image_status,
    latest_entries_query,
    status_for,
    status_of,
    status_sql,
    subject_consents,
)
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import assets, consent_ledger
from tests.factories import STAFF, make_subject, record_consent

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("action", "valid_until", "expected"),
    [
        (None, None, "unknown"),
        ("given", T0 + DAY, "given"),
        ("given", T0, "expired"),
        ("given", T0 - DAY, "expired"),
        ("renewed", T0 + DAY, "renewed"),
        ("renewed", T0 - DAY, "expired"),
        ("given", None, "given"),
        ("refused", None, "refused"),
        ("withdrawn", None, "withdrawn"),
        ("revoked", None, "revoked"),
        ("expired", None, "expired"),
    ],
)
def test_status_of(action: str | None, valid_until: datetime | None, expected: str) -> None:
    assert status_of(action, valid_until, T0) == expected


@pytest.mark.parametrize(
    ("general", "image", "expected"),
    [
        ("given", None, "given"),
        ("given", "refused", "refused"),  # per-image veto beats general consent
        ("given", "withdrawn", "withdrawn"),
        ("renewed", "revoked", "revoked"),
        ("refused", "given", "given"),  # consent for just this one photo
        ("unknown", "given", "given"),
        ("given", "expired", "given"),  # a lapsed one-photo grant falls back to the general consent
        ("unknown", "expired", "expired"),
        ("withdrawn", "expired", "withdrawn"),
    ],
)
def test_image_status(general: str, image: str | None, expected: str) -> None:
    assert image_status(general, image) == expected


def _asset(db: Database) -> int:
    """A bare asset row to scope per-image decisions to."""
    with db.write() as conn:
        return conn.execute(
            insert(assets)
            .values(
                sha256="a" * 64,
                blob_key="originals/a",
                filename="a.jpg",
                content_type="image/jpeg",
                width=10,
                height=10,
                bytes=100,
                uploaded_at=T0,
            )
            .returning(assets.c.id)
        ).scalar_one()


def test_expiry_is_honoured(org_db: Database) -> None:
    sid = make_subject(org_db, choices={"website": True}, now=T0)
    with org_db.read() as conn:
        before = subject_consents(conn, sid, T0 + 364 * DAY)
        after = subject_consents(conn, sid, T0 + 366 * DAY)
    assert status_for(before, "website") == "given"
    assert status_for(after, "website") == "expired"
    assert not next(s for s in after if s.purpose_code == "website").allowed


def test_renewal_after_expiry_restores_use(org_db: Database) -> None:
    sid = make_subject(org_db, choices={"website": True}, now=T0)
    record_consent(
        org_db, subject_id=sid, decisions=[Decision("website", "renewed")], context=STAFF, now=T0 + 400 * DAY
    )
    with org_db.read() as conn:
        statuses = subject_consents(conn, sid, T0 + 401 * DAY)
    assert status_for(statuses, "website") == "renewed"


def test_per_image_veto_and_grant(org_db: Database) -> None:
    asset_id = _asset(org_db)
    vetoer = make_subject(org_db, name="Vetoer", choices={"website": True, "print": False}, now=T0)
    record_consent(
        org_db,
        subject_id=vetoer,
        context=STAFF,
        now=T0 + DAY,
        decisions=[Decision("website", "refused", asset_id), Decision("print", "given", asset_id)],
    )
    with org_db.read() as conn:
        statuses = subject_consents(conn, vetoer, T0 + 2 * DAY)
    assert status_for(statuses, "website") == "given"
    assert status_for(statuses, "website", asset_id) == "refused"
    assert status_for(statuses, "print") == "refused"
    assert status_for(statuses, "print", asset_id) == "given"
    # A later general renewal does not lift the veto on that one photo.
    record_consent(
        org_db, subject_id=vetoer, decisions=[Decision("website", "renewed")], context=STAFF, now=T0 + 3 * DAY
    )
    with org_db.read() as conn:
        statuses = subject_consents(conn, vetoer, T0 + 4 * DAY)
    assert status_for(statuses, "website", asset_id) == "refused"


def test_sql_status_agrees_with_python(org_db: Database) -> None:
    asset_id = _asset(org_db)
    for i, choices in enumerate([{"website": True}, {"website": False}, {"internal": True, "print": True}]):
        make_subject(org_db, name=f"P{i}", choices=choices, now=T0 + i * 200 * DAY)
    sid = make_subject(org_db, name="Changer", choices={"website": True}, now=T0 + 500 * DAY)
    record_consent(
        org_db,
        subject_id=sid,
        decisions=[Decision("website", "withdrawn"), Decision("print", "refused", asset_id)],
        context=STAFF,
        now=T0 + 501 * DAY,
    )
    now = T0 + 600 * DAY
    with org_db.read() as conn:
        sub = latest_entries_query().subquery()
        rows = conn.execute(select(sub.c.seq, sub.c.action, sub.c.valid_until)).all()
        by_sql = dict(
            conn.execute(
                select(consent_ledger.c.seq, status_sql(now)).where(consent_ledger.c.seq.in_(select(sub.c.seq)))
            ).all()
        )
    assert len(rows) == 6
    for seq, action, valid_until in rows:
        assert by_sql[seq] == status_of(action, valid_until, now)
    assert sorted(by_sql.values()) == ["expired", "given", "given", "refused", "refused", "withdrawn"]
