"""Publishing checks consent, on both databases: who blocks and why, refused unless covered or an admin overrides
with a reason (audited), the same from the CLI, and the To take down page acting on a task."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from portal.backend.consent.records import Decision
from portal.backend.consent.services import change_consent
from portal.backend.photos import queries, services
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import asset_uses, detections, purposes, takedowns
from portal.backend.platform.errors import AuthError, PublishBlocked, ValidationError
from portal.backend.platform.runtime import Portal
from portal.backend.risk import index as risk_index
from tests.conftest import APP
from tests.factories import make_portal, make_staff, make_subject
from tests.seeded import SeededPortal
from tests.test_takedowns import T0, audits, photo, tasks


@pytest.fixture
def setup(org_db: Database, tmp_path: Path) -> dict:
    """A photo of Rita (refused the website) and a face nobody identified; Sam agreed, alone in a second photo."""
    portal = make_portal(org_db, tmp_path / "blobs")
    staff, admin = make_staff(org_db, role="staff"), make_staff(org_db, role="admin")
    rita = make_subject(org_db, name="Rita Refuser", choices={"website": False, "internal": True}, now=T0)
    sam = make_subject(org_db, name="Sam Sure", choices={"website": True}, now=T0)
    group, faces = photo(portal, 2)
    single, (sam_face,) = photo(portal, 1, n=2)
    services.link_face(portal, actor=staff, detection_id=faces[0], subject_id=rita, now=T0)
    services.link_face(portal, actor=staff, detection_id=sam_face, subject_id=sam, now=T0)
    return {
        "portal": portal,
        "staff": staff,
        "admin": admin,
        "rita": rita,
        "sam": sam,
        "group": group,
        "faces": faces,
        "single": single,
    }


def test_the_check_names_who_blocks_and_why(setup: dict) -> None:
    check = queries.publish_check(setup["portal"], asset_id=setup["group"], purpose="website", now=T0)
    assert not check.ok
    assert [(b.status, b.subject_id, b.detection_id) for b in check.blockers] == [
        ("refused", setup["rita"], setup["faces"][0]),
        ("unidentified", None, setup["faces"][1]),
    ]
    assert check.blockers[0].words == "Rita Refuser refused"
    assert set(check.reason_names) == {"refused", "unidentified"}
    assert queries.publish_check(setup["portal"], asset_id=setup["single"], purpose="website", now=T0).ok
    # Internal use: Rita agreed, so only the unknown face blocks.
    internal = queries.publish_check(setup["portal"], asset_id=setup["group"], purpose="internal", now=T0)
    assert [b.status for b in internal.blockers] == ["unidentified"]
    # A consent whose validity has passed blocks before the daily job records the expiry.
    later = queries.publish_check(
        setup["portal"], asset_id=setup["single"], purpose="website", now=T0 + timedelta(days=400)
    )
    assert [b.status for b in later.blockers] == ["expired"] and "expired" in later.reason_names


def test_publishing_is_refused_then_an_admin_overrides_with_a_reason(setup: dict) -> None:
    portal, staff, admin, group = setup["portal"], setup["staff"], setup["admin"], setup["group"]
    with pytest.raises(PublishBlocked, match="Rita Refuser refused") as refused:
        services.publish_photo(portal, actor=staff, asset_id=group, purpose="website", where="site", now=T0)
    assert len(refused.value.blockers) == 2
    with pytest.raises(AuthError, match="Only an admin"):
        services.publish_photo(
            portal, actor=staff, asset_id=group, purpose="website", where="site", override_reason="urgent", now=T0
        )
    for bad in ("   ", "x" * 301, "ok\u202etxt"):
        with pytest.raises(ValidationError):
            services.publish_photo(
                portal, actor=admin, asset_id=group, purpose="website", where="site", override_reason=bad, now=T0
            )
    assert audits(portal.db, "publish_photo") == []

    reason = "Board decision 12: the annual report needs this photo"
    use = services.publish_photo(
        portal, actor=admin, asset_id=group, purpose="website", where="site", override_reason=reason, now=T0
    )
    with portal.db.read() as conn:
        row = conn.execute(select(asset_uses).where(asset_uses.c.id == use)).one()
        assert risk_index.check(conn) == []
    assert row.override_reason == reason
    assert row.accepted_reasons == risk_index.REASON_BITS["refused"] | risk_index.REASON_BITS["unidentified"]
    (audited,) = audits(portal.db, "publish_photo")
    assert audited["override"] == reason
    assert [(b["status"], b["subject_id"]) for b in audited["blockers"]] == [
        ("refused", setup["rita"]),
        ("unidentified", None),
    ]
    assert tasks(portal.db) == []  # accepted reasons open no takedown
    (listed,) = queries.list_publications(portal)
    assert (listed.id, listed.override_reason, set(listed.accepted)) == (use, reason, {"refused", "unidentified"})

    # A covered photo publishes for staff, with no override recorded.
    plain = services.publish_photo(portal, actor=staff, asset_id=setup["single"], purpose="website", where="x", now=T0)
    assert audits(portal.db, "publish_photo")[-1] == {"use_id": plain, "purpose": "website", "where": "x"}


def test_the_cli_publishes_lists_ends_and_closes(setup: dict, db_url: str) -> None:
    from tests.test_cli import cli

    portal = setup["portal"]
    refused = cli(db_url, "publications", "add", str(setup["group"]), "--purpose", "website", "--where", "site")
    assert refused.returncode == 1 and "Rita Refuser refused" in refused.stdout
    done = cli(db_url, "publications", "add", str(setup["single"]), "--purpose", "partners", "--where", "Newspaper")
    assert done.returncode == 1 and "Sam Sure was never asked" in done.stdout
    ok = cli(db_url, "publications", "add", str(setup["single"]), "--purpose", "website", "--where", "https://e.org")
    assert ok.returncode == 0, ok.stderr
    forced = cli(
        db_url, "publications", "add", str(setup["single"]), "--purpose", "partners", "--where", "Newspaper",
        "--override-reason", "the editor has Sam's signed release",
    )  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    listed = json.loads(cli(db_url, "publications", "list", "--json").stdout)
    assert {(p["purpose"], p["place"]) for p in listed} == {("website", "https://e.org"), ("partners", "Newspaper")}
    website = next(p["id"] for p in listed if p["purpose"] == "website")

    change_consent(
        portal,
        actor=Actor.subject(setup["sam"]),
        subject_id=setup["sam"],
        decisions=[Decision("website", "withdrawn")],
        channel="portal",
    )
    open_tasks = json.loads(cli(db_url, "takedowns", "list", "--open", "--json").stdout)
    assert [(t["kind"], t["use_id"], t["cause"]) for t in open_tasks] == [("takedown", website, "withdrawn")]
    assert cli(db_url, "takedowns", "close", str(open_tasks[0]["id"]), "--note", "n").returncode == 1
    ended = cli(db_url, "publications", "end", str(website))
    assert ended.returncode == 0 and f"takedown task(s) {open_tasks[0]['id']} done" in ended.stdout
    assert json.loads(cli(db_url, "takedowns", "list", "--open", "--json").stdout) == []
    assert len(json.loads(cli(db_url, "publications", "list", "--all", "--json").stdout)) == 2
    assert cli(db_url, "publications", "end", "999").returncode == 1


def test_the_to_take_down_page_shows_a_new_task_and_ends_the_publication(seeded_portal: SeededPortal) -> None:
    db = seeded_portal.db
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input[0].input("staff@demo.example")
    at.text_input[1].input("demo-staff-pass")
    at = at.button[0].click().run()
    at.switch_page("portal/pages/takedowns.py").run()
    before = {t.id for t in tasks(db, open_only=True)}
    # The demo's photo published on the website while someone in it had withdrawn: already listed.
    assert before and all(at.button(key=f"end_{t}") for t in before if t)
    assert any("Published for **Our website**" in m.value for m in at.markdown)  # the title, not `website`
    with db.read() as conn:
        use, asset = conn.execute(
            select(asset_uses.c.id, asset_uses.c.asset_id)
            .where(asset_uses.c.until.is_(None), asset_uses.c.id.not_in(select(takedowns.c.use_id)))
            .order_by(asset_uses.c.id)
        ).first()
        person = (
            conn.execute(
                select(detections.c.subject_id).where(
                    detections.c.asset_id == asset, detections.c.link_status == "confirmed"
                )
            )
            .scalars()
            .first()
        )
        code = conn.execute(
            select(purposes.c.code)
            .join(asset_uses, asset_uses.c.purpose_id == purposes.c.id)
            .where(asset_uses.c.id == use)
        ).scalar_one()
    # Someone in a published photo withdraws elsewhere (their personal link): the next rerun lists it.
    change_consent(
        queries_portal(seeded_portal),
        actor=Actor.subject(person),
        subject_id=person,
        decisions=[Decision(code, "withdrawn")],
        channel="portal",
    )
    at.run()
    (task,) = [t for t in tasks(db, open_only=True) if t.use_id == use and t.kind == "takedown"]
    assert any(f"task {task.id}" in c.value for c in at.caption)
    at.button(key=f"end_{task.id}").click().run()
    with db.read() as conn:
        closed = conn.execute(select(takedowns).where(takedowns.c.id == task.id)).one()
        ended = conn.execute(select(asset_uses.c.until).where(asset_uses.c.id == use)).scalar_one()
    assert closed.open_key is None and ended is not None and closed.closed_by.startswith("staff:")
    assert audits(db, "unpublish_photo")[-1]["takedown_tasks"] == [task.id]
    assert not any(f"task {task.id}" in c.value for c in at.caption)


def queries_portal(seeded: SeededPortal) -> Portal:
    """The Portal services take, over the seeded demo's database and blobs."""
    from portal.backend.ops.bootstrap import attach_portal
    from portal.backend.platform.config import load_settings

    return attach_portal(load_settings(database_url=seeded.db.url))
