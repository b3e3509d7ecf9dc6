"""The portal object for this process, the signed-in user, and error display: shared by every page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from portal.backend.bootstrap import Portal, open_portal
from portal.backend.config import Settings, load_settings
from portal.backend.errors import PortalError
from portal.backend.staff import StaffUser

USER_KEY = "staff_user"


@st.cache_resource(show_spinner="Opening the database…")
def _open(_settings: Settings, key: str) -> Portal:
    """One Portal (engine, blob store) per distinct configuration, shared by all sessions: it is thread-safe."""
    return open_portal(_settings)


def get_portal() -> Portal:
    """The Portal for the current settings; shows the problem and stops the page if it cannot open."""
    try:
        settings = load_settings()
        key = repr({name: getattr(settings, name) for name in settings.__dataclass_fields__ if name != "extra"})
        return _open(settings, key)
    except PortalError as exc:
        st.error(f"The portal cannot start: {exc}")
        st.stop()
        raise  # unreachable: st.stop() ends the script run


def current_user() -> StaffUser | None:
    """The signed-in staff user of this browser session, if any."""
    user = st.session_state.get(USER_KEY)
    return user if isinstance(user, StaffUser) else None


def require_role(role: str) -> StaffUser:
    """Stop the page unless a user with at least `role` is signed in (a guard behind the navigation)."""
    user = current_user()
    if user is None or not user.can(role):
        st.error("You do not have access to this page.")
        st.stop()
    assert user is not None
    return user


@contextmanager
def shows_errors() -> Iterator[None]:
    """Show a PortalError as st.error instead of a traceback."""
    try:
        yield
    except PortalError as exc:
        st.error(str(exc))
