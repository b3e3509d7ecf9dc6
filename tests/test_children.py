"""Children (GDPR Art. 8, R15): conservative age from month and year of birth, the EU/EEA age table, the guardian
step on the personal link, a child's own one-tap withdrawal, and enumerated guardian verification methods."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from portal.backend.consent.services import Decision, change_consent
from portal.backend.consent.status import status_for, subject_consents
from portal.backend.ops.demo import DEMO_ORGANISATION
from portal.backend.people.private import reveal_evidence
from portal.backend.people.services import register_subject
from portal.backend.people.subjects import link_token, minor_on
from portal.backend.platform.actors import Actor
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import consent_ledger, subjects
from portal.backend.platform.errors import GuardianRequired, ValidationError
from portal.backend.platform.organisation import AGE_OF_CONSENT, DEFAULT_AGE_OF_CONSENT
from portal.backend.risk import index as risk_index
from tests.conftest import APP
from tests.factories import MANAGER, create_personal_link, make_portal, open_folded
from tests.seeded import SeededPortal

# Expected from each country's national implementation of Art. 8 (EU 27 + Iceland, Liechtenstein, Norway).
EXPECTED_AGE = {
    **dict.fromkeys(("BE", "DK", "EE", "FI", "LV", "MT", "PT", "SE", "IS", "NO"), 13),
    **dict.fromkeys(("AT", "BG", "CY", "IT", "LT", "ES"), 14),
    **dict.fromkeys(("CZ", "FR", "GR", "EL", "SI"), 15),
    **dict.fromkeys(("DE", "HR", "HU", "IE", "LU", "NL", "PL", "RO", "SK", "LI"), 16),
}
EU = "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split()
# Registered on 1 December 2026, when someone born in December 2013 may or may not be 13 yet.
DEC_1 = datetime(2026, 12, 1, 12, tzinfo=UTC)
JAN_1 = datetime(2027, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("country", sorted(EXPECTED_AGE))
def test_every_eu_eea_country_has_its_own_age(country: str) -> None:
    assert AGE_OF_CONSENT[country] == EXPECTED_AGE[country]
    assert replace(DEMO_ORGANISATION, country=country).consent_age == EXPECTED_AGE[country]


def test_the_table_covers_the_eea_and_nothing_else_and_others_fall_back_to_16() -> None:
    assert set(AGE_OF_CONSENT) == {*EU, "IS", "LI", "NO", "EL"} and len(EU) == 27
    assert DEFAULT_AGE_OF_CONSENT == 16
    for outside in ("US", "GB", "CH", "UA"):
        assert replace(DEMO_ORGANISATION, country=outside).consent_age == 16
    # The organisation's own setting still wins over the country's.
    assert replace(DEMO_ORGANISATION, country="SE", age_of_consent=15).consent_age == 15


@pytest.mark.parametrize(
    ("born", "on", "minor"),
    [
        ((2013, 12, None), date(2026, 12, 1), True),  # could turn 13 on 31 December at the latest
        ((2013, 12, None), date(2026, 12, 31), False),
        ((2013, 12, None), date(2027, 1, 1), False),
        ((2013, None, None), date(2026, 12, 30), True),  # year only: judged as born on 31 December
        ((2013, None, None), date(2026, 12, 31), False),
        ((2013, 12, 5), date(2026, 12, 4), True),  # the full date: exact
        ((2013, 12, 5), date(2026, 12, 5), False),
        ((2012, 2, 29), date(2025, 2, 28), True),  # a leap-day birthday counts from 1 March
        ((2012, 2, 29), date(2025, 3, 1), False),
    ],
)
def test_minority_is_judged_conservatively(born: tuple[int, int | None, int | None], on: date, minor: bool) -> None:
    assert minor_on(*born, consent_age=13, on=on) is minor


def _register(portal, now: datetime, **kw: object):  # type: ignore[no-untyped-def]
    """A staff entry of one person with internal given, at `now`."""
    return register_subject(
        portal,
        actor=MANAGER,
        channel="staff",
        name=str(kw.pop("name", "Kim Kid")),
        choices={"internal": True},
        now=now,
        **kw,  # type: ignore[arg-type]
    )


def test_the_december_born_child_on_both_databases(org_db: Database, tmp_path: Path) -> None:
    portal = make_portal(org_db, tmp_path / "blobs")
    guardian = {"guardian_name": "Pat Parent", "guardian_verification": "staff_checked_id"}
    # Sweden, 13: born December 2013 is a minor on 1 December 2026 (year minus birth year would say 13).
    with pytest.raises(ValidationError, match="Guardian's name is empty"):
        _register(portal, DEC_1, birth_year=2013, birth_month=12)
    december = _register(portal, DEC_1, birth_year=2013, birth_month=12, **guardian).subject
    # Year only stays accepted and is judged as 31 December: still a minor on 31 December's eve.
    year_only = _register(portal, DEC_1, name="Yan Year", birth_year=2013, **guardian).subject
    # On 1 January 2027 the same month and year is certainly 13: no guardian is asked for.
    adult = _register(portal, JAN_1, name="Ada Adult", birth_year=2013, birth_month=12).subject
    with org_db.read() as conn:
        stored = {
            r.display_name: (r.is_minor, r.birth_year, r.birth_month, r.birth_day, r.guardian_verification)
            for r in conn.execute(select(subjects))
        }
    assert stored == {
        "Kim Kid": (True, 2013, 12, None, "staff_checked_id"),
        "Yan Year": (True, 2013, None, None, "staff_checked_id"),
        "Ada Adult": (False, 2013, 12, None, None),
    }
    assert december.is_minor and year_only.is_minor and not adult.is_minor
    # After their birthday the December child gives consent themselves on their link.
    change_consent(
        portal,
        actor=Actor.subject(december.id),
        subject_id=december.id,
        decisions=[Decision("website", "given")],
        channel="portal",
        now=JAN_1,
    )


@pytest.mark.parametrize(
    ("born", "message"),
    [
        ({"birth_year": 2013, "birth_month": 2, "birth_day": 30}, "has no day 30"),
        ({"birth_year": 2013, "birth_month": 13}, "1-12"),
        ({"birth_year": 2013, "birth_day": 4}, "month of birth with the day"),
        ({"birth_month": 4}, "year of birth with the month"),
        ({"birth_year": 2027}, "in the future"),
        ({"birth_year": 2026, "birth_month": 12, "birth_day": 2}, "in the future"),
        ({"birth_year": 1905}, "more than 120 years"),
    ],
)
def test_impossible_birth_dates_are_refused_and_write_nothing(
    org_db: Database, tmp_path: Path, born: dict[str, int], message: str
) -> None:
    portal = make_portal(org_db, tmp_path / "blobs")
    with pytest.raises(ValidationError, match=message):
        _register(portal, DEC_1, **born)
    with org_db.read() as conn:
        assert conn.execute(select(func.count()).select_from(subjects)).scalar_one() == 0


def test_guardian_verification_is_an_enumerated_method(org_db: Database, tmp_path: Path) -> None:
    portal = make_portal(org_db, tmp_path / "blobs")
    with pytest.raises(ValidationError, match="Unknown guardian verification 'ID card checked'"):
        _register(portal, DEC_1, birth_year=2016, guardian_name="Pat Parent", guardian_verification="ID card checked")
    # Staff record their own check; the guardian's self-declaration is the portal's to record, not staff's.
    with pytest.raises(ValidationError, match="staff_checked_id, guardian_present, signed_paper_form"):
        _register(portal, DEC_1, birth_year=2016, guardian_name="Pat Parent", guardian_verification="declared_on_form")
    with pytest.raises(ValidationError, match="staff_checked_id, guardian_present, not signed_paper_form"):
        register_subject(
            portal,
            actor=Actor.kiosk(1),
            channel="kiosk",
            name="Kim Kid",
            choices={"internal": False},
            birth_year=2016,
            guardian_name="Pat Parent",
            guardian_verification="signed_paper_form",
            now=DEC_1,
        )
    # The QR form records the guardian's own declaration by itself.
    form = register_subject(
        portal,
        actor=Actor(kind="guardian"),
        channel="qr_form",
        name="Fia Form",
        choices={"internal": True},
        birth_year=2016,
        birth_month=3,
        guardian_name="Pat Parent",
        now=DEC_1,
    )
    assert form.subject.guardian_verification == "declared_on_form"
    assert {e.actor for e in form.entries} == {"guardian"}


def _child(org_db: Database, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A portal and a 10-year-old registered by a guardian whose ID staff checked, with internal given."""
    portal = make_portal(org_db, tmp_path / "blobs")
    reg = _register(
        portal,
        DEC_1,
        birth_year=2016,
        birth_month=5,
        guardian_name="Maria Mum",
        guardian_verification="staff_checked_id",
    )
    return portal, reg.subject.id


