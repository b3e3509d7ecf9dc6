"""`risk report`: the same figures the dashboard shows."""

from __future__ import annotations

import argparse
import csv
import sys

from portal.backend.consent.queries import purpose_titles
from portal.backend.risk.queries import REASONS, WINDOWS, check_risk_index, risk_summary
from portal.backend.risk.services import rebuild_risk_index
from portal.cli.common import add_common, cli_actor, open_database, print_json, print_table


def register(groups: argparse._SubParsersAction) -> None:
    """Add the risk group."""
    sub = groups.add_parser("risk", help="photos at risk").add_subparsers(
        dest="command", metavar="COMMAND", required=True
    )
    report = add_common(sub.add_parser("report", help="at-risk photos per purpose and why"))
    report.add_argument("--purpose", help="only this purpose code")
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    report.set_defaults(handler=report_command)
    check = add_common(sub.add_parser("check", help="compare the risk index with a fresh computation from the ledger"))
    check.set_defaults(handler=check_command)
    rebuild = add_common(sub.add_parser("rebuild", help="recompute the risk index from the ledger and detections"))
    rebuild.set_defaults(handler=rebuild_command)


def report_command(args: argparse.Namespace) -> int:
    """Print the risk summary."""
    portal = open_database(args)
    rows = risk_summary(portal, purpose=args.purpose or None)
    headers = ["purpose", "with_people", "at_risk", "critical", *(f"expiring_{d}d" for d in WINDOWS), *REASONS]
    table = [
        [
            r.purpose,
            r.with_people,
            r.at_risk,
            r.critical,
            *(r.expiring_in.get(d, 0) for d in WINDOWS),
            *(r.by_reason.get(x, 0) for x in REASONS),
        ]
        for r in rows
    ]
    if args.format == "json":
        print_json([dict(zip(headers, row, strict=True)) for row in table])
    elif args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(headers)
        writer.writerows(table)
    else:
        # People read titles; the code stays beside them, as the --purpose option and the JSON and CSV use it.
        titles = purpose_titles(portal)
        print_table(["title", *headers], [[titles.get(str(row[0]), row[0]), *row] for row in table])
    return 0


def check_command(args: argparse.Namespace) -> int:
    """Exit 3 when the stored index differs from the ledger and detections (run `risk rebuild` to repair)."""
    problems = check_risk_index(open_database(args))
    for problem in problems:
        print(f"mismatch: {problem}")
    if problems:
        print("error: the risk index is out of step; `python -m portal risk rebuild` recomputes it", file=sys.stderr)
        return 3
    print("ok: the risk index matches the ledger and the detections")
    return 0


def rebuild_command(args: argparse.Namespace) -> int:
    """Recompute the index in one transaction."""
    portal = open_database(args)
    rows = rebuild_risk_index(portal, actor=cli_actor(portal, args))
    print(f"rebuilt: {rows} (photo, purpose) rows")
    return 0
