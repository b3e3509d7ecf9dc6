"""`risk report`: the same figures the dashboard shows."""

from __future__ import annotations

import argparse
import csv
import sys

from portal.backend.errors import UnknownPurpose
from portal.backend.risk import REASONS, summary
from portal.cli.common import add_common, open_database, print_json, print_table


def register(groups: argparse._SubParsersAction) -> None:
    """Add the risk group."""
    sub = groups.add_parser("risk", help="photos at risk").add_subparsers(dest="command", metavar="COMMAND",
                                                                          required=True)
    report = add_common(sub.add_parser("report", help="at-risk photos per purpose and why"))
    report.add_argument("--purpose", help="only this purpose code")
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    report.set_defaults(handler=report_command)


def report_command(args: argparse.Namespace) -> int:
    """Print the risk summary."""
    portal = open_database(args)
    with portal.db.read() as conn:
        rows = summary(conn, warning_days=portal.settings.expiry_warning_days)
    if args.purpose:
        rows = [r for r in rows if r.purpose == args.purpose]
        if not rows:
            with portal.db.read() as conn:
                known = [r.purpose for r in summary(conn)]
            raise UnknownPurpose(args.purpose, known)
    headers = ["purpose", "at_risk", "critical", "expiring", *REASONS]
    table = [[r.purpose, r.at_risk, r.critical, r.expiring, *(r.by_reason.get(x, 0) for x in REASONS)] for r in rows]
    if args.format == "json":
        print_json([dict(zip(headers, row, strict=True)) for row in table])
    elif args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(headers)
        writer.writerows(table)
    else:
        print_table(headers, table)
    return 0
