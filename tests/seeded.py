"""The demo portal seeded once per test session and cloned per test (SQLite: file copy; PostgreSQL: TEMPLATE).

Seeding runs the migrations, the demo story and the real face detector over the demo photos: seconds per portal.
A session builds one template per database kind the first time a test asks for it, and every test gets its own
copy, so a test may change anything without touching the next one.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from portal.backend.ops.bootstrap import open_portal
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database

DB_FILE = "portal.db"
DATA_DIR = "data"  # PORTAL_DATA_DIR of a clone: the local blob store lives in data/blobs


@dataclass(frozen=True)
class SeededPortal:
    """One test's own copy of the demo portal: what to point PORTAL_DATABASE_URL and PORTAL_DATA_DIR at."""

    kind: str
    url: str
    data_dir: Path
    db: Database


def database_url(base: str, name: str) -> str:
    """`base` (a PostgreSQL URL) pointed at another database on the same server."""
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def seed(url: str, data_dir: Path) -> None:
    """Build a demo portal the way the app does on its first start (migrate, then seed an empty database)."""
    env = {"PORTAL_DATABASE_URL": url, "PORTAL_DATA_DIR": str(data_dir)}
    env["PORTAL_LEDGER_KEY"] = os.environ["PORTAL_LEDGER_KEY"]  # the session's test key (tests/conftest.py)
    portal = open_portal(load_settings(env=env, secrets_path=None))
    # Nothing may stay connected to a PostgreSQL template while it is copied, and SQLite's WAL must be folded in.
    portal.db.dispose()


@dataclass
class DemoTemplates:
    """The session's seeded templates, built on first use per kind and removed at the end of the session."""

    root: Path
    pg_base: str = ""
    _sqlite: Path | None = None
    _pg: str | None = None
    _admin: Engine | None = None
    _clones: set[str] = field(default_factory=set)
    # PostgreSQL copies and drops take the server a second or so each: one thread makes the next test's copy and
    # drops the last one while the tests run (the tests are Python-bound, the server has its own process).
    _worker: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="demo-templates")
    )
    _spare: Future[str] | None = None
    _drops: list[Future[None]] = field(default_factory=list)

    def clone(self, kind: str, into: Path) -> SeededPortal:
        """A fresh copy of the demo portal of this kind, its blobs under `into`/data."""
        into.mkdir(parents=True, exist_ok=True)
        data_dir = into / DATA_DIR
        if kind == "sqlite":
            folder = self._sqlite_template()
            shutil.copyfile(folder / DB_FILE, into / DB_FILE)
            shutil.copytree(folder / DATA_DIR, data_dir)
            url = f"sqlite:///{into / DB_FILE}"
        elif kind == "postgresql":
            template = self._pg_template()
            spare, self._spare = self._spare, None  # a copy that failed in the background fails one test only
            name = spare.result() if spare is not None else self._copy_pg(template)
            self._clones.add(name)
            self._spare = self._worker.submit(self._copy_pg, template)
            shutil.copytree(self.root / "postgresql" / DATA_DIR, data_dir)
            url = database_url(self.pg_base, name)
        else:
            raise ValueError(f"unknown database kind {kind!r}")
        return SeededPortal(kind=kind, url=url, data_dir=data_dir, db=Database(url))

    def discard(self, portal: SeededPortal) -> None:
        """Close a clone; a PostgreSQL clone is dropped in the background (a SQLite one goes with its tmp_path)."""
        portal.db.dispose()
        if portal.kind == "postgresql":
            name = make_url(portal.url).database or ""
            self._drops.append(self._worker.submit(self._drop, name))
            self._clones.discard(name)

    def close(self) -> None:
        """Drop the PostgreSQL template, the unused spare copy and any clone a failed test left behind."""
        try:
            if self._spare is not None and self._spare.exception() is None:
                self._clones.add(self._spare.result())
            self._worker.shutdown(wait=True)
            for dropped in self._drops:
                dropped.result()  # a drop that failed leaves a database behind: say so
            for name in sorted(self._clones):
                self._drop(name)
            if self._pg is not None:
                self._drop(self._pg)
        finally:
            self._spare, self._drops, self._clones, self._pg = None, [], set(), None
            if self._admin is not None:
                self._admin.dispose()
                self._admin = None

    def _sqlite_template(self) -> Path:
        """The SQLite template folder (portal.db plus data/), seeded on first use."""
        if self._sqlite is None:
            folder = self.root / "sqlite"
            folder.mkdir(parents=True)
            try:
                seed(f"sqlite:///{folder / DB_FILE}", folder / DATA_DIR)
            except BaseException:
                shutil.rmtree(folder)  # the next test seeds again rather than copying half a portal
                raise
            # One self-contained file to copy: fold the write-ahead log in and leave WAL mode (each clone's engine
            # turns WAL on again when it first connects).
            with closing(sqlite3.connect(folder / DB_FILE)) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.execute("PRAGMA journal_mode=DELETE")
            self._sqlite = folder
        return self._sqlite

    def _pg_template(self) -> str:
        """The name of the PostgreSQL template database, seeded on first use."""
        if self._pg is None:
            if not self.pg_base:
                raise RuntimeError("PostgreSQL templates need PORTAL_TEST_POSTGRES_URL")
            name = f"tpl_{uuid.uuid4().hex[:16]}"
            with self._admin_engine().connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            data_dir = self.root / "postgresql" / DATA_DIR
            try:
                seed(database_url(self.pg_base, name), data_dir)
            except BaseException:
                self._drop(name)  # the next test seeds again rather than copying half a portal
                shutil.rmtree(data_dir, ignore_errors=True)
                raise
            self._pg = name
        return self._pg

    def _copy_pg(self, template: str) -> str:
        """A new database copied from the PostgreSQL template; its name."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        with self._admin_engine().connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        return name

    def _admin_engine(self) -> Engine:
        """CREATE and DROP DATABASE cannot run in a transaction: an autocommit engine on the base database."""
        if self._admin is None:
            self._admin = create_engine(self.pg_base, isolation_level="AUTOCOMMIT")
        return self._admin

    def _drop(self, name: str) -> None:
        """Drop a database, ending the connections the app's cached engines still hold to it."""
        with self._admin_engine().connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
