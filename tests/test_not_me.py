""" "That's not me" on both databases: a person's own links in one photo are rejected in one transaction; the photo
leaves their page, is re-judged (unidentified, at risk; its publications get takedown tasks), the face is back "to
review" on the desk, the act is audited, managers and admins get an e-mail notice; a second call is refused cleanly
and changes nothing; nobody else can dispute for them."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.backend.ops.mailer import send_pending
from portal.backend.photos import services
from portal.backend.photos.queries import (
    LibraryFilter,
    library_page,
    personal_photos,
    review_view,
    subject_photo_view,
)
from portal.backend.photos.services import AlreadyDisputed, NotYourPhoto
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.schema import asset_risk, audit_log, detections, outbox, staff_users, takedowns
from portal.backend.platform.errors import AuthError, ValidationError
from portal.backend.risk import index as risk_index
from portal.backend.risk.index import REASON_BITS
from tests.factories import make_portal, make_subject
from tests.smtp import Mailbox, smtp_server, text_part
from tests.test_takedowns import T0, Scene, scene

__all__ = ["scene", "smtp_server"]  # fixtures, imported for pytest to find
LATER = T0 + timedelta(hours=2)


def _counts(scene: Scene) -> tuple[int, int, int]:
    """Audit rows, outbox rows and takedown tasks: what a refused call must not add to."""
    with scene.portal.db.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(audit_log)).scalar_one(),
            conn.execute(select(func.count()).select_from(outbox)).scalar_one(),
            conn.execute(select(func.count()).select_from(takedowns)).scalar_one(),
        )


def test_not_me_unlinks_rejudges_reviews_audits_and_tells_staff(scene: Scene) -> None:
    portal, db = scene.portal, scene.portal.db
    assert [p.asset_id for p in personal_photos(portal, subject_id=scene.anna)] == [scene.asset_id]
    with db.read() as conn:
        before = conn.execute(select(asset_risk.c.reasons).where(asset_risk.c.asset_id == scene.asset_id)).scalars()
        assert not any(int(r) & REASON_BITS["unidentified"] for r in before)  # both are linked

    done = services.not_me(portal, actor=Actor.subject(scene.anna), asset_id=scene.asset_id, now=LATER)
    assert done.asset_id == scene.asset_id and done.detection_ids == (scene.faces[0],) and done.notices == 1

    # Off her page, and her view of it can no longer be rendered; Bob keeps his.
    assert personal_photos(portal, subject_id=scene.anna) == []
    with pytest.raises(ValidationError):
        subject_photo_view(portal, asset_id=scene.asset_id, subject_id=scene.anna)
    assert [p.asset_id for p in personal_photos(portal, subject_id=scene.bob)] == [scene.asset_id]

    with db.read() as conn:
        face = conn.execute(select(detections).where(detections.c.id == scene.faces[0])).one()
        # Rejected for her (kept, so matching never suggests her again), identifiable, nobody confirmed.
        assert (face.subject_id, face.link_status, face.identifiable, face.confirmed_by) == (
            scene.anna,
            "rejected",
            True,
            None,
        )
        # Re-judged in the same transaction: an unidentified face, for every purpose; the index matches a rebuild.
        reasons = conn.execute(select(asset_risk.c.reasons).where(asset_risk.c.asset_id == scene.asset_id)).scalars()
        assert all(int(r) & REASON_BITS["unidentified"] for r in reasons)
        assert risk_index.check(conn) == []
        # Both publications now need taking down (and the partner telling).
        opened = conn.execute(select(takedowns.c.kind, takedowns.c.cause).where(takedowns.c.closed_at.is_(None))).all()
        assert sorted(opened) == [("notify_partner", "unidentified"), ("takedown", "unidentified"),
                                  ("takedown", "unidentified")]  # fmt: skip
        [row] = conn.execute(select(audit_log).where(audit_log.c.action == "subject_not_me")).all()
        assert (row.actor, row.target_type, row.target_id) == ("subject", "asset", str(scene.asset_id))
        assert json.loads(row.detail) == {"subject_id": scene.anna, "detections": [scene.faces[0]]}
        admin = conn.execute(select(staff_users.c.email).where(staff_users.c.id == scene.admin.staff_id)).scalar()
        [notice] = conn.execute(select(outbox).where(outbox.c.kind == "not_me_notice")).all()
        # To the admin (staff accounts get none), naming nobody: no subject id, no name in the payload.
        assert (notice.recipient, notice.asset_id, notice.subject_id, notice.status) == (
            admin,
            scene.asset_id,
            None,
            "pending",
        )
        assert "Anna" not in notice.payload

    # The desk: the face is "to review" again, and the "faces to review" filter finds the photo.
    view = review_view(portal, asset_id=scene.asset_id)
    states = {f.face.id: f.state for f in view.faces}
    assert states[scene.faces[0]] == "unreviewed" and states[scene.faces[1]] == "confirmed"
    assert scene.asset_id in [c.id for c in library_page(portal, chosen=LibraryFilter(unreviewed=True)).cards]


def test_a_second_call_is_refused_and_changes_nothing(scene: Scene) -> None:
    anna = Actor.subject(scene.anna)
    services.not_me(scene.portal, actor=anna, asset_id=scene.asset_id, now=LATER)
    counts = _counts(scene)
    with pytest.raises(AlreadyDisputed, match="already told us"):
        services.not_me(scene.portal, actor=anna, asset_id=scene.asset_id, now=LATER + timedelta(minutes=1))
    assert _counts(scene) == counts


def test_only_the_person_in_the_photo_can_say_it_is_not_them(scene: Scene) -> None:
    counts = _counts(scene)
    stranger = make_subject(scene.portal.db, name="Cecilia Clark", choices={"website": True}, now=T0)
    with pytest.raises(NotYourPhoto):
        services.not_me(scene.portal, actor=Actor.subject(stranger), asset_id=scene.asset_id, now=LATER)
    with pytest.raises(NotYourPhoto):
        services.not_me(scene.portal, actor=Actor.subject(scene.anna), asset_id=scene.asset_id + 999, now=LATER)
    # Staff have the desk's own unlink; this act is the person's.
    with pytest.raises(AuthError):
        services.not_me(scene.portal, actor=scene.admin, asset_id=scene.asset_id, now=LATER)
    assert _counts(scene) == counts
    assert [p.asset_id for p in personal_photos(scene.portal, subject_id=scene.anna)] == [scene.asset_id]


def test_the_notice_reaches_staff_by_e_mail(scene: Scene, smtp_server: Mailbox, tmp_path: Path) -> None:
    services.not_me(scene.portal, actor=Actor.subject(scene.anna), asset_id=scene.asset_id, now=LATER)
    mailing = make_portal(scene.portal.db, tmp_path / "mail-blobs", **smtp_server.settings())
    assert send_pending(mailing, now=LATER).sent >= 1
    with scene.portal.db.read() as conn:
        admin = conn.execute(select(staff_users.c.email).where(staff_users.c.id == scene.admin.staff_id)).scalar()
    [mail] = [m for m in smtp_server.to(str(admin)) if "not them" in str(m["Subject"])]
    body = text_part(mail)
    assert f"photo {scene.asset_id}" in body and "back to review" in body and "/photos" in body
    assert "Anna" not in body and "Anna" not in str(mail["Subject"])
