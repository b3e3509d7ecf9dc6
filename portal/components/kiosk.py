"""Kiosk mode in the browser session: start it, wipe the form between people, and end it with a password."""

from __future__ import annotations

from typing import Any

import streamlit as st

from portal.backend.events.services import end_kiosk, start_kiosk
from portal.backend.platform.actors import Actor
from portal.backend.platform.errors import PortalError
from portal.backend.staff.queries import StaffUser
from portal.components.context import KIOSK_KEY, get_portal
from portal.components.text import plain

# Every widget and value the consent form keeps in the session; the next person must start from none of them.
_FORM_KEYS = (
    "form_name",
    "form_email",
    "form_birth_month",
    "form_birth_year",
    "form_guardian",
    "form_guardian_ok",
    "form_guardian_method",
    "selfie_camera",
    "selfie_upload",
    "form_locale",
    "submission_id",
    "registered",
)


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


def clear_form(keep: tuple[str, ...] = ()) -> None:
    """Forget everything the last person typed, ticked or uploaded (except the keys in `keep`)."""
    for key in list(st.session_state.keys()):
        if key not in keep and (key in _FORM_KEYS or str(key).startswith("agree_")):
            del st.session_state[key]


def hide_chrome() -> None:
    """Hide Streamlit's header, toolbar and sidebar toggle: the tablet shows the form and nothing to wander off to."""
    # Constant CSS, no user data: safe to pass as HTML. The router already lists no other page, so this is comfort,
    # not the security boundary.
    st.html(
        "<style>header[data-testid='stHeader'], [data-testid='stToolbar'], [data-testid='stSidebar'], "
        "[data-testid='stSidebarCollapsedControl'], [data-testid='stDecoration'] {display: none !important;}</style>"
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
                st.rerun()
