"""A consent change re-judges only what it can move (its purposes; a per-photo choice only that photo), and the
index stays equal to a fresh computation when two writers change the same person at once, on both databases."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, update

from portal.backend.consent.records import Decision
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import detections
from portal.backend.platform.errors import ConsentStateError
from portal.backend.risk import index as risk_index
from tests.factories import STAFF, make_subject, record_consent
from tests.test_risk_index import T0, _assert_in_step, _library


def _link(db: Database, photos: list[tuple[int, list[int]]], subject_id: str, which: int) -> list[int]:
    """Confirm `subject_id` on face `which` of every photo that has one; returns those photos."""
    linked = []
    with db.write() as conn:
        for asset_id, ids in photos:
            if len(ids) > which:
                conn.execute(
                    update(detections)
                    .where(detections.c.id == ids[which])
                    .values(subject_id=subject_id, link_status="confirmed", link_method="manual")
                )
                linked.append(asset_id)
        risk_index.refresh_assets(conn, [a for a, _ in photos])
    return linked


@contextmanager
def _rows_rejudged(db: Database) -> Iterator[list[int]]:
    """Collect how many index rows each re-judging statement deletes (each is written again right after)."""
    counts: list[int] = []

    def after(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM ASSET_RISK"):
            counts.append(cursor.rowcount)

    event.listen(db.engine, "after_cursor_execute", after)
    try:
        yield counts
    finally:
        event.remove(db.engine, "after_cursor_execute", after)


def test_a_change_re_judges_its_purpose_and_a_per_photo_choice_its_photo(org_db: Database) -> None:
    rng = random.Random(5)
    person = make_subject(org_db, name="Often seen", choices={"internal": True, "website": True, "print": False})
    other = make_subject(org_db, name="Sometimes beside", choices={"website": False})
    photos = _library(org_db, 12, rng, faces=2)
    mine = _link(org_db, photos, person, 0)
    _link(org_db, photos[::2], other, 1)
    assert len(mine) == 12
    _assert_in_step(org_db, T0)
    with _rows_rejudged(org_db) as deleted:
        record_consent(org_db, subject_id=person, decisions=[Decision("website", "withdrawn")], context=STAFF)
    assert sum(deleted) == 12  # one purpose of each of their photos, not the 5 purposes
    _assert_in_step(org_db, T0)
    with _rows_rejudged(org_db) as deleted:
        record_consent(
            org_db,
            subject_id=person,
            decisions=[Decision("internal", "refused", asset_id=mine[3])],
            context=STAFF,
        )
    assert sum(deleted) == 1  # the one photo, the one purpose
    _assert_in_step(org_db, T0)
    with _rows_rejudged(org_db) as deleted:
        record_consent(
            org_db,
            subject_id=person,
            decisions=[Decision("internal", "withdrawn"), Decision("print", "given")],
            context=STAFF,
        )
    assert sum(deleted) == 24
    _assert_in_step(org_db, T0, T0.replace(year=T0.year + 2))


def test_two_writers_changing_one_person_keep_the_index_equal_to_a_fresh_computation(org_db: Database) -> None:
    rng = random.Random(9)
    person = make_subject(org_db, name="Busy", choices={"internal": True, "website": True, "print": True})
    photos = _library(org_db, 30, rng, faces=2)
    mine = _link(org_db, photos, person, 0)
    _link(org_db, photos, make_subject(org_db, name="Beside", choices={"website": True}), 1)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(purpose: str, seed: int) -> None:
        own = Database(org_db.url)  # its own engine, like a second portal process
        pick = random.Random(seed)
        try:
            start.wait()
            for r in range(12):
                action = "withdrawn" if r % 2 == 0 else "given"
                scope = pick.choice(mine) if r % 3 == 2 else None
                try:
                    record_consent(
                        own,
                        subject_id=person,
                        decisions=[Decision(purpose, "refused" if scope else action, asset_id=scope)],
                        context=STAFF,
                    )
                except ConsentStateError:
                    pass  # a per-photo choice repeated: refused as a no-op, nothing written
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=writer, args=(p, i)) for i, p in enumerate(("website", "internal"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    _assert_in_step(org_db, T0, T0.replace(year=T0.year + 2))
