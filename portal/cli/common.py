"""Helpers shared by CLI commands: options, opening the database, printing."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from portal.backend.ops.bootstrap import attach_portal
from portal.backend.platform.actors import Actor
from portal.backend.platform.config import Settings, load_settings
from portal.backend.platform.errors import ValidationError
from portal.backend.platform.runtime import Portal
from portal.backend.staff.queries import staff_actor

EXIT_ERROR = 1
EXIT_TAMPERED = 3


def add_common(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options every leaf command takes (also accepted after the command name)."""
    parser.add_argument("--database-url", default=argparse.SUPPRESS, help="SQLAlchemy URL of the database")
    parser.add_argument(
        "--as",
        dest="as_staff",
        default=argparse.SUPPRESS,
        metavar="EMAIL",
        help="act as this staff account (recorded in the audit log); default: the operator's OS user",
    )
    return parser


def settings_for(args: argparse.Namespace) -> Settings:
    """Settings with --database-url applied."""
    return load_settings(database_url=getattr(args, "database_url", None))


def open_database(args: argparse.Namespace, *, require_schema: bool = True) -> Portal:
    """Open the portal for one command; refuse a database whose schema is not current."""
    return attach_portal(settings_for(args), require_schema=require_schema)


def cli_actor(portal: Portal, args: argparse.Namespace) -> Actor:
    """Who acts: the staff member named with --as EMAIL (must hold an active account), else the OS user."""
    email = getattr(args, "as_staff", None)
    if not email:
        return Actor.operator()
    return staff_actor(portal, email=email)


def fmt_time(value: datetime | None) -> str:
    """A time for people: UTC, to the minute."""
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def print_json(data: Any) -> None:
    """Print JSON with times as ISO strings."""
    print(
        json.dumps(
            data, indent=2, ensure_ascii=False, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v)
        )
    )


def print_table(headers: list[str], rows: list[list[Any]]) -> None:
    """A plain, aligned text table."""
    cells = [[str(c) for c in headers]] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, r in enumerate(cells):
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


class Progress:
    """A one-line progress bar on stderr when it is a terminal; silent otherwise (logs, tests, CI)."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.done = total, label, 0
        self.enabled = sys.stderr.isatty() and total > 0

    def update(self, n: int = 1) -> None:
        """Advance and redraw."""
        self.done += n
        if self.enabled:
            filled = int(30 * min(self.done, self.total) / self.total)
            sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}")
            sys.stderr.flush()

    def close(self) -> None:
        """End the line."""
        if self.enabled:
            sys.stderr.write("\n")


def write_output(path: Path, data: bytes) -> None:
    """Write a command's output file, turning an unwritable path into an error a person can act on."""
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise ValidationError(f"Cannot write {path}: {exc.strerror or exc}.") from None
