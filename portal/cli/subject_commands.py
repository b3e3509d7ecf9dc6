"""`subjects add | withdraw | renew | show | list | personal-link | revoke-links | export | record |
erase | merge | duplicates` (and `link`, `match` from face_commands)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from portal.backend.consent.queries import get_receipt, list_purposes, purpose_titles
from portal.backend.consent.services import Decision, change_consent, issue_receipt, withdraw_everything
from portal.backend.people.queries import likely_duplicates, list_subjects
from portal.backend.people.services import (
    STAFF_METHODS,
    consent_records,
    create_personal_link,
    erase_subject,
    export_subject,
    merge_subjects,
    method_label,
    register_subject,
    revoke_personal_links,
    view_subject,
)
from portal.backend.platform.errors import PortalError, ValidationError
from portal.backend.platform.runtime import Portal
from portal.cli.common import add_common, cli_actor, fmt_time, open_database, print_json, print_table, write_output
from portal.cli.face_commands import add_face_commands


def register(groups: argparse._SubParsersAction) -> None:
    """Add the subjects group."""
    sub = groups.add_parser("subjects", help="data subjects and their consents").add_subparsers(
        dest="command", metavar="COMMAND", required=True
    )
    add = add_common(sub.add_parser("add", help="register a person with their choices (e.g. from a paper form)"))
    add.add_argument("--name", required=True)
    add.add_argument("--email")
    add.add_argument("--phone")
    add.add_argument("--locale", default="en", help="language of the texts they agreed to (en, sv)")
    add.add_argument("--consent", nargs="+", action="extend", default=[], metavar="CODE", help="purposes given")
    add.add_argument("--refuse", nargs="+", action="extend", default=[], metavar="CODE", help="purposes refused")
    add.add_argument("--channel", choices=("paper", "staff"), default="staff")
    add.add_argument("--event", type=int, help="event id the consent was collected at")
    born = add.add_mutually_exclusive_group()
    born.add_argument("--birth-year", type=int, help="year of birth (with --birth-month for a fairer age)")
    born.add_argument("--birth-date", type=_iso_date, metavar="YYYY-MM-DD", help="full date of birth")
    add.add_argument("--birth-month", type=int, choices=range(1, 13), metavar="1-12", help="with --birth-year")
    add.add_argument("--minor", action="store_true", help="below the age of digital consent")
    add.add_argument("--guardian", help="guardian's name (required for minors)")
    add.add_argument(
        "--guardian-verification",
        choices=STAFF_METHODS,
        help="how staff verified the guardian (required for minors): " + ", ".join(STAFF_METHODS),
    )
    add.add_argument("--note", help="short evidence note, e.g. where the signed paper form is filed")
    add.add_argument("--selfie", type=Path, help="with --consent face_matching: enrol a face template (not stored)")
    add.add_argument(
        "--scan",
        type=Path,
        metavar="FILE",
        help="with --channel paper: the signed form's scan (PDF, JPEG or PNG, at most 10 MB), kept as proof",
    )
    add.add_argument(
        "--signed-on",
        type=_iso_date,
        metavar="YYYY-MM-DD",
        help="with --scan: the date written on the paper form (default today)",
    )
    add.add_argument("--json", action="store_true")
    add.set_defaults(handler=add_command)

    export = add_common(sub.add_parser("export", help="everything about a person in one ZIP (access, portability)"))
    export.add_argument("subject_id", metavar="ID")
    export.add_argument("--out", type=Path, required=True, metavar="FILE.zip")
    export.set_defaults(handler=export_command)

    record = add_common(
        sub.add_parser("record", help="a person's consent events as ISO/IEC TS 27560 records (JSON-LD, W3C DPV)")
    )
    record.add_argument("subject_id", metavar="ID")
    record.add_argument("--format", choices=("iso27560",), default="iso27560", help="record format (iso27560)")
    record.add_argument("--out", type=Path, metavar="FILE.jsonld", help="write to this file instead of stdout")
    record.set_defaults(handler=record_command)

    erase = add_common(sub.add_parser("erase", help="erase a person: blur them out of images, drop personal data"))
    erase.add_argument("subject_id", metavar="ID")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)")
    erase.set_defaults(handler=erase_command)

    merge = add_common(
        sub.add_parser("merge", help="merge a duplicate (DROP) into the person kept (KEEP); both histories stay")
    )
    merge.add_argument("keep_id", metavar="KEEP")
    merge.add_argument("drop_id", metavar="DROP")
    merge.add_argument("--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)")
    merge.set_defaults(handler=merge_command)
    dups = add_common(sub.add_parser("duplicates", help="likely duplicates: the same e-mail, or name and event"))
    dups.add_argument("--json", action="store_true")
    dups.set_defaults(handler=duplicates_command)

    wd = add_common(sub.add_parser("withdraw", help="withdraw consent for one or more purposes, or all"))
    wd.add_argument("subject_id", metavar="ID")
    which = wd.add_mutually_exclusive_group(required=True)
    which.add_argument("--purpose", nargs="+", action="extend", metavar="CODE")
    which.add_argument("--all", action="store_true")
    wd.add_argument("--channel", choices=("paper", "staff"), default="staff")
    wd.set_defaults(handler=withdraw_command)

    renew = add_common(
        sub.add_parser("renew", help="renew consent for a purpose under its current text (after a text was replaced)")
    )
    renew.add_argument("subject_id", metavar="ID")
    renew.add_argument("--purpose", required=True, nargs="+", action="extend", metavar="CODE")
    renew.add_argument("--channel", choices=("paper", "staff"), default="staff")
    renew.set_defaults(handler=renew_command)

    show = add_common(sub.add_parser("show", help="a subject's current consents and history"))
    show.add_argument("subject_id", metavar="ID")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_command)

    lst = add_common(sub.add_parser("list", help="subjects with their status per purpose"))
    lst.add_argument("--search", default="")
    lst.add_argument("--limit", type=int, default=50)
    lst.set_defaults(handler=list_command)

    link = add_common(
        sub.add_parser("personal-link", help="make a new personal link for a subject (their older links stop working)")
    )
    link.add_argument("subject_id", metavar="ID")
    link.add_argument("--keep-older", action="store_true", help="keep the subject's older links working")
    link.set_defaults(handler=link_command)
    revoke = add_common(sub.add_parser("revoke-links", help="withdraw every personal link of a subject"))
    revoke.add_argument("subject_id", metavar="ID")
    revoke.set_defaults(handler=revoke_links_command)

    # `subjects link` and `subjects match` belong to the photos domain; their commands live beside it.
    add_face_commands(sub)


def add_command(args: argparse.Namespace) -> int:
    """Register a subject; all choices are recorded in the same transaction or none are."""
    overlap = sorted(set(args.consent) & set(args.refuse))
    if overlap:
        raise ValidationError(f"Purpose {overlap[0]!r} is both given and refused; choose one.")
    if args.birth_date is not None and args.birth_month is not None:
        raise ValidationError("--birth-date already holds the month: leave out --birth-month.")
    scan = None
    if args.scan is not None:
        if args.channel != "paper":
            raise ValidationError("A scan is the proof of a paper form: add --channel paper.")
        try:
            scan = args.scan.read_bytes()
        except OSError as exc:
            raise ValidationError(f"Cannot read the scan {args.scan}: {exc.strerror}.") from None
    elif args.signed_on is not None:
        raise ValidationError("--signed-on goes with --scan (the signed paper form).")
    selfie = None
    if args.selfie is not None:
        if "face_matching" not in args.consent:
            raise ValidationError("A selfie is only used with face-matching consent: add --consent face_matching.")
        try:
            selfie = args.selfie.read_bytes()
        except OSError as exc:
            raise ValidationError(f"Cannot read the selfie {args.selfie}: {exc.strerror}.") from None
    portal = open_database(args)
    choices = {code: True for code in args.consent} | {code: False for code in args.refuse}
    result = register_subject(
        portal,
        actor=cli_actor(portal, args),
        channel=args.channel,
        name=args.name,
        choices=choices,
        email=args.email,
        phone=args.phone,
        locale=args.locale,
        birth_year=args.birth_date.year if args.birth_date else args.birth_year,
        birth_month=args.birth_date.month if args.birth_date else args.birth_month,
        birth_day=args.birth_date.day if args.birth_date else None,
        is_minor=args.minor,
        guardian_name=args.guardian,
        guardian_verification=args.guardian_verification,
        event_id=args.event,
        selfie=selfie,
        scan=scan,
        signed_on=args.signed_on,
        note=args.note,
    )
    del selfie  # the selfie is used once, for the template, and kept nowhere
    receipt = _receipt_state(portal, result.receipt_id)
    if args.json:
        print_json(
            {
                "subject_id": result.subject.id,
                "entries": [e.entry_id for e in result.entries],
                "template_enrolled": result.template_enrolled,
                "receipt": result.receipt_id if receipt == "issued" else None,
                "personal_link": result.link_url,
                "emailed": result.emailed,
                **({"scan_sha256": result.scan_sha256} if result.scan_sha256 else {}),
            }
        )
    else:
        print(
            f"Registered {result.subject.display_name} as {result.subject.id} with {len(result.entries)} consent "
            "entries" + ("; face template enrolled, selfie discarded." if result.template_enrolled else ".")
        )
    return 0


def _iso_date(text: str) -> date:
    """An argparse type for YYYY-MM-DD dates."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2025-06-01") from None


