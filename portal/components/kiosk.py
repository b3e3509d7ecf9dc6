"""Kiosk mode in the browser session: start it, wipe the form between people (also when left idle), and end it
with a password."""

from __future__ import annotations

import math
import time
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAPIException

from portal.backend.events.services import end_kiosk, start_kiosk
from portal.backend.i18n import best_locale, t
from portal.backend.platform.actors import Actor
from portal.backend.platform.errors import PortalError
from portal.backend.staff.queries import StaffSession, StaffUser
from portal.backend.staff.services import remember_kiosk
from portal.components.context import KIOSK_KEY, SESSION_KEY, get_portal
from portal.components.text import plain

# Every widget and value the consent form keeps in the session; the next person must start from none of them.
# Widgets go back to their empty value through Session State, which the browser is told about: only deleting the
# key would leave the browser showing (and sending back) the last person's value, e.g. Svenska over English text.
_EMPTY: dict[str, Any] = {
    "form_name": "",
    "form_email": "",
    "form_guardian": "",
    "form_birth_month": None,
    "form_birth_year": None,
    "form_guardian_method": None,
    "form_guardian_ok": False,
}
# Deleted, not set: file widgets refuse a value (they go once the face-matching tick is cleared), the rest are not
# widgets. Any other key starting with form_ (e.g. a later field's) is deleted too.
_DROP = ("selfie_camera", "selfie_upload", "submission_id", "registered")
# When the kiosk form was last used (a full page run), and that it has stood idle for too long.
_ACTIVITY_KEY = "kiosk_activity"
_IDLE_DUE_KEY = "kiosk_idle_due"
# The countdown shows for this last part of the idle time (all of it when that is shorter).
COUNTDOWN_SECONDS = 30


def kiosk_session() -> dict[str, Any] | None:
    """The running kiosk of this browser session ({"event_id", "staff_id", "staff_name"}), if any."""
    kiosk = st.session_state.get(KIOSK_KEY)
    return kiosk if isinstance(kiosk, dict) else None


def begin_kiosk(staff: StaffUser, event_id: int) -> None:
    """Button callback: turn this session into a kiosk for one event (the router then shows only the form)."""
    portal = get_portal()
    try:
        kiosk = start_kiosk(portal, actor=staff.as_actor(), event_id=event_id)
    except PortalError as exc:
        st.session_state["kiosk_error"] = str(exc)
        return
    clear_form()
    # A plain dict: session state outlives code reloads, and the consent form reads these three keys.
    st.session_state[KIOSK_KEY] = {
        "event_id": kiosk.event_id,
        "staff_id": kiosk.staff_id,
        "staff_name": kiosk.staff_name,
    }
    _remember(event_id)


def _remember(event_id: int | None) -> None:
    """Keep the kiosk with the browser's remembered sign-in: a reload of the tablet comes back to the form."""
    session = st.session_state.get(SESSION_KEY)
    if isinstance(session, StaffSession):
        remember_kiosk(get_portal(), session=session, event_id=event_id)


def kiosk_locale() -> str:
    """The language the kiosk starts each person with: the tablet browser's."""
    return best_locale([getattr(st.context, "locale", None) or "en"])


def _reset(key: str, value: Any) -> None:
    """Give a widget its empty value; where its widget already ran in this script run (a reset from inside the page,
    followed by a rerun to a page without it), delete the key instead."""
    try:
        st.session_state[key] = value
    except StreamlitAPIException:
        del st.session_state[key]


def clear_form(keep: tuple[str, ...] = ()) -> None:
    """Forget everything the last person typed, ticked, chose or uploaded, language included (except the keys in
    `keep`): the next person gets the form as the kiosk started it."""
    for raw in list(st.session_state.keys()):
        key = str(raw)
        if key in keep:
            continue
        if key in _EMPTY:
            _reset(key, _EMPTY[key])
        elif key.startswith("agree_"):
            _reset(key, False)
        elif key in _DROP or (key.startswith("form_") and key != "form_locale"):
            del st.session_state[key]
    if "form_locale" not in keep and "form_locale" in st.session_state:  # absent: the widget starts at its default
        _reset("form_locale", kiosk_locale())
    st.session_state[_ACTIVITY_KEY] = time.monotonic()


