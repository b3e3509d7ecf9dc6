"""`db upgrade`, `db current` and `demo [--reset]`."""

from __future__ import annotations

import argparse

from portal.backend.ops.bootstrap import reset_database
from portal.backend.ops.demo import DEMO_ACCOUNTS, is_demo, is_empty, seed_demo
from portal.backend.platform.blobs import make_blob_store
from portal.backend.platform.db import migrate
from portal.backend.platform.db.engine import Database, safe_url
from portal.backend.platform.errors import ValidationError
from portal.cli.common import add_common, settings_for


def register(groups: argparse._SubParsersAction) -> None:
    """Add the db and demo groups."""
    db = groups.add_parser("db", help="database schema").add_subparsers(
        dest="command", metavar="COMMAND", required=True
    )
    add_common(
        db.add_parser("upgrade", help="upgrade the schema to the newest revision (keeps all rows)")
    ).set_defaults(handler=upgrade)
    add_common(db.add_parser("current", help="print the schema revision")).set_defaults(handler=current)
    demo = add_common(groups.add_parser("demo", help="fill an empty database with demo data"))
    demo.add_argument("--reset", action="store_true", help="drop everything first (demo databases only)")
    demo.add_argument("--force", action="store_true", help="with --reset: also destroy a non-demo database")
    demo.set_defaults(handler=demo_command)


def upgrade(args: argparse.Namespace) -> int:
    """Run migrations."""
    settings = settings_for(args)
    before, after = migrate.upgrade(Database(settings.database_url))
    where = safe_url(settings.database_url)
    if before == after:
        print(f"{where}: already at revision {after}; nothing to do.")
    else:
        print(f"{where}: upgraded from {before or 'an empty database'} to revision {after}.")
    return 0


def current(args: argparse.Namespace) -> int:
    """Print the revision."""
    settings = settings_for(args)
    rev = migrate.current_revision(Database(settings.database_url))
    print(f"{rev or 'empty'} (newest: {migrate.head_revision()})")
    return 0


def demo_command(args: argparse.Namespace) -> int:
    """Seed (optionally after a reset) and print the demo accounts."""
    if args.force and not args.reset:
        raise ValidationError("--force only makes sense together with --reset.")
    settings = settings_for(args)
    db = Database(settings.database_url)
    if args.reset and migrate.current_revision(db) is not None:
        reset_database(db, force=args.force)
        print("Dropped all portal tables.")
    migrate.upgrade(db)
    if not is_empty(db):
        if is_demo(db):
            print("The database already holds the demo data; use --reset to start again.")
            return 0
        raise ValidationError("The database already holds real data; demo data is only added to an empty database.")
    summary = seed_demo(db, blobs=make_blob_store(settings), max_pixels=settings.max_image_pixels)
    print(
        f"Demo data created: {summary.subjects} subjects, {summary.ledger_entries} ledger entries, "
        f"{summary.photos} photos."
    )
    print("Demo sign-in accounts (public, for trying the portal only):")
    for email, _name, role, password in DEMO_ACCOUNTS:
        print(f"  {role:8} {email:24} {password}")
    return 0
