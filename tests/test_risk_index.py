"""The risk index stays in step with the ledger and the detections through every service, on both databases."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from alembic import command
from sqlalchemy import insert, select, text

from portal.backend.consent.purposes import TextContent, publish_text
from portal.backend.consent.records import Decision
from portal.backend.ops.services import JobReport, run_daily_jobs
from portal.backend.photos.services import confirm_face, link_face, publish_photo, reject_face
from portal.backend.platform.actors import Actor
from portal.backend.platform.db import migrate
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import assets, detections, events, staff_users
from portal.backend.platform.errors import ConsentStateError
from portal.backend.risk import index as risk_index
from portal.backend.risk.figures import at_risk_rows, drill_down, per_event, summary
from portal.backend.risk.queries import check_risk_index, coverage_history
from portal.backend.risk.services import rebuild_risk_index
from portal.backend.staff.accounts import create_user
from portal.backend.staff.audit import audit_count
from tests.factories import STAFF, make_subject, record_consent
from tests.risk_reference import reference_rows
from tests.test_risk import OPERATOR, portal_of

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
PURPOSES = ("internal", "website", "social_media", "print", "partners")


def _staff(db: Database) -> Actor:
    """A real staff account to confirm faces as (detections name who confirmed them by account id)."""
    with db.write() as conn:
        if not (user := conn.execute(select(staff_users).where(staff_users.c.email == "faces@example.org")).first()):
            user = create_user(
                conn, email="faces@example.org", display_name="Faces", role="staff", password=None, now=T0
            )
    return Actor.staff(user.id, "staff", "Faces")


def run_jobs(db: Database, *, now: datetime) -> JobReport:
    """The daily jobs through their service, as the scheduler runs them."""
    return run_daily_jobs(portal_of(db), actor=Actor.system("jobs"), now=now)


def _library(
    db: Database, n_assets: int, rng: random.Random, *, event_id: int | None = None, faces: int | None = None
) -> list[tuple[int, list[int]]]:
    """Analysed assets with unlinked face detections (rows as analysis writes them): (asset id, detection ids)."""
    out = []
    with db.write() as conn:
        for n in range(n_assets):
            asset_id = conn.execute(
                insert(assets)
                .values(
                    sha256=f"{rng.getrandbits(256):064x}",
                    blob_key=f"k{n}",
                    filename=f"{n}.jpg",
                    content_type="image/jpeg",
                    width=100,
                    height=100,
                    bytes=1,
                    uploaded_at=T0,
                    analysis_state="done",
                    event_id=event_id,
                )
                .returning(assets.c.id)
            ).scalar_one()
            ids = [
                conn.execute(
                    insert(detections)
                    .values(
                        asset_id=asset_id,
                        kind="face",
                        x=0.3 * k,
                        y=0.1,
                        w=0.1,
                        h=0.1,
                        detector="dlib-hog",
                        created_at=T0,
                    )
                    .returning(detections.c.id)
                ).scalar_one()
                for k in range(faces or rng.randint(1, 3))
            ]
            risk_index.refresh_assets(conn, [asset_id])
            out.append((asset_id, ids))
    return out


def _assert_in_step(db: Database, *nows: datetime) -> None:
    """Stored index equals a fresh computation, and its at-risk pairs equal the independent oracle's."""
    with db.read() as conn:
        assert risk_index.check(conn) == []
        for now in nows:
            ours = {(a, p) for a, p, _ in at_risk_rows(conn, now=now)}
            oracle = {(a, p) for a, p, _ in reference_rows(conn, now=now)}
            assert ours == oracle, f"at {now}: only ours {ours - oracle}, only the oracle's {oracle - ours}"


