"""The photo services on both databases: each action audited in its own transaction, faces moved only on purpose,
publications and links kept in step with the risk index, and the CLI's face commands going through them."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from portal.backend.photos import queries, services
from portal.backend.platform.actors import Actor
from portal.backend.platform.blobs import LocalBlobStore
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import asset_risk, asset_uses, assets, audit_log, detections, purposes
from portal.backend.platform.errors import (
    AuthError,
    ConsentStateError,
    FaceAlreadyLinked,
    NotFound,
    ValidationError,
)
from portal.backend.platform.runtime import Portal
from portal.backend.risk import index as risk_index
from portal.backend.staff.accounts import create_user
from tests.factories import make_subject
from tests.imagery import group_photo

T0 = datetime(2026, 6, 1, tzinfo=UTC)
OPERATOR = Actor.operator("tester")


@pytest.fixture
def portal(org_db: Database, tmp_path: Path) -> Portal:
    """The portal over the organisation's database, with blobs in a temporary folder."""
    settings = load_settings(env={}, secrets_path=None, database_url=org_db.url)
    return Portal(settings=settings, db=org_db, blobs=LocalBlobStore(tmp_path / "blobs"))


@pytest.fixture
def staff(portal: Portal) -> Actor:
    """A signed-in staff member (role staff)."""
    with portal.db.write() as conn:
        user = create_user(
            conn,
            email="reviewer@example.org",
            display_name="Rita Reviewer",
            role="staff",
            password="long enough pw",
            now=T0,
        )
    return user.as_actor()


def _photo(db: Database, faces: int = 1, *, n: int = 0) -> tuple[int, list[int]]:
    """An analysed photo row with `faces` unlinked face detections; returns (asset id, detection ids)."""
    with db.write() as conn:
        asset_id = conn.execute(
            insert(assets)
            .values(
                sha256=f"{n:064d}",
                blob_key=f"originals/{n}",
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
        ids = [
            conn.execute(
                insert(detections)
                .values(
                    asset_id=asset_id,
                    kind="face",
                    x=0.2 * i,
                    y=0.1,
                    w=0.1,
                    h=0.1,
                    score=1.0,
                    detector="dlib-hog",
                    created_at=T0,
                )
                .returning(detections.c.id)
            ).scalar_one()
            for i in range(faces)
        ]
        risk_index.refresh_assets(conn, [asset_id])
    return asset_id, ids


def _audits(db: Database, action: str) -> list[dict[str, Any]]:
    """The audit rows of one action, oldest first, with their detail decoded."""
    with db.read() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.id)).all()
    return [dict(r._mapping) | {"detail": json.loads(r.detail)} for r in rows]


def _link(db: Database, detection_id: int) -> tuple[str | None, str | None]:
    with db.read() as conn:
        row = conn.execute(
            select(detections.c.subject_id, detections.c.link_status).where(detections.c.id == detection_id)
        ).one()
    return row.subject_id, row.link_status


def _risk_agrees(db: Database) -> None:
    with db.read() as conn:
        assert risk_index.check(conn) == []


def _reasons(db: Database, asset_id: int, purpose: str = "website") -> int | None:
    """The stored risk reasons (bit mask) of a photo for one purpose; None when no row (nobody in it)."""
    with db.read() as conn:
        return conn.execute(
            select(asset_risk.c.reasons)
            .join(purposes, purposes.c.id == asset_risk.c.purpose_id)
            .where(asset_risk.c.asset_id == asset_id, purposes.c.code == purpose)
        ).scalar()


