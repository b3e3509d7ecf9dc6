"""Router only: page config, sign-in state, and the pages this visitor may see.

`streamlit run streamlit_app.py` (the repository root) calls `main()` on every rerun. The pages live in
portal/pages/, which is not beside the started script: Streamlit runs a `pages/` folder next to the main script in
its folder mode, without this router, until some session reaches `st.navigation`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import streamlit as st

from portal.backend.i18n import t
from portal.backend.staff.queries import organisation
from portal.components.a11y import global_style
from portal.components.context import current_user, end_session, get_portal
from portal.components.kiosk import hide_chrome, idle_guard, kiosk_session
from portal.components.public import public_errors, visitor_locale
from portal.components.session_cookie import from_cookie, sync
from portal.components.text import plain

PAGES = Path(__file__).resolve().parent / "pages"
# The query parameters of the subject side's pages (see main()).
SUBJECT_PARAMS = ("event", "confirm", "link")


def _page(name: str, title: str, icon: str, url_path: str, *, default: bool = False) -> st.Page:
    """One page of portal/pages/ by file name; its icon is a Material icon (Streamlit serves that font itself, where
    an emoji shows as an empty box on a system without an emoji font)."""
    return st.Page(PAGES / f"{name}.py", title=title, icon=icon, url_path=url_path, default=default)


# The staff pages in menu order: file in portal/pages/, title, Material icon, address, and the role that sees it.
STAFF_PAGES: tuple[tuple[str, str, str, str, str], ...] = (
    ("overview", "Overview", ":material/home:", "overview", "staff"),
    ("events", "Events", ":material/event:", "events", "staff"),
    ("capture", "Paper forms", ":material/edit_note:", "capture", "staff"),
    ("assets", "Photos", ":material/photo_library:", "photos", "staff"),
    ("takedowns", "To take down", ":material/block:", "takedowns", "staff"),
    ("dashboard", "At-risk photos", ":material/warning:", "dashboard", "manager"),
    ("retention", "Past retention", ":material/inventory_2:", "retention", "manager"),
    ("outbox", "Outbox", ":material/mail:", "outbox", "manager"),
    ("subjects", "Subjects", ":material/group:", "subjects", "manager"),
    ("reports", "Reports", ":material/description:", "reports", "manager"),
    ("audit", "Audit log", ":material/manage_search:", "audit", "manager"),
    ("settings", "Settings", ":material/settings:", "settings", "admin"),
)


def staff_pages(role_can: dict[str, bool]) -> list[st.Page]:
    """The staff pages a signed-in user with these role checks may open, in menu order."""
    return [
        _page(name, title, icon, path, default=path == "overview")
        for name, title, icon, path, role in STAFF_PAGES
        if role == "staff" or role_can[role]
    ]


def main() -> None:
    """Route this script run: kiosk, QR form, personal link, sign-in or the staff pages by role."""
    st.set_page_config(page_title="Image consent portal", page_icon="📷", layout="wide")
    portal = get_portal()
    user = current_user()
    # A reload, a deep link or a new tab of a signed-in browser: the cookie brings the sign-in back. Not for the
    # subject side (a QR form, a personal link, a confirmation link): it stays stateless, also in a staff browser.
    if user is None and not any(p in st.query_params for p in SUBJECT_PARAMS) and from_cookie() is not None:
        user = current_user()
    sync()  # hand the browser its sign-in cookie after a sign-in, or delete it after a sign-out
    global_style()  # touch targets of 44 px on phones and tablets, on every page

    if organisation(portal).is_demo:
        # In the visitor's language; a Material icon, as an emoji shows as an empty box without an emoji font.
        st.warning(t("demo.banner", visitor_locale()), icon=":material/science:")

    position: Literal["sidebar", "hidden"]
    kiosk = kiosk_session() if user is not None else None
    if kiosk is not None:
        # Kiosk mode comes first, before any query parameter: the tablet shows one event's form and nothing else,
        # no staff page and no sidebar, until the staff member who started it ends it with their password.
        pages = [_page("consent_form", "Photo consent", ":material/photo_camera:", "kiosk", default=True)]
        position = "hidden"
        hide_chrome()
        idle_guard(portal.settings.kiosk_idle_seconds)
    elif "event" in st.query_params:
        # Someone who scanned an event's QR code: the public consent form, nothing else.
        pages = [_page("consent_form", "Photo consent", ":material/photo_camera:", "consent", default=True)]
        position = "hidden"
    elif "confirm" in st.query_params:
        # A person confirming the choices of a second form, from the link e-mailed to their confirmed address.
        pages = [_page("confirm_changes", "Confirm your choices", ":material/check_circle:", "confirm", default=True)]
        position = "hidden"
    elif "link" in st.query_params:
        # A data subject with a personal link sees their own page and nothing of the staff side.
        pages = [_page("my_consents", "My consents", ":material/link:", "my-consents", default=True)]
        position = "hidden"
    elif user is None:
        pages = [_page("sign_in", "Sign in", ":material/key:", "sign-in", default=True)]
        position = "hidden"
    else:
        pages = staff_pages({"manager": user.can("manager"), "admin": user.can("admin")})
        position = "sidebar"
        with st.sidebar:
            st.caption(f"Signed in as **{plain(user.display_name)}** ({user.role})")
            # A callback runs before the next script run, so that run already sees the user signed out.
            st.button("Sign out", key="sign_out", on_click=end_session)

    page = st.navigation(pages, position=position)
    if position == "hidden":
        # The pages anyone can open (consent form, kiosk, personal page, sign-in): an unexpected error shows a short
        # message with an error id in the visitor's language; the traceback goes to the log only.
        with public_errors():
            page.run()
    else:
        page.run()
