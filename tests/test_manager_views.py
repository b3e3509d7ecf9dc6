"""The manager's view (issue 16, item 5): bars that count each photo once per purpose, a headline about published
photos, a drill-down with the people in each photo, and the audit log filtered and exported through an audited
path; on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
from sqlalchemy import select

from portal.backend.consent.records import Decision
from portal.backend.photos.services import publish_photo
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import audit_log
from portal.backend.platform.errors import AuthError, ValidationError
from portal.backend.risk.queries import (
    PRIMARY_ORDER,
    REASON_LABELS,
    critical_photos,
    drill_count,
    drill_down,
    headline,
    risk_overview,
)
from portal.backend.staff.accounts import create_user
from portal.backend.staff.audit import audit
from portal.backend.staff.queries import AuditFilter, audit_count
from portal.backend.staff.queries import audit_log as read_audit_log
from portal.backend.staff.services import export_audit_log
from tests.factories import STAFF, make_subject, open_folded, record_consent
from tests.seeded import SeededPortal
from tests.test_pages import _run, _sign_in
from tests.test_risk import DAY, OPERATOR, T0, _asset, portal_of


def _library(db: Database) -> dict[str, int]:
    """Photos whose reasons overlap: one with a withdrawn person and a stranger, one vetoed, one fine."""
    ok = make_subject(db, name="All Good", choices={"website": True, "print": True}, now=T0)
    withdrew = make_subject(db, name="=Withdrew", choices={"website": True}, now=T0)
    record_consent(db, subject_id=withdrew, decisions=[Decision("website", "withdrawn")], context=STAFF, now=T0 + DAY)
    vetoer = make_subject(db, name="Vetoer", choices={"website": True}, now=T0)
    photos = {
        "ok": _asset(db, 1, [(ok, 0.1)]),
        "both": _asset(db, 2, [(withdrew, 0.1), (None, 0.5)]),  # withdrawn AND unidentified
        "stranger": _asset(db, 3, [(ok, 0.1), (None, 0.5)]),
        "veto": _asset(db, 4, [(vetoer, 0.1)]),
    }
    record_consent(
        db, subject_id=vetoer, decisions=[Decision("website", "refused", photos["veto"])], context=STAFF, now=T0 + DAY
    )
    portal = portal_of(db)
    for key, where in (("both", "https://example.org/a"), ("ok", "https://example.org/b")):
        publish_photo(
            portal,
            actor=OPERATOR,
            asset_id=photos[key],
            purpose="website",
            where=where,
            override_reason="test",
            now=T0,
        )
    return photos


def test_bars_count_each_photo_once_and_the_parts_sum_to_the_photos_at_risk(org_db: Database) -> None:
    photos = _library(org_db)
    portal = portal_of(org_db)
    now = T0 + 2 * DAY
    figures = {f.purpose: f for f in risk_overview(portal, now=now).figures}
    website = figures["website"]
    assert website.at_risk == 3  # both, stranger, veto
    # Every reason that applies counts the photo with both reasons twice; the bars' parts count it once.
    assert sum(website.by_reason.values()) == 4
    assert website.primary == {"withdrawn": 1, "veto": 1, "unidentified": 1}
    for f in figures.values():
        assert sum(f.primary.values()) == f.at_risk
        assert set(f.primary) <= set(PRIMARY_ORDER)
    assert website.published == 2 and website.critical == 1
    # A drill into a part finds exactly the photos of that part, with the people in them (names as stored).
    withdrawn = drill_down(portal, purpose="website", primary_reason="withdrawn", now=now)
    assert [d.asset_id for d in withdrawn] == [photos["both"]]
    assert withdrawn[0].people == ("=Withdrew",)
    assert set(withdrawn[0].reasons) == {"withdrawn", "unidentified"}
    assert withdrawn[0].published
    unidentified = drill_down(portal, purpose="website", primary_reason="unidentified", now=now)
    assert [d.asset_id for d in unidentified] == [photos["stranger"]]  # not the withdrawn one again
    for reason, n in website.primary.items():
        assert drill_count(portal, purpose="website", primary_reason=reason, now=now) == n
    assert drill_count(portal, purpose="website", now=now) == website.at_risk
    paged = [drill_down(portal, purpose="website", now=now, limit=2, offset=o) for o in (0, 2)]
    assert [len(p) for p in paged] == [2, 1]
    assert {d.asset_id for p in paged for d in p} == {photos["both"], photos["stranger"], photos["veto"]}
    with pytest.raises(ValidationError):
        drill_count(portal, purpose="website", primary_reason="nonsense")


def test_headline_names_published_photos_without_basis_and_the_worst_publishing_purpose(org_db: Database) -> None:
    _library(org_db)
    portal = portal_of(org_db)
    now = T0 + 2 * DAY
    top = headline(risk_overview(portal, now=now).figures, critical_photos(portal, now=now))
    assert top.published_at_risk == 1
    assert (top.worst_purpose, top.worst_published, top.worst_at_risk) == ("website", 2, 1)
    assert top.worst_coverage == 0.5
    # Before anything is published there is no worst purpose to name.
    assert headline([], []).worst_purpose is None


def _audit_lines(db: Database) -> int:
    """Three staff accounts' worth of lines on three days; returns the manager's staff id."""
    with db.write() as conn:
        manager = create_user(
            conn, email="dpo@example.org", display_name="Dana DPO", role="manager", password="x" * 12, now=T0
        )
        clerk = create_user(
            conn, email="clerk@example.org", display_name="Carl Clerk", role="staff", password="x" * 12, now=T0
        )
        audit(conn, actor=f"staff:{clerk.id}", action="view_subject", target_type="subject", target_id="s1", now=T0)
        audit(
            conn,
            actor=f"staff:{clerk.id}",
            action="export_subject",
            target_type="subject",
            target_id="=HYPERLINK(1)",
            now=T0 + DAY,
        )
        audit(conn, actor="system:jobs", action="expire_consents", now=T0 + DAY)
        audit(conn, actor="subject:abcdef0123456789", action="view_own", now=T0 + 2 * DAY)
        audit(conn, actor="staff:999", action="view_subject", now=T0 + 2 * DAY)
    return manager.id


def test_audit_log_filters_by_days_actor_and_action_with_names(org_db: Database) -> None:
    _audit_lines(org_db)
    portal = portal_of(org_db)
    day1 = AuditFilter.for_days(T0.date(), T0.date())
    assert [a.action for a in read_audit_log(portal, chosen=day1)] == ["view_subject"]
    two_days = AuditFilter.for_days(T0.date(), (T0 + DAY).date())
    assert audit_count(portal, chosen=two_days) == 3
    lines = read_audit_log(portal, chosen=AuditFilter.for_days(T0.date(), (T0 + 2 * DAY).date()))
    names = {a.actor: a.actor_name for a in lines}
    assert names["system:jobs"] == "System (jobs)"
    assert names["subject:abcdef0123456789"] == "Person abcdef01"  # pseudonymous: a short id, never a name
    assert names["staff:999"] == "Removed staff account 999"
    assert any(n.startswith("Carl Clerk (staff ") for n in names.values())
    clerk_ref = next(ref for ref, n in names.items() if n.startswith("Carl Clerk"))
    assert {a.action for a in read_audit_log(portal, chosen=AuditFilter(actor=clerk_ref))} == {
        "view_subject",
        "export_subject",
    }
    assert [a.actor for a in read_audit_log(portal, chosen=AuditFilter(actor="system"))] == ["system:jobs"]
    views = read_audit_log(portal, chosen=AuditFilter(action="view_subject"))
    assert {a.actor for a in views} == {clerk_ref, "staff:999"}
    assert [a.id for a in read_audit_log(portal, chosen=AuditFilter(action="view_subject"), limit=1, offset=1)] == [
        min(a.id for a in views)
    ]


def test_audit_export_is_audited_formula_safe_and_for_managers_only(org_db: Database) -> None:
    manager_id = _audit_lines(org_db)
    portal = portal_of(org_db)
    manager = Actor.staff(manager_id, "manager", "Dana DPO")
    chosen = AuditFilter.for_days(date(2026, 1, 11), date(2026, 1, 11), action="export_subject")
    text, lines = export_audit_log(portal, actor=manager, chosen=chosen, now=T0 + 3 * DAY)
    rows = list(csv.reader(io.StringIO(text)))
    assert lines == 1 and len(rows) == 2
    header, row = rows
    assert header[:5] == ["id", "at", "actor", "actor_name", "action"]
    assert row[header.index("action")] == "export_subject"
    assert row[header.index("actor_name")].startswith("Carl Clerk")
    assert row[header.index("target_id")] == "'=HYPERLINK(1)"  # a spreadsheet shows it as text, never runs it
    with org_db.read() as conn:
        written = conn.execute(select(audit_log).where(audit_log.c.action == "export_audit_log")).one()
    assert written.actor == f"staff:{manager_id}"
    assert json.loads(written.detail) == {
        "lines": 1,
        "action": "export_subject",
        "since": "2026-01-11T00:00:00+00:00",
        "until": "2026-01-12T00:00:00+00:00",
    }
    with pytest.raises(AuthError):
        export_audit_log(portal, actor=Actor.staff(manager_id + 1, "staff", "Carl Clerk"))
    with pytest.raises(ValidationError):
        export_audit_log(portal, actor=manager, chosen=AuditFilter.for_days(date(2026, 1, 12), date(2026, 1, 10)))
    with org_db.read() as conn:
        assert len(conn.execute(select(audit_log).where(audit_log.c.action == "export_audit_log")).all()) == 1


@pytest.fixture
def portal_env(seeded_portal: SeededPortal) -> Database:
    """The app pointed at this test's own copy of the demo portal (SQLite, then PostgreSQL)."""
    return seeded_portal.db


