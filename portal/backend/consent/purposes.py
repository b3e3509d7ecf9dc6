"""Purposes and their immutable, versioned plain-language texts."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Select, and_, func, insert, or_, select, update

from portal.backend.consent.status import status_of
from portal.backend.platform.db.schema import (
    asset_risk,
    asset_uses,
    consent_current,
    purpose_texts,
    purposes,
    subjects,
)
from portal.backend.platform.errors import ConsentStateError, NotFound, UnknownPurpose, ValidationError
from portal.backend.platform.organisation import get_organisation
from portal.backend.risk import index as risk_index

FALLBACK_LOCALE = "en"


@dataclass(frozen=True)
class Purpose:
    """A purpose a subject can consent to (internal, website, face matching, ...)."""

    id: int
    code: str
    dpv_code: str
    sort_order: int
    active: bool
    biometric: bool
    third_party: bool
    validity_days: int | None
    retention_days: int | None


@dataclass(frozen=True)
class TextContent:
    """What a new text version says in one language."""

    title: str
    body: str
    recipients: Sequence[str] = field(default_factory=tuple)
    data_categories: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class PurposeText:
    """One stored, immutable text version in one language."""

    id: int
    purpose_id: int
    version: int
    locale: str
    title: str
    body: str
    recipients: tuple[str, ...]
    data_categories: tuple[str, ...]
    text_hash: str


def text_hash(code: str, version: int, locale: str, content: TextContent) -> str:
    """Hash of exactly what was shown; the ledger stores it as proof of the wording."""
    body = json.dumps(
        {
            "purpose": code,
            "version": version,
            "locale": locale,
            "title": content.title,
            "body": content.body,
            "recipients": list(content.recipients),
            "data_categories": list(content.data_categories),
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _purpose(row: Any) -> Purpose:
    """Row to Purpose."""
    m = row._mapping
    return Purpose(**{k: m[k] for k in Purpose.__dataclass_fields__})


def _text(row: Any) -> PurposeText:
    """Row to PurposeText."""
    m = row._mapping
    return PurposeText(
        id=m["id"],
        purpose_id=m["purpose_id"],
        version=m["version"],
        locale=m["locale"],
        title=m["title"],
        body=m["body"],
        recipients=tuple(json.loads(m["recipients"])),
        data_categories=tuple(json.loads(m["data_categories"])),
        text_hash=m["text_hash"],
    )


_ALL_PURPOSES = select(purposes).order_by(purposes.c.sort_order, purposes.c.id)
_ACTIVE_PURPOSES = _ALL_PURPOSES.where(purposes.c.active.is_(True))


def list_purposes(conn: Connection, *, active_only: bool = True) -> list[Purpose]:
    """Purposes in display order."""
    return [_purpose(r) for r in conn.execute(_ACTIVE_PURPOSES if active_only else _ALL_PURPOSES)]


def get_purpose(conn: Connection, code: str) -> Purpose:
    """The purpose with this code, or UnknownPurpose listing the valid codes."""
    row = conn.execute(select(purposes).where(purposes.c.code == code)).one_or_none()
    if row is None:
        raise UnknownPurpose(code, [p.code for p in list_purposes(conn)])
    return _purpose(row)


def resolve_codes(conn: Connection, codes: Sequence[str]) -> dict[str, Purpose]:
    """Look up several codes at once, failing on the first unknown one before anything is written."""
    known = {p.code: p for p in list_purposes(conn, active_only=False)}
    for code in codes:
        if code not in known or not known[code].active:
            raise UnknownPurpose(code, [p.code for p in known.values() if p.active])
    return {code: known[code] for code in codes}


def add_purpose(
    conn: Connection,
    *,
    code: str,
    dpv_code: str,
    now: datetime,
    sort_order: int = 0,
    biometric: bool = False,
    third_party: bool = False,
    validity_days: int | None = None,
    retention_days: int | None = None,
) -> Purpose:
    """Create a purpose (it has no text until `publish_text`)."""
    if not code or not code.replace("_", "").isalnum() or code != code.lower():
        raise ValidationError(f"Purpose code {code!r} must be lower-case letters, digits and underscores.")
    conn.execute(
        insert(purposes).values(
            code=code,
            dpv_code=dpv_code,
            sort_order=sort_order,
            biometric=biometric,
            third_party=third_party,
            validity_days=validity_days,
            retention_days=retention_days,
            created_at=now,
        )
    )
    created = get_purpose(conn, code)
    risk_index.refresh_purpose(conn, created.id)  # photos with people now need a choice for this purpose too
    return created


DiffKind = Literal["same", "removed", "added"]
LocaleState = Literal["changed", "carried_over", "new"]
_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+|\n+")


def sentences(text: str) -> list[str]:
    """A text split into sentences and lines, the unit a reader compares two wordings by."""
    return [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]


def sentence_diff(old: str, new: str) -> tuple[tuple[DiffKind, str], ...]:
    """What changed between two texts, sentence by sentence: kept, removed and added sentences in reading order."""
    a, b = sentences(old), sentences(new)
    result: list[tuple[DiffKind, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            result.extend(("same", line) for line in a[i1:i2])
            continue
        result.extend(("removed", line) for line in a[i1:i2])
        result.extend(("added", line) for line in b[j1:j2])
    return tuple(result)


@dataclass(frozen=True)
class LocaleDiff:
    """How one language's text of a new version differs from the current one."""

    locale: str
    state: LocaleState
    old: PurposeText | None
    new: TextContent
    title_changed: bool
    body: tuple[tuple[DiffKind, str], ...]
    recipients_changed: bool
    data_categories_changed: bool


