"""Purpose titles for staff views: what a person reads instead of a code such as `social_media`."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select

from portal.backend.consent.purposes import FALLBACK_LOCALE, current_texts
from portal.backend.platform.db.schema import purposes
from portal.backend.platform.errors import NotFound
from portal.backend.platform.organisation import get_organisation


def staff_locale(locales: Sequence[str]) -> str:
    """The language of purpose titles on staff pages and reports: English where the organisation writes its texts in
    English (the staff side is in English), else the organisation's first language."""
    return FALLBACK_LOCALE if FALLBACK_LOCALE in locales or not locales else locales[0]


def purpose_titles(conn: Connection, *, locale: str | None = None) -> dict[str, str]:
    """Every purpose's current title by code (inactive purposes too: old records still name them), in `locale` or
    the staff language; a purpose without any text keeps its code."""
    if locale is None:
        try:
            locale = staff_locale(get_organisation(conn).locales)
        except NotFound:
            locale = FALLBACK_LOCALE
    texts = current_texts(conn, locale)
    rows = conn.execute(select(purposes.c.id, purposes.c.code).order_by(purposes.c.sort_order, purposes.c.id))
    return {r.code: texts[r.id].title if r.id in texts else r.code for r in rows}


def title_of(titles: dict[str, str], code: str) -> str:
    """The title of `code`, or the code itself for one the table does not know (e.g. an erased person's message)."""
    return titles.get(code, code)
