"""`publications add | list | end` and `takedowns list | close`: where photos are published, and what to take down."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from portal.backend.photos.queries import list_publications, list_takedowns, publish_check
from portal.backend.photos.services import close_task, publish_photo, unpublish_photo
from portal.backend.platform.errors import PublishBlocked
from portal.cli.common import EXIT_ERROR, add_common, cli_actor, fmt_time, open_database, print_json, print_table


def register(groups: argparse._SubParsersAction) -> None:
    """Add the publications and takedowns groups."""
    pub = groups.add_parser("publications", help="where photos are published").add_subparsers(
        dest="command", metavar="COMMAND", required=True
    )
    add = add_common(pub.add_parser("add", help="record that a photo is published (checks consent first)"))
    add.add_argument("asset_id", type=int, metavar="ASSET_ID")
    add.add_argument("--purpose", required=True, help="purpose code, e.g. website")
    add.add_argument("--where", required=True, help="URL or short description of where it is published")
    add.add_argument("--override-reason", help="admins only: publish despite missing consent, for this reason")
    add.set_defaults(handler=add_command)
    show = add_common(pub.add_parser("list", help="current publications"))
    show.add_argument("--all", action="store_true", help="include ended publications")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=list_command)
    end = add_common(pub.add_parser("end", help="record that a publication has ended (closes its takedown task)"))
    end.add_argument("use_id", type=int, metavar="PUB_ID")
    end.set_defaults(handler=end_command)

    tasks = groups.add_parser("takedowns", help="photos to take down, partners to tell").add_subparsers(
        dest="command", metavar="COMMAND", required=True
    )
    tl = add_common(tasks.add_parser("list", help="takedown and notify-partner tasks"))
    tl.add_argument("--open", action="store_true", help="only the open tasks")
    tl.add_argument("--json", action="store_true")
    tl.set_defaults(handler=takedowns_command)
    close = add_common(tasks.add_parser("close", help="record that the partner was told (notify-partner tasks)"))
    close.add_argument("task_id", type=int, metavar="TASK_ID")
    close.add_argument("--note", required=True, help="how and when the partner was told")
    close.set_defaults(handler=close_command)


def add_command(args: argparse.Namespace) -> int:
    """Publish, or say who blocks it."""
    portal = open_database(args)
    try:
        use_id = publish_photo(
            portal,
            actor=cli_actor(portal, args),
            asset_id=args.asset_id,
            purpose=args.purpose,
            where=args.where,
            override_reason=args.override_reason,
        )
    except PublishBlocked as exc:
        print(f"error: {exc}")
        for blocker in exc.blockers:
            print(f"  - {getattr(blocker, 'words', blocker)}")
        return EXIT_ERROR
    print(f"Recorded publication {use_id}: photo #{args.asset_id} for {args.purpose} at {args.where.strip()}.")
    if args.override_reason:
        check = publish_check(portal, asset_id=args.asset_id, purpose=args.purpose)
        if not check.ok:
            print(f"Published despite: {check.sentence()}.")
    return 0


def list_command(args: argparse.Namespace) -> int:
    """Print the publications."""
    rows = list_publications(open_database(args), include_ended=args.all)
    if args.json:
        print_json([asdict(r) for r in rows])
        return 0
    print_table(
        ["id", "photo", "file", "purpose", "where", "since", "until", "override"],
        [
            [r.id, r.asset_id, r.filename, r.purpose, r.place, fmt_time(r.since), fmt_time(r.until), r.override_reason]
            for r in rows
        ],
    )
    return 0


def end_command(args: argparse.Namespace) -> int:
    """End a publication."""
    portal = open_database(args)
    closed = unpublish_photo(portal, actor=cli_actor(portal, args), use_id=args.use_id)
    done = f"; takedown task(s) {', '.join(map(str, closed))} done" if closed else ""
    print(f"Publication {args.use_id} ended{done}.")
    return 0


def takedowns_command(args: argparse.Namespace) -> int:
    """Print the tasks."""
    rows = list_takedowns(open_database(args), open_only=args.open)
    if args.json:
        print_json([asdict(r) | {"open": r.is_open} for r in rows])
        return 0
    print_table(
        ["id", "kind", "photo", "file", "purpose", "where", "why", "since", "closed"],
        [
            [
                r.id,
                r.kind,
                r.asset_id,
                r.filename,
                r.purpose,
                r.place,
                r.cause,
                fmt_time(r.opened_at),
                fmt_time(r.closed_at) if r.closed_at else None,
            ]
            for r in rows
        ],
    )
    return 0


def close_command(args: argparse.Namespace) -> int:
    """Close a notify-partner task."""
    portal = open_database(args)
    task = close_task(portal, actor=cli_actor(portal, args), task_id=args.task_id, note=args.note)
    print(f"Task {task.id} closed: the partner for publication {task.use_id} was told.")
    return 0
