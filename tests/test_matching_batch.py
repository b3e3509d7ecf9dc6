"""The matching batch on real photos and both databases: no stored template of any face, only suggestions (Art. 9).

A registered person with face-matching consent and a selfie of Grace Hopper is planted in imported group photos;
the batch must find her, respect matching off and withdrawn or expired consent, and leave `has_template` false.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from portal.backend.consent.services import Decision, change_consent
from portal.backend.events.store import create_event
from portal.backend.people.services import register_subject
from portal.backend.photos.services import analyse_pending, import_photos, run_matching, set_matching
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import assets, audit_log, detections, organisation, subject_templates
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import ValidationError
from portal.backend.platform.runtime import Portal
from portal.backend.risk import index as risk_index
from portal.cli import main as cli_main
from tests.factories import OPERATOR, make_portal
from tests.imagery import group_photo, sample_bytes

GRACE_SELFIE = "grace_hopper"


@pytest.fixture
def portal(org_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Portal:
    """Services over an organisation with matching on; the CLI (run in-process) sees the same blob folder."""
    data = tmp_path / "data"
    monkeypatch.setenv("PORTAL_DATA_DIR", str(data))
    return make_portal(org_db, data / "blobs", secret_key="s" * 40, base_url="https://portal.example")


def _event(portal: Portal, name: str = "Gala") -> int:
    with portal.db.write() as conn:
        return create_event(conn, name=name, purpose_codes=["internal", "face_matching"], now=utcnow()).id


def _photos(portal: Portal, event_id: int) -> list[int]:
    """Two group photos (Grace with the astronaut; Zidane alone) imported into the event and analysed."""
    files = [
        ("pair.jpg", group_photo(["astronaut", "grace_hopper"], height=360)),
        ("zidane.jpg", group_photo(["zidane"], height=360)),
    ]
    imported = import_photos(portal, actor=OPERATOR, files=files, event_id=event_id)
    assert analyse_pending(portal, actor=OPERATOR).done == 2
    return list(imported.imported)


def _enrol_grace(portal: Portal, event_id: int | None, *, selfie: str = GRACE_SELFIE, **kw: object) -> str:
    """Grace (or whoever's sample `selfie` is) registers on the event's form with face-matching consent."""
    result = register_subject(
        portal,
        actor=Actor(kind="subject"),
        channel="qr_form",
        name="Grace Hopper" if selfie == GRACE_SELFIE else selfie.replace("_", " ").title(),
        choices={"internal": True, "face_matching": True},
        event_id=event_id,
        selfie=sample_bytes(selfie),
        **kw,  # type: ignore[arg-type]
    )
    assert result.template_enrolled
    return result.subject.id


def _cli_json(capsys: pytest.CaptureFixture[str], portal: Portal, *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert cli_main([*args, "--json", "--database-url", portal.db.url]) == 0
    return json.loads(capsys.readouterr().out)


def _links(portal: Portal) -> dict[int, tuple[str | None, str | None, str | None]]:
    with portal.db.read() as conn:
        return {
            r.id: (r.subject_id, r.link_method, r.link_status)
            for r in conn.execute(
                select(detections.c.id, detections.c.subject_id, detections.c.link_method, detections.c.link_status)
            )
        }


def test_batch_finds_the_planted_match_and_no_face_keeps_a_template(
    portal: Portal, capsys: pytest.CaptureFixture[str]
) -> None:
    event_id = _event(portal)
    pair, zidane = _photos(portal, event_id)
    # Nobody enrolled yet: nothing to compare with, so no photo is looked at and all stay unmatched.
    first = _cli_json(capsys, portal, "matching", "run")
    assert first == {
        "enabled": True,
        "photos": 0,
        "faces": 0,
        "enrolled": 0,
        "suggested": 0,
        "confirmed": 0,
        "failed": 0,
        "left": 0,
    }
    with portal.db.read() as conn:
        assert set(conn.execute(select(assets.c.matched_at)).scalars()) == {None}
    grace = _enrol_grace(portal, event_id)
    # The first person to enrol: the next run compares every unmatched photo with her.
    second = _cli_json(capsys, portal, "matching", "run")
    assert second["enabled"] and second["enrolled"] == 1 and second["suggested"] == 1 and second["faces"] >= 3
    shown = _cli_json(capsys, portal, "assets", "show", str(pair))
    faces = [d for d in shown["detections"] if d["kind"] == "face"]
    assert {d["has_template"] for d in faces} == {False}
    (suggested,) = [d for d in faces if d["subject_id"] == grace]
    assert (suggested["link_method"], suggested["link_status"]) == ("match", "suggested")
    assert suggested["link_distance"] < 0.6
    assert suggested["box"]["x"] > 0.4  # Grace stands right of the astronaut in the pair
    others = _cli_json(capsys, portal, "assets", "show", str(zidane))
    assert all(d["subject_id"] is None and not d["has_template"] for d in others["detections"])
    with portal.db.read() as conn:
        assert conn.execute(select(func.count()).where(detections.c.template.is_not(None))).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(subject_templates)).scalar_one() == 1
        runs = conn.execute(select(audit_log.c.detail).where(audit_log.c.action == "match_photos")).scalars().all()
        assert len(runs) == 2 and json.loads(runs[-1])["suggested"] == 1
        assert risk_index.check(conn) == []
    # Nothing new and nobody new: a third run compares nothing.
    assert _cli_json(capsys, portal, "matching", "run")["photos"] == 0


def test_withdrawal_removes_the_batch_suggestions_and_later_runs_skip_the_person(portal: Portal) -> None:
    event_id = _event(portal)
    grace = _enrol_grace(portal, event_id)
    _photos(portal, event_id)
    assert run_matching(portal, actor=OPERATOR).suggested == 1
    assert any(link == (grace, "match", "suggested") for link in _links(portal).values())
    change_consent(
        portal,
        actor=OPERATOR,
        subject_id=grace,
        decisions=[Decision("face_matching", "withdrawn")],
        channel="staff",
    )
    assert all(subject is None for subject, _, _ in _links(portal).values())
    with portal.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(subject_templates)).scalar_one() == 0
    # Every photo of the event again: Grace is no longer anyone the batch compares with, so nothing is looked at.
    again = run_matching(portal, actor=OPERATOR, event_id=event_id)
    assert (again.photos, again.enrolled, again.suggested) == (0, 0, 0)


def test_expired_face_matching_consent_is_not_used(portal: Portal) -> None:
    event_id = _event(portal)
    # Registered 400 days ago under a 365-day validity: the consent has lapsed though the daily job has not run
    # yet, so the template is still stored but may not be used.
    _enrol_grace(portal, event_id, now=utcnow() - timedelta(days=400))
    _photos(portal, event_id)
    result = run_matching(portal, actor=OPERATOR)
    assert (result.photos, result.enrolled, result.suggested) == (0, 0, 0)
    assert all(subject is None for subject, _, _ in _links(portal).values())


def test_the_daily_run_matches_a_bounded_share_and_leaves_the_rest_for_later(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A library that turns matching on with a large backlog: each daily run compares at most JOB_MATCH_LIMIT
    # photos (oldest first), says how many wait, and the next runs take the rest until the planted match is found.
    from portal.backend.ops import services as ops_services

    event_id = _event(portal)
    pair, zidane = _photos(portal, event_id)
    _enrol_grace(portal, event_id)
    with portal.db.write() as conn:  # as if the two photos were imported before anyone enrolled
        conn.execute(assets.update().values(matched_at=None))
    monkeypatch.setattr(ops_services, "JOB_MATCH_LIMIT", 1)
    first = ops_services.run_daily_jobs(portal, actor=OPERATOR)
    assert (first.photos_matched, first.photos_left_to_match) == (1, 1)
    with portal.db.read() as conn:
        stamped = {r.id for r in conn.execute(select(assets.c.id).where(assets.c.matched_at.is_not(None)))}
    assert stamped == {min(pair, zidane)}
    second = ops_services.run_daily_jobs(portal, actor=OPERATOR)
    assert (second.photos_matched, second.photos_left_to_match) == (1, 0)
    assert any(method == "match" for _, method, _ in _links(portal).values())
    third = ops_services.run_daily_jobs(portal, actor=OPERATOR)
    assert (third.photos_matched, third.photos_left_to_match) == (0, 0)
    with pytest.raises(ValidationError):
        run_matching(portal, actor=OPERATOR, limit=0)


def test_matching_run_takes_a_limit_and_says_how_many_wait(portal: Portal, capsys: pytest.CaptureFixture[str]) -> None:
    event_id = _event(portal)
    pair, zidane = _photos(portal, event_id)
    _enrol_grace(portal, event_id)
    with portal.db.write() as conn:  # a backlog of two photos imported before anyone enrolled
        conn.execute(assets.update().values(matched_at=None))
    capsys.readouterr()
    assert cli_main(["matching", "run", "--limit", "1", "--database-url", portal.db.url]) == 0
    out = capsys.readouterr().out
    assert "Matched 1 photo(s)" in out and "1 more wait for the next run." in out
    with portal.db.read() as conn:  # the oldest photo went first
        stamped = {r.id for r in conn.execute(select(assets.c.id).where(assets.c.matched_at.is_not(None)))}
    assert stamped == {min(pair, zidane)}
    second = _cli_json(capsys, portal, "matching", "run", "--limit", "1")
    assert (second["photos"], second["left"]) == (1, 0)
    assert any(method == "match" for _, method, _ in _links(portal).values())  # Grace found in one of the two runs
    assert cli_main(["matching", "run", "--limit", "0", "--database-url", portal.db.url]) != 0
    assert "--limit must be at least 1." in capsys.readouterr().err


def test_matching_off_does_nothing_and_says_so(portal: Portal, capsys: pytest.CaptureFixture[str]) -> None:
    event_id = _event(portal)
    _enrol_grace(portal, event_id)
    _photos(portal, event_id)
    set_matching(portal, actor=OPERATOR, enabled=False)
    assert run_matching(portal, actor=OPERATOR).enabled is False
    capsys.readouterr()
    assert cli_main(["matching", "run", "--database-url", portal.db.url]) == 0
    assert "matching is off: nothing was compared" in capsys.readouterr().out
    with portal.db.read() as conn:
        assert set(conn.execute(select(assets.c.matched_at)).scalars()) == {None}
        assert conn.execute(select(func.count()).where(audit_log.c.action == "match_photos")).scalar_one() == 0
    assert all(subject is None for subject, _, _ in _links(portal).values())


def test_a_selfie_is_refused_while_matching_is_off(portal: Portal) -> None:
    from portal.backend.platform.errors import ValidationError

    set_matching(portal, actor=OPERATOR, enabled=False)
    with pytest.raises(ValidationError, match="Face matching is off"):
        _enrol_grace(portal, None)
    with portal.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(subject_templates)).scalar_one() == 0


def test_subjects_match_describes_faces_on_the_fly(portal: Portal) -> None:
    from portal.backend.photos.services import suggest_matches

    event_id = _event(portal)
    _photos(portal, event_id)
    # The astronaut enrolled first, so the batch matches the photos against her and stamps them.
    _enrol_grace(portal, event_id, selfie="astronaut")
    assert run_matching(portal, actor=OPERATOR).photos == 2
    # Enrolled later and at no event: the batch has no reason to look at the old photos again for her ...
    grace = _enrol_grace(portal, None)
    assert run_matching(portal, actor=OPERATOR).photos == 0
    # ... so staff ask for her matches; the faces are described from the photos on the fly.
    found = suggest_matches(portal, actor=OPERATOR, subject_id=grace, event_id=event_id)
    assert len(found) == 1 and found[0].status == "suggested" and found[0].distance < 0.6
    with portal.db.read() as conn:
        assert conn.execute(select(func.count()).where(detections.c.template.is_not(None))).scalar_one() == 0


def test_the_form_offers_face_matching_only_when_matching_is_on(site: Database) -> None:
    from sqlalchemy import update

    from portal.backend.platform.db.schema import organisation
    from tests.test_consent_form import _form, _token

    # The demo's events ask for face matching; with the organisation's matching off the form does not offer it.
    with site.write() as conn:
        conn.execute(update(organisation).values(matching_enabled=False))
    off = _form(_token(site))
    assert not off.exception
    keys = {c.key for c in off.checkbox}
    assert "agree_face_matching" not in keys and "agree_website" in keys
    assert not off.get("camera_input") and not [u for u in off.get("file_uploader") if u.key == "selfie_upload"]
    with site.write() as conn:
        conn.execute(update(organisation).values(matching_enabled=True))
    on = _form(_token(site))
    assert "agree_face_matching" in {c.key for c in on.checkbox}


def test_the_kept_templates_follow_enrolment_withdrawal_and_a_replaced_text(portal: Portal) -> None:
    """The process keeps the templates loaded between runs, yet a new, removed or paused template is seen at once,
    and the one-query consent check agrees with the per-person rule."""
    from portal.backend.consent.purposes import TextContent
    from portal.backend.consent.services import publish_purpose_text
    from portal.backend.photos.biometrics import _matching_allowed, matching_allowed_subjects
    from portal.backend.photos.matching_batch import enrolled_templates

    set_matching(portal, actor=OPERATOR, enabled=True)
    event_id = _event(portal)
    grace = _enrol_grace(portal, event_id)
    with portal.db.read() as conn:
        first = enrolled_templates(conn, now=utcnow())
        again = enrolled_templates(conn, now=utcnow())
    assert first.ids == [grace]
    assert again.index is first.index  # the kept matrix, not a reload
    other = _enrol_grace(portal, None)
    with portal.db.read() as conn:
        both = enrolled_templates(conn, now=utcnow())
    assert sorted(both.ids) == sorted([grace, other])
    assert both.matrix.flags.c_contiguous and both.matrix.dtype == np.float32
    change_consent(
        portal, actor=OPERATOR, subject_id=other, decisions=[Decision("face_matching", "withdrawn")], channel="staff"
    )
    with portal.db.read() as conn:
        assert enrolled_templates(conn, now=utcnow()).ids == [grace]
    # A replaced face-matching text pauses matching but keeps the template.
    publish_purpose_text(
        portal,
        actor=OPERATOR,
        code="face_matching",
        texts={loc: TextContent("Face matching", f"New wording ({loc}).") for loc in ("en", "sv")},
    )
    now = utcnow()
    with portal.db.read() as conn:
        assert enrolled_templates(conn, now=now).ids == []
        everyone = [grace, other]
        assert matching_allowed_subjects(conn, now) == {s for s in everyone if _matching_allowed(conn, s, now)}
        assert conn.execute(select(func.count()).select_from(subject_templates)).scalar() == 1


def test_matching_cannot_be_switched_before_the_organisation_is_set_up(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    # A migrated database without an organisation: `matching on` used to say "on" and store nothing.
    assert cli_main(["matching", "on", "--database-url", db.url]) != 0
    err = capsys.readouterr().err
    assert "not set up yet" in err and "Traceback" not in err
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(organisation)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(audit_log)).scalar_one() == 0
