"""The safety net of the public pages (consent form, personal page): an unexpected error becomes a short message in
the visitor's language with an error id, and the details go to the server log only."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from portal.backend.i18n import LOCALES, best_locale, t
from portal.backend.platform.errors import DatabaseBusy

log = logging.getLogger(__name__)

# The session keys where the consent form and the personal page keep the language the visitor chose.
_LOCALE_KEYS = ("form_locale", "locale")


def visitor_locale() -> str:
    """The language the visitor chose on the page, else their browser's, else English."""
    for key in _LOCALE_KEYS:
        chosen = st.session_state.get(key)
        if chosen in LOCALES:
            return str(chosen)
    return best_locale([getattr(st.context, "locale", None) or "en"])


def new_error_id() -> str:
    """A short id the visitor can quote and the operator can find in the log."""
    return secrets.token_hex(4).upper()


@contextmanager
def public_errors() -> Iterator[None]:
    """Run a public page; any exception shows a short message with an error id, never the exception itself."""
    try:
        yield
    except DatabaseBusy:
        # Back-pressure: every connection stayed busy for the whole wait. Nothing broke; the visitor tries again.
        log.warning("a public page answered 'busy': no database connection became free in time")
        st.warning(t("error.busy", visitor_locale()))
    except Exception:
        # st.stop() and st.rerun() raise BaseExceptions (ScriptControlException) and pass through untouched.
        error_id = new_error_id()
        log.exception("error %s on a public page", error_id)
        st.error(t("error.unexpected", visitor_locale(), error_id=error_id))
