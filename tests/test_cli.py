"""The admin CLI run as a real subprocess against SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from portal.backend.platform.db import migrate
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import audit_log, consent_ledger, subjects
from portal.backend.risk.figures import summary
from tests.conftest import ROOT


def cli(url: str | None, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run `python -m portal ...` with a database URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env["PYTHONPATH"] = str(ROOT)
    # Blobs (the demo's photos, imports) go to a scratch folder, never into the checkout's data/.
    env["PORTAL_DATA_DIR"] = str((Path(tempfile.gettempdir()) / "portal-cli-tests" if cwd == ROOT else cwd) / "data")
    extra = ["--database-url", url] if url else []
    return subprocess.run(
        [sys.executable, "-m", "portal", *args, *extra], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _count(url: str, table) -> int:  # type: ignore[no-untyped-def]
    db = Database(url)
    try:
        with db.read() as conn:
            return conn.execute(select(func.count()).select_from(table)).scalar_one()
    finally:
        db.dispose()


@pytest.fixture
def demo_url(db_url: str) -> str:
    """A database with the demo data, created through the CLI itself."""
    out = cli(db_url, "demo")
    assert out.returncode == 0, out.stderr
    assert "demo-manager-pass" in out.stdout
    return db_url


def test_db_upgrade_reports_and_is_repeatable(db_url: str) -> None:
    first = cli(db_url, "db", "upgrade")
    assert (
        first.returncode == 0
        and f"upgraded from an empty database to revision {migrate.head_revision()}" in first.stdout
    )
    again = cli(db_url, "db", "upgrade")
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_commands_refuse_an_unmigrated_database(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        out = cli(db_url, "subjects", "list")
        assert out.returncode == 1 and "There is no database file" in out.stderr
        assert not Path(db_url.removeprefix("sqlite:///")).exists()
    else:
        out = cli(db_url, "subjects", "list")
        assert out.returncode == 1 and "Run `python -m portal db upgrade` first" in out.stderr


def test_subject_lifecycle(demo_url: str) -> None:
    add = cli(
        demo_url,
        "subjects",
        "add",
        "--name",
        "Karl Paper",
        "--email",
        "karl@example.org",
        "--consent",
        "website",
        "print",
        "--refuse",
        "social_media",
        "--channel",
        "paper",
        "--note",
        "form #12",
        "--json",
    )
    assert add.returncode == 0, add.stderr
    sid = json.loads(add.stdout)["subject_id"]
    shown = json.loads(cli(demo_url, "subjects", "show", sid, "--json").stdout)
    status = {c["purpose_code"]: c["status"] for c in shown["consents"] if c["scope_asset_id"] is None}
    assert status == {
        "internal": "unknown",
        "website": "given",
        "social_media": "refused",
        "print": "given",
        "partners": "unknown",
        "face_matching": "unknown",
    }
    # A paper form entered without its scan rests on the staff member's word: channel staff (issue 12, item 7).
    assert {e["channel"] for e in shown["ledger"]} == {"staff"}
    evidence = json.loads(shown["ledger"][0]["evidence"])
    assert evidence["act"] == "staff_declaration" and evidence["paper_form"] == "not_scanned"
    # The note is kept out of the ledger (a salted HMAC there; the text is erased with the person).
    assert set(evidence["note"]) == {"hmac"} and "form #12" not in str(evidence)

    wd = cli(demo_url, "subjects", "withdraw", sid, "--purpose", "print")
    assert wd.returncode == 0 and "Withdrawn: 1" in wd.stdout
    never = cli(demo_url, "subjects", "withdraw", sid, "--purpose", "partners")
    assert never.returncode == 1 and "was never given" in never.stderr
    everything = cli(demo_url, "subjects", "withdraw", sid, "--all")
    assert everything.returncode == 0 and "Withdrawn: 1" in everything.stdout
    nothing = cli(demo_url, "subjects", "withdraw", sid, "--all")
    assert nothing.returncode == 0 and "nothing was withdrawn" in nothing.stdout
    shown = json.loads(cli(demo_url, "subjects", "show", sid, "--json").stdout)
    assert not any(c["allowed"] for c in shown["consents"])
    human = cli(demo_url, "subjects", "show", sid)
    assert human.returncode == 0 and "Karl Paper" in human.stdout and "withdrawn" in human.stdout
    assert cli(demo_url, "ledger", "verify").returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "Bad Code", "--consent", "website", "billboards"], "Unknown purpose 'billboards'"),
        (["--name", ""], "Name is empty"),
        (["--name", "x" * 10_000], "at most 200"),
        (["--name", "<img src=x onerror=alert(1)>"], "cannot contain < or >"),
        (["--name", "Both", "--consent", "print", "--refuse", "print"], "both given and refused"),
        (["--name", "Kid", "--minor", "--consent", "internal"], "Guardian's name is empty"),
    ],
)
def test_bad_input_exits_non_zero_and_writes_nothing(demo_url: str, args: list[str], message: str) -> None:
    before = (_count(demo_url, subjects), _count(demo_url, consent_ledger))
    out = cli(demo_url, "subjects", "add", *args)
    assert out.returncode == 1
    assert message in out.stderr and out.stderr.startswith("error: ")
    assert "Traceback" not in out.stderr
    assert (_count(demo_url, subjects), _count(demo_url, consent_ledger)) == before


def test_unknown_subject(demo_url: str) -> None:
    for args in (["show", "no-such-id"], ["withdraw", "no-such-id", "--all"]):
        out = cli(demo_url, "subjects", *args)
        assert out.returncode == 1 and "No subject with id 'no-such-id'" in out.stderr


def test_unreachable_database_is_explained() -> None:
    out = cli("postgresql+psycopg://nobody:secretpw@127.0.0.1:1/none", "ledger", "verify")
    assert out.returncode == 1
    assert "Cannot reach the database at postgresql+psycopg://nobody:***@127.0.0.1:1/none" in out.stderr
    assert "secretpw" not in out.stderr
    bad = cli("mysql://x@y/z", "db", "upgrade")
    assert bad.returncode == 1 and "Unsupported database" in bad.stderr


def test_ledger_verify_names_the_first_bad_entry(demo_url: str) -> None:
    ok = cli(demo_url, "ledger", "verify")
    assert ok.returncode == 0 and "Ledger intact: 27 entries verified" in ok.stdout
    db = Database(demo_url)
    with db.write() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("ALTER TABLE consent_ledger DISABLE TRIGGER consent_ledger_append_only"))
        else:
            conn.execute(text("DROP TRIGGER consent_ledger_no_update"))
        conn.execute(text("UPDATE consent_ledger SET action = 'given' WHERE seq = 26"))
    db.dispose()
    # The first verify left a signed checkpoint at entry 27: only --full recomputes the entries before it.
    bad = cli(demo_url, "ledger", "verify", "--full")
    assert bad.returncode == 3
    assert "LEDGER TAMPERED: first bad entry: 26" in bad.stdout


def test_demo_reset_only_touches_demo_databases(demo_url: str) -> None:
    again = cli(demo_url, "demo")
    assert again.returncode == 0 and "already holds the demo data" in again.stdout
    reset = cli(demo_url, "demo", "--reset")
    assert reset.returncode == 0 and "Demo data created: 7 subjects" in reset.stdout
    db = Database(demo_url)
    with db.write() as conn:
        conn.execute(text("UPDATE organisation SET is_demo = false"))
    db.dispose()
    refused = cli(demo_url, "demo", "--reset")
    assert refused.returncode == 1 and "refusing to reset" in refused.stderr
    assert _count(demo_url, subjects) == 7


def test_ledger_list(demo_url: str) -> None:
    out = cli(demo_url, "ledger", "list", "--limit", "3", "--json")
    entries = json.loads(out.stdout)
    assert [e["seq"] for e in entries] == [1, 2, 3]


def test_risk_report_prints_the_dashboard_figures(demo_url: str) -> None:
    out = cli(demo_url, "risk", "report", "--format", "json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["purpose"] for r in rows] == ["internal", "website", "social_media", "print", "partners"]
    with Database(demo_url).read() as conn:
        expected = {f.purpose: f for f in summary(conn)}
    for r in rows:  # the same numbers the dashboard reads
        f = expected[r["purpose"]]
        assert (r["with_people"], r["at_risk"], r["critical"], r["expiring_30d"]) == (
            f.with_people,
            f.at_risk,
            f.critical,
            f.expiring_in[30],
        )
        assert {k: r[k] for k in f.by_reason} == f.by_reason
    website = next(r for r in rows if r["purpose"] == "website")
    assert (website["critical"], website["withdrawn"]) == (1, 1)  # the demo's published panel photo
    csv_out = cli(demo_url, "risk", "report", "--purpose", "website", "--format", "csv")
    assert csv_out.stdout.splitlines()[0].startswith("purpose,with_people,at_risk,critical,expiring_30d")
    # The table for people names purposes by their titles, the code beside them (JSON and CSV above keep codes).
    human = cli(demo_url, "risk", "report").stdout.splitlines()
    assert human[0].split()[:2] == ["title", "purpose"]
    assert any(line.startswith("Social media") and " social_media " in line for line in human)
    bad = cli(demo_url, "risk", "report", "--purpose", "billboards")
    assert bad.returncode == 1 and "Unknown purpose 'billboards'" in bad.stderr


def test_jobs_run_twice(demo_url: str) -> None:
    first = cli(demo_url, "jobs", "run")
    assert first.returncode == 0 and "Expired 2 consent(s)" in first.stdout
    second = cli(demo_url, "jobs", "run")
    assert "Expired 0 consent(s); queued 0 renewal request(s) and 0 manager digest(s)" in second.stdout
    db = Database(demo_url)
    try:
        with db.read() as conn:
            runs = conn.execute(select(audit_log.c.actor).where(audit_log.c.action == "run_daily_jobs")).scalars()
            assert [a.split(":")[0] for a in runs] == ["operator", "operator"]  # audited like a page action
    finally:
        db.dispose()


def test_staff_commands_add_change_and_deactivate_accounts(
    db: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from portal.cli import main

    url = ["--database-url", db.url]
    monkeypatch.setattr("sys.stdin", io.StringIO("first-password-1\n"))
    assert main(["staff", "add", "Ada@Example.org", "--name", "Ada", "--role", "admin", "--password-stdin", *url]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("second-password-2\n"))
    assert main(["staff", "add", "sam@example.org", "--name", "Sam", "--role", "staff", "--password-stdin", *url]) == 0
    # Acting as a staff member (--as) needs that member's role: Sam may not promote himself.
    assert main(["staff", "role", "sam@example.org", "--role", "admin", "--as", "sam@example.org", *url]) == 1
    assert "Only admins" in capsys.readouterr().err
    assert main(["staff", "role", "sam@example.org", "--role", "manager", "--as", "ada@example.org", *url]) == 0
    assert main(["staff", "deactivate", "ada@example.org", *url]) == 1  # the last admin
    assert "last active admin" in capsys.readouterr().err
    assert main(["staff", "deactivate", "sam@example.org", *url]) == 0
    assert main(["staff", "list", *url]) == 0
    listed = capsys.readouterr().out
    assert "sam@example.org  Sam   manager  no" in listed and "ada@example.org  Ada   admin    yes" in listed
    with db.read() as conn:
        rows = conn.execute(select(audit_log.c.action, audit_log.c.actor).order_by(audit_log.c.id)).all()
    ada = next(a for action, a in rows if action == "set_staff_role")
    assert [action for action, _ in rows] == ["create_user", "create_user", "set_staff_role", "deactivate_staff"]
    assert ada.startswith("staff:") and rows[-1][1].startswith("operator:")


def test_unwritable_output_paths_get_a_clear_error(demo_url: str, tmp_path: Path) -> None:
    target = tmp_path / "no-such-folder" / "out.pdf"
    for args in (
        ["reports", "art30", "--out", str(target)],
        [
            "subjects",
            "export",
            json.loads(cli(demo_url, "subjects", "add", "--name", "Out Put", "--json").stdout)["subject_id"],
            "--out",
            str(target),
        ],
    ):
        out = cli(demo_url, *args)
        assert out.returncode == 1 and f"Cannot write {target}" in out.stderr and "Traceback" not in out.stderr