def test_relinking_a_confirmed_face_needs_move_and_the_audit_names_both_people(portal: Portal, staff: Actor) -> None:
    anna = make_subject(portal.db, name="Anna Andersson", choices={"website": True})
    bo = make_subject(portal.db, name="Bo Berg", choices={"website": True})
    asset_id, (face,) = _photo(portal.db)
    first = services.link_face(portal, actor=staff, detection_id=face, subject_id=anna, now=T0)
    assert (first.subject_id, first.previous_subject_id, first.asset_id) == (anna, None, asset_id)

    with pytest.raises(FaceAlreadyLinked, match="already confirmed as Anna Andersson") as refused:
        services.link_face(portal, actor=staff, detection_id=face, subject_id=bo, now=T0)
    assert refused.value.subject_id == anna
    assert _link(portal.db, face) == (anna, "confirmed")  # nothing changed
    assert len(_audits(portal.db, "link_detection")) == 1

    moved = services.link_face(portal, actor=staff, detection_id=face, subject_id=bo, move=True, now=T0)
    assert (moved.subject_id, moved.previous_subject_id) == (bo, anna)
    assert _link(portal.db, face) == (bo, "confirmed")
    last = _audits(portal.db, "link_detection")[-1]
    assert last["actor"] == staff.ref and last["target_id"] == str(face)
    assert (last["detail"]["from_subject"], last["detail"]["to_subject"]) == (anna, bo)
    _risk_agrees(portal.db)


def test_a_suggested_face_is_linked_to_someone_else_without_move(portal: Portal, staff: Actor) -> None:
    anna = make_subject(portal.db, name="Anna Andersson", choices={"website": True})
    bo = make_subject(portal.db, name="Bo Berg", choices={"website": True})
    _, (face,) = _photo(portal.db)
    with portal.db.write() as conn:  # a match suggestion is not a confirmed link: nobody's record holds it yet
        conn.execute(
            detections.update()
            .where(detections.c.id == face)
            .values(subject_id=anna, link_method="match", link_status="suggested", link_distance=0.4)
        )
    assert [s.detection_id for s in queries.match_suggestions(portal, subject_id=anna)] == [face]
    done = services.link_face(portal, actor=staff, detection_id=face, subject_id=bo, now=T0)
    assert done.previous_subject_id is None and _link(portal.db, face) == (bo, "confirmed")
    assert queries.match_suggestions(portal, subject_id=anna) == []


def test_unlink_confirm_and_reject_are_audited_and_keep_the_risk_index(portal: Portal, staff: Actor) -> None:
    anna = make_subject(portal.db, name="Anna Andersson", choices={"website": True})
    asset_id, (linked, suggested, poster) = _photo(portal.db, 3, n=1)
    services.link_face(portal, actor=staff, detection_id=linked, subject_id=anna, now=T0)
    with portal.db.write() as conn:
        conn.execute(
            detections.update()
            .where(detections.c.id == suggested)
            .values(subject_id=anna, link_method="match", link_status="suggested", link_distance=0.4)
        )
    with pytest.raises(ConsentStateError, match="no open suggestion"):
        services.confirm_face(portal, actor=staff, detection_id=linked)
    services.confirm_face(portal, actor=staff, detection_id=suggested, now=T0)
    services.reject_face(portal, actor=staff, detection_id=poster, reason="not_identifiable", now=T0)
    assert _reasons(portal.db, asset_id) == 0  # Anna consented; the poster is nobody: not at risk
    _risk_agrees(portal.db)

    gone = services.unlink_face(portal, actor=staff, detection_id=linked, now=T0)
    assert (gone.subject_id, gone.previous_subject_id) == (None, anna)
    assert _link(portal.db, linked) == (None, None)
    assert _reasons(portal.db, asset_id) == 1  # an unidentified face again: at risk
    _risk_agrees(portal.db)
    with pytest.raises(ConsentStateError, match="not linked"):
        services.unlink_face(portal, actor=staff, detection_id=linked)
    with pytest.raises(NotFound):
        services.reject_face(portal, actor=staff, detection_id=999_999)
    assert [a["detail"]["from_subject"] for a in _audits(portal.db, "unlink_detection")] == [anna]
    assert [a["target_id"] for a in _audits(portal.db, "confirm_match")] == [str(suggested)]
    assert [a["target_id"] for a in _audits(portal.db, "mark_unidentifiable")] == [str(poster)]
    with portal.db.read() as conn:
        by = conn.execute(select(detections.c.confirmed_by).where(detections.c.id == suggested)).scalar()
    assert by == staff.staff_id


