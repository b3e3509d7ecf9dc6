"""`outbox send|list|retry`: deliver the queued e-mail over SMTP and see what was sent, waits or failed."""

from __future__ import annotations

import argparse

from portal.backend.ops.queries import OUTBOX_STATUSES, outbox_overview
from portal.backend.ops.services import retry_failed_mail, send_outbox
from portal.cli.common import add_common, cli_actor, fmt_time, open_database, print_json, print_table


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def register(groups: argparse._SubParsersAction) -> None:
    """Add the outbox group."""
    sub = groups.add_parser("outbox", help="e-mail: send what is queued, list what was sent or failed").add_subparsers(
        dest="command", metavar="COMMAND", required=True
    )
    send = add_common(sub.add_parser("send", help="deliver the due e-mails over SMTP (PORTAL_SMTP_*)"))
    send.add_argument("--limit", type=_positive, default=None, help="try at most N e-mails this run")
    send.set_defaults(handler=send_command)
    listing = add_common(sub.add_parser("list", help="the newest outbox rows: recipient, kind, status, error"))
    listing.add_argument("--status", choices=OUTBOX_STATUSES, default=None, help="only rows in this status")
    listing.add_argument("--limit", type=_positive, default=200, help="at most N rows (default 200)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=list_command)
    retry = add_common(sub.add_parser("retry", help="queue failed e-mails again (all, or the ids given)"))
    retry.add_argument("ids", nargs="*", type=_positive, metavar="ID", help="outbox ids (default: every failed one)")
    retry.set_defaults(handler=retry_command)


def send_command(args: argparse.Namespace) -> int:
    """Send the due e-mails once."""
    portal = open_database(args)
    report = send_outbox(portal, actor=cli_actor(portal, args), limit=args.limit)
    if not report.configured:
        print(
            "E-mail is not configured (PORTAL_SMTP_HOST is empty): nothing was sent; queued e-mails stay pending "
            "until it is."
        )
        return 0  # not an error: an embedded portal without e-mail is a valid setup (cron stays quiet)
    print(
        f"Sent {report.sent} e-mail(s); {report.retrying} will be tried again later, {report.failed} failed for good, "
        f"{report.cancelled} could no longer be sent, {report.lost} taken over by another sender."
    )
    return 0


def list_command(args: argparse.Namespace) -> int:
    """Print the outbox (never a body or a link)."""
    overview = outbox_overview(open_database(args), status=args.status, limit=args.limit)
    if args.json:
        print_json(
            {
                "mailConfigured": overview.mail_configured,
                "counts": overview.counts,
                "messages": [m.__dict__ for m in overview.messages],
            }
        )
        return 0
    if not overview.mail_configured:
        print("E-mail is not configured (PORTAL_SMTP_HOST is empty): e-mails wait here until it is.")
    print(", ".join(f"{n} {s}" for s, n in overview.counts.items() if n) or "The outbox is empty.")
    if overview.messages:
        print_table(
            ["id", "kind", "recipient", "status", "tries", "created", "sent", "next try", "error"],
            [
                [
                    m.id,
                    m.kind,
                    m.recipient,
                    m.status,
                    m.attempts,
                    fmt_time(m.created_at),
                    fmt_time(m.sent_at),
                    fmt_time(m.next_attempt_at),
                    m.last_error,
                ]
                for m in overview.messages
            ],
        )
    return 0


def retry_command(args: argparse.Namespace) -> int:
    """Queue failed e-mails again."""
    portal = open_database(args)
    count = retry_failed_mail(portal, actor=cli_actor(portal, args), message_ids=args.ids or None)
    print(f"{count} failed e-mail(s) queued again; `outbox send` delivers them.")
    return 0
