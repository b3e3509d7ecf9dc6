"""Parity: an action writes the same rows whether the CLI, a page or the service itself starts it.

Each case runs once per entry point on its own clone of the same seeded demo portal, captures the rows it added to
the ledger, the audit log, the receipts and the outbox, and compares them apart from ids, times, hashes and tokens.
The CLI acts with `--as EMAIL`, so its actor is the same staff member as the page's and the service's.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from portal.backend.consent.queries import verify_ledger
from portal.backend.consent.services import (
    Decision,
    TextContent,
    change_consent,
    publish_purpose_text,
    withdraw_everything,
)
from portal.backend.ops.bootstrap import attach_portal
from portal.backend.ops.services import run_daily_jobs
from portal.backend.people.services import (
    consent_records,
    create_personal_link,
    erase_subject,
    export_subject,
    merge_subjects,
    register_subject,
    view_subject,
)
from portal.backend.photos.services import (
    delete_photo,
    import_photos,
    link_face,
    publish_photo,
    run_matching,
    set_matching,
    unpublish_photo,
)
from portal.backend.platform.actors import Actor
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import (
    asset_uses,
    audit_log,
    consent_ledger,
    detections,
    outbox,
    pending_changes,
    receipts,
    subjects,
    takedowns,
)
from portal.backend.platform.runtime import Portal
from portal.backend.reports.services import art30_record, compliance_report
from portal.backend.risk.services import rebuild_risk_index
from portal.backend.staff.queries import staff_actor
from portal.backend.staff.services import AuditFilter, add_staff, export_audit_log
from portal.cli import main as cli_main
from tests.conftest import APP, require_postgres
from tests.imagery import group_photo
from tests.seeded import DemoTemplates, SeededPortal

TABLES = {
    "consent_ledger": consent_ledger,
    "audit_log": audit_log,
    "receipts": receipts,
    "outbox": outbox,
    "takedowns": takedowns,
    "pending_changes": pending_changes,
}
# Columns that differ between two runs of the same action by nature: identities, times, chain hashes, file keys.
VOLATILE = {
    "id",
    "seq",
    "entry_id",
    "entry_hash",
    "prev_hash",
    "recorded_at",
    "at",
    "created_at",
    "processed_at",
    "issued_at",
    "valid_until",
    "opened_at",
    "closed_at",
    "json_key",
    "pdf_key",
    "idempotency_key",
    "signature",  # a signed ledger head (in the manager digest): Ed25519 over a head whose times differ per run
}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TOKEN = re.compile(r"(link|event)=[A-Za-z0-9_.~%-]+")
_HASH = re.compile(r"\b[0-9a-f]{64}\b")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(\+00:00|Z)?")
MANAGER = "manager@demo.example"
ADMIN = "admin@demo.example"
STAFF = "staff@demo.example"


def _scrub(value: Any) -> Any:
    """A value with ids, tokens, hashes and times replaced by placeholders, JSON text parsed first."""
    if isinstance(value, str):
        if value[:1] in "{[":
            try:
                return _scrub(json.loads(value))
            except ValueError:
                pass
        for pattern, mark in ((_TOKEN, r"\1=<token>"), (_UUID, "<uuid>"), (_HASH, "<hash>"), (_TIME, "<time>")):
            value = pattern.sub(mark, value)
        return value
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _keys(db: Database) -> dict[str, set[Any]]:
    """The primary keys each compared table holds now."""
    with db.read() as conn:
        return {name: set(conn.execute(select(*table.primary_key.columns)).scalars()) for name, table in TABLES.items()}


def _added(db: Database, before: dict[str, set[Any]]) -> dict[str, list[Any]]:
    """The rows added since `before`, scrubbed, in insertion order (receipt rows by content)."""
    out: dict[str, list[Any]] = {}
    with db.read() as conn:
        for name, table in TABLES.items():
            key = next(iter(table.primary_key.columns))
            rows = conn.execute(select(table).where(key.not_in(before[name]) if before[name] else True)).all()
            scrubbed = [_scrub(dict(r._mapping)) for r in rows]
            if name == "receipts":
                for row in scrubbed:
                    row["entry_seqs"] = len(row["entry_seqs"])  # which seqs differs when the ledger did
                    row.pop("state", None)  # pending until rendered: rendering is the same code after commit
            out[name] = sorted(scrubbed, key=json.dumps) if name != "consent_ledger" else scrubbed
    return out


@dataclass
class Clone:
    """One clone of the demo portal with what an entry point needs to act on it."""

    seeded: SeededPortal
    portal: Portal
    folder: Path

    def ids(self) -> dict[str, str]:
        """Demo subject ids by name (the same in every clone)."""
        with self.portal.db.read() as conn:
            return dict(conn.execute(select(subjects.c.display_name, subjects.c.id)).all())

    def actor(self, email: str) -> Actor:
        """The Actor of a demo staff account."""
        return staff_actor(self.portal, email=email)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def clones(
    request: pytest.FixtureRequest, demo_templates: DemoTemplates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], Clone]]:
    """A maker of clones of the same seeded demo, each in its own folder; the app and CLI point at the latest."""
    if request.param == "postgresql":
        require_postgres()
    made: list[SeededPortal] = []

    def make(label: str) -> Clone:
        folder = tmp_path / label
        folder.mkdir()
        seeded = demo_templates.clone(request.param, folder)
        made.append(seeded)
        env = {
            "PORTAL_DATABASE_URL": seeded.url,
            "PORTAL_DATA_DIR": str(seeded.data_dir),
            # The session's ledger key (tests/conftest.py), which signed the template's heads too.
            "PORTAL_LEDGER_KEY": os.environ["PORTAL_LEDGER_KEY"],
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(folder)
        return Clone(seeded=seeded, portal=attach_portal(load_settings(env=env, secrets_path=None)), folder=folder)

    yield make
    for seeded in made:
        demo_templates.discard(seeded)


def _cli(clone: Clone, *argv: str) -> None:
    """Run one CLI command on this clone; it must succeed."""
    assert cli_main([*argv, "--database-url", clone.seeded.url]) == 0, argv


def _unlinked_face(clone: Clone) -> int:
    """The id of a demo face nobody is linked to yet (the same in every clone)."""
    with clone.portal.db.read() as conn:
        return conn.execute(
            select(detections.c.id)
            .where(detections.c.kind == "face", detections.c.subject_id.is_(None))
            .order_by(detections.c.id)
            .limit(1)
        ).scalar_one()


def _past_retention_photo(clone: Clone) -> int:
    """The first demo photo that is not published, flagged past retention as the daily job would (same in every
    clone)."""
    from sqlalchemy import update

    from portal.backend.platform.db.schema import asset_uses, assets

    with clone.portal.db.write() as conn:
        published = select(asset_uses.c.asset_id).where(asset_uses.c.until.is_(None))
        asset_id = conn.execute(
            select(assets.c.id).where(assets.c.id.not_in(published)).order_by(assets.c.id).limit(1)
        ).scalar_one()
        conn.execute(update(assets).where(assets.c.id == asset_id).values(retention_flagged_at=assets.c.uploaded_at))
    return int(asset_id)


def _photo(folder: Path) -> Path:
    """A real photo file to import (the same bytes for every entry point)."""
    path = folder.parent / "parity-photo.jpg"
    if not path.exists():
        path.write_bytes(group_photo(["astronaut", "grace_hopper"]))
    return path


def _scan(folder: Path) -> Path:
    """A paper form's scan (a small real PNG, the same bytes for every entry point)."""
    path = folder.parent / "parity-scan.png"
    if not path.exists():
        from PIL import Image

        Image.new("RGB", (600, 800), "white").save(path, format="PNG")
    return path