@dataclass(frozen=True)
class TextImpact:
    """What publishing a new version puts at risk: the consents that become superseded (R16)."""

    people: int  # people whose consent for the purpose is valid now and would need renewing
    photos: int  # photos with people usable for the purpose now that would be at risk
    publications: int  # active publications of those photos under the purpose (each gets a takedown task)


@dataclass(frozen=True)
class TextPlan:
    """A checked new text version: its number, every language's text and diff, and its impact."""

    code: str
    purpose_id: int
    current_version: int | None
    version: int
    locales: tuple[LocaleDiff, ...]
    carried_over: tuple[str, ...]
    impact: TextImpact

    @property
    def changed_locales(self) -> tuple[str, ...]:
        """Languages whose wording differs from the current version (or that had none)."""
        return tuple(d.locale for d in self.locales if d.state != "carried_over")


def _content(text: PurposeText) -> TextContent:
    """A stored text as content (to compare or carry over)."""
    return TextContent(text.title, text.body, text.recipients, text.data_categories)


def _clean(content: TextContent) -> TextContent:
    """A text without leading/trailing blanks, with Unix line ends, and without empty recipients or categories."""
    return TextContent(
        title=content.title.strip(),
        body=content.body.replace("\r\n", "\n").replace("\r", "\n").strip(),
        recipients=tuple(r.strip() for r in content.recipients if r.strip()),
        data_categories=tuple(c.strip() for c in content.data_categories if c.strip()),
    )


def _same(a: TextContent, b: TextContent) -> bool:
    """True when two texts say exactly the same (what the text hash covers, apart from the version)."""
    return (a.title, a.body, tuple(a.recipients), tuple(a.data_categories)) == (
        b.title,
        b.body,
        tuple(b.recipients),
        tuple(b.data_categories),
    )


def _languages(conn: Connection) -> list[str]:
    """The organisation's languages; before it is set up, English only."""
    try:
        return get_organisation(conn).locales or [FALLBACK_LOCALE]
    except NotFound:
        return [FALLBACK_LOCALE]


