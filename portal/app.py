"""Router only: page config, sign-in state, and the pages this visitor may see."""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run portal/app.py` puts portal/ on sys.path, not the repository root that holds the package.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st  # noqa: E402

from portal.backend.organisation import get_organisation  # noqa: E402
from portal.components.context import current_user, end_session, get_portal  # noqa: E402
from portal.components.kiosk import hide_chrome, kiosk_session  # noqa: E402

st.set_page_config(page_title="Image consent portal", page_icon="📷", layout="wide")
portal = get_portal()
user = current_user()

with portal.db.read() as conn:
    org = get_organisation(conn)
if org.is_demo:
    st.warning(
        "**Demo data.** Everything here is invented for trying the portal; the demo accounts are public.",
        icon="🧪",
    )

kiosk = kiosk_session() if user is not None else None
if kiosk is not None:
    # Kiosk mode comes first, before any query parameter: the tablet shows one event's form and nothing else,
    # no staff page and no sidebar, until the staff member who started it ends it with their password.
    pages = [st.Page("views/consent_form.py", title="Photo consent", icon="📷", url_path="kiosk", default=True)]
    position = "hidden"
    hide_chrome()
elif "event" in st.query_params:
    # Someone who scanned an event's QR code: the public consent form, nothing else.
    pages = [st.Page("views/consent_form.py", title="Photo consent", icon="📷", url_path="consent", default=True)]
    position = "hidden"
elif "link" in st.query_params:
    # A data subject with a personal link sees their own page and nothing of the staff side.
    pages = [st.Page("views/my_consents.py", title="My consents", icon="🔗", url_path="my-consents", default=True)]
    position = "hidden"
elif user is None:
    pages = [st.Page("views/sign_in.py", title="Sign in", icon="🔑", url_path="sign-in", default=True)]
    position = "hidden"
else:
    pages = [
        st.Page("views/overview.py", title="Overview", icon="🏠", url_path="overview", default=True),
        st.Page("views/events.py", title="Events", icon="📅", url_path="events"),
        st.Page("views/capture.py", title="Paper forms", icon="📝", url_path="capture"),
        st.Page("views/assets.py", title="Photos", icon="🖼️", url_path="photos"),
    ]
    if user.can("manager"):
        pages.append(st.Page("views/dashboard.py", title="At-risk photos", icon="🚦", url_path="dashboard"))
        pages.append(st.Page("views/subjects.py", title="Subjects", icon="👥", url_path="subjects"))
        pages.append(st.Page("views/reports.py", title="Reports", icon="📄", url_path="reports"))
        pages.append(st.Page("views/audit.py", title="Audit log", icon="🔍", url_path="audit"))
    if user.can("admin"):
        pages.append(st.Page("views/settings.py", title="Settings", icon="⚙️", url_path="settings"))
    position = "sidebar"
    with st.sidebar:
        st.caption(f"Signed in as **{user.display_name}** ({user.role})")
        # A callback runs before the next script run, so that run already sees the user signed out.
        st.button("Sign out", key="sign_out", on_click=end_session)

st.navigation(pages, position=position).run()