def withdraw_command(args: argparse.Namespace) -> int:
    """Withdraw purposes or everything, with a receipt."""
    portal = open_database(args)
    actor = cli_actor(portal, args)
    if args.all:
        change = withdraw_everything(portal, actor=actor, subject_id=args.subject_id, channel=args.channel)
        if not change.entries:
            print("No consent is currently given; nothing was withdrawn.")
            return 0
    else:
        change = change_consent(
            portal,
            actor=actor,
            subject_id=args.subject_id,
            decisions=[Decision(purpose=code, action="withdrawn") for code in dict.fromkeys(args.purpose)],
            channel=args.channel,
        )
    print(f"Withdrawn: {len(change.entries)} consent(s) for subject {args.subject_id}.")
    if _receipt_state(portal, change.receipt_id) == "issued":
        print(f"Receipt {change.receipt_id} stored (PDF and JSON).")
    return 0


def renew_command(args: argparse.Namespace) -> int:
    """Record `renewed` under the purpose's current text version, with a receipt."""
    portal = open_database(args)
    change = change_consent(
        portal,
        actor=cli_actor(portal, args),
        subject_id=args.subject_id,
        decisions=[Decision(purpose=code, action="renewed") for code in dict.fromkeys(args.purpose)],
        channel=args.channel,
    )
    # Entries come back in the order of the decisions.
    codes = list(dict.fromkeys(args.purpose))
    versions = ", ".join(f"{c} (text version {e.text_version})" for c, e in zip(codes, change.entries, strict=True))
    print(f"Renewed for subject {args.subject_id}: {versions}.")
    if _receipt_state(portal, change.receipt_id) == "issued":
        print(f"Receipt {change.receipt_id} stored (PDF and JSON).")
    return 0


