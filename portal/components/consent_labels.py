"""How consent statuses look on a page: a symbol plus words, never colour alone."""

from __future__ import annotations

from portal.backend.i18n import t

SYMBOL = {
    "given": "✅",
    "renewed": "✅",
    "refused": "⛔",
    "withdrawn": "↩️",
    "revoked": "⛔",
    "expired": "⌛",
    "superseded": "🔄",
    "unknown": "❔",
}


def status_label(status: str, locale: str = "en") -> str:
    """E.g. '✅ Given' or '↩️ Återkallat'."""
    return f"{SYMBOL.get(status, '❔')} {t(f'status.{status}', locale)}"
