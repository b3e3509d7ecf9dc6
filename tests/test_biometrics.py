"""Face templates in the database: consent-gated enrolment, suggestions, links, deletion (R24, Art. 9).

Faces in photos keep no template: these tests give the in-memory descriptors of the matching batch directly
(`nearest` + `store_suggestions`); tests/test_matching_batch.py runs the batch on real photos.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import func, insert, select, update

from portal.backend.consent.records import Decision
from portal.backend.photos.biometrics import (
    Suggestion,
    enrol_template,
    has_template,
    link_detection,
    review_suggestion,
    set_matching_enabled,
)
from portal.backend.photos.matching_batch import enrolled_templates, nearest, store_suggestions
from portal.backend.photos.vision.matching import pack
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import assets, detections, organisation
from portal.backend.platform.errors import ConsentStateError, ValidationError
from portal.backend.staff.accounts import create_user
from tests.factories import STAFF, make_subject, record_consent

T0 = datetime(2026, 6, 1, tzinfo=UTC)
RNG = np.random.default_rng(7)


def _vec(base: np.ndarray | None = None, noise: float = 0.0) -> np.ndarray:
    """A unit-ish 128-d descriptor, optionally near `base`."""
    v = RNG.normal(size=128).astype(np.float32) if base is None else base + RNG.normal(scale=noise, size=128)
    return (v / np.linalg.norm(v) * 0.9).astype(np.float32)


def _asset_with_faces(
    db: Database, templates: list[np.ndarray], *, event_id: int | None = None, n: int = 0
) -> tuple[int, list[int]]:
    """An asset row with one face detection per descriptor (stored without it); returns (asset id, detection ids)."""
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
                event_id=event_id,
            )
            .returning(assets.c.id)
        ).scalar_one()
        ids = []
        for i, t in enumerate(templates):
            ids.append(
                conn.execute(
                    insert(detections)
                    .values(
                        asset_id=asset_id,
                        kind="face",
                        x=0.1 * i,
                        y=0.1,
                        w=0.1,
                        h=0.1,
                        score=1.0,
                        detector="dlib-hog",
                        created_at=T0,
                    )
                    .returning(detections.c.id)
                ).scalar_one()
            )
    return asset_id, ids


def _enrol(db: Database, subject_id: str, template: np.ndarray) -> None:
    with db.write() as conn:
        enrol_template(conn, subject_id=subject_id, template=template, now=T0)


def _match(
    db: Database, asset_id: int, ids: list[int], vectors: list[np.ndarray], *, suggest: float = 0.6, auto: float = 0.0
) -> list[Suggestion]:
    """What the matching batch does with one photo's in-memory descriptors."""
    with db.read() as conn:
        enrolled = enrolled_templates(conn, now=T0)
    found = nearest([(d, asset_id, v) for d, v in zip(ids, vectors, strict=True)], enrolled, threshold=suggest)
    with db.write() as conn:
        return store_suggestions(conn, found, now=T0, suggest=suggest, auto=auto)


def test_enrolment_needs_face_matching_consent_and_matching_on(org_db: Database) -> None:
    without = make_subject(org_db, name="No Biometrics", choices={"internal": True, "face_matching": False})
    with pytest.raises(ConsentStateError, match="face-matching consent"), org_db.write() as conn:
        enrol_template(conn, subject_id=without, template=_vec(), now=T0)
    consenting = make_subject(org_db, name="Matching Off", choices={"face_matching": True})
    with org_db.write() as conn:
        conn.execute(update(organisation).values(matching_enabled=False))
    # A template that nothing would ever compare is not kept.
    with pytest.raises(ValidationError, match="Face matching is off"), org_db.write() as conn:
        enrol_template(conn, subject_id=consenting, template=_vec(), now=T0)
    with org_db.read() as conn:
        assert not has_template(conn, without) and not has_template(conn, consenting)


