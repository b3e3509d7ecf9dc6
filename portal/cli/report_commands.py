"""`reports compliance | art30 --out FILE.pdf`."""

from __future__ import annotations

import argparse
from pathlib import Path

from portal.cli.common import add_common, cli_actor, open_database, write_output


def register(groups: argparse._SubParsersAction) -> None:
    """Add the reports group."""
    sub = groups.add_parser("reports", help="PDF reports").add_subparsers(
        dest="command", metavar="COMMAND", required=True
    )
    for name, help_text in (
        ("compliance", "at-risk figures, critical list, expiring consents, chart"),
        ("art30", "record of processing per purpose (GDPR Art. 30)"),
    ):
        cmd = add_common(sub.add_parser(name, help=help_text))
        cmd.add_argument("--out", type=Path, required=True, metavar="FILE.pdf")
        cmd.set_defaults(handler=report_command, report=name)


def report_command(args: argparse.Namespace) -> int:
    """Render one report to a file."""
    # Imported here: WeasyPrint is heavy and only these two commands need it.
    from portal.backend.reports.services import art30_record, compliance_report

    portal = open_database(args)
    actor = cli_actor(portal, args)
    make = compliance_report if args.report == "compliance" else art30_record
    pdf = make(portal, actor=actor)
    write_output(args.out, pdf)
    print(f"Wrote {args.out} ({len(pdf) / 1024:.0f} KiB).")
    return 0
