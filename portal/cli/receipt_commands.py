"""`receipts verify FILE`: check a consent receipt a person holds."""

from __future__ import annotations

import argparse
from pathlib import Path

from portal.backend.consent.queries import verify_receipt
from portal.backend.platform.errors import ValidationError
from portal.cli.common import EXIT_ERROR, add_common, open_database


def register(groups: argparse._SubParsersAction) -> None:
    """Add the receipts group."""
    sub = groups.add_parser("receipts", help="consent receipts").add_subparsers(
        dest="command", metavar="COMMAND", required=True
    )
    ver = add_common(
        sub.add_parser(
            "verify",
            help="check a receipt JSON: Kantara v1.1 schema, the organisation's signature, and that its ledger "
            "entries are in the intact chain; exit 0 when it holds, 1 naming what does not",
        )
    )
    ver.add_argument("file", type=Path, metavar="FILE", help="the receipt's JSON file")
    ver.set_defaults(handler=verify)


def verify(args: argparse.Namespace) -> int:
    """Verify one receipt file."""
    portal = open_database(args)  # first: without a database nothing can be checked, whatever the file holds
    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"Cannot read {args.file}: {getattr(exc, 'strerror', None) or exc}.") from None
    result = verify_receipt(portal, text=text)
    if not result.ok:
        print(f"RECEIPT NOT VALID: {result.problem}.")
        return EXIT_ERROR
    print(
        f"Receipt {result.receipt_id} is genuine: signed with the organisation's key {result.key_id}, "
        f"and its {result.entries} ledger entr{'y is' if result.entries == 1 else 'ies are'} in the intact chain."
    )
    return 0
