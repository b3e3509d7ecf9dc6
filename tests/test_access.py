"""Access control: every CLI command without database credentials, and a subject's link that tries to reach
another person's photos, receipts or export by changing the URL or the session state."""

from __future__ import annotations

import argparse
import io
import zipfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import assets, consent_ledger, subjects
from portal.cli import build_parser, main
from tests.conftest import APP, ROOT
from tests.factories import create_personal_link, open_folded
from tests.seeded import SeededPortal

CLOSED = "postgresql+psycopg://nobody:secret-pw@127.0.0.1:1/portal"  # nothing listens on port 1


def _leaf_commands() -> list[tuple[list[str], argparse.ArgumentParser]]:
    """(argv prefix, parser) of every leaf command of `python -m portal`."""
    found: list[tuple[list[str], argparse.ArgumentParser]] = []

    def walk(prefix: list[str], parser: argparse.ArgumentParser) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            found.append((prefix, parser))
        for action in subs:
            for name, child in action.choices.items():
                walk([*prefix, name], child)

    walk([], build_parser())
    return found


def _dummy_args(parser: argparse.ArgumentParser, tmp: Path) -> list[str]:
    """Plausible values for a command's required arguments, so it gets as far as opening the database."""
    scratch = tmp / "in.jpg"
    scratch.write_bytes(b"\xff\xd8\xff")
    args: list[str] = []
    for action in parser._actions:
        if not action.required or isinstance(action, argparse._HelpAction):
            continue
        value = str(scratch) if "file" in (action.dest or "") or "folder" in (action.dest or "") else "1"
        if action.choices:
            value = str(next(iter(action.choices)))
        if action.option_strings:
            args += [action.option_strings[0], value]
        else:
            args.append(value)
    return args


LEAVES = _leaf_commands()


def test_the_cli_has_the_commands_the_readme_lists() -> None:
    names = {" ".join(p) for p, _ in LEAVES}
    readme = (ROOT / "README.md").read_text()
    assert len(names) >= 25
    assert {"ledger verify", "risk report", "risk check", "subjects erase", "jobs run", "storage check"} <= names
    assert [n for n in names if f"`{n.split()[0]}" not in readme] == []  # every group is documented


# `models` works on the data folder only and never opens the database; `models fetch` is the one command that uses
# the network (when the operator asks), so it is tested against a local server in tests/vision/test_models_fetch.py.
DATABASE_LEAVES = [p for p, _ in LEAVES if p[0] != "models"]


@pytest.mark.parametrize("prefix", DATABASE_LEAVES, ids=[" ".join(p) for p in DATABASE_LEAVES])
def test_every_cli_command_without_a_reachable_database_fails_cleanly(
    prefix: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI is the operator's tool: without working database credentials, no command does anything, each one
    says why in one line, and no password or traceback leaks."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path / "data"))
    parser = dict((tuple(p), parser) for p, parser in LEAVES)[tuple(prefix)]
    err, out = io.StringIO(), io.StringIO()
    with redirect_stderr(err), redirect_stdout(out):
        try:
            code = main([*prefix, *_dummy_args(parser, tmp_path), "--database-url", CLOSED])
        except SystemExit as exc:  # argparse refusing the dummy values is a clean refusal too
            code = int(exc.code or 0)
    assert code in (1, 2), (prefix, code, out.getvalue(), err.getvalue())
    assert "error:" in err.getvalue()
    if code == 1 and prefix[0] != "storage":  # storage commands first say the local store has no bucket
        assert "Cannot reach the database at postgresql+psycopg://nobody:***@127.0.0.1:1" in err.getvalue()
    assert "Traceback" not in err.getvalue() and "secret-pw" not in err.getvalue() + out.getvalue()


# --- A subject's link cannot reach anyone else's data. ---------------------------------------------------------------


@pytest.fixture
def two_people(seeded_portal: SeededPortal) -> tuple[Database, str, str, str]:
    """This test's copy of the demo (with its photos); returns (db, Olivia's link, Olivia's id, Erik's id)."""
    db = seeded_portal.db
    settings = load_settings(secrets_path=None)
    with db.read() as conn:
        ids = dict(conn.execute(select(subjects.c.display_name, subjects.c.id)).all())
    link = create_personal_link(
        db, subject_id=ids["Olivia Karlsson"], secret=settings.secret_key, base_url=settings.base_url, ttl_days=30
    )
    return db, link.split("?link=")[1], ids["Olivia Karlsson"], ids["Erik Johansson"]


def _page_text(at: AppTest) -> str:
    """Everything the page shows as text."""
    parts = [
        e.value
        for kind in ("markdown", "title", "header", "subheader", "caption", "info", "success", "warning", "error")
        for e in getattr(at, kind)
    ]
    return "\n".join(str(p) for p in parts)


def test_extra_ids_in_the_url_show_only_the_links_own_person(two_people: tuple[Database, str, str, str]) -> None:
    db, token, _olivia, erik = two_people
    with db.read() as conn:
        eriks_photo = conn.execute(select(assets.c.id).where(assets.c.filename == "spring-panel.jpg")).scalar_one()
    at = AppTest.from_file(APP, default_timeout=90)
    for key, value in {"link": token, "subject": erik, "subject_id": erik, "asset": str(eriks_photo)}.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception
    text = _page_text(at)
    assert "Olivia Karlsson" in text and "Erik" not in text
    assert len(at.image) == 2  # her two demo photos, not the spring panel Erik is in
    assert not [b for b in at.button if b.key and str(eriks_photo) in b.key]


def test_forged_session_state_cannot_act_for_someone_else(two_people: tuple[Database, str, str, str]) -> None:
    db, token, olivia, erik = two_people
    with db.read() as conn:
        eriks_photo = conn.execute(select(assets.c.id).where(assets.c.filename == "spring-panel.jpg")).scalar_one()
        before = conn.execute(
            select(func.count()).select_from(consent_ledger).where(consent_ledger.c.subject_id == erik)
        ).scalar_one()
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["link"] = token
    at.run()
    # Widget keys and values a tampered client could send: a veto on Erik's photo, an erase confirmation, an
    # export prepared "for" him.
    at.session_state[f"veto_{eriks_photo}_website"] = True
    at.session_state["subject_id"] = erik
    at.session_state["export_zip"] = b"forged"
    at.run()
    assert not at.exception
    with db.read() as conn:
        after = conn.execute(
            select(func.count()).select_from(consent_ledger).where(consent_ledger.c.subject_id == erik)
        ).scalar_one()
    assert after == before  # nothing was recorded for Erik
    # Preparing the export builds Olivia's archive from the link, whatever the session state says.
    open_folded(at, "rights").button(key="prepare_export").click().run()
    archive = zipfile.ZipFile(io.BytesIO(at.session_state["export_zip"]))
    everything = b"".join(archive.read(n) for n in archive.namelist() if n.endswith((".json", ".csv")))
    assert olivia.encode() in everything and erik.encode() not in everything and b"Erik" not in everything
