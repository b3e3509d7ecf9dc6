"""`audit export [--from DATE] [--to DATE] [--action A] [--actor REF] --csv FILE`: the audit log as CSV, audited."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from portal.backend.staff.services import AuditFilter, export_audit_log
from portal.cli.common import add_common, cli_actor, open_database, write_output


def _day(value: str) -> date:
    """A YYYY-MM-DD argument."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def register(groups: argparse._SubParsersAction) -> None:
    """Add the audit group."""
    sub = groups.add_parser("audit", help="the audit log of staff actions").add_subparsers(
        dest="command", metavar="COMMAND", required=True
    )
    export = add_common(sub.add_parser("export", help="write audit lines as formula-safe CSV (the export is audited)"))
    export.add_argument("--from", dest="first", type=_day, metavar="YYYY-MM-DD", help="first day (UTC)")
    export.add_argument("--to", dest="last", type=_day, metavar="YYYY-MM-DD", help="last day (UTC), included")
    export.add_argument("--action", help="only this action, e.g. view_subject")
    export.add_argument("--actor", help="only this actor ref, e.g. staff:3 or system")
    export.add_argument("--csv", dest="out", type=Path, required=True, metavar="FILE.csv")
    export.set_defaults(handler=export_command)


def export_command(args: argparse.Namespace) -> int:
    """Write the chosen lines to a file."""
    portal = open_database(args)
    chosen = AuditFilter.for_days(args.first, args.last, action=args.action, actor=args.actor)
    text, lines = export_audit_log(portal, actor=cli_actor(portal, args), chosen=chosen)
    write_output(args.out, text.encode("utf-8"))
    print(f"Wrote {args.out} ({lines} lines).")
    return 0