def _ledger(db: Database, sid: str) -> list:  # type: ignore[type-arg]
    with db.read() as conn:
        return conn.execute(
            select(consent_ledger).where(consent_ledger.c.subject_id == sid).order_by(consent_ledger.c.seq)
        ).all()


def test_a_childs_one_tap_give_or_renew_is_refused(org_db: Database, tmp_path: Path) -> None:
    portal, sid = _child(org_db, tmp_path)
    before = len(_ledger(org_db, sid))
    for decision in (Decision("website", "given"), Decision("internal", "renewed")):
        with pytest.raises(GuardianRequired, match="parent or guardian must give or renew"):
            change_consent(
                portal, actor=Actor.subject(sid), subject_id=sid, decisions=[decision], channel="portal", now=DEC_1
            )
    assert len(_ledger(org_db, sid)) == before
    # A guardian must say who they are.
    with pytest.raises(ValidationError, match="Guardian's name is empty"):
        change_consent(
            portal,
            actor=Actor.guardian(sid),
            subject_id=sid,
            decisions=[Decision("website", "given")],
            channel="portal",
            now=DEC_1,
        )
    assert len(_ledger(org_db, sid)) == before


def test_the_guardian_gives_and_renews_on_the_link_with_sealed_evidence(org_db: Database, tmp_path: Path) -> None:
    portal, sid = _child(org_db, tmp_path)
    change = change_consent(
        portal,
        actor=Actor.guardian(sid, "Pat Parent"),
        subject_id=sid,
        decisions=[Decision("website", "given"), Decision("internal", "renewed")],
        channel="portal",
        now=DEC_1,
    )
    assert [(e.action, e.actor, e.channel) for e in change.entries] == [
        ("given", "guardian", "portal"),
        ("renewed", "guardian", "portal"),
    ]
    entry = change.entries[0]
    assert set(entry.evidence_data["guardian"]) == {"hmac"} and "Pat Parent" not in entry.evidence
    assert entry.evidence_data["declaration"] == "guardian_on_behalf"
    registration = json.loads(_ledger(org_db, sid)[0].evidence)
    with org_db.read() as conn:
        guardian, _ = reveal_evidence(conn, sid, entry.evidence_data)
        # The registration's guardian still reveals from its own entry.
        first, _ = reveal_evidence(conn, sid, registration)
        statuses = subject_consents(conn, sid, DEC_1)
        assert risk_index.check(conn) == []
    assert guardian == {"name": "Pat Parent", "verified_by": "declared_on_personal_link"}
    assert first == {"name": "Maria Mum", "verified_by": "staff_checked_id"}
    assert status_for(statuses, "website") == "given" and status_for(statuses, "internal") == "renewed"


