"""`assets import | analyze | show | render` and `matching on|off` (vision code is imported only when used)."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from portal.backend.platform.db.schema import events
from portal.backend.platform.errors import (
    ConfigError,
    DatabaseUnavailable,
    NotFound,
    PortalError,
    ServiceUnavailable,
    ValidationError,
)
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


def _event_id(portal, ref: str | None) -> int | None:  # type: ignore[no-untyped-def]
    """An event id from a name or an id."""
    if ref is None:
        return None
    with portal.db.read() as conn:
        if ref.isdigit():
            found = conn.execute(select(events.c.id).where(events.c.id == int(ref))).scalars().all()
        else:
            found = conn.execute(select(events.c.id).where(events.c.name == ref)).scalars().all()
    if not found:
        raise NotFound(f"No event called {ref!r}.")
    if len(found) > 1:
        raise ValidationError(f"Several events are called {ref!r}; give the event id instead ({found}).")
    return found[0]


def import_command(args: argparse.Namespace) -> int:
    """Import files and folders; print a summary of imported, duplicate and rejected files."""
    from portal.backend.photos.assets import ingest, iter_image_files

    portal = open_database(args)
    event_id = _event_id(portal, args.event)
    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        raise ValidationError(f"No such file or folder: {', '.join(missing)}")
    files = list(iter_image_files(args.paths))
    outcome: Counter[str] = Counter()
    rejected: list[tuple[str, str]] = []
    bar = Progress(len(files), "importing")
    for path in files:
        bar.update()
        try:
            result = ingest(
                portal.db,
                portal.blobs,
                data=path.read_bytes(),
                filename=path.name,
                max_pixels=portal.settings.max_image_pixels,
                event_id=event_id,
            )
        except (ConfigError, ServiceUnavailable, DatabaseUnavailable):
            # The blob store or database itself is failing, so every further file would fail the same way:
            # stop, say what was done so far (each imported file has its row and its blobs) and report the cause.
            bar.close()
            print(f"Stopped at {path}: {outcome['imported']} imported, {outcome['duplicate']} duplicates before it.")
            raise
        except (PortalError, OSError) as exc:
            outcome["rejected"] += 1
            rejected.append((str(path), str(exc)))
            continue
        outcome["imported" if result.created else "duplicate"] += 1
    bar.close()
    print(
        f"{len(files)} files: {outcome['imported']} imported, {outcome['duplicate']} duplicates, "
        f"{outcome['rejected']} rejected."
    )
    for path, reason in rejected:
        print(f"  rejected {path}: {reason}")
    return 1 if files and outcome["rejected"] == len(files) else 0


def analyze_command(args: argparse.Namespace) -> int:
    """Run the analysis queue."""
    from portal.backend.photos.analysis import run_worker, run_workers
    from portal.backend.photos.assets import count_by_state

    portal = open_database(args)
    if args.workers < 1:
        raise ValidationError("--workers must be at least 1.")
    if args.workers > 1 and portal.db.dialect != "postgresql":
        raise ValidationError("Several workers need PostgreSQL (SQLite has one writer); use --workers 1.")
    with portal.db.read() as conn:
        pending = count_by_state(conn).get("pending", 0)
    if args.workers > 1:
        summary = run_workers(portal.settings, workers=args.workers)
    else:
        bar = Progress(min(pending, args.limit or pending), "analysing")
        summary = run_worker(
            portal.db,
            portal.blobs,
            portal.settings,
            limit=args.limit,
            progress=lambda *_: bar.update(1),
            pause_after_claim=args.debug_pause_after_claim,
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
    from portal.backend.photos.assets import asset_detections, get_asset

    portal = open_database(args)
    with portal.db.read() as conn:
        asset = get_asset(conn, args.asset_id)
        found = asset_detections(conn, asset.id)
    if args.json:
        print_json({"asset": asset.__dict__, "detections": found})
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
                d["id"],
                d["kind"],
                *(f"{d['box'][k]:.3f}" for k in "xywh"),
                (d["subject_id"] or "")[:8] or None,
                d["link_method"],
                d["link_status"],
                d["link_distance"] and f"{d['link_distance']:.3f}",
            ]
            for d in found
        ],
    )
    return 0


def render_command(args: argparse.Namespace) -> int:
    """Write a safe rendition."""
    from portal.backend.photos.renditions import safe_rendition

    portal = open_database(args)
    result = safe_rendition(
        portal.db,
        portal.blobs,
        asset_id=args.asset_id,
        purpose=args.purpose,
        keep_subject=args.keep_subject,
        max_pixels=portal.settings.max_image_pixels,
    )
    write_output(args.out, result.data)
    print(f"Wrote {args.out}: {result.blurred} face(s) blurred, {result.kept} kept.")
    return 0


def matching_command(args: argparse.Namespace) -> int:
    """Switch library matching."""
    from portal.backend.photos.biometrics import set_matching_enabled

    portal = open_database(args)
    removed = set_matching_enabled(portal.db, enabled=args.state == "on", actor=cli_actor(portal, args).ref)
    if args.state == "on":
        print("Library face matching is on: newly analysed photos keep face templates.")
    else:
        print(f"Library face matching is off: {removed} stored face templates were deleted.")
    return 0
