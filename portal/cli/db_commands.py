"""`db upgrade`, `db current` and `demo [--reset]`."""

from __future__ import annotations

import argparse

from portal.backend.ops.bootstrap import schema_state, upgrade_database
from portal.backend.ops.services import DEMO_ACCOUNTS, load_demo
from portal.backend.platform.actors import Actor
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
    before, after = upgrade_database(settings_for(args))
    if before.current == after.current:
        print(f"{after.where}: already at revision {after.current}; nothing to do.")
    else:
        print(f"{after.where}: upgraded from {before.current or 'an empty database'} to revision {after.current}.")
    return 0


def current(args: argparse.Namespace) -> int:
    """Print the revision."""
    state = schema_state(settings_for(args))
    print(f"{state.current or 'empty'} (newest: {state.head})")
    return 0


def demo_command(args: argparse.Namespace) -> int:
    """Seed (optionally after a reset) and print the demo accounts."""
    # No staff account exists before the demo does (and a reset drops them all): the operator acts.
    result = load_demo(settings_for(args), actor=Actor.operator(), reset=args.reset, force=args.force)
    if result.dropped:
        print("Dropped all portal tables.")
    if result.summary is None:
        print("The database already holds the demo data; use --reset to start again.")
        return 0
    summary = result.summary
    print(
        f"Demo data created: {summary.subjects} subjects, {summary.ledger_entries} ledger entries, "
        f"{summary.photos} photos."
    )
    print("Demo sign-in accounts (public, for trying the portal only):")
    for email, _name, role, password in DEMO_ACCOUNTS:
        print(f"  {role:8} {email:24} {password}")
    return 0
