"""Risk figures from SQL, checked against a seeded database with known answers on SQLite and PostgreSQL."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from portal.backend.consent.records import Decision
from portal.backend.photos.services import publish_photo
from portal.backend.platform.actors import Actor
from portal.backend.platform.blobs import LocalBlobStore
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import assets, detections
from portal.backend.platform.runtime import Portal
from portal.backend.risk import index as risk_index
from portal.backend.risk.figures import at_risk_rows, critical_assets, summary
from tests.factories import STAFF, make_subject, record_consent

T0 = datetime(2026, 1, 10, tzinfo=UTC)
DAY = timedelta(days=1)
OPERATOR = Actor.operator("tests")


def portal_of(db: Database) -> Portal:
    """The test database as a Portal with default settings (blobs in a scratch folder)."""
    settings = load_settings(env={}, secrets_path=None, database_url=db.url)
    return Portal(settings=settings, db=db, blobs=LocalBlobStore(Path(tempfile.mkdtemp(prefix="portal-blobs-"))))


def _asset(db: Database, n: int, faces: list[tuple[str | None, float]], persons: list[float] = ()) -> int:
    """An analysed asset with faces (subject or None, x) and person boxes (x); every box 0.1 wide."""
    with db.write() as conn:
        asset_id = conn.execute(
            insert(assets)
            .values(
                sha256=f"{n:064d}",
                blob_key=f"k{n}",
                filename=f"{n}.jpg",
                content_type="image/jpeg",
                width=100,
                height=100,
                bytes=1,
                uploaded_at=T0,
                analysis_state="done",
            )
            .returning(assets.c.id)
        ).scalar_one()
        for subject, x in faces:
            conn.execute(
                insert(detections).values(
                    asset_id=asset_id,
                    kind="face",
                    x=x,
                    y=0.1,
                    w=0.1,
                    h=0.1,
                    detector="dlib-hog",
                    created_at=T0,
                    subject_id=subject,
                    link_method="manual" if subject else None,
                    link_status="confirmed" if subject else None,
                )
            )
        for x in persons:
            conn.execute(
                insert(detections).values(
                    asset_id=asset_id, kind="person", x=x, y=0.0, w=0.2, h=0.9, detector="yolo", created_at=T0
                )
            )
        risk_index.refresh_assets(conn, [asset_id])  # rows written behind the services' back
    return asset_id


def test_summary_matches_an_independent_count(org_db: Database) -> None:
    ok = make_subject(org_db, name="All Good", choices={"website": True, "print": True}, now=T0)
    withdrew = make_subject(org_db, name="Withdrew", choices={"website": True}, now=T0)
    record_consent(
        org_db, subject_id=withdrew, decisions=[Decision("website", "withdrawn")], context=STAFF, now=T0 + DAY
    )
    expired = make_subject(org_db, name="Old Paper", choices={"website": True}, now=T0 - 400 * DAY)
    soon = make_subject(org_db, name="Soon", choices={"website": True}, now=T0 - 350 * DAY)
    vetoer = make_subject(org_db, name="Vetoer", choices={"website": True}, now=T0)

    a_ok = _asset(org_db, 1, [(ok, 0.1)])
    a_withdrawn = _asset(org_db, 2, [(ok, 0.1), (withdrew, 0.5)])
    a_stranger = _asset(org_db, 3, [(ok, 0.1), (None, 0.5)])
    a_expired = _asset(org_db, 4, [(expired, 0.1)])
    a_soon = _asset(org_db, 5, [(soon, 0.1)])
    a_veto = _asset(org_db, 6, [(vetoer, 0.1)])
    a_person = _asset(org_db, 7, [(ok, 0.1)], persons=[0.6])  # a person with no face in their box
    a_covered = _asset(org_db, 8, [(ok, 0.1)], persons=[0.05])  # the person box holds the linked face
    record_consent(
        org_db, subject_id=vetoer, decisions=[Decision("website", "refused", a_veto)], context=STAFF, now=T0 + DAY
    )
    publish_photo(
        portal_of(org_db),
        actor=OPERATOR,
        asset_id=a_withdrawn,
        purpose="website",
        where="https://example.org/a",
        override_reason="at risk already (test)",
        now=T0,
    )
    publish_photo(
        portal_of(org_db), actor=OPERATOR, asset_id=a_ok, purpose="website", where="https://example.org/b", now=T0
    )

    now = T0 + 2 * DAY
    with org_db.read() as conn:
        rows = set(at_risk_rows(conn, now=now))
        figures = {r.purpose: r for r in summary(conn, now=now, warning_days=30)}
        critical = critical_assets(conn, now=now)
    website = {(a, reason) for a, p, reason in rows if p == 2}
    assert website == {
        (a_withdrawn, "withdrawn"),
        (a_stranger, "unidentified"),
        (a_expired, "expired"),
        (a_veto, "veto"),
        (a_person, "unidentified"),
    }
    assert figures["website"].at_risk == 5
    assert figures["website"].by_reason == {"withdrawn": 1, "unidentified": 2, "expired": 1, "veto": 1}
    assert figures["website"].critical == 1  # only the published photo that lost its basis
    assert figures["website"].expiring == 1  # "Soon" lapses within 30 days
    # For print nobody but "All Good" consented: everyone else is 'unknown' (never asked) there.
    assert figures["print"].by_reason["unknown"] == 4  # the assets of Withdrew, Old Paper, Soon and Vetoer
    assert [(c["asset_id"], c["code"], c["reason"]) for c in critical] == [(a_withdrawn, "website", "withdrawn")]
    at_risk_for_website = {a for a, p, _ in rows if p == 2}
    # Valid consent, a soon-lapsing (still valid) one, and a person box covered by a linked face: none at risk.
    assert not {a_ok, a_soon, a_covered} & at_risk_for_website
