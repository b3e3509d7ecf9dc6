"""`subjects add | withdraw | show | list | personal-link`."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from portal.backend.consent import ledger
from portal.backend.consent.purposes import list_purposes
from portal.backend.consent.records import Context, Decision, record_consent, withdraw_all
from portal.backend.consent.status import subject_consents
from portal.backend.people.paper import PaperConsent, record_paper_consent
from portal.backend.people.subjects import create_personal_link, get_subject, list_subjects, register_subject
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import PortalError, ValidationError
from portal.cli.common import add_common, cli_actor, fmt_time, open_database, print_json, print_table, write_output


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
    add.add_argument("--birth-year", type=int)
    add.add_argument("--minor", action="store_true", help="below the age of digital consent")
    add.add_argument("--guardian", help="guardian's name (required for minors)")
    add.add_argument("--guardian-verification", help="how the guardian was verified")
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

    link_det = add_common(sub.add_parser("link", help="link a detected face or person to a subject by hand"))
    link_det.add_argument("subject_id", metavar="SUBJECT_ID")
    link_det.add_argument("detection_id", type=int, metavar="DETECTION_ID")
    link_det.set_defaults(handler=link_detection_command)

    export = add_common(sub.add_parser("export", help="everything about a person in one ZIP (access, portability)"))
    export.add_argument("subject_id", metavar="ID")
    export.add_argument("--out", type=Path, required=True, metavar="FILE.zip")
    export.set_defaults(handler=export_command)

    erase = add_common(sub.add_parser("erase", help="erase a person: blur them out of images, drop personal data"))
    erase.add_argument("subject_id", metavar="ID")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)")
    erase.set_defaults(handler=erase_command)

    match = add_common(sub.add_parser("match", help="suggest library faces for a subject with a face template"))
    match.add_argument("subject_id", metavar="ID")
    match.add_argument("--event", type=int, help="only photos of this event id")
    match.set_defaults(handler=match_command)

    wd = add_common(sub.add_parser("withdraw", help="withdraw consent for one or more purposes, or all"))
    wd.add_argument("subject_id", metavar="ID")
    which = wd.add_mutually_exclusive_group(required=True)
    which.add_argument("--purpose", nargs="+", action="extend", metavar="CODE")
    which.add_argument("--all", action="store_true")
    wd.add_argument("--channel", choices=("paper", "staff"), default="staff")
    wd.set_defaults(handler=withdraw_command)

    show = add_common(sub.add_parser("show", help="a subject's current consents and history"))
    show.add_argument("subject_id", metavar="ID")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_command)

    lst = add_common(sub.add_parser("list", help="subjects with their status per purpose"))
    lst.add_argument("--search", default="")
    lst.add_argument("--limit", type=int, default=50)
    lst.set_defaults(handler=list_command)

    link = add_common(sub.add_parser("personal-link", help="make a new personal link for a subject"))
    link.add_argument("subject_id", metavar="ID")
    link.set_defaults(handler=link_command)


def add_command(args: argparse.Namespace) -> int:
    """Register a subject; all choices are recorded in the same transaction or none are."""
    overlap = sorted(set(args.consent) & set(args.refuse))
    if overlap:
        raise ValidationError(f"Purpose {overlap[0]!r} is both given and refused; choose one.")
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
    template = None
    if selfie is not None:
        from portal.backend.photos.biometrics import check_selfie
        from portal.backend.photos.vision.faces import FaceAnalyzer

        # Computed before anything is written, so a bad selfie leaves no half-registered person.
        analyzer = FaceAnalyzer(model=portal.settings.face_detector)
        template = check_selfie(selfie, analyzer=analyzer, max_pixels=portal.settings.max_image_pixels)
        del selfie  # the selfie is used once, for the template, and kept nowhere
    choices = {code: True for code in args.consent} | {code: False for code in args.refuse}
    evidence = {"act": "signature" if args.channel == "paper" else "staff_entry"}
    if args.note:
        evidence["note"] = args.note[:500]
    if scan is not None:
        # The same path as the staff page: scan stored first, rows after, scan removed again if they fail.
        reg = record_paper_consent(
            portal.db,
            portal.blobs,
            name=args.name,
            email=args.email,
            phone=args.phone,
            locale=args.locale,
            birth_year=args.birth_year,
            is_minor=args.minor,
            guardian_name=args.guardian,
            guardian_verification=args.guardian_verification,
            event_id=args.event,
            choices=choices,
            signed_on=args.signed_on or date.today(),
            scan=scan,
            actor=cli_actor(portal, args).ref,
            note=args.note,
        )
    else:
        reg = register_subject(
            portal.db,
            name=args.name,
            email=args.email,
            phone=args.phone,
            locale=args.locale,
            birth_year=args.birth_year,
            is_minor=args.minor,
            guardian_name=args.guardian,
            guardian_verification=args.guardian_verification,
            event_id=args.event,
            choices=choices,
            context=Context(
                channel=args.channel, actor=cli_actor(portal, args).ref, event_id=args.event, evidence=evidence
            ),
        )
    enrolled = False
    if template is not None:
        from portal.backend.photos.biometrics import enrol_template

        enrol_template(portal.db, subject_id=reg.subject.id, template=template)
        enrolled = True
    receipt = _receipt(portal, reg.subject.id, reg.entries)
    if args.json:
        print_json(
            {
                "subject_id": reg.subject.id,
                "entries": [e.entry_id for e in reg.entries],
                "template_enrolled": enrolled,
                "receipt": receipt,
                **({"scan_sha256": reg.scan_sha256} if isinstance(reg, PaperConsent) else {}),
            }
        )
    else:
        print(
            f"Registered {reg.subject.display_name} as {reg.subject.id} with {len(reg.entries)} consent entries"
            + ("; face template enrolled, selfie discarded." if enrolled else ".")
        )
    return 0


def _iso_date(text: str) -> date:
    """An argparse type for YYYY-MM-DD dates."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2025-06-01") from None


