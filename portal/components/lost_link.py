"""The small "Lost your link?" form on the consent form and on every dead-end personal-link page."""

from __future__ import annotations

import streamlit as st

from portal.backend.i18n import t
from portal.backend.people.services import request_new_link
from portal.backend.platform.errors import ValidationError
from portal.backend.platform.runtime import Portal
from portal.backend.staff.queries import Organisation
from portal.components.text import plain, plain_t


def lost_link_form(portal: Portal, org: Organisation, locale: str, *, key: str) -> None:
    """Ask for the registered e-mail address and answer the same sentence whether or not it is known."""
    answered = f"{key}_answered"
    with st.container(border=True):
        st.markdown(f"**{t('lostlink.title', locale)}**")
        if not portal.settings.smtp_configured:
            # No promise of an e-mail nothing will send: the organisation's contact instead.
            st.caption(plain_t("lostlink.no_mail", locale, controller=org.controller_name, email=org.contact_email))
            return
        if st.session_state.get(answered):
            st.success(plain_t("lostlink.answer", locale, controller=org.controller_name, email=org.contact_email))
            return
        st.caption(t("lostlink.intro", locale))
        with st.form(key=f"{key}_form", border=False):
            email = st.text_input(t("lostlink.email", locale), max_chars=254, key=f"{key}_email")
            sent = st.form_submit_button(t("lostlink.send", locale))
        if sent:
            try:
                request_new_link(portal, email=email, locale=locale)
            except ValidationError as exc:
                st.error(plain(exc))
            else:
                # The same sentence for a known, unknown, unconfirmed or rate-limited address.
                st.session_state[answered] = True
                st.rerun()