def _print_text(folder: Path) -> Path:
    """A new English text for the print purpose as a JSON file (the same bytes for every entry point)."""
    path = folder.parent / "parity-print-en.json"
    if not path.exists():
        text = {
            "title": "Printed material",
            "body": "We may use photos of you in brochures and posters. We now also print them in our yearbook.",
            "recipients": ["Readers of our printed material"],
            "data_categories": ["Photo"],
        }
        path.write_text(json.dumps(text), encoding="utf-8")
    return path


def _unpublished_photo(clone: Clone) -> int:
    """The first demo photo with people that is published nowhere (the same in every clone)."""
    with clone.portal.db.read() as conn:
        published = select(asset_uses.c.asset_id)
        return (
            conn.execute(
                select(detections.c.asset_id)
                .where(detections.c.asset_id.not_in(published))
                .order_by(detections.c.asset_id)
            )
            .scalars()
            .first()
        )


def _publication_to_take_down(clone: Clone) -> int:
    """The demo publication with an open takedown task (the published photo that lost its basis)."""
    with clone.portal.db.read() as conn:
        return (
            conn.execute(select(takedowns.c.use_id).where(takedowns.c.open_key.is_not(None)).order_by(takedowns.c.id))
            .scalars()
            .first()
        )


@dataclass(frozen=True)
class Case:
    """One action: how the CLI runs it and how the service runs it, on a clone."""

    cli: Callable[[Clone], list[str]]
    service: Callable[[Clone], object]


