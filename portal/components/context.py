"""The portal object for this process, the signed-in user, and error display: shared by every page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from portal.backend.ops.bootstrap import Portal, open_portal
from portal.backend.platform.config import Settings, load_settings
from portal.backend.platform.errors import PortalError, SessionExpired
from portal.backend.staff.queries import StaffSession, StaffUser, account
from portal.backend.staff.services import renew_session, sign_out
from portal.components.text import plain

USER_KEY = "staff_user"
SESSION_KEY = "staff_session"
# A message for the sign-in page (e.g. why the session ended); shown once.
NOTICE_KEY = "sign_in_notice"
# Set while a staff member's device runs the consent form as a kiosk (portal/components/kiosk.py).
KIOSK_KEY = "kiosk"
# Set for the next run to delete the browser's sign-in cookie (portal/components/session_cookie.py).
FORGET_COOKIE_KEY = "session_cookie_forget"


@st.cache_resource(show_spinner="Opening the database…")
def _open(_settings: Settings, key: str) -> Portal:
    """One Portal (engine, blob store) per distinct configuration, shared by all sessions: it is thread-safe."""
    return open_portal(_settings)


def open_current_portal() -> Portal:
    """The Portal for the current settings (also for the /api/session route, outside any page run)."""
    settings = load_settings()
    key = repr({name: getattr(settings, name) for name in settings.__dataclass_fields__ if name != "extra"})
    return _open(settings, key)


def get_portal() -> Portal:
    """The Portal for the current settings; shows the problem and stops the page if it cannot open."""
    try:
        return open_current_portal()
    except PortalError as exc:
        st.error(f"The portal cannot start: {plain(exc)}")
        st.stop()
        raise  # unreachable: st.stop() ends the script run


def start_session(session: StaffSession) -> None:
    """Remember a new sign-in in this browser session."""
    st.session_state[SESSION_KEY] = session
    st.session_state[USER_KEY] = session.user


def _signed_out(notice: str) -> None:
    """Forget the sign-in and leave a notice for the sign-in page."""
    st.session_state.clear()
    st.session_state[NOTICE_KEY] = notice
    st.session_state[FORGET_COOKIE_KEY] = True


def current_user() -> StaffUser | None:
    """The signed-in staff user of this browser session, as the database holds the account now (every page run
    re-reads its role and active flag, so a demotion or disabling counts from the next click); an expired, disabled
    or removed account signs out here."""
    session = st.session_state.get(SESSION_KEY)
    if isinstance(session, StaffSession):
        portal = get_portal()
        try:
            fresh = renew_session(portal, session=session)
        except SessionExpired as exc:
            _signed_out(str(exc))
            return None
        if fresh is not session:
            start_session(fresh)
        return fresh.user
    user = st.session_state.get(USER_KEY)
    if not isinstance(user, StaffUser):
        return None
    # A user without a session object (an older session's state): re-read all the same.
    now = account(get_portal(), user_id=user.id)
    if now is None or not now.active or now.email != user.email:
        _signed_out("Your portal account was disabled or removed; ask an admin.")
        return None
    st.session_state[USER_KEY] = now
    return now


def end_session() -> None:
    """Sign out: revoke the Supabase session (hosted mode) and forget everything this browser session held."""
    session = st.session_state.get(SESSION_KEY)
    if isinstance(session, StaffSession):
        sign_out(get_portal(), session=session)
    # Everything, not just the user: a shared tablet must not show the next person the last one's choices.
    st.session_state.clear()
    # The row is revoked already (every tab with the cookie is signed out); the browser drops the cookie, too.
    st.session_state[FORGET_COOKIE_KEY] = True


def require_role(role: str) -> StaffUser:
    """Stop the page unless a user with at least `role` is signed in (a guard behind the navigation)."""
    if st.session_state.get(KIOSK_KEY):
        # The router lists no staff page in kiosk mode; should one run anyway, the tablet goes back to the form.
        st.switch_page("portal/pages/consent_form.py")
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
        st.error(plain(exc))
