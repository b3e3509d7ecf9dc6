"""`reports compliance | art30 --out FILE.pdf`."""

from __future__ import annotations

import argparse
from pathlib import Path

from portal.cli.common import add_common, open_database, write_output


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
    from portal.backend.reports.compliance import compliance_report_pdf, record_of_processing_pdf

    portal = open_database(args)
    if args.report == "compliance":
        pdf = compliance_report_pdf(portal.db, window_days=portal.settings.expiry_warning_days)
    else:
        pdf = record_of_processing_pdf(portal.db)
    write_output(args.out, pdf)
    print(f"Wrote {args.out} ({len(pdf) / 1024:.0f} KiB).")
    return 0
