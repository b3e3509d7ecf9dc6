"""Demo data: a realistic mix of consent states on both databases."""

from __future__ import annotations

from collections import Counter

from portal.backend.consent import ledger
from portal.backend.ops.demo import is_demo, seed_demo
from portal.backend.people.subjects import list_subjects
from portal.backend.platform.blobs import LocalBlobStore
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.runtime import Portal
from portal.backend.risk.queries import check_risk_index, critical_photos, overview, risk_summary


def _portal(db: Database, blobs: LocalBlobStore) -> Portal:
    """The demo database as a Portal with default settings (30-day warning window)."""
    return Portal(settings=load_settings(env={}, secrets_path=None, database_url=db.url), db=db, blobs=blobs)


def test_demo_has_every_kind_of_state(db: Database, tmp_path) -> None:
    summary = seed_demo(db)
    assert (summary.subjects, summary.ledger_entries) == (7, 27)
    assert is_demo(db) and ledger.verify(db).ok
    with db.read() as conn:
        _, rows = list_subjects(conn, now=utcnow())
    states = Counter(status for r in rows for status in r.consents.values())
    assert {"given", "refused", "withdrawn", "expired"} <= set(states)
    assert any(r.minor for r in rows)
    facts = overview(_portal(db, LocalBlobStore(tmp_path / "blobs")))
    assert facts.expiring_soon == 2  # Noah's two consents lapse within 30 days
    assert (facts.subjects, facts.events, facts.ledger_entries) == (7, 2, 27)


def test_demo_photo_library_is_analysed_linked_and_gives_the_dashboard_a_story(db: Database, tmp_path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    assert seed_demo(db, blobs=blobs).photos == 4
    portal = _portal(db, blobs)
    figures = {f.purpose: f for f in risk_summary(portal)}
    assert check_risk_index(portal) == []
    assert all(f.with_people == 4 for f in figures.values())
    # Erik withdrew website consent after the panel photo went on the website: the one critical photo.
    assert [(c.filename, c.purpose, c.reason) for c in critical_photos(portal)] == [
        ("spring-panel.jpg", "website", "withdrawn")
    ]
    # The stranger in the summer crowd is left for staff to identify.
    assert figures["website"].by_reason["unidentified"] == 1
    assert len(blobs.list_keys("originals/")) == 4
