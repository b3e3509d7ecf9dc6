"""Evidence of the person's own act (issue 12, item 7): staff entries without a scan or the person at a kiosk are
recorded on channel `staff` as a staff declaration, and the dashboard and report count the consents resting on one."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from portal.backend.consent.services import Decision, change_consent
from portal.backend.people.services import register_subject
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import audit_log, consent_ledger
from portal.backend.risk import index as risk_index
from portal.backend.risk.figures import staff_declared
from tests.conftest import APP
from tests.factories import MANAGER, make_portal, make_staff
from tests.seeded import SeededPortal
from tests.test_paper import PDF

DECLARED = {"act": "staff_declaration", "person_present": False}
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_staff_and_unscanned_paper_entries_are_staff_declarations(org_db: Database, tmp_path: Path) -> None:
    portal = make_portal(org_db, tmp_path / "blobs")
    staff = register_subject(
        portal, actor=MANAGER, channel="staff", name="Sam Staff", choices={"internal": True}, now=NOW
    )
    unscanned = register_subject(
        portal, actor=MANAGER, channel="paper", name="Una Unscanned", choices={"internal": True}, now=NOW
    )
    scanned = register_subject(
        portal, actor=MANAGER, channel="paper", name="Pia Paper", choices={"internal": True}, scan=PDF, now=NOW
    )
    kiosk = register_subject(
        portal, actor=Actor.kiosk(1), channel="kiosk", name="Kai Kiosk", choices={"internal": True}, now=NOW
    )
    (s,), (u,), (p,), (k,) = staff.entries, unscanned.entries, scanned.entries, kiosk.entries
    assert (s.channel, s.evidence_data) == ("staff", DECLARED)
    # A paper form nobody scanned proves nothing beyond the staff member's word.
    assert (u.channel, u.evidence_data) == ("staff", {**DECLARED, "paper_form": "not_scanned"})
    # With the scan it stays paper, with the scan's hash; at a kiosk the person ticks the boxes themselves.
    assert p.channel == "paper" and p.evidence_data["act"] == "signature" and len(p.evidence_data["scan_sha256"]) == 64
    assert k.channel == "kiosk" and k.evidence_data["act"] == "checkbox" and "person_present" not in k.evidence_data
    with org_db.read() as conn:
        actions = conn.execute(select(audit_log.c.action).order_by(audit_log.c.id)).scalars().all()
    assert actions[:3] == ["register_subject", "register_subject", "enter_paper_consent"]


def test_staff_changes_default_to_a_staff_declaration(org_db: Database, tmp_path: Path) -> None:
    portal = make_portal(org_db, tmp_path / "blobs")
    sid = register_subject(portal, actor=MANAGER, channel="staff", name="Sam Staff", choices={}, now=NOW).subject.id
    change = change_consent(
        portal, actor=MANAGER, subject_id=sid, decisions=[Decision("website", "given")], channel="staff", now=NOW
    )
    assert [(e.channel, e.evidence_data) for e in change.entries] == [("staff", DECLARED)]
    # The person's own tap on their link is their act, not a declaration.
    own = change_consent(
        portal,
        actor=Actor.subject(sid),
        subject_id=sid,
        decisions=[Decision("print", "given")],
        channel="portal",
        now=NOW,
    )
    assert own.entries[0].evidence_data == {"act": "button"}


def test_the_figure_counts_current_consents_resting_on_a_staff_declaration(org_db: Database, tmp_path: Path) -> None:
    portal = make_portal(org_db, tmp_path / "blobs")
    clerk = make_staff(org_db, role="staff")

    def add(name: str, channel: str, choices: dict[str, bool], **kw: object) -> str:
        reg = register_subject(portal, actor=clerk, channel=channel, name=name, choices=choices, now=NOW, **kw)  # type: ignore[arg-type]
        return reg.subject.id

    add("Two Purposes", "staff", {"internal": True, "website": True})
    add("Refused", "staff", {"internal": False})
    add("Scanned", "paper", {"internal": True}, scan=PDF)
    withdrawn = add("Withdrew", "staff", {"internal": True})
    confirmed = add("Confirmed", "staff", {"website": True})
    change_consent(
        portal,
        actor=clerk,
        subject_id=withdrawn,
        decisions=[Decision("internal", "withdrawn")],
        channel="staff",
        now=NOW,
    )
    # Renewing on their own link makes it the person's act: no longer a staff declaration.
    change_consent(
        portal,
        actor=Actor.subject(confirmed),
        subject_id=confirmed,
        decisions=[Decision("website", "renewed")],
        channel="portal",
        now=NOW,
    )
    with org_db.read() as conn:
        figure = staff_declared(conn, now=NOW)
        later = staff_declared(conn, now=NOW + timedelta(days=400))  # the demo organisation's consents expired
        assert risk_index.check(conn) == []
    assert (figure.consents, figure.people, figure.by_purpose) == (2, 1, {"internal": 1, "website": 1})
    assert (later.consents, later.people) == (0, 0)


def test_the_dashboard_shows_the_staff_declaration_figure(seeded_portal: SeededPortal, tmp_path: Path) -> None:
    db = seeded_portal.db
    portal = make_portal(db, tmp_path / "blobs")
    register_subject(portal, actor=MANAGER, channel="staff", name="Dora Declared", choices={"internal": True})
    with db.read() as conn:
        figure = staff_declared(conn)
    assert figure.consents >= 1
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input[0].input("manager@demo.example")
    at.text_input[1].input("demo-manager-pass")
    at.button[0].click().run()
    at.switch_page("portal/pages/dashboard.py").run()
    assert not at.exception
    caption = next(c.value for c in at.caption if "staff declaration" in c.value)
    match = re.search(r"staff declaration: (\d+) \(of (\d+) people\)", caption)
    assert match and (int(match[1]), int(match[2])) == (figure.consents, figure.people)


def test_the_cli_records_a_staff_entry_as_a_declaration(db_url: str, tmp_path: Path) -> None:
    from tests.test_cli import cli

    assert cli(db_url, "demo", cwd=tmp_path).returncode == 0
    added = cli(db_url, "subjects", "add", "--name", "Cli Person", "--consent", "internal", "--json", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    sid = json.loads(added.stdout)["subject_id"]
    db = Database(db_url)
    try:
        with db.read() as conn:
            row = conn.execute(select(consent_ledger).where(consent_ledger.c.subject_id == sid)).one()
    finally:
        db.dispose()
    assert row.channel == "staff" and json.loads(row.evidence) == DECLARED
