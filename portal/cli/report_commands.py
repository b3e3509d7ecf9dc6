"""`reports compliance [--from DATE] [--to DATE] --out FILE.pdf` and `reports art30 --out FILE.pdf`."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from portal.cli.common import add_common, cli_actor, open_database, write_output


def _day(value: str) -> date:
    """A YYYY-MM-DD argument."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def register(groups: argparse._SubParsersAction) -> None:
    """Add the reports group."""
    sub = groups.add_parser("reports", help="PDF reports").add_subparsers(
        dest="command", metavar="COMMAND", required=True
    )
    for name, help_text in (
        ("compliance", "a period's coverage, critical photos, decisions, erasures, renewals, takedowns, ledger"),
        ("art30", "record of processing activities (GDPR Art. 30) from the configuration"),
    ):
        cmd = add_common(sub.add_parser(name, help=help_text))
        cmd.add_argument("--out", type=Path, required=True, metavar="FILE.pdf")
        if name == "compliance":
            cmd.add_argument(
                "--from", dest="start", type=_day, metavar="YYYY-MM-DD", help="first day (UTC) of the period"
            )
            cmd.add_argument(
                "--to", dest="end", type=_day, metavar="YYYY-MM-DD", help="last day (UTC), included; default today"
            )
        cmd.set_defaults(handler=report_command, report=name)


def report_command(args: argparse.Namespace) -> int:
    """Render one report to a file."""
    # Imported here: WeasyPrint is heavy and only these two commands need it.
    from portal.backend.reports.services import art30_record, compliance_report, report_period

    portal = open_database(args)
    actor = cli_actor(portal, args)
    if args.report == "compliance":
        period = report_period(args.start, args.end)
        pdf = compliance_report(portal, actor=actor, period=period)
        print(f"Period: {period.label}.")
    else:
        pdf = art30_record(portal, actor=actor)
    write_output(args.out, pdf)
    print(f"Wrote {args.out} ({len(pdf) / 1024:.0f} KiB).")
    return 0
