"""`jobs run`: the daily jobs (safe to run twice and from several machines)."""

from __future__ import annotations

import argparse

from portal.backend.ops.services import run_daily_jobs
from portal.cli.common import add_common, cli_actor, open_database


def register(groups: argparse._SubParsersAction) -> None:
    """Add the jobs group."""
    sub = groups.add_parser("jobs", help="scheduled jobs").add_subparsers(
        dest="command", metavar="COMMAND", required=True
    )
    add_common(
        sub.add_parser("run", help="expire lapsed consents, queue renewals and digests, check takedown tasks")
    ).set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Run all jobs once."""
    portal = open_database(args)
    report = run_daily_jobs(portal, actor=cli_actor(portal, args))
    print(
        f"Expired {report.expired} consent(s); queued {report.renewal_requests} renewal request(s) and "
        f"{report.digests} manager digest(s); {report.takedowns_opened} takedown task(s) opened and "
        f"{report.takedowns_done} closed by the safety net; "
        f"{report.snapshots} coverage snapshot row(s); {report.receipts_issued} pending receipt(s) issued."
    )
    print(
        f"{report.past_retention} photo(s) newly past retention; "
        + (
            "face matching is off."
            if report.photos_matched is None
            else f"{report.photos_matched} photo(s) compared with the people enrolled for face matching"
            + (
                f"; {report.photos_left_to_match} more wait for the next runs (or `matching run`)."
                if report.photos_left_to_match
                else "."
            )
        )
    )
    return 0