def test_publish_and_unpublish_are_audited_and_the_risk_index_agrees(portal: Portal, staff: Actor) -> None:
    bo = make_subject(portal.db, name="Bo Berg", choices={"website": True})
    asset_id, (face,) = _photo(portal.db, n=2)
    services.link_face(portal, actor=staff, detection_id=face, subject_id=bo, now=T0)
    with pytest.raises(ValidationError, match="Say where"):
        services.publish_photo(portal, actor=staff, asset_id=asset_id, purpose="website", where="   ")
    assert _audits(portal.db, "publish_photo") == []

    use_id = services.publish_photo(
        portal, actor=staff, asset_id=asset_id, purpose="website", where=" https://example.org/a ", now=T0
    )
    uses = queries.asset_detail(portal, asset_id=asset_id).uses
    assert [(u.id, u.purpose, u.place) for u in uses] == [(use_id, "website", "https://example.org/a")]
    (published,) = _audits(portal.db, "publish_photo")
    assert published["actor"] == staff.ref and published["target_id"] == str(asset_id)
    assert published["detail"] == {"use_id": use_id, "purpose": "website", "where": "https://example.org/a"}
    with portal.db.read() as conn:
        assert conn.execute(select(asset_uses.c.created_by)).scalar_one() == staff.staff_id
    _risk_agrees(portal.db)

    services.unpublish_photo(portal, actor=staff, use_id=use_id, now=T0)
    assert queries.asset_detail(portal, asset_id=asset_id).uses == []
    assert [a["detail"]["use_id"] for a in _audits(portal.db, "unpublish_photo")] == [use_id]
    with pytest.raises(NotFound, match="No current publication"):
        services.unpublish_photo(portal, actor=staff, use_id=use_id)
    assert len(_audits(portal.db, "unpublish_photo")) == 1
    _risk_agrees(portal.db)


def test_import_writes_one_audit_row_per_batch_with_counts(portal: Portal, staff: Actor, tmp_path: Path) -> None:
    pair = group_photo(["astronaut", "grace_hopper"])
    seen: list[tuple[str, str]] = []
    summary = services.import_photos(
        portal,
        actor=staff,
        files=[("pair.jpg", pair), ("copy.jpg", pair), ("text.jpg", b"just text")],
        progress=lambda name, outcome: seen.append((name, outcome)),
    )
    assert (len(summary.imported), len(summary.duplicates), summary.offered) == (1, 1, 3)
    assert summary.duplicates == summary.imported  # the copy is the same asset
    assert [r[0] for r in summary.rejected] == ["text.jpg"]
    assert seen == [("pair.jpg", "imported"), ("copy.jpg", "duplicate"), ("text.jpg", "rejected")]
    (row,) = _audits(portal.db, "import_photos")
    assert row["actor"] == staff.ref
    assert row["detail"] == {"imported": 1, "duplicates": 1, "rejected": 1, "event_id": None}
    with portal.db.read() as conn:
        assert conn.execute(select(assets.c.uploaded_by)).scalar_one() == staff.staff_id

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "grace.png").write_bytes(group_photo(["grace_hopper"], fmt="PNG"))
    again = services.import_photos(portal, actor=OPERATOR, files=[folder])
    assert len(again.imported) == 1
    assert _audits(portal.db, "import_photos")[-1]["actor"] == "operator:tester"
    with pytest.raises(ValidationError, match="No such file or folder"):
        services.import_photos(portal, actor=OPERATOR, files=[tmp_path / "missing"])
    assert len(_audits(portal.db, "import_photos")) == 2


