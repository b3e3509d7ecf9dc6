"""`subjects link | match`: link a detected face to a person by hand, and suggest library faces for a person."""

from __future__ import annotations

import argparse

from portal.cli.common import add_common, cli_actor, open_database, print_table


def add_face_commands(sub: argparse._SubParsersAction) -> None:
    """Add `link` and `match` to the subjects group."""
    link = add_common(sub.add_parser("link", help="link a detected face or person to a subject by hand"))
    link.add_argument("subject_id", metavar="SUBJECT_ID")
    link.add_argument("detection_id", type=int, metavar="DETECTION_ID")
    link.add_argument(
        "--move", action="store_true", help="move a face already confirmed as someone else to this subject"
    )
    link.set_defaults(handler=link_command)

    match = add_common(sub.add_parser("match", help="suggest library faces for a subject with a face template"))
    match.add_argument("subject_id", metavar="ID")
    match.add_argument("--event", type=int, help="only photos of this event id")
    match.set_defaults(handler=match_command)


def link_command(args: argparse.Namespace) -> int:
    """Link a detection to a subject by hand."""
    from portal.backend.photos.services import link_face

    portal = open_database(args)
    # A face confirmed as someone else raises FaceAlreadyLinked naming them (exit 1) unless --move is given.
    done = link_face(
        portal,
        actor=cli_actor(portal, args),
        detection_id=args.detection_id,
        subject_id=args.subject_id,
        move=args.move,
    )
    before = done.previous_subject_id
    moved = f" (moved from subject {before})" if before not in (None, done.subject_id) else ""
    print(f"Detection {args.detection_id} is linked to subject {args.subject_id} (manual, confirmed){moved}.")
    return 0


def match_command(args: argparse.Namespace) -> int:
    """Store and print ranked suggestions for a subject."""
    from portal.backend.photos.services import suggest_matches

    portal = open_database(args)
    found = suggest_matches(portal, actor=cli_actor(portal, args), subject_id=args.subject_id, event_id=args.event)
    print_table(
        ["detection", "asset", "distance", "status"],
        [[s.detection_id, s.asset_id, f"{s.distance:.3f}", s.status] for s in found],
    )
    print(f"\n{len(found)} suggestion(s); staff confirm them on the asset page or with `subjects link`.")
    return 0