def test_a_childs_withdrawal_is_one_tap_and_carries_no_guardian(org_db: Database, tmp_path: Path) -> None:
    portal, sid = _child(org_db, tmp_path)
    change = change_consent(
        portal,
        actor=Actor.subject(sid),
        subject_id=sid,
        decisions=[Decision("internal", "withdrawn")],
        channel="portal",
        now=DEC_1,
    )
    (entry,) = change.entries
    assert (entry.action, entry.actor) == ("withdrawn", "subject")
    # Nobody but the child acted: no guardian, sealed or plain, and no "declared by the guardian".
    assert entry.evidence_data == {"act": "button"}
    assert "guardian" not in entry.evidence.lower() and "Maria" not in entry.evidence
    with org_db.read() as conn:
        assert status_for(subject_consents(conn, sid, DEC_1), "internal") == "withdrawn"
        assert risk_index.check(conn) == []


def test_cli_refuses_free_text_verification_and_takes_a_full_birth_date(db_url: str, tmp_path: Path) -> None:
    from tests.test_cli import cli

    assert cli(db_url, "demo", cwd=tmp_path).returncode == 0
    base = ["subjects", "add", "--name", "Kim Kid", "--birth-date", "2016-05-04", "--guardian", "Pat Parent"]
    bad = cli(db_url, *base, "--guardian-verification", "ID card checked", "--consent", "internal", cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "invalid choice: 'ID card checked'" in bad.stderr
    assert "staff_checked_id" in bad.stderr and "signed_paper_form" in bad.stderr
    missing = cli(db_url, *base, "--consent", "internal", cwd=tmp_path)
    assert missing.returncode == 1 and "Say how the guardian was verified" in missing.stderr  # a PortalError
    ok = cli(db_url, *base, "--guardian-verification", "guardian_present", "--consent", "internal", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    db = Database(db_url)
    try:
        with db.read() as conn:
            kid = conn.execute(select(subjects).where(subjects.c.display_name == "Kim Kid")).one()
    finally:
        db.dispose()
    assert (kid.birth_year, kid.birth_month, kid.birth_day, kid.is_minor) == (2016, 5, 4, True)
    assert kid.guardian_verification == "guardian_present"


def _link_page(db: Database, name: str) -> tuple[AppTest, str]:
    with db.read() as conn:
        sid = conn.execute(select(subjects.c.id).where(subjects.c.display_name == name)).scalar_one()
    s = load_settings(env={}, secrets_path=None)
    url = create_personal_link(db, subject_id=sid, secret=s.secret_key, base_url=s.base_url, ttl_days=30)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["link"] = link_token(url)
    return at.run(), sid


def test_the_link_page_asks_for_the_guardian_and_keeps_withdrawal_one_tap(seeded_portal: SeededPortal) -> None:
    db = seeded_portal.db
    # Ella, 10, registered by her mother at the kiosk: internal and website given, social media never asked.
    at, sid = _link_page(db, "Ella Svensson")
    at.segmented_control(key="locale").set_value("en").run()
    before = len(_ledger(db, sid))
    open_folded(at, "change_social_media", "change_website").button(key="give_social_media").click().run()
    assert not at.exception
    assert len(_ledger(db, sid)) == before  # nothing recorded by the child's tap
    assert "A parent or guardian must give this consent" in [s.value for s in at.subheader]
    at.button(key="guardian_step_confirm").click().run()
    assert "Write your name and tick the declaration" in at.error[0].value
    assert len(_ledger(db, sid)) == before
    at.text_input(key="guardian_step_name").input("Maria Svensson")
    at.checkbox(key="guardian_step_declare").check()
    at.button(key="guardian_step_confirm").click().run()
    assert not at.exception and "Saved" in at.success[0].value
    given = _ledger(db, sid)[-1]
    assert (given.action, given.actor, given.channel) == ("given", "guardian", "portal")
    assert "Maria" not in given.evidence and set(json.loads(given.evidence)["guardian"]) == {"hmac"}
    # The child withdraws with one tap, and the entry is theirs alone.
    at.button(key="withdraw_website").click().run()
    assert not at.exception and "Withdrawn" in at.success[0].value
    withdrawn = _ledger(db, sid)[-1]
    assert (withdrawn.action, withdrawn.actor) == ("withdrawn", "subject")
    assert "guardian" not in json.loads(withdrawn.evidence)
    with db.read() as conn:
        assert risk_index.check(conn) == []