def test_every_service_keeps_the_index_in_step(org_db: Database) -> None:
    rng = random.Random(11)
    people = [
        make_subject(
            org_db, name=f"P{i}", now=T0 - rng.randint(0, 400) * DAY, choices={p: rng.random() < 0.6 for p in PURPOSES}
        )
        for i in range(12)
    ]
    faces = _library(org_db, 25, rng)
    _assert_in_step(org_db, T0, T0 + 100 * DAY)

    for _asset, ids in faces:  # staff link most faces, mark some as background, leave some open
        for det in ids:
            roll = rng.random()
            if roll < 0.7:
                link_face(
                    portal_of(org_db), actor=_staff(org_db), detection_id=det, subject_id=rng.choice(people), now=T0
                )
            elif roll < 0.8:
                reject_face(
                    portal_of(org_db), actor=_staff(org_db), detection_id=det, reason="not_identifiable", now=T0
                )
    _assert_in_step(org_db, T0, T0 + 200 * DAY, T0 + 500 * DAY)

    for _ in range(30):  # changes of mind, general and per image
        subject = rng.choice(people)
        asset_id = rng.choice(faces)[0] if rng.random() < 0.4 else None
        try:
            record_consent(
                org_db,
                subject_id=subject,
                context=STAFF,
                now=T0 + rng.randint(1, 30) * DAY,
                decisions=[Decision(rng.choice(PURPOSES), rng.choice(("given", "withdrawn", "refused")), asset_id)],
            )
        except ConsentStateError:
            pass  # a change that makes no sense from the current state is refused and writes nothing
    _assert_in_step(org_db, T0 + 31 * DAY, T0 + 300 * DAY, T0 + 800 * DAY)

    with org_db.write() as conn:  # a replaced text (R16)
        publish_text(
            conn,
            code="print",
            now=T0 + 40 * DAY,
            texts={"en": TextContent(title="Print", body="Brochures and posters, now also banners.")},
            carry_over=("sv",),
        )
    _assert_in_step(org_db, T0 + 41 * DAY)
    run_jobs(org_db, now=T0 + 500 * DAY)  # expiry entries written by the system
    _assert_in_step(org_db, T0 + 500 * DAY, T0 + 900 * DAY)


def test_a_replaced_text_puts_photos_at_risk_until_renewed(org_db: Database) -> None:
    person = make_subject(org_db, name="Reader", choices={"print": True, "website": True}, now=T0)
    [(_a, [face])] = _library(org_db, 1, random.Random(1), faces=1)
    link_face(portal_of(org_db), actor=_staff(org_db), detection_id=face, subject_id=person, now=T0)
    with org_db.read() as conn:
        assert {f.purpose: f.at_risk for f in summary(conn, now=T0 + DAY)}["print"] == 0
    with org_db.write() as conn:
        publish_text(
            conn,
            code="print",
            now=T0 + DAY,
            texts={"en": TextContent(title="Print", body="Printed matter, now sold to third parties.")},
            carry_over=("sv",),
        )
    with org_db.read() as conn:
        figures = {f.purpose: f for f in summary(conn, now=T0 + 2 * DAY)}
    assert figures["print"].by_reason == {"superseded": 1}
    assert figures["website"].at_risk == 0  # only the purpose whose text changed
    record_consent(org_db, subject_id=person, decisions=[Decision("print", "renewed")], context=STAFF, now=T0 + 3 * DAY)
    with org_db.read() as conn:
        assert {f.purpose: f.at_risk for f in summary(conn, now=T0 + 4 * DAY)}["print"] == 0


