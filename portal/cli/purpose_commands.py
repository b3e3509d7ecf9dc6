"""`purposes list | show | publish | retention`: the purposes and their versioned texts, for operators and admins."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from portal.backend.consent.queries import (
    PurposeSummary,
    TextContent,
    TextPlan,
    preview_purpose_text,
    purpose_summaries,
)
from portal.backend.consent.services import publish_purpose_text, set_retention_period
from portal.backend.platform.errors import ValidationError
from portal.cli.common import EXIT_ERROR, add_common, cli_actor, open_database, print_json, print_table

# Bad input (a file that cannot be read or parsed, unpaired options): the usage-error code, as argparse uses.
EXIT_USAGE = 2
_TEXT_FILE_MAX = 64 * 1024


def register(groups: argparse._SubParsersAction) -> None:
    """Add the purposes group."""
    sub = groups.add_parser("purposes", help="purposes and their texts (versions, publishing)").add_subparsers(
        dest="command", metavar="COMMAND", required=True
    )
    lst = add_common(sub.add_parser("list", help="purposes with their current text version and consent counts"))
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=list_command)

    show = add_common(sub.add_parser("show", help="one purpose: current version, texts per language, counts"))
    show.add_argument("code", metavar="CODE")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_command)

    pub = add_common(
        sub.add_parser(
            "publish",
            help="publish a new text version (all languages together); earlier consents must be renewed",
            description='Text file: JSON {"title", "body", "recipients"?, "data_categories"?} or plain text '
            "(first line the title, a blank line, then the body; recipients and data categories are carried from "
            "the current version). Without --yes only the diff and impact are printed.",
        )
    )
    pub.add_argument("code", metavar="CODE")
    pub.add_argument("--text-file", action="append", default=[], type=Path, metavar="FILE", required=True)
    pub.add_argument("--locale", action="append", default=[], metavar="L", help="language of the --text-file before")
    pub.add_argument(
        "--carry-over",
        action="append",
        default=[],
        metavar="L",
        help="publish this language's current text unchanged in the new version",
    )
    pub.add_argument("--yes", action="store_true", help="publish after printing the preview")
    pub.set_defaults(handler=publish_command)

    ret = add_common(
        sub.add_parser("retention", help="set how long photos are kept for a purpose (R17); the daily job flags older")
    )
    ret.add_argument("code", metavar="CODE")
    period = ret.add_mutually_exclusive_group(required=True)
    period.add_argument("--days", type=int, metavar="N", help="keep photos for this purpose N days")
    period.add_argument("--none", action="store_true", help="no retention period for this purpose")
    ret.set_defaults(handler=retention_command)


def _summary_json(s: PurposeSummary, *, texts: bool) -> dict[str, Any]:
    """A purpose summary as JSON."""
    data: dict[str, Any] = {
        "code": s.purpose.code,
        "active": s.purpose.active,
        "biometric": s.purpose.biometric,
        "third_party": s.purpose.third_party,
        "validity_days": s.purpose.validity_days,
        "retention_days": s.purpose.retention_days,
        "version": s.version,
        "locales": sorted(s.texts),
        "consents": s.counts,
        "photos_usable": s.photos_usable,
        "photos_at_risk": s.photos_at_risk,
    }
    if texts:
        data["texts"] = {
            locale: {
                "title": t.title,
                "body": t.body,
                "recipients": list(t.recipients),
                "data_categories": list(t.data_categories),
                "text_hash": t.text_hash,
            }
            for locale, t in sorted(s.texts.items())
        }
    return data


def list_command(args: argparse.Namespace) -> int:
    """Print every purpose with its current version and how many people stand where."""
    portal = open_database(args)
    summaries = purpose_summaries(portal)
    if args.json:
        print_json([_summary_json(s, texts=False) for s in summaries])
        return 0
    print_table(
        ["code", "active", "version", "languages", "given", "superseded", "photos usable", "photos at risk", "title"],
        [
            [
                s.purpose.code,
                "yes" if s.purpose.active else "no",
                s.version,
                ",".join(sorted(s.texts)),
                s.counts.get("given", 0) + s.counts.get("renewed", 0),
                s.counts.get("superseded", 0),
                s.photos_usable,
                s.photos_at_risk,
                (s.texts.get("en") or next(iter(s.texts.values()), None) or _NoTitle).title,
            ]
            for s in summaries
        ],
    )
    return 0


class _NoTitle:
    """Stands in for the text of a purpose that has none yet."""

    title = "(no text yet)"


def show_command(args: argparse.Namespace) -> int:
    """Print one purpose's current texts in every language and its consent counts."""
    portal = open_database(args)
    [s] = purpose_summaries(portal, code=args.code)
    if args.json:
        print_json(_summary_json(s, texts=True))
        return 0
    p = s.purpose
    print(f"{p.code}  ({'active' if p.active else 'inactive'}{', biometric' if p.biometric else ''})")
    print(f"current text version: {s.version or '-'}; validity {p.validity_days or 'organisation default'} days")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(s.counts.items())) or "none recorded"
    print(f"people (general consent): {counts}")
    print(f"photos with people: {s.photos_usable} usable, {s.photos_at_risk} at risk")
    for locale, text in sorted(s.texts.items()):
        print()
        print(f"[{locale}] {text.title}")
        print(text.body)
        print(f"recipients: {', '.join(text.recipients) or '-'}; data: {', '.join(text.data_categories) or '-'}")
    return 0


class TextFileError(ValueError):
    """A text file that cannot be used (unreadable, not UTF-8, malformed)."""


