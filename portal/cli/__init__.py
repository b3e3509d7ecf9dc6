"""The admin CLI: `python -m portal <group> <command>`; each group lives in its own module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from portal.backend.platform.errors import PortalError, database_refusal
from portal.cli import (
    asset_commands,
    audit_commands,
    db_commands,
    doctor_commands,
    hosted_commands,
    job_commands,
    ledger_commands,
    model_commands,
    outbox_commands,
    publication_commands,
    purpose_commands,
    receipt_commands,
    report_commands,
    risk_commands,
    subject_commands,
)
from portal.cli.common import EXIT_ERROR

GROUPS = (
    db_commands,
    ledger_commands,
    receipt_commands,
    subject_commands,
    purpose_commands,
    asset_commands,
    publication_commands,
    risk_commands,
    job_commands,
    outbox_commands,
    report_commands,
    audit_commands,
    hosted_commands,
    model_commands,
    doctor_commands,
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser; every command accepts --database-url."""
    parser = argparse.ArgumentParser(
        prog="python -m portal",
        description="Admin commands of the image-consent portal.",
    )
    parser.add_argument(
        "--database-url",
        default=argparse.SUPPRESS,
        help="SQLAlchemy URL of the database (default: PORTAL_DATABASE_URL or sqlite:///data/portal.db)",
    )
    groups = parser.add_subparsers(dest="group", metavar="GROUP", required=True)
    for module in GROUPS:
        module.register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors a person can fix are printed plainly with a non-zero exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except PortalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted; nothing after the last completed step was saved", file=sys.stderr)
        return 130
    except Exception as exc:
        first = database_refusal(exc)
        if first is None:
            raise
        print(f"error: the database refused the operation: {first}", file=sys.stderr)
        return EXIT_ERROR
