"""Purposes and their immutable, versioned plain-language texts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, insert, select

from portal.backend.platform.db.schema import purpose_texts, purposes
from portal.backend.platform.errors import UnknownPurpose, ValidationError
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


def publish_text(conn: Connection, *, code: str, texts: Mapping[str, TextContent], now: datetime) -> list[PurposeText]:
    """Publish a new version of a purpose's text in one or more languages; old versions stay as they were."""
    purpose = get_purpose(conn, code)
    if FALLBACK_LOCALE not in texts:
        raise ValidationError(f"A text version must include the {FALLBACK_LOCALE!r} text.")
    for locale, content in texts.items():
        if not content.title.strip() or not content.body.strip():
            raise ValidationError(f"The {locale} text of {code!r} needs a title and a body.")
    current = conn.execute(
        select(func.max(purpose_texts.c.version)).where(purpose_texts.c.purpose_id == purpose.id)
    ).scalar()
    version = (current or 0) + 1
    conn.execute(
        insert(purpose_texts),
        [
            {
                "purpose_id": purpose.id,
                "version": version,
                "locale": locale,
                "title": content.title,
                "body": content.body,
                "recipients": json.dumps(list(content.recipients), ensure_ascii=False),
                "data_categories": json.dumps(list(content.data_categories), ensure_ascii=False),
                "text_hash": text_hash(code, version, locale, content),
                "created_at": now,
            }
            for locale, content in texts.items()
        ],
    )
    risk_index.refresh_purpose(conn, purpose.id)  # consents under the previous version are now superseded (R16)
    return [text_version(conn, purpose.id, version, locale) for locale in texts]


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
