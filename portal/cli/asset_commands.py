"""`assets import | analyze | show | render | retention | delete` and `matching on | off | run` (vision code is
imported only when used)."""

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

    retention = add_common(sub.add_parser("retention", help="photos past the retention period (R17), to review"))
    retention.add_argument("--json", action="store_true")
    retention.set_defaults(handler=retention_command)

    remove = add_common(
        sub.add_parser("delete", help="delete a photo past retention: files, renditions, detections (manager)")
    )
    remove.add_argument("asset_id", type=int, metavar="ASSET_ID")
    remove.set_defaults(handler=delete_command)

    matching = groups.add_parser("matching", help="library face matching: switch it on or off, run the batch")
    msub = matching.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for state in ("on", "off"):
        add_common(msub.add_parser(state, help=f"switch library face matching {state}")).set_defaults(
            handler=matching_command, state=state
        )
    run = add_common(
        msub.add_parser("run", help="compare faces of unmatched photos with the people enrolled for face matching")
    )
    run.add_argument("--event", help="every photo of this event (name or id), matched or not")
    run.add_argument("--workers", type=int, default=1, help="processes computing face descriptors")
    run.add_argument("--limit", type=int, help="compare at most this many photos (oldest first); the rest wait")
    run.add_argument("--json", action="store_true")
    run.set_defaults(handler=matching_run_command)


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
        print(
            "Library face matching is on: `matching run` (and `jobs run`) compares the faces of new photos with the "
            "people who gave face-matching consent with a selfie. No face template of a photo is stored."
        )
    else:
        print(
            "Library face matching is off: the matching batch does nothing and the forms no longer offer it"
            + (f"; {removed} face templates left by an older version were deleted." if removed else ".")
        )
    return 0


def matching_run_command(args: argparse.Namespace) -> int:
    """Run the matching batch."""
    from portal.backend.photos.services import run_matching

    portal = open_database(args)
    event_id = _event_id(portal, args.event)
    bar = Progress(0, "matching") if not args.json else None
    result = run_matching(
        portal,
        actor=cli_actor(portal, args),
        event_id=event_id,
        workers=args.workers,
        limit=args.limit,
        progress=(lambda n: bar.update(n)) if bar else None,
    )
    if bar:
        bar.close()
    if args.json:
        print_json(asdict(result))
        return 0
    if not result.enabled:
        print("Library face matching is off: nothing was compared (an admin can switch it on with `matching on`).")
        return 0
    print(
        f"Matched {result.photos} photo(s): {result.faces} face(s) against {result.enrolled} enrolled person(s); "
        f"{result.suggested} suggestion(s), {result.confirmed} confirmed automatically; "
        f"{result.failed} photo(s) could not be read."
        + (f" {result.left} more wait for the next run." if result.left else "")
    )
    return 0


def retention_command(args: argparse.Namespace) -> int:
    """List the photos past retention."""
    from portal.backend.photos.queries import past_retention

    portal = open_database(args)
    found = past_retention(portal)
    if args.json:
        print_json({"period_days": found.period_days, "photos": [asdict(p) for p in found.photos]})
        return 0
    if found.period_days is None:
        print("No purpose has a retention period, so no photo is ever past retention.")
        return 0
    print_table(
        ["asset", "file", "date", "age (days)", "published"],
        [
            [p.asset_id, p.filename, f"{p.date:%Y-%m-%d}", p.age_days, "; ".join(p.publications) or None]
            for p in found.photos
        ],
    )
    print(
        f"\n{len(found.photos)} photo(s) past the retention period of {found.period_days} days "
        "(flagged by `jobs run`); delete one with `assets delete ID --as EMAIL`."
    )
    return 0


def delete_command(args: argparse.Namespace) -> int:
    """Delete a photo past retention."""
    from portal.backend.photos.services import delete_photo

    portal = open_database(args)
    done = delete_photo(portal, actor=cli_actor(portal, args), asset_id=args.asset_id)
    if done.already:
        print(f"Photo {args.asset_id} was already deleted; its files are removed.")
    else:
        print(
            f"Deleted photo {args.asset_id}: its files, renditions and {done.detections} detection(s) are gone; "
            "the consent ledger is unchanged."
        )
    return 0