def test_expiry_windows_events_and_drill_down(org_db: Database) -> None:
    """Consents lapsing in 20, 50 and 80 days fall into the 30/60/90-day windows; figures split per event."""
    with org_db.write() as conn:
        fair = conn.execute(
            insert(events).values(name="Spring fair", created_at=T0, qr_secret="s" * 32).returning(events.c.id)
        ).scalar_one()
    people = [
        make_subject(org_db, name=f"Lapse {d}", choices={"website": True}, now=T0 - (365 - d) * DAY)
        for d in (20, 50, 80)
    ]
    at_fair = _library(org_db, 3, random.Random(2), event_id=fair, faces=1)
    [(elsewhere, _)] = _library(org_db, 1, random.Random(3), faces=1)
    for person, (_a, ids) in zip(people, at_fair, strict=True):
        for det in ids:
            link_face(portal_of(org_db), actor=_staff(org_db), detection_id=det, subject_id=person, now=T0)
    with org_db.read() as conn:
        website = {f.purpose: f for f in summary(conn, now=T0)}["website"]
        assert website.expiring_in == {30: 1, 60: 2, 90: 3}
        assert website.with_people == 4 and website.at_risk == 1  # the stranger elsewhere
        assert website.by_reason == {"unidentified": 1}
        by_event = {(e.event_name, e.figures.purpose): e.figures for e in per_event(conn, now=T0)}
        assert by_event[("Spring fair", "website")].at_risk == 0
        assert by_event[("Spring fair", "website")].expiring_in[60] == 2
        assert by_event[("(no event)", "website")].by_reason == {"unidentified": 1}
        soon = drill_down(conn, purpose="website", expiring_within=60, now=T0)
        assert [r["filename"] for r in soon] == ["0.jpg", "1.jpg"] and soon[0]["event"] == "Spring fair"
        open_faces = drill_down(conn, purpose="website", reason="unidentified", now=T0)
        assert len(open_faces) == 1 and open_faces[0]["event"] is None
        # Sixty days on, the first has lapsed: expired, and no longer "expiring".
        later = {f.purpose: f for f in summary(conn, now=T0 + 60 * DAY)}["website"]
        assert later.by_reason == {"unidentified": 1, "expired": 2} and later.expiring_in[30] == 1
        assert len(drill_down(conn, purpose="website", reason="expired", now=T0 + 60 * DAY)) == 2
    publish_photo(
        portal_of(org_db),
        actor=OPERATOR,
        asset_id=elsewhere,
        purpose="website",
        where="https://example.org/x",
        override_reason="an unidentified face (test)",
        now=T0,
    )
    with org_db.read() as conn:
        assert {f.purpose: f.critical for f in summary(conn, now=T0)}["website"] == 1
        assert [r["published"] for r in drill_down(conn, purpose="website", published_only=True, now=T0)] == [True]


def test_coverage_snapshots_one_per_day(org_db: Database) -> None:
    person = make_subject(org_db, name="Snap", choices={"website": True}, now=T0)
    [(_a, [face])] = _library(org_db, 1, random.Random(4), faces=1)
    run_jobs(org_db, now=T0)
    link_face(portal_of(org_db), actor=_staff(org_db), detection_id=face, subject_id=person, now=T0)
    run_jobs(org_db, now=T0 + DAY)
    run_jobs(org_db, now=T0 + DAY + timedelta(hours=3))  # twice the same day: still one row per purpose
    history = [h for h in coverage_history(portal_of(org_db)) if h.purpose == "website"]
    assert [(h.day, h.with_people) for h in history] == [(date(2026, 3, 1), 1), (date(2026, 3, 2), 1)]
    assert history[0].coverage == 0.0  # an unidentified face
    assert history[1].coverage == 1.0  # linked to a person who consented
    assert [h.day for h in coverage_history(portal_of(org_db), since=date(2026, 3, 2))] == [date(2026, 3, 2)] * len(
        PURPOSES
    )


def test_migration_derives_the_index_from_an_existing_ledger(org_db: Database) -> None:
    person = make_subject(org_db, name="Early", choices={"website": True}, now=T0)
    [(_a, [face]), _other] = _library(org_db, 2, random.Random(5), faces=1)
    link_face(portal_of(org_db), actor=_staff(org_db), detection_id=face, subject_id=person, now=T0)
    with org_db.read() as conn:
        before = set(at_risk_rows(conn, now=T0))
    with org_db.write() as conn:  # back to the version before the index existed
        command.downgrade(migrate._config(conn, org_db.schema), "0003")
    migrate.upgrade(org_db)
    with org_db.read() as conn:
        assert set(at_risk_rows(conn, now=T0)) == before
        assert risk_index.check(conn) == []


def test_check_reports_a_tampered_index_and_rebuild_repairs_it(org_db: Database) -> None:
    person = make_subject(org_db, name="Tamper", choices={"website": True}, now=T0)
    [(_a, [face])] = _library(org_db, 1, random.Random(6), faces=1)
    link_face(portal_of(org_db), actor=_staff(org_db), detection_id=face, subject_id=person, now=T0)
    with org_db.write() as conn:
        conn.execute(text("UPDATE asset_risk SET reasons = 0, until = NULL"))
        conn.execute(text("DELETE FROM consent_current"))
    portal = portal_of(org_db)
    problems = check_risk_index(portal)
    # The counters were not touched, so they now differ from a fresh judgement as well.
    assert len(problems) == 3 and "consent_current" in problems[0] and "asset_risk" in problems[1]
    assert "risk_counts" in problems[2]
    assert rebuild_risk_index(portal, actor=Actor.operator("alice")) == len(PURPOSES)
    _assert_in_step(org_db, T0)
    with org_db.read() as conn:
        assert audit_count(conn, action="rebuild_risk_index") == 1