def text_impact(conn: Connection, purpose_id: int, now: datetime) -> TextImpact:
    """Who and what a new text version of this purpose would put at risk, counted from the risk index."""
    version = conn.execute(
        select(func.max(purpose_texts.c.version)).where(purpose_texts.c.purpose_id == purpose_id)
    ).scalar()
    if version is None:
        return TextImpact(people=0, photos=0, publications=0)
    valid = or_(consent_current.c.valid_until.is_(None), consent_current.c.valid_until > now)
    people = conn.execute(
        select(func.count(func.distinct(consent_current.c.subject_id)))
        .join(subjects, subjects.c.id == consent_current.c.subject_id)
        .where(
            consent_current.c.purpose_id == purpose_id,
            consent_current.c.action.in_(("given", "renewed")),
            consent_current.c.text_version >= version,
            valid,
            subjects.c.erased_at.is_(None),
            subjects.c.merged_into.is_(None),
        )
    ).scalar_one()
    # A photo usable now holds only people allowed under the current version: every one of them is superseded
    # by the next version, so each such photo goes at risk (the risk index judges exactly this).
    usable = and_(
        asset_risk.c.purpose_id == purpose_id,
        asset_risk.c.reasons == 0,
        or_(asset_risk.c.until.is_(None), asset_risk.c.until > now),
    )
    photos = conn.execute(select(func.count()).select_from(asset_risk).where(usable)).scalar_one()
    publications = conn.execute(
        select(func.count())
        .select_from(asset_uses)
        .join(
            asset_risk,
            and_(asset_risk.c.asset_id == asset_uses.c.asset_id, asset_risk.c.purpose_id == asset_uses.c.purpose_id),
        )
        .where(usable, or_(asset_uses.c.until.is_(None), asset_uses.c.until > now))
    ).scalar_one()
    return TextImpact(people=int(people), photos=int(photos), publications=int(publications))


def plan_text(
    conn: Connection,
    *,
    code: str,
    texts: Mapping[str, TextContent],
    carry_over: Sequence[str] = (),
    now: datetime,
) -> TextPlan:
    """Check a new text version against the current one and count its impact, writing nothing.

    Every language of the organisation is published together: each needs a new text or an explicit carry-over
    of its current text; a version that changes nothing in any language is refused."""
    purpose = get_purpose(conn, code)
    languages = _languages(conn)
    carried = tuple(dict.fromkeys(carry_over))
    # Stray spaces and Windows line ends are no change of meaning: compare and store the cleaned text.
    texts = {locale: _clean(content) for locale, content in texts.items()}
    for locale, content in texts.items():
        if locale not in languages:
            raise ValidationError(
                f"{locale!r} is not one of the organisation's languages ({', '.join(languages)}); "
                "add it in Settings first."
            )
        if not content.title.strip() or not content.body.strip():
            raise ValidationError(f"The {locale} text of {code!r} needs a title and a body.")
    both = sorted(set(carried) & set(texts))
    if both:
        raise ValidationError(f"The {both[0]} text is both given and carried over; choose one.")
    current_version = conn.execute(
        select(func.max(purpose_texts.c.version)).where(purpose_texts.c.purpose_id == purpose.id)
    ).scalar()
    current: dict[str, PurposeText] = {}
    if current_version is not None:
        rows = conn.execute(
            select(purpose_texts).where(
                purpose_texts.c.purpose_id == purpose.id, purpose_texts.c.version == current_version
            )
        )
        current = {r.locale: _text(r) for r in rows}
    unchanged = [loc for loc in texts if loc in current and _same(_content(current[loc]), texts[loc])]
    if len(unchanged) == len(texts):
        raise ConsentStateError(
            f"The text of {code!r} is the same as the current version {current_version} in every language; "
            "nothing was published (a new version would ask everyone to renew for no reason)."
        )
    for locale in carried:
        if locale not in current:
            raise ValidationError(f"There is no current {locale} text of {code!r} to carry over; write one.")
    missing = [locale for locale in languages if locale not in texts and locale not in carried]
    if missing:
        raise ValidationError(
            f"No new {', '.join(missing)} text for {code!r}: all languages are published together. Give the "
            f"{' and '.join(missing)} text too, or carry the current one over unchanged (carry-over {missing[0]})."
        )
    if unchanged:
        # An unchanged translation next to a changed one is usually a language someone forgot to update.
        raise ValidationError(
            f"The {', '.join(unchanged)} text of {code!r} is the same as the current one while another language "
            f"changed: update it too, or carry it over explicitly (carry-over {unchanged[0]})."
        )
    diffs: list[LocaleDiff] = []
    for locale in [*texts, *carried]:
        old = current.get(locale)
        new = texts[locale] if locale in texts else _content(current[locale])
        state: LocaleState = "carried_over" if locale in carried else "new" if old is None else "changed"
        diffs.append(
            LocaleDiff(
                locale=locale,
                state=state,
                old=old,
                new=new,
                title_changed=old is None or old.title != new.title,
                body=sentence_diff(old.body if old else "", new.body),
                recipients_changed=old is None or old.recipients != tuple(new.recipients),
                data_categories_changed=old is None or old.data_categories != tuple(new.data_categories),
            )
        )
    return TextPlan(
        code=code,
        purpose_id=purpose.id,
        current_version=current_version,
        version=(current_version or 0) + 1,
        locales=tuple(diffs),
        carried_over=carried,
        impact=text_impact(conn, purpose.id, now),
    )