def _receipt_state(portal: Portal, receipt_id: str | None) -> str | None:
    """The state of a change's receipt, made now (the CLI is no page request: the operator gets the files at once);
    a receipt that could not be made is reported, the consent stands."""
    if receipt_id is None:
        return None
    try:
        issue_receipt(portal, receipt_id=receipt_id)
    except PortalError:
        pass  # marked failed with the reason, reported below
    receipt = get_receipt(portal, receipt_id=receipt_id)
    if receipt is not None and receipt.state != "issued":
        print(
            f"warning: the consent is recorded, but the receipt could not be made yet: {receipt.error}; "
            "`python -m portal jobs run` tries again.",
            file=sys.stderr,
        )
    return None if receipt is None else receipt.state


def show_command(args: argparse.Namespace) -> int:
    """Print status and history (an audited view, like the Subjects page)."""
    portal = open_database(args)
    detail = view_subject(portal, actor=cli_actor(portal, args), subject_id=args.subject_id)
    subject = detail.subject
    if args.json:
        print_json(
            {
                "subject": subject.__dict__,
                "consents": [s.__dict__ | {"allowed": s.allowed} for s in detail.statuses],
                "ledger": [h.entry.__dict__ | {"purpose_code": h.purpose_code} for h in detail.history],
                "receipts": [r.__dict__ for r in detail.receipts],
            }
        )
        return 0
    print(f"{subject.display_name or '(erased)'}  id {subject.id}")
    print(f"e-mail {subject.email or '-'}, language {subject.locale}, registered {fmt_time(subject.created_at)}")
    if subject.is_minor:
        print(f"minor; guardian {subject.guardian_name} (verified: {method_label(subject.guardian_verification)})")
    print()
    titles = purpose_titles(portal)  # the title for people, the code for the --purpose options
    print_table(
        ["purpose", "image", "status", "since", "valid until", "text v."],
        [
            [
                f"{titles.get(s.purpose_code, s.purpose_code)} ({s.purpose_code})",
                s.scope_asset_id or "all",
                s.status,
                fmt_time(s.since),
                fmt_time(s.valid_until),
                s.text_version,
            ]
            for s in detail.statuses
        ],
    )
    print()
    print_table(
        ["seq", "time", "purpose", "action", "channel", "actor"],
        [
            [
                h.entry.seq,
                fmt_time(h.entry.recorded_at),
                titles.get(h.purpose_code, h.purpose_code),
                h.entry.action,
                h.entry.channel,
                h.entry.actor,
            ]
            for h in detail.history
        ],
    )
    return 0


def list_command(args: argparse.Namespace) -> int:
    """Print subjects with their status per purpose."""
    portal = open_database(args)
    codes = [p.code for p in list_purposes(portal)]
    found = list_subjects(portal, now=datetime.now(UTC), search=args.search, limit=args.limit)
    print_table(
        ["id", "name", *codes],
        [[r.id, r.name, *[r.consents.get(c, "unknown") for c in codes]] for r in found.rows],
    )
    print(f"\n{len(found.rows)} of {found.total} subjects shown.")
    return 0