def test_check_names_rows_missing_on_either_side(org_db: Database) -> None:
    people = [make_subject(org_db, name=f"S{i}", choices={"website": True}, now=T0) for i in range(3)]
    library = _library(org_db, 3, random.Random(8), faces=1)
    for person, (_a, [face]) in zip(people, library, strict=True):
        link_face(portal_of(org_db), actor=_staff(org_db), detection_id=face, subject_id=person, now=T0)
    [(extra, _faces)] = _library(org_db, 1, random.Random(9), faces=1)
    first = library[0][0]
    with org_db.write() as conn:
        # A pair gone from the index at the start of the key order, and rows the index keeps for a photo whose
        # face was removed behind its back, at the end: each stream runs out with the other holding rows.
        conn.execute(text("DELETE FROM asset_risk WHERE asset_id = :a AND purpose_id = 1"), {"a": first})
        conn.execute(text("DELETE FROM detections WHERE asset_id = :a"), {"a": extra})
    problems = check_risk_index(portal_of(org_db))
    risk = next(p for p in problems if p.startswith("asset_risk"))
    assert risk.startswith(f"asset_risk differs for {1 + len(PURPOSES)} (photo, purpose) pairs"), problems
    assert f"({first}, 1)" in risk and f"({extra}, " in risk
    assert any(p.startswith("risk_counts differs") for p in problems)


def test_the_check_merge_counts_every_difference_and_keeps_five_examples() -> None:
    stored = [((1,), ("a",)), ((2,), ("b",)), ((4,), ("d",)), ((6,), ("f",)), ((7,), ("g",)), ((9,), ("i",))]
    fresh = [((2,), ("b",)), ((3,), ("c",)), ((4,), ("D",)), ((6,), ("f",)), ((8,), ("h",)), ((9,), ("i",))]
    count, examples = risk_index._differences(iter(stored), iter(fresh))
    assert count == 5  # 1 and 7 only stored, 3 and 8 only fresh, 4 differs; 2, 6 and 9 agree
    assert examples == [
        ((1,), (("a",), None)), ((3,), (None, ("c",))), ((4,), (("d",), ("D",))), ((7,), (("g",), None)),
        ((8,), (None, ("h",))),
    ]  # fmt: skip
    assert risk_index._differences(iter(stored), iter(stored)) == (0, [])
    assert risk_index._differences(iter([]), iter(fresh[:1])) == (1, [((2,), (None, ("b",)))])
    many = [((k,), (k,)) for k in range(20)]
    assert risk_index._differences(iter(many), iter([])) == (20, [((k,), ((k,), None)) for k in range(5)])


def test_suggestions_only_count_once_confirmed(org_db: Database) -> None:
    person = make_subject(org_db, name="Matched", choices={"website": True}, now=T0)
    [(asset_id, [face])] = _library(org_db, 1, random.Random(7), faces=1)
    with org_db.write() as conn:  # as matching leaves it: a suggestion, not yet a link
        conn.execute(
            detections.update()
            .where(detections.c.id == face)
            .values(subject_id=person, link_method="match", link_status="suggested", link_distance=0.4)
        )
        risk_index.refresh_assets(conn, [asset_id])
        reviewer = create_user(
            conn, email="rev@example.org", display_name="Rev", role="staff", password="a-long-password-1", now=T0
        ).id
    with org_db.read() as conn:
        assert {f.purpose: f.by_reason for f in summary(conn, now=T0)}["website"] == {"unidentified": 1}
    confirm_face(portal_of(org_db), actor=Actor.staff(reviewer, "staff"), detection_id=face, now=T0)
    with org_db.read() as conn:
        assert {f.purpose: f.at_risk for f in summary(conn, now=T0)}["website"] == 0
    _assert_in_step(org_db, T0)
