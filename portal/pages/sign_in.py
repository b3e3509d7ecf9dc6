"""Staff sign-in: embedded accounts (scrypt hashes in the database) or Supabase Auth in hosted mode."""

from __future__ import annotations

import streamlit as st

from portal.backend.platform.errors import PortalError
from portal.backend.staff.services import sign_in
from portal.components.context import NOTICE_KEY, get_portal, start_session
from portal.components.session_cookie import remember
from portal.components.text import plain

portal = get_portal()
st.title("Staff sign-in")
if notice := st.session_state.pop(NOTICE_KEY, None):
    st.info(plain(notice))
st.write("Data subjects: open the personal link you received; you do not need an account.")
if portal.settings.auth_backend == "supabase":
    st.caption("Sign in with the e-mail and password of your organisation's Supabase account.")
with st.form("sign_in"):
    email = st.text_input("E-mail", autocomplete="username")
    password = st.text_input("Password", type="password", autocomplete="current-password")
    submitted = st.form_submit_button("Sign in", type="primary")
if submitted:
    try:
        # Remembered by this browser (an HttpOnly cookie, set on the next run), so a reload keeps the sign-in.
        start_session(remember(sign_in(portal, email=email, password=password)))
    except PortalError as exc:  # wrong password, no portal role, a wrong key or an unreachable Supabase
        st.error(plain(exc))
    else:
        st.rerun()