def test_suggestions_rank_and_withdrawal_deletes_template_and_open_suggestions(org_db: Database) -> None:
    face = _vec()
    sid = make_subject(org_db, name="Matcher", choices={"face_matching": True})
    _enrol(org_db, sid, face)
    first_vectors = [_vec(face, 0.01), _vec()]
    first, (same, other) = _asset_with_faces(org_db, first_vectors, n=1)
    made = _match(org_db, first, [same, other], first_vectors)
    assert [(s.detection_id, s.status) for s in made] == [(same, "suggested")]
    assert made[0].distance < 0.3
    second_vectors = [_vec(face, 0.01)]
    second, confirmed_ids = _asset_with_faces(org_db, second_vectors, n=2)
    _match(org_db, second, confirmed_ids, second_vectors)
    with org_db.write() as conn:
        reviewer = create_user(
            conn, email="rev@example.org", display_name="Reviewer", role="staff", password="long enough pw", now=T0
        )
    with org_db.write() as conn:
        review_suggestion(
            conn, detection_id=confirmed_ids[0], accept=True, actor=Actor.staff(reviewer.id, "staff"), now=T0
        )

    record_consent(org_db, subject_id=sid, decisions=[Decision("face_matching", "withdrawn")], context=STAFF)
    with org_db.read() as conn:
        assert not has_template(conn, sid)
        links = dict(conn.execute(select(detections.c.id, detections.c.link_status)).all())
        assert links[same] is None  # the open suggestion is gone
        assert links[other] is None
        assert links[confirmed_ids[0]] == "confirmed"  # a staff-confirmed link is not biometric data; it stays
        assert conn.execute(select(func.count()).where(detections.c.template.is_not(None))).scalar_one() == 0


def test_auto_confirm_only_below_the_stricter_threshold(org_db: Database) -> None:
    face = _vec()
    sid = make_subject(org_db, name="Auto", choices={"face_matching": True})
    _enrol(org_db, sid, face)
    vectors = [_vec(face, 0.005), _vec(face, 0.03)]
    asset_id, (near, far) = _asset_with_faces(org_db, vectors, n=3)
    made = {s.detection_id: s for s in _match(org_db, asset_id, [near, far], vectors, suggest=0.6, auto=0.15)}
    assert made[near].status == "confirmed" and made[far].status == "suggested"
    assert made[near].distance < 0.15 < made[far].distance


def test_a_suggestion_is_not_written_over_a_link_made_meanwhile(org_db: Database) -> None:
    face = _vec()
    sid = make_subject(org_db, name="Late", choices={"face_matching": True})
    other = make_subject(org_db, name="Linked Meanwhile", choices={"internal": True})
    _enrol(org_db, sid, face)
    vectors = [_vec(face, 0.01)]
    asset_id, (det,) = _asset_with_faces(org_db, vectors, n=4)
    with org_db.read() as conn:
        enrolled = enrolled_templates(conn, now=T0)
    found = nearest([(det, asset_id, vectors[0])], enrolled, threshold=0.6)
    # Staff link the face by hand between the batch's read and its write: the link stands.
    with org_db.write() as conn:
        link_detection(conn, detection_id=det, subject_id=other, actor=Actor.operator("tester"), now=T0)
    with org_db.write() as conn:
        assert store_suggestions(conn, found, now=T0, suggest=0.6, auto=0.0) == []
        assert conn.execute(select(detections.c.subject_id).where(detections.c.id == det)).scalar_one() == other


def test_manual_link_and_matching_switch_off_clears_old_library_templates(org_db: Database) -> None:
    sid = make_subject(org_db, name="Tagged By Hand", choices={"internal": True})
    _, (det,) = _asset_with_faces(org_db, [_vec()], n=6)
    with org_db.write() as conn:
        # A template an older version stored (the 0008 migration clears these; switching off does too).
        conn.execute(update(detections).where(detections.c.id == det).values(template=pack(_vec())))
    with org_db.write() as conn:
        link_detection(conn, detection_id=det, subject_id=sid, actor=Actor.operator("tester"), now=T0)
        removed = set_matching_enabled(conn, enabled=False, actor=Actor.operator("tester"), now=T0)
    assert removed == 1
    with org_db.read() as conn:
        assert conn.execute(select(func.count()).where(detections.c.template.is_not(None))).scalar_one() == 0
        row = conn.execute(select(detections.c.subject_id, detections.c.link_method)).one()
    assert (row.subject_id, row.link_method) == (sid, "manual")
