"""Demo data: a realistic mix of consent states on both databases."""

from __future__ import annotations

from collections import Counter

from portal.backend.consent import ledger
from portal.backend.db.engine import Database
from portal.backend.db.types import utcnow
from portal.backend.demo import is_demo, seed_demo
from portal.backend.overview import portal_overview
from portal.backend.subjects import list_subjects


def test_demo_has_every_kind_of_state(db: Database) -> None:
    summary = seed_demo(db)
    assert (summary.subjects, summary.ledger_entries) == (7, 27)
    assert is_demo(db) and ledger.verify(db).ok
    with db.read() as conn:
        _, rows = list_subjects(conn, now=utcnow())
    states = Counter(status for r in rows for status in r["consents"].values())
    assert {"given", "refused", "withdrawn", "expired"} <= set(states)
    assert any(r["minor"] for r in rows)
    assert portal_overview(db).expiring_soon == 2  # Noah's two consents lapse within 30 days