CASES: dict[str, Case] = {
    "register": Case(
        cli=lambda c: [
            "subjects",
            "add",
            "--name",
            "Parity Person",
            "--email",
            "parity@example.org",
            "--locale",
            "sv",
            "--consent",
            "internal",
            "website",
            "--refuse",
            "print",
            "--as",
            MANAGER,
        ],
        service=lambda c: register_subject(
            c.portal,
            actor=c.actor(MANAGER),
            channel="staff",
            name="Parity Person",
            email="parity@example.org",
            locale="sv",
            choices={"internal": True, "website": True, "print": False},
        ),
    ),
    "register_paper": Case(
        cli=lambda c: [
            "subjects",
            "add",
            "--name",
            "Paper Person",
            "--channel",
            "paper",
            "--consent",
            "internal",
            "--scan",
            str(_scan(c.folder)),
            "--signed-on",
            "2026-11-30",
            "--as",
            STAFF,
        ],
        service=lambda c: register_subject(
            c.portal,
            actor=c.actor(STAFF),
            channel="paper",
            name="Paper Person",
            choices={"internal": True},
            scan=_scan(c.folder).read_bytes(),
            signed_on=date(2026, 11, 30),
        ),
    ),
    "withdraw": Case(
        cli=lambda c: ["subjects", "withdraw", c.ids()["Olivia Karlsson"], "--purpose", "internal", "--as", MANAGER],
        service=lambda c: change_consent(
            c.portal,
            actor=c.actor(MANAGER),
            subject_id=c.ids()["Olivia Karlsson"],
            decisions=[Decision(purpose="internal", action="withdrawn")],
            channel="staff",
        ),
    ),
    "withdraw_everything": Case(
        cli=lambda c: ["subjects", "withdraw", c.ids()["Olivia Karlsson"], "--all", "--as", MANAGER],
        service=lambda c: withdraw_everything(
            c.portal, actor=c.actor(MANAGER), subject_id=c.ids()["Olivia Karlsson"], channel="staff"
        ),
    ),
    "personal_link": Case(
        cli=lambda c: ["subjects", "personal-link", c.ids()["Erik Johansson"], "--as", MANAGER],
        service=lambda c: create_personal_link(c.portal, actor=c.actor(MANAGER), subject_id=c.ids()["Erik Johansson"]),
    ),
    "show_subject": Case(
        cli=lambda c: ["subjects", "show", c.ids()["Erik Johansson"], "--as", MANAGER],
        service=lambda c: view_subject(c.portal, actor=c.actor(MANAGER), subject_id=c.ids()["Erik Johansson"]),
    ),
    "export": Case(
        cli=lambda c: [
            "subjects",
            "export",
            c.ids()["Erik Johansson"],
            "--out",
            str(c.folder / "x.zip"),
            "--as",
            MANAGER,
        ],
        service=lambda c: export_subject(c.portal, actor=c.actor(MANAGER), subject_id=c.ids()["Erik Johansson"]),
    ),
    "consent_records": Case(
        cli=lambda c: ["subjects", "record", c.ids()["Erik Johansson"], "--format", "iso27560", "--as", MANAGER],
        service=lambda c: consent_records(c.portal, actor=c.actor(MANAGER), subject_id=c.ids()["Erik Johansson"]),
    ),
    "erase": Case(
        cli=lambda c: ["subjects", "erase", c.ids()["Erik Johansson"], "--yes", "--as", MANAGER],
        service=lambda c: erase_subject(c.portal, actor=c.actor(MANAGER), subject_id=c.ids()["Erik Johansson"]),
    ),
    "merge_subjects": Case(
        cli=lambda c: ["subjects", "merge", c.ids()["Noah Berg"], c.ids()["Liam O'Brien"], "--yes", "--as", MANAGER],
        service=lambda c: merge_subjects(
            c.portal, actor=c.actor(MANAGER), keep_id=c.ids()["Noah Berg"], drop_id=c.ids()["Liam O'Brien"]
        ),
    ),
    "link_face": Case(
        cli=lambda c: ["subjects", "link", c.ids()["Sofia Nilsson"], str(_unlinked_face(c)), "--as", STAFF],
        service=lambda c: link_face(
            c.portal, actor=c.actor(STAFF), detection_id=_unlinked_face(c), subject_id=c.ids()["Sofia Nilsson"]
        ),
    ),
    "import_photos": Case(
        cli=lambda c: ["assets", "import", str(_photo(c.folder)), "--as", STAFF],
        service=lambda c: import_photos(c.portal, actor=c.actor(STAFF), files=[_photo(c.folder)]),
    ),
    "matching_on": Case(
        cli=lambda c: ["matching", "on", "--as", ADMIN],
        service=lambda c: set_matching(c.portal, actor=c.actor(ADMIN), enabled=True),
    ),
    "compliance_report": Case(
        cli=lambda c: ["reports", "compliance", "--out", str(c.folder / "r.pdf"), "--as", MANAGER],
        service=lambda c: compliance_report(c.portal, actor=c.actor(MANAGER)),
    ),
    "art30_record": Case(
        cli=lambda c: ["reports", "art30", "--out", str(c.folder / "a.pdf"), "--as", MANAGER],
        service=lambda c: art30_record(c.portal, actor=c.actor(MANAGER)),
    ),
    "add_staff": Case(
        cli=lambda c: ["staff", "add", "new@example.org", "--name", "New Person", "--role", "staff", "--as", ADMIN],
        service=lambda c: add_staff(
            c.portal, actor=c.actor(ADMIN), email="new@example.org", name="New Person", role="staff", password="x" * 12
        ),
    ),
    "daily_jobs": Case(
        cli=lambda c: ["jobs", "run", "--as", ADMIN],
        service=lambda c: run_daily_jobs(c.portal, actor=c.actor(ADMIN)),
    ),
    "risk_rebuild": Case(
        cli=lambda c: ["risk", "rebuild", "--as", ADMIN],
        service=lambda c: rebuild_risk_index(c.portal, actor=c.actor(ADMIN)),
    ),
    "audit_export": Case(
        cli=lambda c: [
            "audit",
            "export",
            "--from",
            "2020-01-01",
            "--to",
            "2099-12-31",
            "--action",
            "sign_in",
            "--csv",
            str(c.folder / "audit.csv"),
            "--as",
            MANAGER,
        ],
        service=lambda c: export_audit_log(
            c.portal,
            actor=c.actor(MANAGER),
            chosen=AuditFilter.for_days(date(2020, 1, 1), date(2099, 12, 31), action="sign_in"),
        ),
    ),
    # parity cases: publications and takedowns (part A)
    "publish_override": Case(
        cli=lambda c: [
            "publications",
            "add",
            str(_unpublished_photo(c)),
            "--purpose",
            "website",
            "--where",
            "https://example.org/parity",
            "--override-reason",
            "Parity: published despite the blockers",
            "--as",
            ADMIN,
        ],
        service=lambda c: publish_photo(
            c.portal,
            actor=c.actor(ADMIN),
            asset_id=_unpublished_photo(c),
            purpose="website",
            where="https://example.org/parity",
            override_reason="Parity: published despite the blockers",
        ),
    ),
    "unpublish_with_task": Case(
        cli=lambda c: ["publications", "end", str(_publication_to_take_down(c)), "--as", STAFF],
        service=lambda c: unpublish_photo(c.portal, actor=c.actor(STAFF), use_id=_publication_to_take_down(c)),
    ),
    # parity cases: purpose texts and renewals (part B)
    "publish_purpose_text": Case(
        cli=lambda c: [
            "purposes",
            "publish",
            "print",
            "--text-file",
            str(_print_text(c.folder)),
            "--locale",
            "en",
            "--carry-over",
            "sv",
            "--yes",
            "--as",
            ADMIN,
        ],
        service=lambda c: publish_purpose_text(
            c.portal,
            actor=c.actor(ADMIN),
            code="print",
            texts={"en": TextContent(**json.loads(_print_text(c.folder).read_text(encoding="utf-8")))},
            carry_over=["sv"],
        ),
    ),
    "renew": Case(
        cli=lambda c: ["subjects", "renew", c.ids()["Olivia Karlsson"], "--purpose", "internal", "--as", MANAGER],
        service=lambda c: change_consent(
            c.portal,
            actor=c.actor(MANAGER),
            subject_id=c.ids()["Olivia Karlsson"],
            decisions=[Decision(purpose="internal", action="renewed")],
            channel="staff",
        ),
    ),
    # parity cases: children and guardians (part C)
    "register_minor": Case(
        cli=lambda c: [
            "subjects",
            "add",
            "--name",
            "Kim Kid",
            "--birth-date",
            "2016-05-04",
            "--guardian",
            "Pat Parent",
            "--guardian-verification",
            "staff_checked_id",
            "--consent",
            "internal",
            "--as",
            MANAGER,
        ],
        service=lambda c: register_subject(
            c.portal,
            actor=c.actor(MANAGER),
            channel="staff",
            name="Kim Kid",
            birth_year=2016,
            birth_month=5,
            birth_day=4,
            guardian_name="Pat Parent",
            guardian_verification="staff_checked_id",
            choices={"internal": True},
        ),
    ),
    "register_paper_unscanned": Case(
        cli=lambda c: [
            "subjects",
            "add",
            "--name",
            "Una Unscanned",
            "--channel",
            "paper",
            "--consent",
            "internal",
            "--as",
            STAFF,
        ],
        service=lambda c: register_subject(
            c.portal, actor=c.actor(STAFF), channel="paper", name="Una Unscanned", choices={"internal": True}
        ),
    ),
    # parity cases: matching and retention (part D)
    "matching_run": Case(
        cli=lambda c: ["matching", "run", "--as", STAFF],
        service=lambda c: run_matching(c.portal, actor=c.actor(STAFF)),
    ),
    "delete_photo": Case(
        cli=lambda c: ["assets", "delete", str(_past_retention_photo(c)), "--as", MANAGER],
        service=lambda c: delete_photo(c.portal, actor=c.actor(MANAGER), asset_id=_past_retention_photo(c)),
    ),
}


