"""`models fetch | status`: the person-detection weights, downloaded only when an operator asks."""

from __future__ import annotations

import argparse

from portal.backend.photos.queries import person_detection_status
from portal.backend.photos.services import fetch_person_model
from portal.backend.platform.actors import Actor
from portal.cli.common import settings_for


def register(groups: argparse._SubParsersAction) -> None:
    """Add the models group."""
    models = groups.add_parser(
        "models", help="model files: download the person-detection weights into the data folder"
    ).add_subparsers(dest="command", metavar="COMMAND", required=True)
    fetch = models.add_parser(
        "fetch",
        help="download the official Ultralytics YOLOv8n weights (pinned release, SHA-256 checked) into "
        "<data dir>/models/, which turns person detection on",
    )
    fetch.add_argument("--force", action="store_true", help="download again even if the file is already there")
    fetch.add_argument("--url", default=None, help="download from this address instead (a mirror)")
    fetch.add_argument("--sha256", default=None, help="expected SHA-256 of the file at --url (default: the pinned one)")
    fetch.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the server (default 30)")
    fetch.add_argument("--database-url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    fetch.set_defaults(handler=models_fetch)
    status = models.add_parser("status", help="say whether person detection is on, and with which file")
    status.add_argument("--database-url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    status.set_defaults(handler=models_status)


def models_fetch(args: argparse.Namespace) -> int:
    """Download and verify the weights; errors (offline, wrong hash, disk full) are one line and exit 1."""
    settings = settings_for(args)
    path, downloaded = fetch_person_model(
        settings, actor=Actor.operator(), force=args.force, url=args.url, sha256=args.sha256, timeout=args.timeout
    )
    print(f"{'downloaded' if downloaded else 'already present'}: {path}")
    print(person_detection_status(settings))
    return 0


def models_status(args: argparse.Namespace) -> int:
    """Print the person-detection status line."""
    print(person_detection_status(settings_for(args)))
    return 0
