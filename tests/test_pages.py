"""Every page through Streamlit's AppTest, against a real database seeded with the demo data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from portal.backend.consent.status import status_for, subject_consents
from portal.backend.people.subjects import link_token
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import assets, audit_log, consent_ledger, subjects
from portal.backend.platform.db.types import utcnow
from tests.conftest import APP
from tests.factories import create_personal_link, open_folded
from tests.seeded import SeededPortal


@pytest.fixture
def portal_env(seeded_portal: SeededPortal) -> Database:
    """The app pointed at this test's own copy of the demo portal (SQLite, then PostgreSQL), seeded once a session."""
    return seeded_portal.db


def _run(**query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def _sign_in(at: AppTest, email: str, password: str) -> AppTest:
    at.text_input[0].input(email)
    at.text_input[1].input(password)
    return at.button[0].click().run()


def _texts(at: AppTest) -> str:
    parts = [e.value for e in (*at.markdown, *at.title, *at.caption, *at.info, *at.error, *at.success, *at.warning)]
    return "\n".join(str(p) for p in parts)


def _subject_id(db: Database, name: str) -> str:
    with db.read() as conn:
        return conn.execute(select(subjects.c.id).where(subjects.c.display_name == name)).scalar_one()


def _link(db: Database, name: str) -> str:
    s = load_settings(env={}, secrets_path=None)
    url = create_personal_link(
        db, subject_id=_subject_id(db, name), secret=s.secret_key, base_url=s.base_url, ttl_days=30
    )
    return link_token(url)


def test_first_start_creates_and_seeds_and_shows_sign_in(first_start_env: Database) -> None:
    at = _run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Staff sign-in"]
    assert "Demo data" in at.warning[0].value
    with first_start_env.read() as conn:
        assert conn.execute(select(func.count()).select_from(subjects)).scalar_one() == 7


def test_wrong_password_shows_an_error(portal_env: Database) -> None:
    at = _sign_in(_run(), "manager@demo.example", "not the password")
    assert not at.exception
    assert "E-mail or password is wrong" in at.error[0].value
    assert [t.value for t in at.title] == ["Staff sign-in"]


def test_manager_sees_overview_and_subjects(portal_env: Database) -> None:
    at = _sign_in(_run(), "manager@demo.example", "demo-manager-pass")
    assert not at.exception
    assert [t.value for t in at.title] == ["Overview"]
    assert {m.label: m.value for m in at.metric}["Subjects"] == "7"
    at.switch_page("portal/pages/subjects.py").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Subjects"]
    table = at.dataframe[0].value
    assert len(table) == 7
    erik = table[table["Name"] == "Erik Johansson"].iloc[0]
    assert "Withdrawn" in erik["website"] and "Given" in erik["internal"]
    # The purpose columns are headed by their titles (the code is the tooltip; the data keeps it).
    headers = json.loads(at.dataframe[0].proto.columns)
    assert headers["website"]["label"] == "Our website" and headers["social_media"]["label"] == "Social media"
    liam = table[table["Name"] == "Liam O'Brien"].iloc[0]
    assert "Expired" in liam["print"]
    at.selectbox[0].select(_subject_id(portal_env, "Erik Johansson")).run()
    assert not at.exception
    assert "Erik Johansson" in [s.value for s in at.subheader]
    with portal_env.read() as conn:
        assert (
            conn.execute(
                select(func.count()).select_from(audit_log).where(audit_log.c.action == "view_subject")
            ).scalar_one()
            == 1
        )


def test_search_filters_subjects(portal_env: Database) -> None:
    at = _sign_in(_run(), "admin@demo.example", "demo-admin-pass")
    at.switch_page("portal/pages/subjects.py").run()
    at.text_input[0].input("lind").run()
    assert list(at.dataframe[0].value["Name"]) == ["Anna Lindqvist"]


def test_staff_cannot_reach_manager_pages(portal_env: Database) -> None:
    at = _sign_in(_run(), "staff@demo.example", "demo-staff-pass")
    assert [t.value for t in at.title] == ["Overview"]
    with pytest.raises(ValueError, match=r"not a registered page|Could not find"):
        at.switch_page("portal/pages/subjects.py")
    # The page's own guard holds even if it were run directly.
    assert "Verify the consent ledger" not in [b.label for b in at.button]


ROLE_VIEWS = {
    None: {"sign_in"},
    "staff": {"overview", "events", "capture", "assets", "takedowns"},
    "manager": {
        "overview",
        "events",
        "capture",
        "assets",
        "takedowns",
        "dashboard",
        "subjects",
        "reports",
        "audit",
        "retention",
        "outbox",
    },
    "admin": {
        "overview",
        "events",
        "capture",
        "assets",
        "takedowns",
        "dashboard",
        "subjects",
        "reports",
        "audit",
        "retention",
        "outbox",
        "settings",
    },
}
ACCOUNTS = {"staff": "demo-staff-pass", "manager": "demo-manager-pass", "admin": "demo-admin-pass"}


@pytest.mark.parametrize("role", [None, "staff", "manager", "admin"])
def test_every_view_per_role_runs_or_cannot_be_reached(portal_env: Database, role: str | None) -> None:
    """Each role reaches exactly its views, and each of them runs cleanly; every other view is not registered."""
    at = _run() if role is None else _sign_in(_run(), f"{role}@demo.example", ACCOUNTS[role])
    views = sorted(p.stem for p in (Path(APP).parent / "portal" / "pages").glob("*.py") if p.stem != "__init__")
    reached = set()
    for view in views:
        try:
            at.switch_page(f"portal/pages/{view}.py")
        except ValueError:
            continue  # not in this role's navigation: there is no URL or switch that runs it
        at.run()
        assert not at.exception, (role, view, at.exception)
        assert not [e for e in at.error if "do not have access" in e.value], (role, view)
        reached.add(view)
    assert reached == ROLE_VIEWS[role]


def test_sign_out(portal_env: Database) -> None:
    at = _sign_in(_run(), "manager@demo.example", "demo-manager-pass")
    assert "staff_user" in at.session_state
    at.sidebar.button(key="sign_out").click().run()
    assert "staff_user" not in at.session_state
    assert not at.metric and "Verify the consent ledger" not in [b.label for b in at.button]


def test_my_consents_without_a_token(portal_env: Database) -> None:
    at = _run(link="")
    assert not at.exception
    assert "personal link" in at.info[0].value
    assert not at.button


@pytest.mark.parametrize("token", ["garbage", "v1.eyJsaWQiOiJ4In0.AAAA", "v1." + "A" * 2000])
def test_my_consents_with_a_bad_token_shows_no_data(portal_env: Database, token: str) -> None:
    _run()  # seed
    at = _run(link=token)
    assert not at.exception
    assert "not valid" in at.error[0].value
    assert "Erik" not in _texts(at) and not at.button


def test_my_consents_shows_own_status_and_withdraws(portal_env: Database) -> None:
    token = _link(portal_env, "Olivia Karlsson")
    at = _run(link=token)
    assert not at.exception
    text = _texts(at)
    assert "Hello Olivia Karlsson" in text and "Anna" not in text
    # The summary first, then one "Change" per purpose (its text behind it).
    assert any("You allow:" in m.value for m in at.markdown)
    assert "Change: Social media" in [e.label for e in at.expander]
    assert "withdraw_website" not in [b.key for b in at.button]  # behind its "Change", drawn when opened
    open_folded(at, "change_website").button(key="withdraw_website").click().run()
    assert not at.exception
    assert "Withdrawn" in at.success[0].value
    sid = _subject_id(portal_env, "Olivia Karlsson")
    with portal_env.read() as conn:
        statuses = subject_consents(conn, sid, utcnow())
        last = conn.execute(select(consent_ledger).order_by(consent_ledger.c.seq.desc()).limit(1)).one()
    assert status_for(statuses, "website") == "withdrawn"
    assert (last.channel, last.actor, last.action) == ("portal", "subject", "withdrawn")
    # The withdrawal produced a receipt the subject can download right here (R13).
    assert any(e.label.startswith("Your receipts (") for e in at.expander)
    open_folded(at, "receipts")
    assert {"Receipt (PDF)", "Receipt (machine-readable JSON)"} <= {b.label for b in at.get("download_button")}


def test_withdraw_everything_needs_one_confirmation(portal_env: Database) -> None:
    at = _run(link=_link(portal_env, "Anna Lindqvist"))
    assert at.segmented_control[0].value == "sv"
    at.segmented_control[0].set_value("en").run()
    assert "Your photo consents" in [t.value for t in at.title]
    with portal_env.read() as conn:
        before = conn.execute(select(func.count()).select_from(consent_ledger)).scalar_one()
    at.button(key="withdraw_all").click().run()
    with portal_env.read() as conn:
        assert conn.execute(select(func.count()).select_from(consent_ledger)).scalar_one() == before
    at.button(key="withdraw_all_confirm").click().run()
    assert not at.exception
    assert "All your consents are withdrawn" in at.success[0].value
    with portal_env.read() as conn:
        statuses = subject_consents(conn, _subject_id(portal_env, "Anna Lindqvist"), utcnow())
    assert not any(s.allowed for s in statuses)


def test_subject_can_give_a_purpose_with_one_click(portal_env: Database) -> None:
    at = open_folded(_run(link=_link(portal_env, "Noah Berg")), "change_print", "change_face_matching")
    assert "Face matching needs a photo of your face" in _texts(at)
    at.button(key="give_print").click().run()
    assert not at.exception
    with portal_env.read() as conn:
        statuses = subject_consents(conn, _subject_id(portal_env, "Noah Berg"), utcnow())
    assert status_for(statuses, "print") == "given"
    assert "give_face_matching" not in [b.key for b in at.button]  # biometric consent needs the full form


def test_my_photos_show_own_face_and_take_a_per_photo_veto(portal_env: Database, tmp_path: Path) -> None:
    from portal.backend.photos.analysis import run_worker
    from portal.backend.photos.assets import asset_detections, ingest, record_use
    from portal.backend.photos.biometrics import link_detection
    from portal.backend.platform.actors import Actor
    from portal.backend.platform.blobs import make_blob_store
    from tests.imagery import group_photo

    settings = load_settings(secrets_path=None)
    blobs = make_blob_store(settings)
    asset = ingest(
        portal_env,
        blobs,
        data=group_photo(["astronaut", "grace_hopper"]),
        filename="pair.jpg",
        max_pixels=settings.max_image_pixels,
    ).asset
    run_worker(portal_env, blobs, settings)
    with portal_env.read() as conn:
        face = max((d for d in asset_detections(conn, asset.id) if d.kind == "face"), key=lambda d: d.box.x)
    olivia = _subject_id(portal_env, "Olivia Karlsson")
    staff = Actor.staff(3, "staff")
    with portal_env.write() as conn:
        link_detection(conn, detection_id=face.id, subject_id=olivia, actor=staff, now=utcnow())
        record_use(
            conn, asset_id=asset.id, purpose="website", place="https://example.org/festival", actor=staff, now=utcnow()
        )
    at = _run(link=_link(portal_env, "Olivia Karlsson"))
    assert not at.exception
    assert "Your photos" in [h.value for h in at.header]
    assert len(at.image) == 3  # this photo and Olivia's two in the demo library
    open_folded(at, f"choices_{asset.id}")
    # The place is typed by staff: shown as text, with an invisible word joiner that keeps the URL from linking.
    assert "Our website at https:\u2060//example.org/festival" in _texts(at)
    at.button(key=f"veto_{asset.id}_website").click().run()
    assert not at.exception
    with portal_env.read() as conn:
        statuses = subject_consents(conn, olivia, utcnow())
    assert status_for(statuses, "website") == "given"
    assert status_for(statuses, "website", asset.id) == "refused"
    assert f"allow_{asset.id}_website" in [b.key for b in at.button]


def test_a_subject_without_photos_sees_none(portal_env: Database) -> None:
    at = _run(link=_link(portal_env, "Sofia Nilsson"))
    assert "No photo is linked to you yet." in _texts(at)


def test_download_my_data_and_erase_me(portal_env: Database) -> None:

    token = _link(portal_env, "Liam O'Brien")
    at = _run(link=token)
    assert "prepare_export" not in [b.key for b in at.button]  # folded until opened
    open_folded(at, "rights").button(key="prepare_export").click().run()
    assert not at.exception
    download = next(b for b in at.get("download_button") if b.label == "Download my data (ZIP)")
    assert download is not None
    at.button(key="erase").click().run()
    # The dialog says truthfully what is kept, and why.
    assert "Art. 7(1)" in at.warning[-1].value and "which purpose" in at.warning[-1].value
    at.button(key="erase_confirm").click().run()  # two taps are not enough: the word was not typed
    assert "Type ERASE in the box" in at.error[-1].value
    at.text_input(key="erase_word").input("erase please").run()
    at.button(key="erase_confirm").click().run()
    with portal_env.read() as conn:
        assert conn.execute(select(subjects.c.display_name).where(subjects.c.display_name == "Liam O'Brien")).first()
    at.text_input(key="erase_word").input(" erase ").run()
    at.button(key="erase_confirm").click().run()
    assert not at.exception
    # A clean confirmation: no name, photo, link or button of the erased person is left on screen.
    assert [x.value for x in at.title] == ["Your data has been erased"]
    assert "You have been erased" in at.success[-1].value
    assert "Liam" not in _texts(at) and not at.button and not at.image and not at.get("download_button")
    with portal_env.read() as conn:
        assert (
            conn.execute(
                select(func.count()).select_from(subjects).where(subjects.c.erased_at.is_not(None))
            ).scalar_one()
            == 1
        )
    again = _run(link=token)
    assert not again.exception and "Liam" not in _texts(again)
    assert "has been erased" in again.info[-1].value and "new one" not in _texts(again)


def test_erase_me_in_swedish_asks_for_the_swedish_word(portal_env: Database) -> None:
    at = _run(link=_link(portal_env, "Liam O'Brien"))
    at.segmented_control(key="locale").set_value("sv").run()
    open_folded(at, "rights").button(key="erase").click().run()
    at.text_input(key="erase_word").input("radera").run()
    at.button(key="erase_confirm").click().run()
    assert not at.exception
    assert [x.value for x in at.title] == ["Dina uppgifter är raderade"]
    assert "Du är raderad" in at.success[-1].value


def test_manager_dashboard_shows_the_sql_figures(portal_env: Database) -> None:
    from portal.backend.consent.titles import purpose_titles
    from portal.backend.risk.figures import summary

    at = _sign_in(_run(), "manager@demo.example", "demo-manager-pass")
    at.switch_page("portal/pages/dashboard.py").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["At-risk photos"]
    shown = at.dataframe[0].value.set_index("Code")
    with portal_env.read() as conn:
        titles = purpose_titles(conn)
        for f in summary(conn):
            assert shown.loc[f.purpose, "At risk"] == f.at_risk
            assert shown.loc[f.purpose, "Purpose"] == titles[f.purpose] != f.purpose  # titles shown, codes kept
    # The Critical tab (drawn once chosen): the demo's panel photo shows Erik, who withdrew.
    assert not [d for d in at.dataframe if "Published at" in d.value.columns]
    at.session_state["dash_tab"] = "Critical"
    at.run()
    critical = next(d.value for d in at.dataframe if "Published at" in d.value.columns)
    assert list(zip(critical["File"], critical["Purpose"], critical["Why"], strict=True)) == [
        ("spring-panel.jpg", "Our website", "Withdrawn")
    ]


def test_dashboard_drill_down_expiry_windows_and_history(portal_env: Database) -> None:
    from portal.backend.ops.bootstrap import attach_portal
    from portal.backend.ops.services import run_daily_jobs
    from portal.backend.platform.actors import Actor
    from portal.backend.risk.figures import REASON_LABELS, drill_down, summary

    at = _sign_in(_run(), "manager@demo.example", "demo-manager-pass")
    run_daily_jobs(attach_portal(load_settings()), actor=Actor.system("jobs"))  # today's snapshot for the chart
    with portal_env.read() as conn:
        figures = summary(conn)
    at.switch_page("portal/pages/dashboard.py").run()
    at.session_state["dash_tab"] = "Expiring"
    at.run()
    expiring = next(d.value for d in at.dataframe if "30 days" in d.value.columns).set_index("Code")
    assert list(expiring.columns) == ["Purpose", "30 days", "60 days", "90 days"]
    for f in figures:
        assert expiring.loc[f.purpose, "30 days"] == f.expiring_in[30]
    at.session_state["dash_tab"] = "Over time"
    at.run()
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart"), "the history chart is drawn"
    assert not [i for i in at.info if "recorded once a day" in i.value]  # the history chart has data
    at.session_state["dash_tab"] = "Drill down"
    at.run()
    purpose, reason = next((f.purpose, r) for f in figures for r in f.primary)
    at.selectbox(key="drill_purpose").select(purpose).run()
    at.selectbox(key="drill_what").select(reason).run()
    open_folded(at, "drill_table")
    assert not at.exception
    with portal_env.read() as conn:
        expected = drill_down(conn, purpose=purpose, primary_reason=reason, limit=12)
    shown = at.dataframe[-1].value  # the drill's page as a table, under the thumbnail grid
    assert len(shown) == len(expected) == min(12, next(f for f in figures if f.purpose == purpose).primary[reason])
    assert set(shown["Photo"]) == {r["asset_id"] for r in expected}
    assert REASON_LABELS[reason] in " ".join(shown["Why"])


def test_staff_cannot_open_the_dashboard(portal_env: Database) -> None:
    at = _sign_in(_run(), "staff@demo.example", "demo-staff-pass")
    with pytest.raises(ValueError, match=r"not a registered page|Could not find"):
        at.switch_page("portal/pages/dashboard.py")


def test_staff_events_page_creates_an_event_and_makes_its_poster(portal_env: Database) -> None:
    at = _sign_in(_run(), "staff@demo.example", "demo-staff-pass")
    at.switch_page("portal/pages/events.py").run()
    assert not at.exception
    assert [s.value for s in at.subheader] == ["Summer festival", "Spring conference"]
    at.text_input[0].input("Winter market")
    next(b for b in at.button if b.label == "Create event").click().run()
    assert not at.exception
    assert "Winter market" in [s.value for s in at.subheader]
    make = next(b for b in at.button if b.label == "Make the QR poster (PDF)")
    make.click().run()
    assert any(b.label == "Download the QR poster (PDF)" for b in at.get("download_button"))


def test_staff_uploads_reviews_links_and_publishes_a_photo(portal_env: Database) -> None:
    from portal.backend.photos.assets import asset_detections, current_uses
    from tests.imagery import group_photo

    at = _sign_in(_run(), "staff@demo.example", "demo-staff-pass")
    at.switch_page("portal/pages/assets.py").run()
    assert not at.exception
    assert any("Person detection is off" in c.value for c in at.caption)
    open_folded(at, "upload_box").file_uploader(key="uploads").set_value(
        [
            ("pair.jpg", group_photo(["astronaut", "grace_hopper"]), "image/jpeg"),
            ("broken.jpg", b"not an image", "image/jpeg"),
        ]
    ).run()
    at.button(key="import").click().run()
    assert not at.exception
    assert "1 imported, 0 duplicates, 1 rejected." in at.success[0].value
    assert "Analysed 1 photos" in at.success[1].value
    with portal_env.read() as conn:
        pair = conn.execute(select(assets.c.id).where(assets.c.filename == "pair.jpg")).scalar_one()
        faces = [d for d in asset_detections(conn, pair) if d.kind == "face"]
    at.button(key=f"open_{pair}").click().run()  # the demo library holds photos too; the newest comes first
    grace = max(faces, key=lambda d: d.box.x)
    olivia = _subject_id(portal_env, "Olivia Karlsson")
    at.text_input(key=f"find_{grace.id}").input("Olivia Karl").run()
    at.button(key=f"link_{grace.id}_{olivia}").click().run()
    assert any("linked to Olivia Karlsson" in s.value for s in at.success)
    patch = min(faces, key=lambda d: d.score or 0.0)
    at.button(key=f"unid_{patch.id}").click().run()
    at.selectbox(key="publish_purpose").select("website").run()
    # The astronaut is nobody staff know: the page says so before the button, and publishing is refused.
    astronaut = next(d for d in faces if d.id not in (grace.id, patch.id))
    assert any(f"nobody has identified this face (#{astronaut.id})" in w.value for w in at.warning)
    at.text_input(key="publish_place").input("https://example.org/gallery")
    next(b for b in at.button if b.label == "Record publication").click().run()
    assert any("cannot be published for website" in e.value for e in at.error)
    with portal_env.read() as conn:
        assert current_uses(conn, pair) == []
    at.button(key=f"unid_{astronaut.id}").click().run()  # a picture on the wall, staff judge
    at.text_input(key="publish_place").input("https://example.org/gallery")
    next(b for b in at.button if b.label == "Record publication").click().run()
    assert not at.exception
    with portal_env.read() as conn:
        after = {d.id: d for d in asset_detections(conn, pair)}
        uses = current_uses(conn, pair)
    assert (after[grace.id].subject_id, after[grace.id].link_status) == (olivia, "confirmed")
    assert after[patch.id].identifiable is False
    assert [(u.purpose, u.place) for u in uses] == [("website", "https://example.org/gallery")]


def test_manager_makes_both_reports(portal_env: Database) -> None:
    at = _sign_in(_run(), "manager@demo.example", "demo-manager-pass")
    at.switch_page("portal/pages/reports.py").run()
    at.button(key="make_compliance").click().run()
    at.button(key="make_art30").click().run()
    assert not at.exception
    labels = {b.label for b in at.get("download_button")}
    assert {"Download the compliance report (PDF)", "Download the record of processing (PDF)"} <= labels
    with portal_env.read() as conn:
        logged = conn.execute(
            select(audit_log.c.action, audit_log.c.actor).where(audit_log.c.action.like("export_%"))
        ).all()
    assert sorted(a for a, _ in logged) == ["export_compliance_report", "export_record_of_processing"]
    assert len({actor for _, actor in logged}) == 1 and logged[0][1].startswith("staff:")


def test_admin_settings_publish_a_new_text_version_and_add_staff(portal_env: Database) -> None:
    from portal.backend.consent.purposes import current_text, get_purpose
    from portal.backend.staff.accounts import authenticate

    at = _sign_in(_run(), "admin@demo.example", "demo-admin-pass")
    at.switch_page("portal/pages/settings.py").run()
    assert not at.exception
    at.selectbox(key="text_purpose").select("website").run()
    at.text_area(key="text_body_website_en").input("We may publish photos of you on our website (new wording).")
    at.checkbox(key="text_keep_website_sv").check()  # every language is published together: Swedish kept as is
    next(b for b in at.button if b.label == "Preview the change").click().run()
    at.checkbox(key="text_confirm_website").check().run()  # publishing asks for a confirmation after the preview
    at.button(key="text_publish_website").click().run()
    assert not at.exception and any("Published version 2" in s.value for s in at.success)
    with portal_env.read() as conn:
        text = current_text(conn, get_purpose(conn, "website").id, "en")
    assert (text.version, text.body) == (2, "We may publish photos of you on our website (new wording).")
    at.text_input(key="new_email").input("new.staff@example.org")
    at.text_input(key="new_name").input("New Staff")
    at.text_input(key="new_password").input("long enough password")
    next(b for b in at.button if b.label == "Create account").click().run()
    assert not at.exception
    assert authenticate(portal_env, email="new.staff@example.org", password="long enough password").role == "staff"
    at.run()  # the account list now holds the new account
    accounts = at.selectbox(key="change_user_id").options
    at.selectbox(key="change_user_id").select_index(next(i for i, o in enumerate(accounts) if "new.staff@" in o))
    at.selectbox(key="change_role").select("manager")
    next(b for b in at.button if b.label == "Change the role").click().run()
    assert not at.exception and any("is now manager" in s.value for s in at.success)
    assert authenticate(portal_env, email="new.staff@example.org", password="long enough password").role == "manager"


def test_manager_sees_audit_log_but_not_settings(portal_env: Database) -> None:
    at = _sign_in(_run(), "manager@demo.example", "demo-manager-pass")
    at.switch_page("portal/pages/audit.py").run()
    assert not at.exception
    assert "sign_in" in set(at.dataframe[0].value["action"])
    try:
        at.switch_page("portal/pages/settings.py").run()
    except ValueError:
        return  # AppTest refuses pages the navigation did not register
    assert "Settings" not in [t.value for t in at.title]
    assert not any(b.label == "Create account" for b in at.button)