@pytest.mark.parametrize("action", sorted(CASES))
def test_the_cli_writes_what_the_service_writes(
    action: str, clones: Callable[[str], Clone], monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[action]
    by_service = clones("service")
    before = _keys(by_service.portal.db)
    case.service(by_service)
    expected = _added(by_service.portal.db, before)

    by_cli = clones("cli")
    before = _keys(by_cli.portal.db)
    if action == "add_staff":
        monkeypatch.setattr("sys.stdin", __import__("io").StringIO("x" * 12 + "\n"))
        argv = [*case.cli(by_cli), "--password-stdin"]
    else:
        argv = case.cli(by_cli)
    _cli(by_cli, *argv)
    written = _added(by_cli.portal.db, before)

    assert written == expected
    # Both clones' ledgers still verify, signed heads included (one key signed them all).
    assert verify_ledger(by_service.portal).ok and verify_ledger(by_cli.portal).ok
    # Every action leaves a trace of who did it: an audit row, or (a person's own consent) the ledger.
    assert expected["audit_log"] or expected["consent_ledger"], action


def _sign_in(email: str, password: str) -> AppTest:
    """A fresh app run signed in as a demo account."""
    at = AppTest.from_file(APP, default_timeout=90).run()
    at.text_input[0].input(email)
    at.text_input[1].input(password)
    return at.button[0].click().run()


def _open_subject(clone: Clone) -> AppTest:
    """The Subjects page with Erik opened (that view is audited itself, before the action)."""
    at = _sign_in(MANAGER, "demo-manager-pass")
    at.switch_page("portal/pages/subjects.py").run()
    return at.selectbox[0].select(clone.ids()["Erik Johansson"]).run()


def _open_reports(clone: Clone) -> AppTest:
    """The Reports page."""
    return _sign_in(MANAGER, "demo-manager-pass").switch_page("portal/pages/reports.py").run()


def _open_personal_page(clone: Clone) -> AppTest:
    """Anna's personal page, opened from a link made for her."""
    link = create_personal_link(clone.portal, actor=Actor.system("test"), subject_id=clone.ids()["Anna Lindqvist"])
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["link"] = link.split("link=", 1)[1]
    return at.run()


def _open_settings(clone: Clone) -> AppTest:
    """The Settings page as the admin."""
    return _sign_in(ADMIN, "demo-admin-pass").switch_page("portal/pages/settings.py").run()


def _add_staff_on_page(at: AppTest) -> None:
    """Fill in and send the new-account form."""
    at.text_input(key="new_email").input("new@example.org")
    at.text_input(key="new_name").input("New Person")
    at.text_input(key="new_password").input("x" * 12)
    next(b for b in at.button if b.label == "Create account").click().run()


def _open_face(clone: Clone) -> AppTest:
    """The Photos page with the photo of the first unlinked demo face opened, Sofia found for it."""
    face = _unlinked_face(clone)
    with clone.portal.db.read() as conn:
        asset = conn.execute(select(detections.c.asset_id).where(detections.c.id == face)).scalar_one()
    at = _sign_in(STAFF, "demo-staff-pass").switch_page("portal/pages/assets.py").run()
    at.button(key=f"open_{asset}").click().run()
    return at.text_input(key=f"find_{face}").input("Sofia Nilsson").run()


def _withdraw_all(at: AppTest) -> None:
    """Withdraw everything, confirmed once."""
    at.button(key="withdraw_all").click().run()
    at.button(key="withdraw_all_confirm").click().run()


@dataclass(frozen=True)
class PageCase:
    """An action on a page: open the page (not compared), then act (compared with the service)."""

    open: Callable[[Clone], AppTest]
    act: Callable[[AppTest], object]
    service: Callable[[Clone], object]


PAGE_CASES: dict[str, PageCase] = {
    "personal_link": PageCase(
        open=_open_subject,
        act=lambda at: next(b for b in at.button if b.label == "Create a personal link for this person").click().run(),
        service=CASES["personal_link"].service,
    ),
    "compliance_report": PageCase(
        open=_open_reports,
        act=lambda at: at.button(key="make_compliance").click().run(),
        service=CASES["compliance_report"].service,
    ),
    "add_staff": PageCase(open=_open_settings, act=_add_staff_on_page, service=CASES["add_staff"].service),
    "link_face": PageCase(
        open=_open_face,
        act=lambda at: next(b for b in at.button if b.key and b.key.startswith("link_")).click().run(),
        service=CASES["link_face"].service,
    ),
    "withdraw_everything": PageCase(
        open=_open_personal_page,
        act=_withdraw_all,
        service=lambda c: withdraw_everything(
            c.portal,
            actor=Actor.subject(c.ids()["Anna Lindqvist"]),
            subject_id=c.ids()["Anna Lindqvist"],
            channel="portal",
        ),
    ),
}


@pytest.mark.parametrize("action", sorted(PAGE_CASES))
def test_the_page_writes_what_the_service_writes(action: str, clones: Callable[[str], Clone]) -> None:
    case = PAGE_CASES[action]
    by_service = clones("service")
    before = _keys(by_service.portal.db)
    case.service(by_service)
    expected = _added(by_service.portal.db, before)

    by_page = clones("page")
    at = case.open(by_page)
    before = _keys(by_page.portal.db)
    case.act(at)
    assert not at.exception
    written = _added(by_page.portal.db, before)

    assert written == expected
    if action == "withdraw_everything":
        # A person's own "Withdraw everything" is documented by a receipt like every other change.
        assert len(written["receipts"]) == 1 and written["receipts"][0]["summary"] == "withdrawn"
        assert {row["action"] for row in written["consent_ledger"]} == {"withdrawn"}
        assert len(written["consent_ledger"]) >= 4  # Anna had internal, website, social media and print
    else:
        assert len(written["audit_log"]) == 1
