"""The staff page for paper consent forms through AppTest: staff can enter one with its scan, nobody else can."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import consent_ledger, outbox, receipts, staff_users, subjects
from portal.backend.staff.audit import audit_count
from tests.conftest import APP, ROOT, shown
from tests.test_paper import PDF


def _capture_page() -> AppTest:
    """Signed in as staff, on the paper-forms page."""
    at = AppTest.from_file(APP, default_timeout=90).run()
    at.text_input[0].input("staff@demo.example")
    at.text_input[1].input("demo-staff-pass")
    at.button[0].click().run()
    at.switch_page("portal/pages/capture.py").run()
    assert not at.exception
    return at


def _key(at: AppTest, field: str) -> str:
    """The widget key of a field of the form now on screen (every form has its own keys, so the next starts empty)."""
    return f"paper_{field}_{at.session_state['paper_submission']}"


def _fill(
    at: AppTest,
    *,
    name: str = "Petra Paper",
    scan: tuple[str, bytes, str] | None = ("form.pdf", PDF, "application/pdf"),
) -> AppTest:
    at.selectbox(key="paper_event").select(2)
    at.run()
    at.text_input(key=_key(at, "name")).input(name)
    at.text_input(key=_key(at, "email")).input("petra@example.org")
    at.selectbox(key=_key(at, "locale")).select("sv")
    at.checkbox(key=_key(at, "website")).check()
    at.checkbox(key=_key(at, "print")).check()
    at.date_input(key=_key(at, "signed_on")).set_value(date.today() - timedelta(days=3))
    if scan is not None:
        at.file_uploader(key=_key(at, "scan")).set_value(scan)
    return at


def _counts(db: Database) -> tuple[int, int, int]:
    """(subjects, ledger entries, stored scans)."""
    with db.read() as conn:
        people = conn.execute(select(func.count()).select_from(subjects)).scalar_one()
        entries = conn.execute(select(func.count()).select_from(consent_ledger)).scalar_one()
    return people, entries, len(list(Path("data/blobs/paper").rglob("*.*")))


def test_staff_enter_a_paper_form_with_its_scan(site: Database) -> None:
    at = _fill(_capture_page())
    submission = at.session_state["paper_submission"]
    at.button(key="paper_submit").click().run()
    assert not at.exception and not at.error
    assert "Recorded the paper form of Petra Paper: 2 of 6 purposes given." in at.success[0].value
    # The next form starts empty (the event stays selected for the rest of the stack).
    assert at.text_input(key=_key(at, "name")).value == "" and not at.checkbox(key=_key(at, "website")).value
    assert at.text_input(key=_key(at, "email")).value == "" and not at.checkbox(key=_key(at, "print")).value
    # Nothing of the recorded form stays in the session: not its ticks, e-mail or scan.
    fields = ("name", "email", "locale", "website", "print", "signed_on", "scan")
    assert not [f for f in fields if f"paper_{f}_{submission}" in at.session_state]
    assert at.session_state["paper_submission"] != submission and at.selectbox(key="paper_event").value == 2

    with site.read() as conn:
        staff_id = conn.execute(
            select(staff_users.c.id).where(staff_users.c.email == "staff@demo.example")
        ).scalar_one()
        person = conn.execute(select(subjects).where(subjects.c.display_name == "Petra Paper")).one()
        rows = conn.execute(select(consent_ledger).where(consent_ledger.c.subject_id == person.id)).all()
        mail = conn.execute(select(outbox.c.recipient).where(outbox.c.subject_id == person.id)).scalar_one()
        audited = audit_count(conn, action="enter_paper_consent")
    sha = hashlib.sha256(PDF).hexdigest()
    assert {(r.channel, r.actor, r.event_id, r.text_locale) for r in rows} == {("paper", f"staff:{staff_id}", 2, "sv")}
    assert sorted(r.action for r in rows).count("given") == 2
    evidence = json.loads(rows[0].evidence)
    assert evidence["scan_sha256"] == sha and evidence["signed_on"] == (date.today() - timedelta(days=3)).isoformat()
    assert Path(f"data/blobs/paper/{person.id}/{sha}.pdf").read_bytes() == PDF
    assert mail == "petra@example.org" and audited == 1
    # The receipt row was written with the entries (R13); its files are made on the first download.
    with site.read() as conn:
        state = conn.execute(select(receipts.c.state).where(receipts.c.subject_id == person.id)).scalar_one()
    assert state == "pending" and not list(Path(f"data/blobs/receipts/{person.id}").glob("*.pdf"))


def test_double_submit_records_the_form_once(site: Database) -> None:
    at = _fill(_capture_page())
    submission = at.session_state["paper_submission"]
    at.button(key="paper_submit").click().run()
    before = _counts(site)
    # The same form sent again with the same submission id (a double click that arrives after the first).
    at.session_state["paper_submission"] = submission
    _fill(at).button(key="paper_submit").click().run()
    assert not at.exception and "already recorded; nothing new was written" in at.success[0].value
    assert _counts(site) == before


@pytest.mark.parametrize(
    ("name", "scan", "message"),
    [
        (
            "Petra Paper",
            ("form.pdf", b"<html><body>not a scan</body></html>", "application/pdf"),
            "not a PDF, JPEG or PNG",
        ),
        ("Petra Paper", ("form.png", b"", "image/png"), "empty"),
        ("Petra Paper", None, "Attach the scan"),
        ("<b onmouseover=alert(1)>Petra</b>", ("form.pdf", PDF, "application/pdf"), "cannot contain < or >"),
    ],
    ids=["html-renamed-pdf", "empty", "no-scan", "html-in-name"],
)
def test_bad_input_is_refused_and_nothing_is_written(
    site: Database, name: str, scan: tuple | None, message: str
) -> None:
    at = _fill(_capture_page(), name=name, scan=scan)
    before = _counts(site)
    at.button(key="paper_submit").click().run()
    assert not at.exception
    assert message in shown(at.error[0].value)
    assert _counts(site) == before
    assert at.text_input(key=_key(at, "name")).value == name  # nothing typed is lost


def test_a_minor_needs_the_guardian(site: Database) -> None:
    at = _fill(_capture_page(), name="Kim Kid")
    # The birth date on the form makes them a child; no separate tick is needed.
    at.selectbox(key=_key(at, "birth_month")).set_value(12)
    at.selectbox(key=_key(at, "birth_year")).set_value(date.today().year - 9).run()
    before = _counts(site)
    at.button(key="paper_submit").click().run()
    assert "Guardian's name is empty" in at.error[0].value and _counts(site) == before
    at.text_input(key=_key(at, "guardian")).input("Pat Parent")
    at.button(key="paper_submit").click().run()
    assert "how the guardian was verified" in at.error[0].value and _counts(site) == before
    # The method is a choice among staff checks, never free text.
    assert at.selectbox(key=_key(at, "guardian_how")).options == [
        "Staff checked the guardian's ID",
        "Guardian present and known to staff",
        "Guardian signed the paper form",
    ]
    at.selectbox(key=_key(at, "guardian_how")).set_value("signed_paper_form")
    at.button(key="paper_submit").click().run()
    assert not at.error and at.success
    with site.read() as conn:
        kid = conn.execute(select(subjects).where(subjects.c.display_name == "Kim Kid")).one()
    assert kid.is_minor and kid.guardian_name == "Pat Parent" and kid.guardian_verification == "signed_paper_form"
    assert (kid.birth_year, kid.birth_month, kid.birth_day) == (date.today().year - 9, 12, None)


def test_anonymous_visitors_cannot_enter_paper_forms(site: Database) -> None:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert [t.value for t in at.title] == ["Staff sign-in"]
    with pytest.raises(ValueError, match=r"not a registered page|Could not find"):
        at.switch_page("portal/pages/capture.py")
    # The page's own guard holds even when it is run directly.
    direct = AppTest.from_file(str(ROOT / "portal" / "pages" / "capture.py"), default_timeout=60).run()
    assert not direct.exception
    assert "You do not have access" in direct.error[0].value
    assert not direct.get("file_uploader") and not direct.button
