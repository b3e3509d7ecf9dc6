"""The admin services (events, kiosk, staff, organisation, daily jobs, risk index, reports) on both databases:
each checks the actor's role and writes its audit row in its own transaction, and a page or the CLI writes
the same rows as the service."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from portal.backend.events.queries import event_url
from portal.backend.events.services import create_event, end_kiosk, event_poster, rotate_event_qr, start_kiosk
from portal.backend.ops.services import run_daily_jobs
from portal.backend.platform.actors import Actor
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import audit_log, event_purposes, events, purposes, staff_users
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import AuthError, ValidationError
from portal.backend.platform.runtime import Portal
from portal.backend.reports.services import art30_record, compliance_report
from portal.backend.risk.services import rebuild_risk_index
from portal.backend.staff.accounts import create_user
from portal.backend.staff.queries import audit_log as audit_lines
from portal.backend.staff.queries import organisation
from portal.backend.staff.services import add_staff, disable_staff, save_organisation, set_staff_role
from portal.cli import main as cli_main
from tests.conftest import APP
from tests.seeded import SeededPortal
from tests.test_risk import portal_of

PASSWORD = "a-long-password-1"


def _account(db: Database, email: str, role: str) -> Actor:
    """A real staff account with `role`, as the Actor a signed-in page would pass."""
    with db.write() as conn:
        user = create_user(
            conn, email=email, display_name=email.split("@")[0], role=role, password=PASSWORD, now=utcnow()
        )
    return user.as_actor()


def _audit(db: Database, action: str) -> list[dict[str, Any]]:
    """Audit rows of one action, oldest first, without id and time (what two entry points must agree on)."""
    with db.read() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.id)).all()
    return [
        {
            "actor": r.actor,
            "action": r.action,
            "target_type": r.target_type,
            "target_id": r.target_id,
            "detail": json.loads(r.detail),
        }
        for r in rows
    ]


def _count(db: Database, table: Any) -> int:
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


@pytest.fixture
def admin_portal(org_db: Database) -> Portal:
    """A portal with the organisation, the standard purposes and no staff yet."""
    return portal_of(org_db)


def test_create_and_rotate_event_are_audited_with_the_actor(admin_portal: Portal) -> None:
    staff = _account(admin_portal.db, "sam@example.org", "staff")
    event = create_event(
        admin_portal, actor=staff, name="Winter market", date=None, place="Lund", purpose_codes=["internal", "website"]
    )
    assert event.purpose_codes == ("internal", "website")
    assert _audit(admin_portal.db, "create_event") == [
        {
            "actor": staff.ref,
            "action": "create_event",
            "target_type": "event",
            "target_id": str(event.id),
            "detail": {"purposes": ["internal", "website"]},
        }
    ]
    with admin_portal.db.read() as conn:
        assert conn.execute(select(events.c.created_by).where(events.c.id == event.id)).scalar_one() == staff.staff_id
    before = event_url(admin_portal, event_id=event.id)
    after = rotate_event_qr(admin_portal, actor=staff, event_id=event.id)
    assert after != before and after == event_url(admin_portal, event_id=event.id)
    assert [a["actor"] for a in _audit(admin_portal.db, "rotate_event_qr")] == [staff.ref]


def test_a_bad_event_writes_neither_event_nor_audit_row(admin_portal: Portal) -> None:
    staff = _account(admin_portal.db, "sam@example.org", "staff")
    with pytest.raises(ValidationError):
        create_event(admin_portal, actor=staff, name="  ", date=None, purpose_codes=["internal"])
    with pytest.raises(AuthError):
        create_event(admin_portal, actor=Actor.subject("someone"), name="Sneaky", date=None, purpose_codes=[])
    assert (_count(admin_portal.db, events), _audit(admin_portal.db, "create_event")) == (0, [])


def test_the_poster_is_a_pdf_and_writes_nothing(admin_portal: Portal) -> None:
    staff = _account(admin_portal.db, "sam@example.org", "staff")
    event = create_event(admin_portal, actor=staff, name="Poster day", date=None, purpose_codes=["internal"])
    before = _count(admin_portal.db, audit_log)
    assert event_poster(admin_portal, actor=staff, event_id=event.id).startswith(b"%PDF")
    assert _count(admin_portal.db, audit_log) == before


def test_kiosk_start_and_end_are_audited_and_a_wrong_password_is_kept(admin_portal: Portal) -> None:
    staff = _account(admin_portal.db, "sam@example.org", "staff")
    event = create_event(admin_portal, actor=staff, name="Kiosk day", date=None, purpose_codes=["internal"])
    kiosk = start_kiosk(admin_portal, actor=staff, event_id=event.id)
    assert (kiosk.event_id, kiosk.staff_id, kiosk.event_name) == (event.id, staff.staff_id, "Kiosk day")
    tablet = Actor.kiosk(kiosk.staff_id)
    with pytest.raises(AuthError, match="Wrong password"):
        end_kiosk(admin_portal, actor=tablet, password="guess", event_id=event.id)
    end_kiosk(admin_portal, actor=tablet, password=PASSWORD, event_id=event.id)
    for action in ("kiosk_start", "kiosk_exit_failed", "kiosk_end"):
        assert [(a["actor"], a["target_id"]) for a in _audit(admin_portal.db, action)] == [(staff.ref, str(event.id))]
    with pytest.raises(AuthError):
        start_kiosk(admin_portal, actor=Actor.operator("alice"), event_id=event.id)  # no staff account to end it


def test_only_admins_and_operators_add_staff(admin_portal: Portal) -> None:
    manager = _account(admin_portal.db, "maja@example.org", "manager")
    before = _count(admin_portal.db, staff_users)
    with pytest.raises(AuthError, match="Only admins"):
        add_staff(admin_portal, actor=manager, email="x@example.org", name="X", role="admin", password=PASSWORD)
    assert _count(admin_portal.db, staff_users) == before and _audit(admin_portal.db, "create_user") == []
    admin = _account(admin_portal.db, "ada@example.org", "admin")
    made = add_staff(admin_portal, actor=admin, email="New@Example.org", name="New", role="staff", password=PASSWORD)
    by_cli = add_staff(
        admin_portal,
        actor=Actor.operator("root"),
        email="cli@example.org",
        name="Cli",
        role="manager",
        password=PASSWORD,
    )
    assert (made.email, made.role, by_cli.role) == ("new@example.org", "staff", "manager")
    assert [(a["actor"], a["target_id"], a["detail"]) for a in _audit(admin_portal.db, "create_user")] == [
        (admin.ref, str(made.id), {"email": "new@example.org", "role": "staff"}),
        ("operator:root", str(by_cli.id), {"email": "cli@example.org", "role": "manager"}),
    ]
    with pytest.raises(ValidationError, match="first password"):
        add_staff(admin_portal, actor=admin, email="nopass@example.org", name="No", role="staff")


def test_roles_change_audited_and_the_last_admin_stays(admin_portal: Portal) -> None:
    admin = _account(admin_portal.db, "ada@example.org", "admin")
    sam = _account(admin_portal.db, "sam@example.org", "staff")
    with pytest.raises(AuthError):
        set_staff_role(admin_portal, actor=sam, user_id=sam.staff_id, role="admin")
    assert set_staff_role(admin_portal, actor=admin, email="sam@example.org", role="manager").role == "manager"
    assert [a["detail"] for a in _audit(admin_portal.db, "set_staff_role")] == [{"from": "staff", "to": "manager"}]
    with pytest.raises(ValidationError, match="last active admin"):
        set_staff_role(admin_portal, actor=admin, user_id=admin.staff_id, role="staff")
    with pytest.raises(ValidationError, match="last active admin"):
        disable_staff(admin_portal, actor=admin, user_id=admin.staff_id)
    gone = disable_staff(admin_portal, actor=admin, user_id=sam.staff_id)
    assert not gone.active
    assert [a["target_id"] for a in _audit(admin_portal.db, "deactivate_staff")] == [str(sam.staff_id)]


def test_save_organisation_checks_and_audits(admin_portal: Portal) -> None:
    admin = _account(admin_portal.db, "ada@example.org", "admin")
    org = organisation(admin_portal)
    with pytest.raises(ValidationError, match="contact phone"):
        save_organisation(admin_portal, actor=admin, organisation=replace(org, contact_phone=" "))
    with pytest.raises(AuthError):
        save_organisation(admin_portal, actor=_account(admin_portal.db, "m@example.org", "manager"), organisation=org)
    assert _audit(admin_portal.db, "update_organisation") == []
    saved = save_organisation(admin_portal, actor=admin, organisation=replace(org, controller_name="Renamed AB"))
    assert saved.controller_name == organisation(admin_portal).controller_name == "Renamed AB"
    assert [a["actor"] for a in _audit(admin_portal.db, "update_organisation")] == [admin.ref]


def test_daily_jobs_and_rebuild_are_audited_with_what_they_did(admin_portal: Portal) -> None:
    report = run_daily_jobs(admin_portal, actor=Actor.operator("cron"))
    assert _audit(admin_portal.db, "run_daily_jobs") == [
        {
            "actor": "operator:cron",
            "action": "run_daily_jobs",
            "target_type": None,
            "target_id": None,
            "detail": report.__dict__,
        }
    ]
    with pytest.raises(AuthError):
        run_daily_jobs(admin_portal, actor=_account(admin_portal.db, "m@example.org", "manager"))
    rows = rebuild_risk_index(admin_portal, actor=Actor.operator("root"))
    assert _audit(admin_portal.db, "rebuild_risk_index")[0]["detail"] == {"rows": rows}


def test_audit_log_read_model_is_typed_newest_first(admin_portal: Portal) -> None:
    admin = _account(admin_portal.db, "ada@example.org", "admin")
    add_staff(admin_portal, actor=admin, email="one@example.org", name="One", role="staff", password=PASSWORD)
    add_staff(admin_portal, actor=admin, email="two@example.org", name="Two", role="staff", password=PASSWORD)
    lines = audit_lines(admin_portal, limit=1, action="create_user")
    assert [(line.action, line.actor, line.details["email"]) for line in lines] == [
        ("create_user", admin.ref, "two@example.org")
    ]


@pytest.mark.parametrize("report", ["compliance", "art30"])
def test_reports_write_the_same_audit_row_from_the_cli_and_the_service(
    admin_portal: Portal, tmp_path: Path, report: str
) -> None:
    manager = _account(admin_portal.db, "maja@example.org", "manager")
    action = {"compliance": "export_compliance_report", "art30": "export_record_of_processing"}[report]
    make = {"compliance": compliance_report, "art30": art30_record}[report]
    assert make(admin_portal, actor=manager).startswith(b"%PDF")
    out = tmp_path / "report.pdf"
    args = ["reports", report, "--out", str(out), "--database-url", admin_portal.db.url, "--as", "maja@example.org"]
    assert cli_main(args) == 0 and out.read_bytes().startswith(b"%PDF")
    by_service, by_cli = _audit(admin_portal.db, action)
    assert by_service == by_cli and by_service["actor"] == manager.ref
    staff = _account(admin_portal.db, "sam@example.org", "staff")
    with pytest.raises(AuthError):
        make(admin_portal, actor=staff)
    assert len(_audit(admin_portal.db, action)) == 2


def _event_row(db: Database, name: str) -> dict[str, Any]:
    """An event as stored, without id, creation time and QR secret, with its purposes."""
    with db.read() as conn:
        row = conn.execute(select(events).where(events.c.name == name)).one()
        asked = conn.execute(
            select(purposes.c.code)
            .join(event_purposes, event_purposes.c.purpose_id == purposes.c.id)
            .where(event_purposes.c.event_id == row.id)
            .order_by(purposes.c.code)
        ).scalars()
        return {"place": row.place, "starts_on": row.starts_on, "created_by": row.created_by, "purposes": list(asked)}


def test_create_event_from_the_page_writes_what_the_service_writes(seeded_portal: SeededPortal) -> None:
    db = seeded_portal.db
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input[0].input("staff@demo.example")
    at.text_input[1].input("demo-staff-pass")
    at.button[0].click().run()
    at.switch_page("portal/pages/events.py").run()
    at.text_input[0].input("Same event")
    at.text_input[1].input("Hall A")
    next(b for b in at.button if b.label == "Create event").click().run()
    assert not at.exception
    by_page = _event_row(db, "Same event")
    with db.read() as conn:
        staff_id = conn.execute(
            select(staff_users.c.id).where(staff_users.c.email == "staff@demo.example")
        ).scalar_one()
    assert by_page["created_by"] == staff_id and "partners" not in by_page["purposes"]
    with db.write() as conn:  # the service may reuse the name once the page's event is renamed aside
        conn.execute(events.update().where(events.c.name == "Same event").values(name="Same event (page)"))
    portal = Portal(settings=load_settings(), db=db, blobs=portal_of(db).blobs)
    create_event(
        portal,
        actor=Actor.staff(staff_id, "staff", "Sam Staff"),
        name="Same event",
        date=by_page["starts_on"],
        place="Hall A",
        purpose_codes=by_page["purposes"],
    )
    assert _event_row(db, "Same event") == by_page
    page_audit, service_audit = _audit(db, "create_event")[-2:]
    assert page_audit["actor"] == service_audit["actor"] == f"staff:{staff_id}"
    assert page_audit["target_id"] != service_audit["target_id"]
    assert {k: v for k, v in page_audit.items() if k != "target_id"} == {
        k: v for k, v in service_audit.items() if k != "target_id"
    }