# Longest retention period a purpose may set: a hundred years, well past any archive a consent could justify.
RETENTION_MAX_DAYS = 36_500


def set_retention(conn: Connection, *, code: str, days: int | None) -> Purpose:
    """Set (or clear, with None) how long photos are kept for a purpose (R17), in the caller's transaction."""
    purpose = get_purpose(conn, code)
    if days is not None and not 1 <= days <= RETENTION_MAX_DAYS:
        raise ValidationError(f"A retention period is between 1 and {RETENTION_MAX_DAYS} days, not {days}.")
    conn.execute(update(purposes).where(purposes.c.id == purpose.id).values(retention_days=days))
    return get_purpose(conn, code)


def publish_text(
    conn: Connection,
    *,
    code: str,
    texts: Mapping[str, TextContent],
    now: datetime,
    carry_over: Sequence[str] = (),
) -> list[PurposeText]:
    """Publish a new version of a purpose's text in every language of the organisation (new or carried over);
    old versions stay as they were. Refuses a version that changes nothing (see `plan_text`)."""
    plan = plan_text(conn, code=code, texts=texts, carry_over=carry_over, now=now)
    insert_plan(conn, plan, now=now)
    return [text_version(conn, plan.purpose_id, plan.version, d.locale) for d in plan.locales]


def insert_plan(conn: Connection, plan: TextPlan, *, now: datetime) -> None:
    """Store a checked version and re-judge the purpose's photos in the caller's transaction."""
    conn.execute(
        insert(purpose_texts),
        [
            {
                "purpose_id": plan.purpose_id,
                "version": plan.version,
                "locale": d.locale,
                "title": d.new.title,
                "body": d.new.body,
                "recipients": json.dumps(list(d.new.recipients), ensure_ascii=False),
                "data_categories": json.dumps(list(d.new.data_categories), ensure_ascii=False),
                "text_hash": text_hash(plan.code, plan.version, d.locale, d.new),
                "created_at": now,
            }
            for d in plan.locales
        ],
    )
    risk_index.refresh_purpose(conn, plan.purpose_id)  # consents under the previous version are now superseded (R16)


def text_version(conn: Connection, purpose_id: int, version: int, locale: str) -> PurposeText:
    """One stored text; falls back to English when the version has no text in `locale`."""
    rows = conn.execute(
        select(purpose_texts).where(purpose_texts.c.purpose_id == purpose_id, purpose_texts.c.version == version)
    ).all()
    by_locale = {r.locale: r for r in rows}
    row = by_locale.get(locale) or by_locale.get(FALLBACK_LOCALE)
    if row is None:
        raise ValidationError(f"Purpose {purpose_id} has no text version {version}.")
    return _text(row)


