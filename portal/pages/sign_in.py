"""Staff sign-in (embedded mode: accounts in the database with scrypt hashes)."""

from __future__ import annotations

import streamlit as st

from portal.backend.errors import AuthError
from portal.backend.staff import authenticate
from portal.components.context import USER_KEY, get_portal

portal = get_portal()
st.title("Staff sign-in")
st.write("Data subjects: open the personal link you received; you do not need an account.")
with st.form("sign_in"):
    email = st.text_input("E-mail", autocomplete="username")
    password = st.text_input("Password", type="password", autocomplete="current-password")
    submitted = st.form_submit_button("Sign in", type="primary")
if submitted:
    try:
        st.session_state[USER_KEY] = authenticate(portal.db, email=email, password=password)
    except AuthError as exc:
        st.error(str(exc))
    else:
        st.rerun()