def link_command(args: argparse.Namespace) -> int:
    """Print a fresh personal link (audited, like the Subjects page)."""
    portal = open_database(args)
    print(
        create_personal_link(
            portal, actor=cli_actor(portal, args), subject_id=args.subject_id, keep_older=args.keep_older
        )
    )
    return 0


def revoke_links_command(args: argparse.Namespace) -> int:
    """Withdraw a subject's personal links (a lost or shared link); audited."""
    portal = open_database(args)
    revoked = revoke_personal_links(portal, actor=cli_actor(portal, args), subject_id=args.subject_id)
    print(f"Withdrew {revoked} active personal link(s) of {args.subject_id}.")
    return 0


def export_command(args: argparse.Namespace) -> int:
    """Write the person's data export."""
    portal = open_database(args)
    data = export_subject(portal, actor=cli_actor(portal, args), subject_id=args.subject_id)
    write_output(args.out, data)
    print(f"Wrote {args.out} ({len(data) / 1024:.0f} KiB).")
    return 0


def record_command(args: argparse.Namespace) -> int:
    """Print (or write) the person's consent records; the read is audited like `subjects show`."""
    portal = open_database(args)
    document = consent_records(portal, actor=cli_actor(portal, args), subject_id=args.subject_id)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if args.out is None:
        sys.stdout.write(text)
        return 0
    write_output(args.out, text.encode())
    print(f"Wrote {args.out} ({len(document['dpv:hasRecordOfActivity'])} record(s)).")
    return 0


def erase_command(args: argparse.Namespace) -> int:
    """Erase a person after confirmation."""
    portal = open_database(args)
    subject_id = args.subject_id
    if not args.yes:
        if not sys.stdin.isatty():
            raise ValidationError("Erasure cannot be undone; pass --yes to confirm when no terminal is attached.")
        # The prompt names the id only: showing the name would be a view of personal data of its own.
        typed = input(f"Erase subject {subject_id} for good? Type the first 8 characters of the id: ")
        if typed.strip() != subject_id[:8]:
            raise ValidationError("Not confirmed; nothing was erased.")
    report = erase_subject(portal, actor=cli_actor(portal, args), subject_id=subject_id)
    print(
        f"Erased {subject_id}: {report.consents_withdrawn} consent(s) withdrawn, {report.images_redacted} image(s) "
        f"redacted, {report.renditions_deleted} rendition(s) deleted, {report.templates_deleted} template(s) "
        f"deleted, {report.scans_deleted} paper scan(s) deleted, {report.takedown_tasks} takedown task(s) queued. "
        "The pseudonymous ledger entries remain as proof."
    )
    return 0


def merge_command(args: argparse.Namespace) -> int:
    """Merge a duplicate into the person kept, after confirmation; audited."""
    portal = open_database(args)
    if not args.yes:
        if not sys.stdin.isatty():
            raise ValidationError("A merge cannot be undone; pass --yes to confirm when no terminal is attached.")
        typed = input(f"Merge {args.drop_id} into {args.keep_id} for good? Type the first 8 characters of DROP: ")
        if typed.strip() != args.drop_id[:8]:
            raise ValidationError("Not confirmed; nothing was merged.")
    result = merge_subjects(portal, actor=cli_actor(portal, args), keep_id=args.keep_id, drop_id=args.drop_id)
    print(
        f"Merged {result.drop_id} into {result.keep_id}: {len(result.entries)} ledger entr(y/ies), "
        f"{result.faces_moved} face(s) moved, {result.links_revoked} link(s) withdrawn."
    )
    return 0


def duplicates_command(args: argparse.Namespace) -> int:
    """Print groups of likely duplicates."""
    portal = open_database(args)
    groups = likely_duplicates(portal)
    if args.json:
        print_json(
            [
                {
                    "reason": g.reason,
                    "people": [
                        {
                            "id": p.id,
                            "name": p.name,
                            "email": p.email,
                            "email_confirmed": p.email_confirmed,
                            "minor": p.minor,
                            "event_id": p.event_id,
                            "registered": p.registered.isoformat(),
                        }
                        for p in g.people
                    ],
                }
                for g in groups
            ]
        )
        return 0
    for n, g in enumerate(groups, 1):
        print(f"Group {n} (same {'e-mail' if g.reason == 'email' else 'name and event'}):")
        print_table(
            ["id", "name", "email", "confirmed", "registered"],
            [[p.id, p.name, p.email, "yes" if p.email_confirmed else "", fmt_time(p.registered)] for p in g.people],
        )
    print(f"{len(groups)} group(s) of likely duplicates.")
    return 0
