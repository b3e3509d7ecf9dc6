"""The databases a benchmark runs on: a temporary SQLite file, and a throw-away schema on PostgreSQL if given."""

from __future__ import annotations

import argparse
import os
import tempfile
import uuid
from collections.abc import Iterator

from sqlalchemy import create_engine, text

from portal.backend.platform.db.engine import Database
from portal.backend.platform.signing import new_key_text

# Every ledger append signs the new head; a benchmark signs with a throw-away key unless the operator set one.
os.environ.setdefault("PORTAL_LEDGER_KEY", new_key_text())


def add_database_options(ap: argparse.ArgumentParser) -> None:
    """--postgres URL (default PORTAL_TEST_POSTGRES_URL) and --skip-sqlite."""
    ap.add_argument("--postgres", default=os.environ.get("PORTAL_TEST_POSTGRES_URL", ""))
    ap.add_argument("--skip-sqlite", action="store_true")


def each_database(args: argparse.Namespace) -> Iterator[tuple[str, Database]]:
    """Yield (label, empty database) for SQLite and PostgreSQL in turn, cleaning each up afterwards."""
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{tmp}/bench.db")
            try:
                yield "sqlite", db
            finally:
                db.dispose()
    if args.postgres:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.postgres)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        db = Database(args.postgres, schema=schema)
        try:
            yield "postgresql", db
        finally:
            db.dispose()
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
