"""The per-purpose risk counters (risk/counts.py) stay equal to a fresh computation through every service, and the
summary read from them equals the one aggregated over every index row at any moment, on both databases."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta

from PIL import Image
from sqlalchemy import func, insert, select, text, update

from portal.backend.consent.records import Decision
from portal.backend.people.services import erase_subject, merge_subjects
from portal.backend.photos.services import delete_photo, link_face, publish_photo
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import assets, consent_current, events, risk_counts, takedowns
from portal.backend.risk import counts as risk_counts_module
from portal.backend.risk import index as risk_index
from portal.backend.risk.figures import overview
from portal.backend.risk.queries import check_risk_index
from portal.backend.risk.services import rebuild_risk_index
from tests.factories import STAFF, make_subject, record_consent
from tests.test_risk import OPERATOR, portal_of
from tests.test_risk_index import PURPOSES, _library, _staff, run_jobs

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
DAY = timedelta(days=1)
US = timedelta(microseconds=1)


def _agree(db: Database, *nows: datetime) -> None:
    """Counters equal a fresh judgement, and the summary and per-event figures from them equal those aggregated
    over every index row at each moment (the standard windows and an odd warning window)."""
    with db.read() as conn:
        assert risk_index.check(conn) == []
        for now in nows:
            for warning in (30, 45):
                assert overview(conn, now=now, warning_days=warning) == overview(
                    conn, now=now, warning_days=warning, scan=True
                ), f"at {now}, warning {warning}"


def _key_rows(db: Database) -> tuple[int, int]:
    """(counter rows, distinct keys)."""
    with db.read() as conn:
        rows = conn.execute(select(func.count()).select_from(risk_counts)).scalar_one()
        keys = len(risk_counts_module.stored(conn))
    return int(rows), keys


def test_counters_follow_changes_takedowns_merges_erasure_expiry_and_deletion(org_db: Database) -> None:
    rng = random.Random(17)
    portal = portal_of(org_db)
    with org_db.write() as conn:
        fair = conn.execute(
            insert(events).values(name="Fair", created_at=T0, qr_secret="f" * 32).returning(events.c.id)
        ).scalar_one()
    people = [
        make_subject(org_db, name=f"C{i}", now=T0 - rng.randint(0, 300) * DAY, choices={p: True for p in PURPOSES})
        for i in range(8)
    ]
    library = _library(org_db, 8, rng, event_id=fair, faces=2) + _library(org_db, 6, rng, faces=2)
    # Real image files: the erasure below blurs the person out of the stored photos.
    picture = io.BytesIO()
    Image.new("RGB", (100, 100), (120, 90, 60)).save(picture, "JPEG")
    for n in range(8):
        portal.blobs.put(f"k{n}", picture.getvalue(), content_type="image/jpeg")
    for _asset, ids in library:
        for det in ids[:-1] if rng.random() < 0.3 else ids:  # some faces stay unidentified
            link_face(portal, actor=_staff(org_db), detection_id=det, subject_id=rng.choice(people), now=T0)
    _agree(org_db, T0, T0 + 80 * DAY, T0 + 400 * DAY)

    # Changes of mind, general and for one photo.
    for k in range(12):
        asset_id = rng.choice(library)[0] if k % 3 == 0 else None
        record_consent(
            org_db,
            subject_id=people[k % len(people)],
            context=STAFF,
            now=T0 + k * DAY,
            decisions=[Decision(PURPOSES[k % len(PURPOSES)], "refused" if asset_id else "withdrawn", asset_id)],
        )
    _agree(org_db, T0 + 12 * DAY, T0 + 300 * DAY)

    # A takedown: a published photo whose person withdraws.
    shown, [face, *_] = library[0]
    with org_db.read() as conn:
        person = conn.execute(text("SELECT subject_id FROM detections WHERE id = :d"), {"d": face}).scalar()
    assert person is not None
    publish_photo(
        portal, actor=OPERATOR, asset_id=shown, purpose="website", where="https://example.org/a", override_reason="t"
    )
    record_consent(
        org_db, subject_id=person, context=STAFF, now=T0 + 20 * DAY, decisions=[Decision("website", "withdrawn")]
    )
    with org_db.read() as conn:
        assert conn.execute(select(func.count()).select_from(takedowns)).scalar_one() >= 1
    _agree(org_db, T0 + 21 * DAY)

    # A merge (faces move to the person kept) and an erasure (faces unlinked, consents withdrawn).
    merge_subjects(portal, actor=OPERATOR, keep_id=people[1], drop_id=people[2], now=T0 + 22 * DAY)
    _agree(org_db, T0 + 22 * DAY, T0 + 200 * DAY)
    erase_subject(portal, actor=OPERATOR, subject_id=people[3], now=T0 + 23 * DAY)
    _agree(org_db, T0 + 23 * DAY, T0 + 200 * DAY)

    # Expiry by the daily job, which also folds the deltas into one row per key.
    assert _key_rows(org_db)[0] > _key_rows(org_db)[1]  # deltas accumulated
    report = run_jobs(org_db, now=T0 + 500 * DAY)
    assert report.expired > 0
    rows, keys = _key_rows(org_db)
    assert rows == keys
    _agree(org_db, T0 + 500 * DAY, T0 + 900 * DAY)

    # Deleting a photo past retention removes its rows and its counts.
    gone = next(a for a, _ids in library if a != shown)
    with org_db.write() as conn:
        conn.execute(update(assets).where(assets.c.id == gone).values(retention_flagged_at=T0 + 500 * DAY))
    before = sum(f.with_people for f in overview_now(org_db, T0 + 500 * DAY))
    delete_photo(portal, actor=OPERATOR, asset_id=gone, now=T0 + 501 * DAY)
    assert sum(f.with_people for f in overview_now(org_db, T0 + 501 * DAY)) == before - len(PURPOSES)
    _agree(org_db, T0 + 501 * DAY)


def overview_now(db: Database, now: datetime) -> list:  # type: ignore[type-arg]
    """The summary at `now`, from the counters."""
    with db.read() as conn:
        return overview(conn, now=now)[0]


def test_figures_are_exact_at_the_edges_of_each_day_and_window(org_db: Database) -> None:
    """Covers lapsing at awkward times (midnight, just before it, mid-day): at the lapse itself, a microsecond either
    side, and exactly 30/45/60/90 days before, the counters give the figures of the index rows."""
    portal = portal_of(org_db)
    starts = [
        datetime(2025, 3, 1, 0, 0, tzinfo=UTC),
        datetime(2025, 3, 1, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2025, 3, 2, 12, 0, tzinfo=UTC),
    ]
    people = [make_subject(org_db, name=f"Edge {i}", choices={"website": True}, now=s) for i, s in enumerate(starts)]
    library = _library(org_db, len(people), random.Random(9), faces=1)
    for person, (_a, [face]) in zip(people, library, strict=True):
        link_face(portal, actor=_staff(org_db), detection_id=face, subject_id=person, now=starts[0])
    with org_db.read() as conn:
        lapses = sorted(
            conn.execute(
                select(consent_current.c.valid_until).where(consent_current.c.valid_until.is_not(None)).distinct()
            ).scalars()
        )
    assert len(lapses) >= 3
    moments = set()
    for until in lapses:
        day_start = until.replace(hour=0, minute=0, second=0, microsecond=0)
        for base in (until, day_start, day_start + DAY - US):
            for days in (0, 30, 45, 60, 90):
                for nudge in (-US, timedelta(0), US):
                    moments.add(base - days * DAY + nudge)
    _agree(org_db, *sorted(moments))


def test_check_reports_tampered_counters_and_rebuild_repairs_them(org_db: Database) -> None:
    person = make_subject(org_db, name="Counted", choices={"website": True}, now=T0)
    [(_a, [face])] = _library(org_db, 1, random.Random(6), faces=1)
    link_face(portal_of(org_db), actor=_staff(org_db), detection_id=face, subject_id=person, now=T0)
    with org_db.write() as conn:
        conn.execute(insert(risk_counts).values(event_id=None, purpose_id=1, reasons=1, until_day=None, n=5))
    portal = portal_of(org_db)
    problems = check_risk_index(portal)
    assert len(problems) == 1 and problems[0].startswith("risk_counts differs for 1 ")
    rebuild_risk_index(portal, actor=Actor.operator("alice"))
    assert check_risk_index(portal) == []
    assert _key_rows(org_db)[0] == _key_rows(org_db)[1]


def test_compaction_keeps_the_figures_and_leaves_one_row_per_key(org_db: Database) -> None:
    people = [make_subject(org_db, name=f"K{i}", choices={"website": True, "print": True}, now=T0) for i in range(3)]
    library = _library(org_db, 6, random.Random(3), faces=1)
    for k, (_a, [face]) in enumerate(library):
        link_face(portal_of(org_db), actor=_staff(org_db), detection_id=face, subject_id=people[k % 3], now=T0)
    for k in range(6):
        record_consent(
            org_db,
            subject_id=people[k % 3],
            context=STAFF,
            now=T0 + k * DAY,
            decisions=[Decision("website", "withdrawn" if k < 3 else "given")],
        )
    rows, keys = _key_rows(org_db)
    assert rows > keys
    before = overview_now(org_db, T0 + 10 * DAY)
    with org_db.write() as conn:
        left = risk_counts_module.compact(conn)
    assert (left, left) == _key_rows(org_db) and left == keys
    assert overview_now(org_db, T0 + 10 * DAY) == before
    _agree(org_db, T0 + 10 * DAY)
