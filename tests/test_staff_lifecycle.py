"""Issue 14, items 3 and 6: staff access that can be taken away (disable, enable, role, password, demo accounts,
every page run re-reads the account), production refusing demo databases, `doctor`, and personal links that a new
link or staff can revoke and that live as long as the consents they manage."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from portal.backend.ops.bootstrap import open_portal
from portal.backend.people.services import create_personal_link, revoke_personal_links
from portal.backend.people.subjects import link_token, resolve_link
from portal.backend.platform.actors import Actor
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import audit_log, staff_users, subject_links
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import AuthError, ConfigError, SessionExpired, TokenError, ValidationError
from portal.backend.platform.runtime import Portal
from portal.backend.platform.signing import new_key_text
from portal.backend.staff.accounts import authenticate, create_user
from portal.backend.staff.services import (
    add_staff,
    disable_staff,
    enable_staff,
    remove_demo_accounts,
    set_staff_password,
    set_staff_role,
)
from portal.backend.staff.sessions import keep_alive, sign_in
from portal.cli import main
from tests.conftest import APP
from tests.factories import MANAGER, OPERATOR, make_portal, make_subject
from tests.seeded import SeededPortal

STRONG = "Zq8-vT3mKx_91LpRw4nYbE7cHj2uFs6Ga0"
PRODUCTION = {
    "PORTAL_ENVIRONMENT": "production",
    "PORTAL_SECRET_KEY": STRONG,
    "PORTAL_BASE_URL": "https://portal.example",
    "PORTAL_DEMO_DATA": "false",
    "PORTAL_LEDGER_KEY": new_key_text(),
}


def _portal(db: Database, tmp_path: Path) -> Portal:
    return make_portal(db, tmp_path / "blobs", base_url="https://portal.example", link_ttl_days=30)


def _admin_and_sam(portal: Portal) -> tuple[Actor, str]:
    """A real admin (acting) and a staff account sam@example.org with a password."""
    admin = add_staff(
        portal, actor=OPERATOR, email="ada@example.org", name="Ada", role="admin", password="ada password 1"
    )
    add_staff(portal, actor=OPERATOR, email="sam@example.org", name="Sam", role="manager", password="sam password 1")
    return admin.as_actor(), "sam@example.org"


def _actions(db: Database) -> list[tuple[str, str | None]]:
    with db.read() as conn:
        return [(r.action, r.target_id) for r in conn.execute(select(audit_log).order_by(audit_log.c.id))]


# --- Services: disable, enable, role, password; all audited, admins only. -----------------------------------------


def test_an_admin_disables_enables_demotes_and_resets_a_password(org_db: Database, tmp_path: Path) -> None:
    portal = _portal(org_db, tmp_path)
    admin, sam = _admin_and_sam(portal)
    with pytest.raises(AuthError, match="Only admins"):
        disable_staff(portal, actor=MANAGER, email=sam)
    off = disable_staff(portal, actor=admin, email=sam)
    assert not off.active
    with pytest.raises(AuthError, match="E-mail or password is wrong, or the account is disabled"):
        authenticate(org_db, email=sam, password="sam password 1")
    assert enable_staff(portal, actor=admin, email=sam).active
    assert set_staff_role(portal, actor=admin, email=sam, role="staff").role == "staff"
    with pytest.raises(ValidationError, match="at least 10"):
        set_staff_password(portal, actor=admin, email=sam, password="short")
    set_staff_password(portal, actor=admin, email=sam, password="a brand new password")
    with pytest.raises(AuthError):
        authenticate(org_db, email=sam, password="sam password 1")
    assert authenticate(org_db, email=sam, password="a brand new password").role == "staff"
    sam_id = str(off.id)
    actions = [a for a in _actions(org_db) if a[1] == sam_id]
    assert [a for a, _ in actions] == [
        "create_user",
        "deactivate_staff",
        "enable_staff",
        "set_staff_role",
        "set_staff_password",
    ]
    with org_db.read() as conn:
        details = " ".join(conn.execute(select(audit_log.c.detail)).scalars())
    assert "brand new" not in details


def test_hosted_mode_refuses_to_set_passwords_it_does_not_hold(org_db: Database, tmp_path: Path) -> None:
    portal = make_portal(
        org_db,
        tmp_path / "b",
        auth_backend="supabase",
        secret_key=STRONG,
        supabase_url="https://a.supabase.co",
        supabase_anon_key="sb_publishable_x",
    )
    with pytest.raises(ValidationError, match="Supabase Auth"):
        set_staff_password(portal, actor=OPERATOR, email="x@example.org", password="long enough password")


# --- Sessions re-read the account on every page run. --------------------------------------------------------------


def test_an_open_session_follows_a_demotion_and_ends_when_the_account_is_disabled(
    org_db: Database, tmp_path: Path
) -> None:
    """Embedded sessions used to keep their sign-in role for up to 12 hours."""
    portal = _portal(org_db, tmp_path)
    admin, sam = _admin_and_sam(portal)
    session = sign_in(portal.settings, org_db, email=sam, password="sam password 1")
    assert keep_alive(portal.settings, org_db, session) is session  # nothing changed: the same object
    set_staff_role(portal, actor=admin, email=sam, role="staff")
    demoted = keep_alive(portal.settings, org_db, session)
    assert demoted.user.role == "staff" and not demoted.user.can("manager")
    disable_staff(portal, actor=admin, email=sam)
    with pytest.raises(SessionExpired, match="disabled or removed"):
        keep_alive(portal.settings, org_db, demoted)


def _signed_in(email: str, password: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90).run()
    at.text_input[0].input(email)
    at.text_input[1].input(password)
    return at.button[0].click().run()


def test_pages_take_a_demotion_and_a_disabling_on_the_next_click(seeded_portal: SeededPortal) -> None:
    db = seeded_portal.db
    at = _signed_in("manager@demo.example", "demo-manager-pass")
    at.switch_page("portal/pages/subjects.py").run()
    assert not at.exception and [t.value for t in at.title] == ["Subjects"]
    set_staff_role(
        Portal(settings=load_settings(secrets_path=None), db=db, blobs=None),  # type: ignore[arg-type]
        actor=OPERATOR,
        email="manager@demo.example",
        role="staff",
    )
    at.switch_page("portal/pages/subjects.py").run()
    assert not at.exception
    # The router lists the pages of the role read on this run: Subjects is gone, and no subject is shown.
    assert [t.value for t in at.title] != ["Subjects"] and not at.selectbox
    with db.write() as conn:
        conn.execute(staff_users.update().where(staff_users.c.email == "manager@demo.example").values(active=False))
    at.switch_page("portal/pages/overview.py").run()
    assert not at.exception
    assert "disabled or removed" in " ".join(i.value for i in at.info)
    assert "staff_session" not in at.session_state


# --- Demo accounts and production. --------------------------------------------------------------------------------


def test_the_first_admin_removes_the_demo_accounts(seeded_portal: SeededPortal, tmp_path: Path) -> None:
    db = seeded_portal.db
    portal = _portal(db, tmp_path)
    demo_admin = authenticate(db, email="admin@demo.example", password="demo-admin-pass").as_actor()
    with pytest.raises(ValidationError, match="signed in with a demo account"):
        remove_demo_accounts(portal, actor=demo_admin)
    mine = add_staff(portal, actor=demo_admin, email="it@school.example", name="IT", role="admin", password="x" * 16)
    removed = remove_demo_accounts(portal, actor=mine.as_actor())
    assert sorted(removed) == ["admin@demo.example", "manager@demo.example", "staff@demo.example"]
    for email, password in [("admin@demo.example", "demo-admin-pass"), ("staff@demo.example", "demo-staff-pass")]:
        with pytest.raises(AuthError):
            authenticate(db, email=email, password=password)
    with db.read() as conn:
        left = conn.execute(select(staff_users.c.email, staff_users.c.active, staff_users.c.password_hash)).all()
    assert [e for e, *_ in left if "demo.example" in e] == []
    assert all(not active and hashed is None for e, active, hashed in left if e != "it@school.example")
    assert [a for a, _ in _actions(db)].count("remove_demo_account") == 3


def test_production_refuses_the_demo_database(seeded_portal: SeededPortal) -> None:
    """Production used to start on the demo database, where admin@demo.example / demo-admin-pass signs in."""
    settings = load_settings(env={**PRODUCTION, "PORTAL_DATABASE_URL": seeded_portal.url}, secrets_path=None)
    with pytest.raises(ConfigError, match="holds the demo data") as refused:
        open_portal(settings)
    assert "Demo accounts with public passwords exist (admin@demo.example" in str(refused.value)


def test_production_refuses_demo_accounts_until_they_are_removed(empty_db: Database, tmp_path: Path) -> None:
    settings = load_settings(
        env={**PRODUCTION, "PORTAL_DATABASE_URL": empty_db.url, "PORTAL_DATA_DIR": str(tmp_path / "prod")},
        secrets_path=None,
    )
    open_portal(settings).db.dispose()  # migrates the empty database and starts
    with empty_db.write() as conn:
        create_user(
            conn, email="staff@demo.example", display_name="S", role="staff", password="demo-staff-pass", now=utcnow()
        )
    with pytest.raises(ConfigError, match=r"Demo accounts with public passwords exist \(staff@demo.example\)"):
        open_portal(settings)
    remove_demo_accounts(_portal(empty_db, tmp_path), actor=OPERATOR)
    open_portal(settings).db.dispose()


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_doctor_prints_every_problem_and_exits_1(
    seeded_portal: SeededPortal, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _cli(["doctor"], capsys)
    assert code == 0 and "No problems" in out and "demo data or accounts present" in out
    for key, value in PRODUCTION.items():
        monkeypatch.setenv(key, value)
    code, out, err = _cli(["doctor"], capsys)
    assert code == 1
    assert "error: production: The database holds the demo data" in err
    assert "error: production: Demo accounts with public passwords exist" in err
    monkeypatch.setenv("PORTAL_SECRET_KEY", "s" * 40)
    code, out, err = _cli(["doctor"], capsys)
    assert code == 1 and "error: settings: PORTAL_SECRET_KEY is too weak" in err and "s" * 40 not in err + out


def test_doctor_names_an_unmigrated_database(
    empty_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _out, err = _cli(["doctor", "--database-url", empty_db.url], capsys)
    assert code == 1 and "schema revision (empty)" in err and "python -m portal db upgrade" in err


def test_staff_cli_disable_enable_password_role_and_remove_demo(
    seeded_portal: SeededPortal, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = seeded_portal.db
    assert _cli(["staff", "disable", "staff@demo.example"], capsys)[0] == 0
    with pytest.raises(AuthError):
        authenticate(db, email="staff@demo.example", password="demo-staff-pass")
    assert _cli(["staff", "enable", "staff@demo.example"], capsys)[0] == 0
    assert _cli(["staff", "role", "staff@demo.example", "--role", "manager"], capsys)[0] == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a completely new one\n"))
    code, out, _ = _cli(["staff", "password", "staff@demo.example", "--password-stdin"], capsys)
    assert code == 0 and "completely" not in out
    assert authenticate(db, email="staff@demo.example", password="a completely new one").role == "manager"
    code, _, err = _cli(["staff", "remove-demo"], capsys)
    assert code == 1 and "last active admin" in err  # the demo admin is the only admin: make a real one first
    monkeypatch.setattr("sys.stdin", io.StringIO("the real admin pw\n"))
    assert (
        _cli(["staff", "add", "it@school.example", "--name", "IT", "--role", "admin", "--password-stdin"], capsys)[0]
        == 0
    )
    code, out, _ = _cli(["staff", "remove-demo", "--as", "it@school.example"], capsys)
    assert code == 0 and "admin@demo.example" in out
    assert [a for a, _ in _actions(db) if a in LIFECYCLE] == [
        "deactivate_staff",
        "enable_staff",
        "set_staff_role",
        "set_staff_password",
        "remove_demo_account",
        "remove_demo_account",
        "remove_demo_account",
    ]


LIFECYCLE = {"deactivate_staff", "enable_staff", "set_staff_role", "set_staff_password", "remove_demo_account"}


# --- Personal links. ----------------------------------------------------------------------------------------------


def test_a_new_link_retires_the_older_ones_unless_asked_not_to(org_db: Database, tmp_path: Path) -> None:
    """A new link used to leave the leaked one working for 180 days."""
    portal = _portal(org_db, tmp_path)
    sid = make_subject(org_db, choices={"website": True})
    first = link_token(create_personal_link(portal, actor=MANAGER, subject_id=sid))
    second = link_token(create_personal_link(portal, actor=MANAGER, subject_id=sid))
    secret, now = portal.settings.secret_key, utcnow()
    with org_db.read() as conn:
        with pytest.raises(TokenError, match="withdrawn"):
            resolve_link(conn, token=first, secret=secret, now=now)
        assert resolve_link(conn, token=second, secret=secret, now=now).id == sid
    third = link_token(create_personal_link(portal, actor=MANAGER, subject_id=sid, keep_older=True))
    with org_db.read() as conn:
        assert resolve_link(conn, token=second, secret=secret, now=now).id == sid
        assert resolve_link(conn, token=third, secret=secret, now=now).id == sid
    assert revoke_personal_links(portal, actor=MANAGER, subject_id=sid) == 2


def test_a_link_lives_as_long_as_the_consents_it_manages(org_db: Database, tmp_path: Path) -> None:
    """PORTAL_LINK_TTL_DAYS of 30 against consents valid for 365 days left people unable to withdraw."""
    portal = _portal(org_db, tmp_path)  # consents valid 365 days (make_org), link TTL 30 days
    now = utcnow()
    sid = make_subject(org_db, choices={"website": True}, now=now)
    nobody = make_subject(org_db, name="No Consents", now=now)
    for who in (sid, nobody):
        create_personal_link(portal, actor=MANAGER, subject_id=who, now=now)
    with org_db.read() as conn:
        expires = dict(
            conn.execute(
                select(subject_links.c.subject_id, subject_links.c.expires_at).where(
                    subject_links.c.revoked_at.is_(None)
                )
            ).all()
        )
    assert expires[sid] >= now + timedelta(days=364)
    assert expires[nobody] == now + timedelta(days=30)


def test_subjects_revoke_links_on_the_cli_is_audited(
    seeded_portal: SeededPortal, capsys: pytest.CaptureFixture[str]
) -> None:
    db = seeded_portal.db
    portal = _portal(db, seeded_portal.data_dir)
    with db.read() as conn:
        sid = conn.execute(select(subject_links.c.subject_id).limit(1)).scalar()
    if sid is None:
        sid = make_subject(db, choices={"website": True})
    token = link_token(create_personal_link(portal, actor=OPERATOR, subject_id=sid))
    code, out, _ = _cli(["subjects", "revoke-links", sid, "--as", "admin@demo.example"], capsys)
    assert code == 0 and "Withdrew 1 active personal link(s)" in out
    with db.read() as conn:
        with pytest.raises(TokenError, match="withdrawn"):
            resolve_link(conn, token=token, secret=portal.settings.secret_key, now=utcnow())
    assert ("revoke_personal_links", sid) in _actions(db)


def _shown(elements: object) -> list[str]:
    """Messages as a person reads them (the plain-text helper may add invisible word joiners)."""
    return [str(e.value).replace("\u2060", "").replace("\\", "") for e in elements]  # type: ignore[attr-defined]


def test_settings_page_disables_and_sets_a_password_and_refuses_demo_removal_by_a_demo_admin(site: Database) -> None:
    at = _signed_in("admin@demo.example", "demo-admin-pass").switch_page("portal/pages/settings.py").run()
    assert not at.exception and "Demo accounts with public passwords exist" in at.warning[-1].value
    with site.read() as conn:
        sam = conn.execute(select(staff_users.c.id).where(staff_users.c.email == "staff@demo.example")).scalar_one()
    at.selectbox(key="change_user_id").set_value(sam)
    at.button(key="FormSubmitter:change_user-Disable the account").click().run()
    assert not at.exception and "staff@demo.example is disabled." in _shown(at.success)
    at.selectbox(key="password_user_id").set_value(sam)
    at.text_input(key="password_new").input("set on the page 1")
    at.text_input(key="password_again").input("set on the page 1")
    at.button(key="FormSubmitter:set_password-Set the password").click().run()
    assert "staff@demo.example has a new password." in _shown(at.success)
    at.button(key="remove_demo").click().run()
    assert "signed in with a demo account" in " ".join(_shown(at.error))
    assert [a for a, _ in _actions(site) if a in LIFECYCLE] == ["deactivate_staff", "set_staff_password"]
