"""Kiosk mode through AppTest: staff hand a tablet to people, who see only the form and never each other's data."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from portal.backend.people.private import reveal_evidence
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import consent_ledger, staff_users, subjects
from portal.backend.platform.db.types import utcnow
from portal.backend.staff.audit import audit_count
from tests.conftest import APP

FORM_TITLE = "Photos at Summer festival"


@pytest.fixture
def router(site: Database) -> Database:
    """Every run goes through the router (st.navigation), as on a real server: the views live in portal/pages/,
    not a folder named pages/, so Streamlit never runs a page file on its own."""
    return site


def _staff_in_kiosk(event_id: int = 2) -> AppTest:
    """Sign in as staff and press "Start kiosk mode" for an event on the Events page."""
    at = AppTest.from_file(APP, default_timeout=90).run()
    at.text_input[0].input("staff@demo.example")
    at.text_input[1].input("demo-staff-pass")
    at.button[0].click().run()
    at.switch_page("portal/pages/events.py").run()
    at.button(key=f"kiosk_{event_id}").click().run()
    assert not at.exception
    return at


def _texts(at: AppTest) -> str:
    parts = [e.value for e in (*at.markdown, *at.title, *at.caption, *at.info, *at.error, *at.success, *at.code)]
    return "\n".join(str(p) for p in parts)


def _staff_id(db: Database) -> int:
    with db.read() as conn:
        return conn.execute(select(staff_users.c.id).where(staff_users.c.email == "staff@demo.example")).scalar_one()


def _end(at: AppTest, password: str) -> AppTest:
    """Type a password into the tucked-away exit form and send it."""
    at.text_input(key="kiosk_password").input(password)
    return next(b for b in at.button if b.label == "End kiosk mode").click().run()


def _cannot_reach(at: AppTest, page: str) -> None:
    """While the kiosk runs, the router registers no staff page, so there is none to switch to."""
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page)


def test_kiosk_shows_only_the_form_and_no_staff_pages(router: Database) -> None:
    at = _staff_in_kiosk()
    assert at.title[0].value == FORM_TITLE
    assert at.session_state["kiosk"]["event_id"] == 2
    # No navigation, no "signed in as", no sign-out: nothing in the sidebar to wander off with.
    assert not at.sidebar.children
    assert "sign_out" not in [b.key for b in at.button]
    for page in (
        "portal/pages/events.py",
        "portal/pages/overview.py",
        "portal/pages/capture.py",
        "portal/pages/assets.py",
    ):
        _cannot_reach(at, page)
    # Neither a personal-link nor a QR parameter leads out of the kiosk.
    at.query_params["link"] = "v1.anything"
    at.run()
    assert not at.exception and at.title[0].value == FORM_TITLE
    with router.read() as conn:
        assert audit_count(conn, action="kiosk_start") == 1


def _born(at: AppTest, *, year: int = 1990, month: int = 6) -> AppTest:
    """Fill in the month and year of birth the form asks everyone for (an adult unless told otherwise)."""
    at.selectbox(key="form_birth_month").set_value(month)
    at.selectbox(key="form_birth_year").set_value(year)
    return at


def test_kiosk_submission_is_recorded_and_the_form_resets_for_the_next_person(
    router: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # E-mail is configured (the page only reads the settings; tests/test_mailer.py sends for real).
    monkeypatch.setenv("PORTAL_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PORTAL_SMTP_FROM", "consent@example.org")
    at = _staff_in_kiosk()
    at.segmented_control(key="form_locale").set_value("sv").run()
    at.text_input(key="form_name").input("Ylva Ytterkiosk")
    _born(at)
    at.text_input(key="form_email").input("ylva@example.org")
    at.checkbox(key="agree_website").check()
    at.button(key="form_submit").click().run()
    assert not at.exception
    # A short confirmation in the person's language, with nothing of theirs: no name, no link, no QR, no download.
    assert at.title[0].value == "Klart, tack"
    text = _texts(at)
    assert "Ylva" not in text and "ylva@example.org" not in text and "?link=" not in text
    assert not at.code and not at.get("download_button") and not at.get("imgs")
    assert "e-postadressen du angav" in text
    assert at.session_state["registered"] == {"event": 2, "emailed": True}
    assert "form_name" not in at.session_state and "agree_website" not in at.session_state

    with router.read() as conn:
        sid = conn.execute(select(subjects.c.id).where(subjects.c.display_name == "Ylva Ytterkiosk")).scalar_one()
        rows = conn.execute(select(consent_ledger).where(consent_ledger.c.subject_id == sid)).all()
    assert {(r.channel, r.actor) for r in rows} == {("kiosk", "subject")}
    assert {json.loads(r.evidence)["kiosk_staff_id"] for r in rows} == {_staff_id(router)}

    at.button(key="kiosk_next").click().run()
    assert not at.exception
    assert at.title[0].value == FORM_TITLE  # the language is back to the default, too
    assert at.text_input(key="form_name").value == "" and at.text_input(key="form_email").value == ""
    assert not any(c.value for c in at.checkbox if c.key and c.key.startswith("agree_"))
    assert "Ylva" not in _texts(at)

    # The next person gets their own submission: nothing is mixed up with Ylva's.
    assert at.selectbox(key="form_birth_year").value is None  # Ylva's birth date is gone too
    at.text_input(key="form_name").input("Nils Next")
    _born(at)
    at.button(key="form_submit").click().run()
    assert at.title[0].value == "Done, thank you" and "ask Nordlys" in _texts(at)
    with router.read() as conn:
        nils = conn.execute(select(subjects.c.id).where(subjects.c.display_name == "Nils Next")).scalar_one()
        channels = set(
            conn.execute(select(consent_ledger.c.channel).where(consent_ledger.c.subject_id == nils)).scalars()
        )
    assert nils != sid and channels == {"kiosk"}


def test_minor_in_kiosk_is_recorded_with_the_guardian(router: Database) -> None:
    at = _staff_in_kiosk()
    at.text_input(key="form_name").input("Kim Kid")
    _born(at, year=utcnow().year - 9).run()
    at.text_input(key="form_guardian").input("Pat Parent")
    at.checkbox(key="form_guardian_ok").check()
    at.checkbox(key="agree_internal").check()
    at.button(key="form_submit").click().run()
    # The staff member must say how they verified the guardian: a choice, never free text.
    assert "choose how the parent or guardian was verified" in at.error[0].value
    assert at.selectbox(key="form_guardian_method").options == [
        "Staff checked the guardian's ID",
        "Guardian present and known to staff",
    ]
    at.selectbox(key="form_guardian_method").set_value("guardian_present")
    at.button(key="form_submit").click().run()
    assert not at.exception and at.success
    with router.read() as conn:
        kid = conn.execute(select(subjects).where(subjects.c.display_name == "Kim Kid")).one()
        rows = conn.execute(select(consent_ledger).where(consent_ledger.c.subject_id == kid.id)).all()
        guardian, _note = reveal_evidence(conn, kid.id, json.loads(rows[0].evidence))
    assert {(r.channel, r.actor) for r in rows} == {("kiosk", "guardian")}
    evidence = json.loads(rows[0].evidence)
    assert "Pat Parent" not in rows[0].evidence and set(evidence["guardian"]) == {"hmac"}
    assert guardian == {"name": "Pat Parent", "verified_by": "guardian_present"}
    assert kid.guardian_verification == "guardian_present" and kid.birth_month == 6
    assert evidence["kiosk_staff_id"] == _staff_id(router)


def test_leaving_kiosk_mode_needs_the_staff_password(router: Database) -> None:
    at = _staff_in_kiosk()
    _end(at, "guess-1234")
    assert not at.exception
    assert "Wrong password" in at.error[0].value
    assert "kiosk" in at.session_state and at.title[0].value == FORM_TITLE
    _cannot_reach(at, "portal/pages/events.py")

    _end(at, "demo-staff-pass")
    assert not at.exception
    assert "kiosk" not in at.session_state and "staff_user" in at.session_state
    assert [t.value for t in at.title] == ["Overview"] and at.sidebar.button(key="sign_out")
    at.switch_page("portal/pages/events.py").run()
    assert [t.value for t in at.title] == ["Events"]
    with router.read() as conn:
        assert audit_count(conn, action="kiosk_exit_failed") == 1
        assert audit_count(conn, action="kiosk_end") == 1


def test_guessing_the_exit_password_is_locked_out(router: Database) -> None:
    at = _staff_in_kiosk()
    for i in range(5):
        _end(at, f"guess-{i}")
    _end(at, "demo-staff-pass")
    assert "Too many wrong passwords" in at.error[0].value
    assert "kiosk" in at.session_state


def test_kiosk_promises_no_email_while_email_is_not_configured(router: Database) -> None:
    at = _staff_in_kiosk()
    at.text_input(key="form_name").input("Edna Email")
    _born(at)
    at.text_input(key="form_email").input("edna@example.org")
    at.button(key="form_submit").click().run()
    assert not at.exception and at.session_state["registered"]["emailed"]  # queued, waiting in the outbox
    text = _texts(at)
    assert "e-mail address you gave" not in text and "ask Nordlys" in text


def test_an_idle_form_shows_a_countdown_and_is_cleared_language_included(
    router: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16, item 3 (the browser test in tests/e2e/test_signed_in.py waits for the real timer)."""
    monkeypatch.setenv("PORTAL_KIOSK_IDLE_SECONDS", "20")
    at = _staff_in_kiosk()
    countdown = lambda: [w.value for w in at.warning if w.icon == ":material/hourglass_top:"]  # noqa: E731 - the demo banner is one, too
    assert not countdown()  # an untouched form counts nothing down
    at.segmented_control(key="form_locale").set_value("sv").run()
    at.text_input(key="form_name").input("Ylva Halvfylld")
    _born(at)
    at.checkbox(key="agree_website").check().run()
    # Within the countdown's last 30 seconds (here: all 20), in the person's language.
    assert ["Ingen här? Formuläret töms för nästa person om 20 s."] == countdown()
    assert at.button(key="kiosk_idle_stay").label == "Jag är kvar"
    at.session_state["kiosk_idle_due"] = True  # what the countdown's fragment sets when the time is up
    at.run()
    assert not at.exception and at.title[0].value == FORM_TITLE
    assert at.segmented_control(key="form_locale").value == "en"
    assert at.text_input(key="form_name").value == ""
    assert at.selectbox(key="form_birth_year").value is None and at.selectbox(key="form_birth_month").value is None
    assert not any(c.value for c in at.checkbox if c.key and c.key.startswith("agree_"))
    assert "Ylva" not in _texts(at) and not countdown()
    assert "kiosk" in at.session_state and "staff_session" in at.session_state  # still a kiosk, not signed out
