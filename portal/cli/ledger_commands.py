"""`ledger verify` and `ledger list`."""

from __future__ import annotations

import argparse
import time

from portal.backend.consent.queries import ledger_entries, list_purposes, verify_ledger
from portal.cli.common import EXIT_TAMPERED, add_common, fmt_time, open_database, print_json, print_table


def register(groups: argparse._SubParsersAction) -> None:
    """Add the ledger group."""
    sub = groups.add_parser("ledger", help="the consent ledger").add_subparsers(
        dest="command", metavar="COMMAND", required=True
    )
    add_common(
        sub.add_parser("verify", help="recompute the hash chain; exit 3 naming the first bad entry")
    ).set_defaults(handler=verify)
    lst = add_common(sub.add_parser("list", help="list entries in chain order"))
    lst.add_argument("--subject", help="only this subject id")
    lst.add_argument("--after", type=int, default=0, help="start after this sequence number")
    lst.add_argument("--limit", type=int, default=50)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=list_command)


def verify(args: argparse.Namespace) -> int:
    """Verify the chain."""
    portal = open_database(args)
    started = time.perf_counter()
    report = verify_ledger(portal)
    took = time.perf_counter() - started
    if report.ok:
        print(f"Ledger intact: {report.checked} entries verified in {took:.2f} s.")
        return 0
    print(f"LEDGER TAMPERED: first bad entry: {report.first_bad_seq}. {report.problem}.")
    print(f"({report.checked} entries before it verified.)")
    return EXIT_TAMPERED


def list_command(args: argparse.Namespace) -> int:
    """Print a page of entries."""
    portal = open_database(args)
    entries = ledger_entries(portal, after_seq=args.after, limit=args.limit, subject_id=args.subject)
    codes = {p.id: p.code for p in list_purposes(portal, active_only=False)}
    if args.json:
        print_json([e.__dict__ for e in entries])
        return 0
    print_table(
        ["seq", "time", "subject", "purpose", "action", "image", "channel", "actor", "hash"],
        [
            [
                e.seq,
                fmt_time(e.recorded_at),
                e.subject_id[:8],
                codes[e.purpose_id],
                e.action,
                e.scope_asset_id or "all",
                e.channel,
                e.actor,
                e.entry_hash[:12],
            ]
            for e in entries
        ],
    )
    return 0