def link_detection_command(args: argparse.Namespace) -> int:
    """Link a detection to a subject by hand."""
    from portal.backend.photos.biometrics import link_detection

    portal = open_database(args)
    link_detection(
        portal.db, detection_id=args.detection_id, subject_id=args.subject_id, actor=cli_actor(portal, args).ref
    )
    print(f"Detection {args.detection_id} is linked to subject {args.subject_id} (manual, confirmed).")
    return 0


def match_command(args: argparse.Namespace) -> int:
    """Print ranked suggestions for a subject."""
    from portal.backend.photos.biometrics import match_subject

    portal = open_database(args)
    suggest, auto = portal.settings.thresholds
    found = match_subject(portal.db, subject_id=args.subject_id, event_id=args.event, suggest=suggest, auto=auto)
    print_table(
        ["detection", "asset", "distance", "status"],
        [[s.detection_id, s.asset_id, f"{s.distance:.3f}", s.status] for s in found],
    )
    print(f"\n{len(found)} suggestion(s); staff confirm them on the asset page or with `subjects link`.")
    return 0


def withdraw_command(args: argparse.Namespace) -> int:
    """Withdraw purposes or everything."""
    portal = open_database(args)
    context = Context(channel=args.channel, actor=cli_actor(portal, args).ref, evidence={"act": "staff_entry"})
    if args.all:
        entries = withdraw_all(portal.db, subject_id=args.subject_id, context=context)
        if not entries:
            print("No consent is currently given; nothing was withdrawn.")
            return 0
    else:
        entries = record_consent(
            portal.db,
            subject_id=args.subject_id,
            decisions=[Decision(purpose=code, action="withdrawn") for code in dict.fromkeys(args.purpose)],
            context=context,
        )
    print(f"Withdrawn: {len(entries)} consent(s) for subject {args.subject_id}.")
    _receipt(portal, args.subject_id, entries, announce=True)
    return 0


def _receipt(portal, subject_id: str, entries: list, *, announce: bool = False) -> str | None:  # type: ignore[no-untyped-def]
    """Issue and store the receipt of a submission; a receipt problem is reported but does not undo the consent."""
    import sys

    from portal.backend.reports.receipt import issue_receipt

    try:
        receipt = issue_receipt(portal.db, portal.blobs, subject_id=subject_id, entries=entries)
    except PortalError as exc:
        print(f"warning: the consent is recorded, but no receipt was made: {exc}", file=sys.stderr)
        return None
    if receipt is None:
        return None
    if announce:
        print(f"Receipt {receipt.receipt_id} stored (PDF and JSON).")
    return receipt.receipt_id


