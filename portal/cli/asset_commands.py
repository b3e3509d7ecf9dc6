"""`assets import | analyze | show | render` and `matching on|off` (vision code is imported only when used)."""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from portal.backend.events.queries import list_events
from portal.backend.platform.errors import NotFound, ValidationError
from portal.backend.platform.runtime import Portal
from portal.cli.common import Progress, add_common, cli_actor, open_database, print_json, print_table, write_output


def register(groups: argparse._SubParsersAction) -> None:
    """Add the assets and matching groups."""
    sub = groups.add_parser("assets", help="photos: import, analyse, inspect").add_subparsers(
        dest="command", metavar="COMMAND", required=True
    )
    imp = add_common(sub.add_parser("import", help="import image files and folders"))
    imp.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    imp.add_argument("--event", help="event name or id the photos belong to")
    imp.set_defaults(handler=import_command)

    an = add_common(sub.add_parser("analyze", help="detect faces (and persons) in pending photos"))
    an.add_argument("--workers", type=int, default=1, help="worker processes (more than one needs PostgreSQL)")
    an.add_argument("--limit", type=int, help="stop after this many photos")
    an.add_argument("--debug-pause-after-claim", type=float, default=0.0, help=argparse.SUPPRESS)
    an.set_defaults(handler=analyze_command)

    show = add_common(sub.add_parser("show", help="an asset with its detections, boxes, links and statuses"))
    show.add_argument("asset_id", type=int, metavar="ID")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_command)

    render = add_common(sub.add_parser("render", help="write a safe rendition with unconsented faces blurred"))
    render.add_argument("asset_id", type=int, metavar="ID")
    which = render.add_mutually_exclusive_group(required=True)
    which.add_argument("--purpose", help="blur every face without valid consent for this purpose")
    which.add_argument("--keep-subject", help="blur every face except this subject's")
    render.add_argument("--out", type=Path, required=True)
    render.set_defaults(handler=render_command)

    matching = add_common(groups.add_parser("matching", help="switch library face matching on or off"))
    matching.add_argument("state", choices=("on", "off"))
    matching.set_defaults(handler=matching_command)


def _event_id(portal: Portal, ref: str | None) -> int | None:
    """An event id from a name or an id."""
    if ref is None:
        return None
    every = list_events(portal)
    found = [e.id for e in every if e.id == int(ref)] if ref.isdigit() else [e.id for e in every if e.name == ref]
    if not found:
        raise NotFound(f"No event called {ref!r}.")
    if len(found) > 1:
        raise ValidationError(f"Several events are called {ref!r}; give the event id instead ({found}).")
    return found[0]


def import_command(args: argparse.Namespace) -> int:
    """Import files and folders; print a summary of imported, duplicate and rejected files."""
    from portal.backend.photos.services import import_photos

    portal = open_database(args)
    event_id = _event_id(portal, args.event)
    done: Counter[str] = Counter()
    bar = Progress(0, "importing")

    def progress(name: str, outcome: str) -> None:
        done[outcome] += 1
        bar.update()
        if outcome == "stopped":
            # The blob store or database itself is failing, so every further file would fail the same way: say
            # what was done so far (each imported file has its row and its blobs); the error follows.
            bar.close()
            print(f"Stopped at {name}: {done['imported']} imported, {done['duplicate']} duplicates before it.")

    summary = import_photos(
        portal, actor=cli_actor(portal, args), files=list(args.paths), event_id=event_id, progress=progress
    )
    bar.close()
    print(
        f"{summary.offered} files: {len(summary.imported)} imported, {len(summary.duplicates)} duplicates, "
        f"{len(summary.rejected)} rejected."
    )
    for path, reason in summary.rejected:
        print(f"  rejected {path}: {reason}")
    return 1 if summary.offered and len(summary.rejected) == summary.offered else 0


def analyze_command(args: argparse.Namespace) -> int:
    """Run the analysis queue."""
    from portal.backend.photos.queries import analysis_counts
    from portal.backend.photos.services import analyse_pending

    portal = open_database(args)
    pending = analysis_counts(portal).pending
    bar = Progress(min(pending, args.limit or pending) if args.workers == 1 else 0, "analysing")
    summary = analyse_pending(
        portal,
        actor=cli_actor(portal, args),
        limit=args.limit,
        workers=args.workers,
        progress=lambda *_: bar.update(1),
        debug_pause_after_claim=args.debug_pause_after_claim,
    )
    bar.close()
    print(summary.person_status)
    print(
        f"Analysed {summary.done} photos ({summary.faces} faces, {summary.persons} persons); "
        f"{summary.failed} could not be analysed."
    )
    return 0


def show_command(args: argparse.Namespace) -> int:
    """Print an asset and its detections."""
    from portal.backend.photos.queries import asset_detail

    portal = open_database(args)
    detail = asset_detail(portal, asset_id=args.asset_id)
    asset, found = detail.asset, detail.detections
    if args.json:
        print_json(
            {
                "asset": asdict(asset),
                "detections": [asdict(d) | {"box": d.box._asdict()} for d in found],
                "uses": [asdict(u) for u in detail.uses],
            }
        )
        return 0
    print(
        f"#{asset.id} {asset.filename} {asset.width}x{asset.height} {asset.analysis_state}"
        f" (detectors: {asset.detectors or '-'})"
    )
    if asset.analysis_error:
        print(f"  error: {asset.analysis_error}")
    print_table(
        ["detection", "kind", "x", "y", "w", "h", "subject", "link", "status", "distance"],
        [
            [
                d.id,
                d.kind,
                *(f"{v:.3f}" for v in d.box),
                (d.subject_id or "")[:8] or None,
                d.link_method,
                d.link_status,
                d.link_distance and f"{d.link_distance:.3f}",
            ]
            for d in found
        ],
    )
    return 0


def render_command(args: argparse.Namespace) -> int:
    """Write a safe rendition."""
    from portal.backend.photos.services import render_rendition

    portal = open_database(args)
    result = render_rendition(
        portal,
        actor=cli_actor(portal, args),
        asset_id=args.asset_id,
        purpose=args.purpose,
        keep_subject=args.keep_subject,
    )
    write_output(args.out, result.data)
    print(f"Wrote {args.out}: {result.blurred} face(s) blurred, {result.kept} kept.")
    return 0


def matching_command(args: argparse.Namespace) -> int:
    """Switch library matching."""
    from portal.backend.photos.services import set_matching

    portal = open_database(args)
    removed = set_matching(portal, actor=cli_actor(portal, args), enabled=args.state == "on")
    if args.state == "on":
        print("Library face matching is on: newly analysed photos keep face templates.")
    else:
        print(f"Library face matching is off: {removed} stored face templates were deleted.")
    return 0