def _has_person() -> bool:
    """Something of a person is on the tablet: a typed, ticked or chosen value, a language, or a thank-you."""
    state = st.session_state
    if any(key in state for key in _DROP) or state.get("form_locale", kiosk_locale()) != kiosk_locale():
        return True
    return any(
        state[key] not in (None, "", False)
        for key in map(str, list(state.keys()))
        if key in _EMPTY or key.startswith("agree_")
    )


def _still_here() -> None:
    """The countdown's button: the person is still there, the idle time starts again."""
    st.session_state[_ACTIVITY_KEY] = time.monotonic()


@st.fragment(run_every=1)
def _countdown(seconds: int) -> None:
    """Every second: clear the form once it has stood idle for `seconds`, and show the time left near the end."""
    left = seconds - (time.monotonic() - st.session_state.get(_ACTIVITY_KEY, time.monotonic()))
    if left <= 0:
        st.session_state[_IDLE_DUE_KEY] = True
        st.rerun(scope="app")
    if left <= COUNTDOWN_SECONDS:
        locale = str(st.session_state.get("form_locale") or kiosk_locale())
        with st.container(border=True, key="kiosk_idle"):
            st.warning(t("kiosk.idle", locale, seconds=math.ceil(left)), icon=":material/hourglass_top:")
            st.button(t("kiosk.idle_stay", locale), key="kiosk_idle_stay", on_click=_still_here)


def idle_guard(seconds: int) -> None:
    """Before the kiosk's page runs: a full page run is activity; a form left idle for `seconds` is cleared for the
    next person (here, before any of its widgets exist), with a countdown while something of a person is shown."""
    if st.session_state.pop(_IDLE_DUE_KEY, False):
        clear_form()
    st.session_state[_ACTIVITY_KEY] = time.monotonic()
    if _has_person():
        _countdown(seconds)


def hide_chrome() -> None:
    """Hide Streamlit's header, toolbar and sidebar toggle: the tablet shows the form and nothing to wander off to."""
    # Constant CSS, no user data: safe to pass as HTML. The router already lists no other page, so this is comfort,
    # not the security boundary.
    st.html(
        "<style>header[data-testid='stHeader'], [data-testid='stToolbar'], [data-testid='stSidebar'], "
        "[data-testid='stSidebarCollapsedControl'], [data-testid='stDecoration'] {display: none !important;} "
        # The idle countdown stays in sight wherever the person has scrolled to.
        ".st-key-kiosk_idle {position: fixed; bottom: 1rem; left: 50%; transform: translateX(-50%); z-index: 1000; "
        "width: min(36rem, 92vw); background: var(--st-background-color, #fff);}</style>"
    )


def exit_control(kiosk: dict[str, Any]) -> None:
    """A tucked-away expander where the staff member ends kiosk mode with their password."""
    with st.expander("Staff: end kiosk mode"):
        with st.form("kiosk_exit", clear_on_submit=True):
            st.caption(f"Only {plain(kiosk['staff_name'])}, who started kiosk mode, can end it.")
            password = st.text_input(
                "Your password", type="password", key="kiosk_password", autocomplete="current-password"
            )
            submitted = st.form_submit_button("End kiosk mode")
        if submitted:
            try:
                end_kiosk(
                    get_portal(),
                    actor=Actor.kiosk(kiosk["staff_id"]),
                    password=password,
                    event_id=kiosk["event_id"],
                )
            except PortalError as exc:
                st.error(plain(exc))
            else:
                clear_form()
                st.session_state.pop(KIOSK_KEY, None)
                _remember(None)
                st.rerun()
