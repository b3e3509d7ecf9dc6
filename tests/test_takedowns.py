"""Takedown tasks on both databases: every change that makes a published photo unusable opens exactly one task per
publication in its own transaction; ending the publication closes it; partners are told; the digest counts them."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import insert, select

from portal.backend.consent.purposes import TextContent
from portal.backend.consent.records import Decision
from portal.backend.consent.services import change_consent, publish_purpose_text
from portal.backend.ops.services import run_daily_jobs
from portal.backend.people.services import erase_subject
from portal.backend.photos import queries, services
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import assets, audit_log, detections, outbox, takedowns
from portal.backend.platform.errors import ConsentStateError, ValidationError
from portal.backend.platform.runtime import Portal
from portal.backend.risk import index as risk_index
from tests.factories import make_portal, make_staff, make_subject

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Scene:
    """A photo of Anna and Bob, both agreeing to website and partners, published for both."""

    portal: Portal
    staff: Actor
    admin: Actor
    asset_id: int
    faces: list[int]
    anna: str
    bob: str
    website: int
    partners: int


def photo(portal: Portal, faces: int, *, n: int = 1) -> tuple[int, list[int]]:
    """A small stored photo, analysed, with `faces` unlinked face detections (no detector run: fast)."""
    db = portal.db
    data = io.BytesIO()
    Image.new("RGB", (400, 300), (200, 180, 160)).save(data, format="JPEG")
    portal.blobs.put(f"originals/{n}.jpg", data.getvalue(), content_type="image/jpeg")
    portal.blobs.put(f"thumbs/{n}.jpg", data.getvalue(), content_type="image/jpeg")
    with db.write() as conn:
        asset_id = conn.execute(
            insert(assets)
            .values(
                sha256=f"{n:064d}",
                blob_key=f"originals/{n}.jpg",
                thumb_key=f"thumbs/{n}.jpg",
                filename=f"photo-{n}.jpg",
                content_type="image/jpeg",
                width=400,
                height=300,
                bytes=1,
                uploaded_at=T0,
                analysis_state="done",
            )
            .returning(assets.c.id)
        ).scalar_one()
        ids = [
            conn.execute(
                insert(detections)
                .values(
                    asset_id=asset_id,
                    kind="face",
                    x=0.1 + 0.3 * i,
                    y=0.2,
                    w=0.15,
                    h=0.2,
                    score=1.0,
                    detector="dlib-hog",
                    created_at=T0,
                )
                .returning(detections.c.id)
            ).scalar_one()
            for i in range(faces)
        ]
        risk_index.refresh_assets(conn, [asset_id], now=T0)
    return asset_id, ids


def tasks(db: Database, *, open_only: bool = False) -> list[Any]:
    """Task rows, oldest first."""
    stmt = select(takedowns).order_by(takedowns.c.id)
    if open_only:
        stmt = stmt.where(takedowns.c.open_key.is_not(None))
    with db.read() as conn:
        return list(conn.execute(stmt).all())


def audits(db: Database, action: str) -> list[dict[str, Any]]:
    """Audit details of one action, oldest first."""
    with db.read() as conn:
        rows = conn.execute(select(audit_log.c.detail).where(audit_log.c.action == action).order_by(audit_log.c.id))
        return [json.loads(r.detail) for r in rows]


def consistent(db: Database) -> None:
    """The risk index agrees with the ledger, and every open publication at risk for a reason nobody accepted has
    exactly one open takedown task."""
    with db.read() as conn:
        assert risk_index.check(conn) == []
    at_risk = {p.id for p in queries_publications(db)}
    with_task = [t.use_id for t in tasks(db, open_only=True) if t.kind == "takedown"]
    assert at_risk <= set(with_task) and len(with_task) == len(set(with_task))


def queries_publications(db: Database) -> list[Any]:
    """Open publications whose photo is at risk now for an unaccepted reason."""
    from sqlalchemy import text

    sql = (
        "SELECT u.id FROM asset_uses u JOIN asset_risk r ON r.asset_id = u.asset_id AND r.purpose_id = u.purpose_id "
        "WHERE u.until IS NULL AND (r.reasons & ~u.accepted_reasons) <> 0"
    )
    with db.read() as conn:
        return list(conn.execute(text(sql)).all())


def change(scene: Scene, subject: str, decisions: Sequence[Decision], now: datetime = T0) -> None:
    """A consent change the person makes on their personal page."""
    change_consent(
        scene.portal, actor=Actor.subject(subject), subject_id=subject, decisions=decisions, channel="portal", now=now
    )


@pytest.fixture
def scene(org_db: Database, tmp_path: Path) -> Scene:
    """Anna and Bob in one photo, published on the website and to partners."""
    portal = make_portal(org_db, tmp_path / "blobs")
    staff = make_staff(org_db, role="staff")
    admin = make_staff(org_db, role="admin")
    choices = {"website": True, "partners": True, "internal": True}
    anna = make_subject(org_db, name="Anna Andersson", choices=choices, now=T0 - timedelta(days=10))
    bob = make_subject(org_db, name="Bob Berg", choices=choices, now=T0 - timedelta(days=10))
    asset_id, faces = photo(portal, 2)
    services.link_face(portal, actor=staff, detection_id=faces[0], subject_id=anna, now=T0)
    services.link_face(portal, actor=staff, detection_id=faces[1], subject_id=bob, now=T0)
    website = services.publish_photo(
        portal, actor=staff, asset_id=asset_id, purpose="website", where="https://example.org/team", now=T0
    )
    partners = services.publish_photo(
        portal, actor=staff, asset_id=asset_id, purpose="partners", where="Regional newspaper", now=T0
    )
    assert tasks(org_db) == []  # everyone agreed: nothing to take down
    return Scene(portal, staff, admin, asset_id, faces, anna, bob, website, partners)


def test_a_withdrawal_opens_one_task_per_publication_and_tells_partners(scene: Scene) -> None:
    db = scene.portal.db
    later = T0 + timedelta(hours=1)
    change(scene, scene.anna, [Decision("website", "withdrawn"), Decision("partners", "withdrawn")], now=later)
    opened = tasks(db)
    assert sorted((t.kind, t.use_id, t.cause) for t in opened) == [
        ("notify_partner", scene.partners, "withdrawn"),
        ("takedown", scene.website, "withdrawn"),
        ("takedown", scene.partners, "withdrawn"),
    ]
    assert {t.opened_at for t in opened} == {later}  # the withdrawal's own time: same transaction
    assert all(t.reasons & risk_index.REASON_BITS["withdrawn"] for t in opened)
    # A second change on the same photos (Bob withdraws too, Anna withdraws again elsewhere) adds no duplicate.
    change(scene, scene.bob, [Decision("website", "withdrawn"), Decision("partners", "withdrawn")], now=later)
    change(scene, scene.anna, [Decision("internal", "withdrawn")], now=later)
    assert len(tasks(db)) == 3
    consistent(db)

    # The list staff see: oldest first, with the photo, where, purpose and why.
    listed = queries.list_takedowns(scene.portal)
    assert {(t.kind, t.place, t.purpose, t.filename) for t in listed} == {
        ("takedown", "https://example.org/team", "website", "photo-1.jpg"),
        ("takedown", "Regional newspaper", "partners", "photo-1.jpg"),
        ("notify_partner", "Regional newspaper", "partners", "photo-1.jpg"),
    }

    # Ending the website publication closes its task, audited with the task id.
    website_task = next(t for t in opened if t.use_id == scene.website)
    closed = services.unpublish_photo(scene.portal, actor=scene.staff, use_id=scene.website, now=later)
    assert closed == [website_task.id]
    row = next(t for t in tasks(db) if t.id == website_task.id)
    assert (row.open_key, row.closed_at, row.closed_by, row.closed_note) == (
        None,
        later,
        scene.staff.ref,
        "publication ended",
    )
    assert audits(db, "unpublish_photo")[-1]["takedown_tasks"] == [website_task.id]

    # Ending the partner publication leaves the partner to be told: that is a note by a staff member.
    services.unpublish_photo(scene.portal, actor=scene.staff, use_id=scene.partners, now=later)
    partner = next(t for t in tasks(db, open_only=True))
    assert partner.kind == "notify_partner"
    with pytest.raises(ValidationError, match="how and when"):
        services.close_task(scene.portal, actor=scene.staff, task_id=partner.id, note="   ")
    services.close_task(
        scene.portal, actor=scene.staff, task_id=partner.id, note="Phoned the editor; removed today", now=later
    )
    assert tasks(db, open_only=True) == []
    assert audits(db, "close_takedown_task") == [
        {
            "task_id": partner.id,
            "kind": "notify_partner",
            "use_id": scene.partners,
            "note": "Phoned the editor; removed today",
        }
    ]
    with pytest.raises(ConsentStateError, match="already closed"):
        services.close_task(scene.portal, actor=scene.staff, task_id=partner.id, note="again")
    assert [t.id for t in queries.closed_takedowns(scene.portal)][:1] == [partner.id]
    consistent(db)


def test_a_takedown_task_closes_only_by_ending_the_publication(scene: Scene) -> None:
    change(scene, scene.anna, [Decision("website", "withdrawn")])
    (task,) = tasks(scene.portal.db)
    with pytest.raises(ValidationError, match="is a takedown"):
        services.close_task(scene.portal, actor=scene.staff, task_id=task.id, note="done")


@pytest.mark.parametrize(
    ("decision", "cause"),
    [
        (Decision("website", "revoked"), "revoked"),
        (Decision("website", "refused", asset_id=-1), "veto"),  # -1: this photo (filled in below)
    ],
)
def test_revocation_and_a_photo_veto_each_open_one_task(scene: Scene, decision: Decision, cause: str) -> None:
    if decision.asset_id == -1:
        decision = Decision(decision.purpose, decision.action, scene.asset_id)
    change_consent(
        scene.portal,
        actor=make_staff(scene.portal.db, role="manager"),
        subject_id=scene.bob,
        decisions=[decision],
        channel="staff",
        now=T0,
    )
    assert [(t.kind, t.use_id, t.cause) for t in tasks(scene.portal.db)] == [("takedown", scene.website, cause)]
    consistent(scene.portal.db)


def test_a_refusal_after_an_accepted_unknown_opens_a_task(org_db: Database, tmp_path: Path) -> None:
    portal = make_portal(org_db, tmp_path / "blobs")
    staff, admin = make_staff(org_db, role="staff"), make_staff(org_db, role="admin")
    eve = make_subject(org_db, name="Eve", choices={"internal": True}, now=T0)  # never asked about the website
    asset_id, (face,) = photo(portal, 1)
    services.link_face(portal, actor=staff, detection_id=face, subject_id=eve, now=T0)
    use = services.publish_photo(
        portal,
        actor=admin,
        asset_id=asset_id,
        purpose="website",
        where="site",
        override_reason="Asked by phone",
        now=T0,
    )
    assert tasks(org_db) == []
    change_consent(
        portal, actor=Actor.subject(eve), subject_id=eve, decisions=[Decision("website", "refused")], channel="portal"
    )
    assert [(t.use_id, t.cause) for t in tasks(org_db)] == [(use, "refused")]
    consistent(org_db)


def test_expiry_opens_a_task_when_the_daily_job_writes_it(org_db: Database, tmp_path: Path) -> None:
    portal = make_portal(org_db, tmp_path / "blobs")
    staff, admin = make_staff(org_db, role="staff"), make_staff(org_db, role="admin")
    # The organisation's consents hold 365 days: given a year ago, it lapses in a day.
    given = T0 - timedelta(days=364)
    cleo = make_subject(org_db, name="Cleo", choices={"website": True}, now=given)
    asset_id, (face,) = photo(portal, 1)
    services.link_face(portal, actor=staff, detection_id=face, subject_id=cleo, now=T0)
    use = services.publish_photo(portal, actor=staff, asset_id=asset_id, purpose="website", where="site", now=T0)
    run_daily_jobs(portal, actor=admin, now=T0)
    assert tasks(org_db) == []
    report = run_daily_jobs(portal, actor=admin, now=T0 + timedelta(days=2))
    assert report.expired == 1 and report.takedowns_opened == 0  # opened by the expiry, not the safety net
    assert [(t.use_id, t.cause, t.opened_at) for t in tasks(org_db)] == [(use, "expired", T0 + timedelta(days=2))]
    run_daily_jobs(portal, actor=admin, now=T0 + timedelta(days=3))
    assert len(tasks(org_db)) == 1
    consistent(org_db)


def test_erasure_opens_erasure_tasks_instead_of_outbox_rows(scene: Scene) -> None:
    db = scene.portal.db
    report = erase_subject(scene.portal, actor=make_staff(db, role="manager"), subject_id=scene.anna, now=T0)
    assert report.takedown_tasks == 2
    assert sorted((t.kind, t.use_id, t.cause) for t in tasks(db)) == [
        ("notify_partner", scene.partners, "erasure"),
        ("takedown", scene.website, "erasure"),
        ("takedown", scene.partners, "erasure"),
    ]
    assert all(t.open_key for t in tasks(db))  # the blurred photo is usable, but the published copy is not
    with db.read() as conn:
        assert conn.execute(select(outbox).where(outbox.c.kind == "takedown")).all() == []
    consistent(db)


def test_a_replaced_text_opens_text_replaced_tasks(scene: Scene) -> None:
    db = scene.portal.db
    texts = {
        locale: TextContent(title=f"Website ({locale})", body=f"We now also show photos in the newsletter ({locale}).")
        for locale in ("en", "sv")
    }
    publish_purpose_text(scene.portal, actor=scene.admin, code="website", texts=texts, now=T0)
    assert [(t.kind, t.use_id, t.cause) for t in tasks(db)] == [("takedown", scene.website, "text_replaced")]
    consistent(db)


def test_linking_a_face_to_someone_who_refused_opens_a_task(org_db: Database, tmp_path: Path) -> None:
    portal = make_portal(org_db, tmp_path / "blobs")
    staff, admin = make_staff(org_db, role="staff"), make_staff(org_db, role="admin")
    dana = make_subject(org_db, name="Dana", choices={"website": False}, now=T0)
    asset_id, (face,) = photo(portal, 1)
    # Published by an admin while the face was unknown: that reason is accepted, so no task opens for it.
    use = services.publish_photo(
        portal,
        actor=admin,
        asset_id=asset_id,
        purpose="website",
        where="site",
        override_reason="Crowd shot from afar; the press office approved",
        now=T0,
    )
    assert tasks(org_db) == []
    services.link_face(portal, actor=staff, detection_id=face, subject_id=dana, now=T0)
    assert [(t.use_id, t.cause) for t in tasks(org_db)] == [(use, "refused")]
    consistent(org_db)


def test_nothing_opens_for_unpublished_photos_and_consent_given_again_closes_it(scene: Scene) -> None:
    db = scene.portal.db
    other, (face,) = photo(scene.portal, 1, n=2)
    services.link_face(scene.portal, actor=scene.staff, detection_id=face, subject_id=scene.anna, now=T0)
    change(scene, scene.anna, [Decision("website", "withdrawn")])
    assert {t.asset_id for t in tasks(db)} == {scene.asset_id}  # the unpublished photo needs nothing
    # Anna agrees again: the photo is usable, and the task closes itself (nobody needs to take it down).
    change(scene, scene.anna, [Decision("website", "given")], now=T0 + timedelta(minutes=5))
    (task,) = tasks(db)
    assert (task.open_key, task.closed_by) == (None, "system:takedowns")
    assert other != scene.asset_id
    consistent(db)


def test_the_manager_digest_counts_open_tasks_and_the_oldest_age(scene: Scene) -> None:
    db = scene.portal.db
    change(scene, scene.anna, [Decision("website", "withdrawn")], now=T0)
    change(scene, scene.bob, [Decision("partners", "withdrawn")], now=T0 + timedelta(days=1))
    run_daily_jobs(scene.portal, actor=scene.admin, now=T0 + timedelta(days=3))
    with db.read() as conn:
        digests = [json.loads(r.payload) for r in conn.execute(select(outbox).where(outbox.c.kind == "digest"))]
    assert digests and {json.dumps(d["takedowns"]) for d in digests} == {json.dumps({"open": 3, "oldestDays": 3})}
    assert queries.takedown_summary(scene.portal).open == 3


def test_the_daily_job_opens_tasks_missing_from_before_and_settles_legacy_rows(scene: Scene) -> None:
    db = scene.portal.db
    change(scene, scene.anna, [Decision("website", "withdrawn")])
    with db.write() as conn:  # as a database upgraded from before tasks existed: no task, one pending outbox row
        conn.execute(takedowns.delete())
        conn.execute(
            insert(outbox).values(
                kind="takedown",
                asset_id=scene.asset_id,
                payload=json.dumps({"use_id": scene.partners, "reason": "erasure"}),
                created_at=T0,
                dedupe_key="takedown:legacy",
            )
        )
    report = run_daily_jobs(scene.portal, actor=scene.admin, now=T0 + timedelta(days=1))
    assert report.takedowns_opened == 3  # erasure takedowns for both publications, and its partner task
    assert sorted((t.kind, t.use_id, t.cause) for t in tasks(db)) == [
        ("notify_partner", scene.partners, "erasure"),
        ("takedown", scene.website, "erasure"),
        ("takedown", scene.partners, "erasure"),
    ]
    with db.read() as conn:
        assert conn.execute(select(outbox.c.status).where(outbox.c.kind == "takedown")).scalar_one() == "done"
    again = run_daily_jobs(scene.portal, actor=scene.admin, now=T0 + timedelta(days=1))
    assert (again.takedowns_opened, again.takedowns_done) == (0, 0)
