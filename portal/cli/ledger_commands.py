"""`ledger verify [--anchor FILE] [--full]`, `ledger head` and `ledger list`."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from portal.backend.consent.queries import ledger_entries, list_purposes, signed_ledger_head, verify_ledger
from portal.backend.consent.services import record_ledger_checkpoint
from portal.backend.platform.errors import ValidationError
from portal.cli.common import (
    EXIT_ERROR,
    EXIT_TAMPERED,
    add_common,
    fmt_time,
    open_database,
    print_json,
    print_table,
)


def register(groups: argparse._SubParsersAction) -> None:
    """Add the ledger group."""
    sub = groups.add_parser("ledger", help="the consent ledger").add_subparsers(
        dest="command", metavar="COMMAND", required=True
    )
    ver = add_common(
        sub.add_parser(
            "verify",
            help="recompute the hash chain after the last signed checkpoint (--full: all of it) and check the "
            "signed head; exit 3 naming what was tampered with",
        )
    )
    ver.add_argument(
        "--full",
        action="store_true",
        help="recompute every entry from the first, ignoring the signed checkpoint an earlier verify left",
    )
    ver.add_argument(
        "--anchor",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="a receipt JSON, a manager digest, or a file of signed heads (one per line, from `ledger head`) "
        "whose entries must still be in the chain; may be given several times",
    )
    ver.set_defaults(handler=verify)
    head = add_common(
        sub.add_parser("head", help="print the newest signed head as one line, to keep outside the database")
    )
    head.set_defaults(handler=head_command)
    lst = add_common(sub.add_parser("list", help="list entries in chain order"))
    lst.add_argument("--subject", help="only this subject id")
    lst.add_argument("--after", type=int, default=0, help="start after this sequence number")
    lst.add_argument("--limit", type=int, default=50)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=list_command)


def _read_anchor(path: Path) -> str:
    """An anchor file's text, or an error a person can act on."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"Cannot read the anchor file {path}: {getattr(exc, 'strerror', None) or exc}.") from None


def verify(args: argparse.Namespace) -> int:
    """Verify the chain, its signed head and any anchors."""
    portal = open_database(args)
    anchors = "\n".join(_read_anchor(p) for p in args.anchor) if args.anchor else None
    started = time.perf_counter()
    report = verify_ledger(portal, anchors=anchors, from_checkpoint=not args.full)
    took = time.perf_counter() - started
    if not report.ok:
        print(f"LEDGER TAMPERED: first bad entry: {report.first_bad_seq or '-'}. {report.problem}.")
        print(f"({report.checked} entries before it verified.)")
        return EXIT_TAMPERED
    if not report.signatures_checked:
        print(
            f"Hash chain intact ({report.checked} entries), but the head's signature was NOT checked: no key. "
            "Set PORTAL_LEDGER_PUBLIC_KEY to the ledger's public key."
        )
        return EXIT_ERROR
    head = report.head
    signed = f"; head signed by key {head.key_id} at entry {head.seq}" if head else ""
    anchored = f"; {report.anchors} anchor(s) still in the chain" if report.anchors else ""
    rate = f" ({report.checked / took:,.0f} entries/s)" if report.checked and took > 0 else ""
    since = report.checkpoint
    if since is None:
        print(f"Ledger intact: {report.checked} entries verified in {took:.2f} s{rate}{signed}{anchored}.")
    else:
        last = head.seq if head else since.seq
        print(
            f"Ledger intact: entries 1 to {last}; {report.checked} entries after the signed checkpoint at entry "
            f"{since.seq} (full check of {fmt_time(since.verified_at)}) verified in {took:.2f} s{rate}{signed}"
            f"{anchored}. Entries up to the checkpoint were not recomputed: `ledger verify --full` does."
        )
    # Only when it moved: an auditor with the public key only records nothing (signing needs the private key).
    if head is not None and (since is None or head.seq > since.seq):
        recorded = record_ledger_checkpoint(portal, report)
        if recorded is not None:
            print(f"Signed checkpoint recorded at entry {recorded.seq}: the next `ledger verify` starts after it.")
    return 0


def head_command(args: argparse.Namespace) -> int:
    """Print the newest signed head as one JSON line."""
    head = signed_ledger_head(open_database(args))
    if head is None:
        print("The ledger is empty: there is no signed head yet.")
        return EXIT_ERROR
    print(head.line())
    return 0


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