def test_dashboard_headline_bars_and_drill_grid_open_the_review_desk(portal_env: Database) -> None:
    at = _sign_in(_run(), "manager@demo.example", "demo-manager-pass")
    at.switch_page("portal/pages/dashboard.py").run()
    assert not at.exception
    # The demo's panel photo shows Erik, who withdrew: one published photo without a basis, said first.
    assert "1 published photo lost its basis" in at.error[0].value
    worst = next(m for m in at.metric if m.label == "Worst purpose with publications")
    assert worst.value.startswith("Our website ")  # the purpose's title, not its code (issue 16)
    table = next(d.value for d in at.dataframe if "Published" in d.value.columns and "Purpose" in d.value.columns)
    parts = [c for c in table.columns if c in set(REASON_LABELS.values())]
    assert (table[parts].sum(axis=1) == table["At risk"]).all()
    # Only the open tab is drawn: the drill-down's controls appear once its tab is chosen.
    assert not [s for s in at.selectbox if s.key == "drill_purpose"]
    at.session_state["dash_tab"] = "Drill down"
    at.run()
    # Purposes are offered by their titles; the code stays the value (and a column of the table, for its CSV).
    offered = at.selectbox(key="drill_purpose").options
    assert "Our website" in offered and "Social media" in offered and not {"website", "social_media"} & set(offered)
    assert set(table["Purpose"]) <= set(offered) and "social_media" in set(table["Code"])
    at.selectbox(key="drill_purpose").select("website").run()
    at.selectbox(key="drill_what").select("withdrawn").run()
    assert not at.exception
    assert "drill_table" in [e.key for e in at.expander] and not at.dataframe  # the table is folded, not drawn
    shown = open_folded(at, "drill_table").dataframe[-1].value
    assert list(shown["File"]) == ["spring-panel.jpg"]
    assert "Erik" in shown["People"][0]
    photo = int(shown["Photo"][0])
    at.button(key=f"drill_open_{photo}").click().run()
    assert not at.exception
    assert at.session_state["desk_photo"] == photo
    assert [t.value for t in at.title] == ["Photos"]


def test_audit_page_filters_and_exports_through_the_audited_service(portal_env: Database) -> None:
    at = _sign_in(_run(), "manager@demo.example", "demo-manager-pass")
    at.switch_page("portal/pages/audit.py").run()
    assert not at.exception
    actors = set(at.dataframe[0].value["actor"])
    assert actors and not any(a.startswith("staff:") for a in actors)  # names, not refs
    assert any(" (staff " in a for a in actors)
    at.selectbox(key="audit_action").select("sign_in").run()
    shown = at.dataframe[0].value
    assert len(shown) >= 1 and set(shown["action"]) == {"sign_in"}
    with portal_env.read() as conn:
        before = conn.execute(select(audit_log).where(audit_log.c.action == "export_audit_log")).all()
    at.button(key="audit_export").click().run()
    assert not at.exception
    assert any(b.label.startswith("Download the CSV") for b in at.get("download_button"))
    with portal_env.read() as conn:
        after = conn.execute(select(audit_log).where(audit_log.c.action == "export_audit_log")).all()
    assert len(after) == len(before) + 1
    assert json.loads(after[-1].detail)["action"] == "sign_in"
    assert json.loads(after[-1].detail)["lines"] == len(shown)