def show_command(args: argparse.Namespace) -> int:
    """Print status and history."""
    portal = open_database(args)
    now = utcnow()
    with portal.db.read() as conn:
        subject = get_subject(conn, args.subject_id)
        statuses = subject_consents(conn, subject.id, now)
        history = ledger.entries_for_subject(conn, subject.id)
        codes = {p.id: p.code for p in list_purposes(conn, active_only=False)}
    if args.json:
        print_json(
            {
                "subject": subject.__dict__,
                "consents": [s.__dict__ | {"allowed": s.allowed} for s in statuses],
                "ledger": [e.__dict__ | {"purpose_code": codes[e.purpose_id]} for e in history],
            }
        )
        return 0
    print(f"{subject.display_name or '(erased)'}  id {subject.id}")
    print(f"e-mail {subject.email or '-'}, language {subject.locale}, registered {fmt_time(subject.created_at)}")
    if subject.is_minor:
        print(f"minor; guardian {subject.guardian_name} (verified: {subject.guardian_verification})")
    print()
    print_table(
        ["purpose", "image", "status", "since", "valid until", "text v."],
        [
            [
                s.purpose_code,
                s.scope_asset_id or "all",
                s.status,
                fmt_time(s.since),
                fmt_time(s.valid_until),
                s.text_version,
            ]
            for s in statuses
        ],
    )
    print()
    print_table(
        ["seq", "time", "purpose", "action", "channel", "actor"],
        [[e.seq, fmt_time(e.recorded_at), codes[e.purpose_id], e.action, e.channel, e.actor] for e in history],
    )
    return 0


def list_command(args: argparse.Namespace) -> int:
    """Print subjects with their status per purpose."""
    portal = open_database(args)
    with portal.db.read() as conn:
        codes = [p.code for p in list_purposes(conn)]
        total, rows = list_subjects(conn, now=utcnow(), search=args.search, limit=args.limit)
    print_table(
        ["id", "name", *codes],
        [[r.id, r.name, *[r.consents.get(c, "unknown") for c in codes]] for r in rows],
    )
    print(f"\n{len(rows)} of {total} subjects shown.")
    return 0


def link_command(args: argparse.Namespace) -> int:
    """Print a fresh personal link."""
    portal = open_database(args)
    s = portal.settings
    print(
        create_personal_link(
            portal.db, subject_id=args.subject_id, secret=s.secret_key, base_url=s.base_url, ttl_days=s.link_ttl_days
        )
    )
    return 0


def export_command(args: argparse.Namespace) -> int:
    """Write the person's data export."""
    from portal.backend.people.export import export_subject

    portal = open_database(args)
    data = export_subject(
        portal.db,
        portal.blobs,
        subject_id=args.subject_id,
        actor=cli_actor(portal, args).ref,
        max_pixels=portal.settings.max_image_pixels,
    )
    write_output(args.out, data)
    print(f"Wrote {args.out} ({len(data) / 1024:.0f} KiB).")
    return 0


def erase_command(args: argparse.Namespace) -> int:
    """Erase a person after confirmation."""
    import sys

    from portal.backend.people.erasure import erase_subject

    portal = open_database(args)
    with portal.db.read() as conn:
        subject = get_subject(conn, args.subject_id)
    if not args.yes:
        if not sys.stdin.isatty():
            raise ValidationError("Erasure cannot be undone; pass --yes to confirm when no terminal is attached.")
        typed = input(f"Erase {subject.display_name} ({subject.id}) for good? Type the first 8 characters of the id: ")
        if typed.strip() != subject.id[:8]:
            raise ValidationError("Not confirmed; nothing was erased.")
    report = erase_subject(
        portal.db,
        portal.blobs,
        subject_id=subject.id,
        actor=cli_actor(portal, args).ref,
        max_pixels=portal.settings.max_image_pixels,
    )
    print(
        f"Erased {subject.id}: {report.consents_withdrawn} consent(s) withdrawn, {report.images_redacted} image(s) "
        f"redacted, {report.renditions_deleted} rendition(s) deleted, {report.templates_deleted} template(s) "
        f"deleted, {report.scans_deleted} paper scan(s) deleted, {report.takedown_tasks} takedown task(s) queued. "
        "The pseudonymous ledger entries remain as proof."
    )
    return 0
