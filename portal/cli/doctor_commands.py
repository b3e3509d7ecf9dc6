"""`doctor`: the portal's start-up checks, each problem printed; exit 1 on any."""

from __future__ import annotations

import argparse
import sys

from portal.backend.ops.bootstrap import startup_checks
from portal.cli.common import EXIT_ERROR, settings_for


def register(groups: argparse._SubParsersAction) -> None:
    """Add the doctor command (a group without subcommands)."""
    doctor = groups.add_parser(
        "doctor",
        help="run the checks the portal makes when it starts (settings, database, blob store, production rules)",
    )
    doctor.add_argument("--database-url", default=argparse.SUPPRESS, help="SQLAlchemy URL of the database")
    doctor.set_defaults(handler=doctor_command)


def doctor_command(args: argparse.Namespace) -> int:
    """Print every check; problems go to stderr, prefixed `error:`."""
    checks = startup_checks(lambda: settings_for(args))
    for check in checks:
        if check.problem:
            print(f"error: {check.name}: {check.problem}", file=sys.stderr)
        else:
            print(f"ok     {check.name}" + (f": {check.note}" if check.note else ""))
    problems = sum(1 for c in checks if c.problem)
    print(f"{problems} problem(s)." if problems else "No problems: the portal can start.")
    return EXIT_ERROR if problems else 0