def read_text_file(path: Path, current: TextContent | None) -> TextContent:
    """Parse one text file: JSON with title/body (recipients, data_categories optional) or plain text."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TextFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > _TEXT_FILE_MAX:
        raise TextFileError(f"{path} is larger than {_TEXT_FILE_MAX // 1024} KB; a purpose text is a few paragraphs")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TextFileError(f"{path} is not UTF-8 text") from None
    recipients = tuple(current.recipients) if current else ()
    categories = tuple(current.data_categories) if current else ()
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TextFileError(f"{path} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
        if not isinstance(data, dict):
            raise TextFileError(f"{path}: expected a JSON object with title and body")
        unknown = sorted(set(data) - {"title", "body", "recipients", "data_categories"})
        if unknown:
            raise TextFileError(f"{path}: unknown field {unknown[0]!r}; use title, body, recipients, data_categories")
        for key in ("title", "body"):
            if not isinstance(data.get(key), str) or not data[key].strip():
                raise TextFileError(f"{path}: {key!r} must be a non-empty string")
        for key in ("recipients", "data_categories"):
            if key in data and (
                not isinstance(data[key], list) or not all(isinstance(v, str) and v.strip() for v in data[key])
            ):
                raise TextFileError(f"{path}: {key!r} must be a list of non-empty strings")
        return TextContent(
            title=data["title"].strip(),
            body=data["body"].strip(),
            recipients=tuple(v.strip() for v in data.get("recipients", recipients)),
            data_categories=tuple(v.strip() for v in data.get("data_categories", categories)),
        )
    lines = text.replace("\r\n", "\n").split("\n")
    title = lines[0].strip()
    if not title:
        raise TextFileError(f"{path}: the first line must be the title")
    if len(lines) < 3 or lines[1].strip():
        raise TextFileError(f"{path}: after the title line comes a blank line, then the body")
    body = "\n".join(lines[2:]).strip()
    if not body:
        raise TextFileError(f"{path}: the body (after the blank line) is empty")
    return TextContent(title=title, body=body, recipients=recipients, data_categories=categories)


def print_preview(plan: TextPlan) -> None:
    """The diff per language and the impact, as the Settings page shows them."""
    print(f"{plan.code}: version {plan.current_version or '-'} -> {plan.version}")
    for d in plan.locales:
        print()
        label = {"changed": "changed", "carried_over": "carried over unchanged", "new": "new"}[d.state]
        print(f"[{d.locale}] {label}")
        if d.state == "carried_over":
            continue
        if d.title_changed:
            if d.old is not None:
                print(f"- title: {d.old.title}")
            print(f"+ title: {d.new.title}")
        for kind, sentence in d.body:
            print({"same": " ", "removed": "-", "added": "+"}[kind], sentence)
        if d.recipients_changed:
            print(f"+ recipients: {', '.join(d.new.recipients) or '-'}")
        if d.data_categories_changed:
            print(f"+ data: {', '.join(d.new.data_categories) or '-'}")
    i = plan.impact
    print()
    print(
        f"Impact: {i.people} person(s) would have to renew; {i.photos} photo(s) with people would be at risk "
        f"for this purpose until they do ({i.publications} active publication(s) would get a takedown task)."
    )


def _fail(message: str) -> int:
    """A usage error: the message on stderr and exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def publish_command(args: argparse.Namespace) -> int:
    """Preview a new text version; with --yes publish it, audited."""
    if len(args.text_file) != len(args.locale):
        return _fail("give one --locale for each --text-file, e.g. --text-file en.txt --locale en")
    if len(set(args.locale)) != len(args.locale):
        return _fail("each --locale may appear once")
    portal = open_database(args)
    actor = cli_actor(portal, args)
    [summary] = purpose_summaries(portal, code=args.code)
    texts: dict[str, TextContent] = {}
    for path, locale in zip(args.text_file, args.locale, strict=True):
        # Plain-text files keep the current recipients and data categories of their language (or English).
        now_text = summary.texts.get(locale) or summary.texts.get("en")
        current = (
            TextContent(now_text.title, now_text.body, now_text.recipients, now_text.data_categories)
            if now_text
            else None
        )
        try:
            texts[locale] = read_text_file(path, current)
        except TextFileError as exc:
            return _fail(str(exc))
    try:
        plan = preview_purpose_text(portal, code=args.code, texts=texts, carry_over=args.carry_over)
    except ValidationError as exc:
        return _fail(str(exc))
    print_preview(plan)
    if not args.yes:
        print("\nNothing was published: add --yes to publish.", file=sys.stderr)
        return EXIT_ERROR
    published = publish_purpose_text(
        portal,
        actor=actor,
        code=args.code,
        texts=texts,
        carry_over=args.carry_over,
        based_on_version=plan.current_version,
    )
    carried = f"; carried over unchanged: {', '.join(published.carried_over)}" if published.carried_over else ""
    print(
        f"\nPublished version {published.version} of {published.code} "
        f"({', '.join(t.locale for t in published.texts)}{carried})."
    )
    return 0


def retention_command(args: argparse.Namespace) -> int:
    """Set or clear a purpose's retention period, audited."""
    portal = open_database(args)
    purpose = set_retention_period(
        portal, actor=cli_actor(portal, args), code=args.code, days=None if args.none else args.days
    )
    period = f"{purpose.retention_days} days" if purpose.retention_days else "no period"
    print(f"{purpose.code}: photos are kept {period}; the daily job (jobs run) flags photos past the longest period.")
    return 0