def current_text(conn: Connection, purpose_id: int, locale: str) -> PurposeText:
    """The newest text version of a purpose, in `locale` or else English."""
    version = conn.execute(
        select(func.max(purpose_texts.c.version)).where(purpose_texts.c.purpose_id == purpose_id)
    ).scalar()
    if version is None:
        raise ValidationError(f"Purpose {purpose_id} has no published text; publish one before asking for consent.")
    return text_version(conn, purpose_id, int(version), locale)


def _current_texts_query() -> Select:
    """Every purpose's newest text rows (all locales)."""
    latest = (
        select(purpose_texts.c.purpose_id, func.max(purpose_texts.c.version).label("version"))
        .group_by(purpose_texts.c.purpose_id)
        .subquery()
    )
    return select(purpose_texts).join(
        latest,
        (purpose_texts.c.purpose_id == latest.c.purpose_id) & (purpose_texts.c.version == latest.c.version),
    )


_CURRENT_TEXTS = _current_texts_query()


def current_texts(conn: Connection, locale: str) -> dict[int, PurposeText]:
    """Newest text of every purpose in `locale` (English fallback), keyed by purpose id."""
    result: dict[int, PurposeText] = {}
    for row in conn.execute(_CURRENT_TEXTS):
        if row.locale == locale or (row.locale == FALLBACK_LOCALE and row.purpose_id not in result):
            result[row.purpose_id] = _text(row)
    return result


@dataclass(frozen=True)
class PurposeSummary:
    """A purpose with its current text version, its languages and how many people stand where (general scope)."""

    purpose: Purpose
    version: int | None
    texts: dict[str, PurposeText]
    # People per status of their general consent: given (allowed now), superseded, expired, refused, ...
    counts: dict[str, int]
    photos_at_risk: int
    photos_usable: int


def purpose_summaries(conn: Connection, *, now: datetime, code: str | None = None) -> list[PurposeSummary]:
    """Every purpose (or the one with `code`) with its current texts and consent counts, in display order."""
    chosen = [get_purpose(conn, code)] if code is not None else list_purposes(conn, active_only=False)
    texts: dict[int, dict[str, PurposeText]] = {}
    for row in conn.execute(_CURRENT_TEXTS):
        texts.setdefault(row.purpose_id, {})[row.locale] = _text(row)
    versions = {pid: next(iter(by_locale.values())).version for pid, by_locale in texts.items()}
    result: list[PurposeSummary] = []
    for p in chosen:
        version = versions.get(p.id)
        counts: dict[str, int] = {}
        rows = conn.execute(
            select(consent_current.c.action, consent_current.c.text_version, consent_current.c.valid_until)
            .join(subjects, subjects.c.id == consent_current.c.subject_id)
            .where(
                consent_current.c.purpose_id == p.id,
                consent_current.c.scope_key == 0,
                subjects.c.erased_at.is_(None),
                subjects.c.merged_into.is_(None),
            )
        )
        for r in rows:
            status = status_of(r.action, r.valid_until, now, text_version=r.text_version, current_version=version)
            counts[status] = counts.get(status, 0) + 1
        risk = conn.execute(
            select(
                func.count().filter(
                    and_(asset_risk.c.reasons == 0, or_(asset_risk.c.until.is_(None), asset_risk.c.until > now))
                ),
                func.count(),
            ).where(asset_risk.c.purpose_id == p.id)
        ).one()
        usable, total = int(risk[0] or 0), int(risk[1] or 0)
        result.append(
            PurposeSummary(
                purpose=p,
                version=version,
                texts=texts.get(p.id, {}),
                counts=counts,
                photos_at_risk=total - usable,
                photos_usable=usable,
            )
        )
    return result