def test_analysis_is_audited_once_per_run_that_did_something(portal: Portal, staff: Actor) -> None:
    services.import_photos(portal, actor=staff, files=[("grace.jpg", group_photo(["grace_hopper"]))])
    assert queries.analysis_counts(portal).pending == 1
    summary = services.analyse_pending(portal, actor=staff)
    assert (summary.done, summary.failed) == (1, 0) and summary.faces >= 1
    assert queries.analysis_counts(portal).done == 1
    assert services.analyse_pending(portal, actor=staff).done == 0
    (row,) = _audits(portal.db, "analyse_photos")
    assert row["detail"]["done"] == 1 and row["actor"] == staff.ref
    (listed,) = queries.list_assets(portal)
    assert (listed.filename, listed.analysis_state, listed.faces) == ("grace.jpg", "done", summary.faces)
    detail = queries.asset_detail(portal, asset_id=listed.id)
    assert len(detail.detections) == summary.faces + summary.persons
    assert queries.annotated_thumbnail(portal, detail=detail)[:2] == b"\xff\xd8"  # a JPEG
    _risk_agrees(portal.db)


def test_rendition_is_audited(portal: Portal, staff: Actor) -> None:
    summary = services.import_photos(portal, actor=staff, files=[("grace.jpg", group_photo(["grace_hopper"]))])
    services.analyse_pending(portal, actor=staff)
    result = services.render_rendition(portal, actor=staff, asset_id=summary.imported[0], purpose="website")
    assert result.data[:2] == b"\xff\xd8" and result.kept == 0 and result.blurred >= 1
    (row,) = _audits(portal.db, "render_rendition")
    assert row["target_id"] == str(summary.imported[0])
    assert row["detail"]["purpose"] == "website" and row["detail"]["blurred"] == result.blurred


def test_only_staff_work_on_photos_and_only_admins_switch_matching(portal: Portal, staff: Actor) -> None:
    _, (face,) = _photo(portal.db, n=3)
    anna = make_subject(portal.db, name="Anna Andersson", choices={"website": True})
    for outsider in (Actor.subject(anna), Actor.kiosk(staff.staff_id or 0)):
        with pytest.raises(AuthError):
            services.link_face(portal, actor=outsider, detection_id=face, subject_id=anna)
    with pytest.raises(AuthError, match="admin"):
        services.set_matching(portal, actor=staff, enabled=False)
    assert _link(portal.db, face) == (None, None) and _audits(portal.db, "matching_off") == []
    assert services.set_matching(portal, actor=Actor.staff(1, "admin"), enabled=True) == 0
    assert services.set_matching(portal, actor=OPERATOR, enabled=False) == 0
    assert [a["actor"] for a in _audits(portal.db, "matching_on") + _audits(portal.db, "matching_off")] == [
        "staff:1",
        "operator:tester",
    ]


def _subjects_cli(portal: Portal, *argv: str) -> int:
    """Run a `subjects` face command in this process, as `python -m portal subjects ...` would."""
    from portal.cli.face_commands import add_face_commands  # importing portal.cli loads every command group

    parser = argparse.ArgumentParser()
    add_face_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([*argv, "--database-url", portal.db.url])
    return int(args.handler(args))


def test_cli_link_refuses_a_confirmed_face_and_moves_it_with_move(
    portal: Portal, staff: Actor, capsys: pytest.CaptureFixture[str]
) -> None:
    anna = make_subject(portal.db, name="Anna Andersson", choices={"website": True})
    bo = make_subject(portal.db, name="Bo Berg", choices={"website": True})
    _, (face,) = _photo(portal.db, n=4)
    assert _subjects_cli(portal, "link", anna, str(face)) == 0
    assert f"Detection {face} is linked to subject {anna}" in capsys.readouterr().out
    with pytest.raises(FaceAlreadyLinked, match="--move"):
        _subjects_cli(portal, "link", bo, str(face))
    assert _link(portal.db, face) == (anna, "confirmed")
    assert _subjects_cli(portal, "link", bo, str(face), "--move") == 0
    assert f"moved from subject {anna}" in capsys.readouterr().out
    assert _link(portal.db, face) == (bo, "confirmed")
    rows = _audits(portal.db, "link_detection")
    assert [r["actor"].split(":")[0] for r in rows] == ["operator", "operator"]
    assert rows[-1]["detail"] == {"from_subject": anna, "to_subject": bo}
