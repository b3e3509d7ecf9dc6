"""Real databases for every test: a SQLite file and a fresh schema on the real PostgreSQL; the demo portal is
seeded once per session and cloned per test (tests/seeded.py)."""

from __future__ import annotations

import os
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from portal.backend.platform.db import migrate
from portal.backend.platform.db.engine import Database
from tests.seeded import DemoTemplates, SeededPortal

# One fixed ledger signing key for the whole test session (and the CLI processes it starts): the seeded templates,
# their clones and every test database sign their heads with it. Tests of key handling unset it.
TEST_LEDGER_KEY = "dGVzdC1sZWRnZXIta2V5LW5vdC1mb3ItcHJvZC11c2U="
os.environ.setdefault("PORTAL_LEDGER_KEY", TEST_LEDGER_KEY)
PG_URL = os.environ.get("PORTAL_TEST_POSTGRES_URL", "")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "streamlit_app.py")  # the Streamlit entry point AppTest runs


def require_postgres() -> str:
    """The PostgreSQL URL; in CI a missing one fails the test instead of skipping it."""
    if not PG_URL:
        if IN_CI:
            pytest.fail("PORTAL_TEST_POSTGRES_URL is not set: in CI the PostgreSQL tests must run, not skip.")
        pytest.skip(
            "PostgreSQL tests need PORTAL_TEST_POSTGRES_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
        )
    return PG_URL


def schema_url(base: str, schema: str) -> str:
    """A PostgreSQL URL whose connections use `schema` first (so the CLI and the app can be pointed at it)."""
    return (
        make_url(base).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    )


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a brand-new, empty PostgreSQL schema, dropped after the test."""
    base = require_postgres()
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        yield schema_url(base, name)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'portal.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def empty_db(db_url: str) -> Iterator[Database]:
    """An empty database (no tables)."""
    db = Database(db_url)
    yield db
    db.dispose()


@pytest.fixture
def db(empty_db: Database) -> Database:
    """A database migrated to the newest schema, with no rows."""
    migrate.upgrade(empty_db)
    return empty_db


@pytest.fixture
def org_db(db: Database) -> Database:
    """A migrated database with the organisation and the standard purposes (no people)."""
    from tests.factories import make_org

    make_org(db)
    return db


@pytest.fixture(autouse=True)
def _own_working_folder(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in an empty folder of its own.

    The settings' defaults `data` (the SQLite file, blobs and the ledger signing key) and `.streamlit/secrets.toml`
    are relative to the working directory; in the checkout they are the developer's own portal, which a test must
    neither read (another signing key made a report test fail) nor write. Tests that need a particular folder
    still change to it themselves."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(scope="session", autouse=True)
def _checkout_left_alone() -> Iterator[None]:
    """The suite creates no `data` folder in the checkout (where `python -m portal` keeps a developer's portal)."""
    data = ROOT / "data"
    existed = data.exists()
    yield
    if not existed and data.exists():
        pytest.fail(f"The test suite wrote into {data}: a test used the working directory instead of its own folder.")


@pytest.fixture(autouse=True)
def _keep_main_module() -> Iterator[None]:
    """Put back `sys.modules["__main__"]` after each test.

    AppTest runs a page as the `__main__` module and leaves it there; a later test that spawns processes would then
    make every child re-run that page file as its main module (multiprocessing's spawn does that), and the
    children die before they start."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture(scope="session")
def demo_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoTemplates]:
    """The demo portal seeded once per session and database kind (on first use), for the tests to clone."""
    templates = DemoTemplates(root=tmp_path_factory.mktemp("demo-templates"), pg_base=PG_URL)
    yield templates
    templates.close()


@contextmanager
def _cloned(
    kind: str, templates: DemoTemplates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SeededPortal]:
    """A clone of the demo portal in tmp_path, with the app (AppTest, settings) pointed at it."""
    portal = templates.clone(kind, tmp_path)
    monkeypatch.setenv("PORTAL_DATABASE_URL", portal.url)
    monkeypatch.setenv("PORTAL_DATA_DIR", str(portal.data_dir))
    monkeypatch.chdir(tmp_path)
    try:
        yield portal
    finally:
        templates.discard(portal)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def seeded_portal(
    request: pytest.FixtureRequest, demo_templates: DemoTemplates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SeededPortal]:
    """This test's own copy of the demo portal (data and photos), once on SQLite and once on PostgreSQL; the app
    finds it already seeded, so it does not seed again."""
    if request.param == "postgresql":
        require_postgres()
    with _cloned(request.param, demo_templates, tmp_path, monkeypatch) as portal:
        yield portal


@pytest.fixture
def site(demo_templates: DemoTemplates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """This test's own copy of the SQLite demo portal, with the app pointed at it."""
    with _cloned("sqlite", demo_templates, tmp_path, monkeypatch) as portal:
        yield portal.db


@pytest.fixture
def first_start_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """An empty database and data folder with the app pointed at them: its first run migrates and seeds itself."""
    monkeypatch.setenv("PORTAL_DATABASE_URL", db_url)
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    db = Database(db_url)
    yield db
    db.dispose()


def shown(markdown: object) -> str:
    """What a reader sees of a Markdown body the pages wrote with `plain`: escapes resolved, word joiners gone."""
    return re.sub(r"\\(.)", r"\1", str(markdown)).replace("\u2060", "")
