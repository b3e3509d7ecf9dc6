"""Confirming a second form's choices: the link e-mailed to a confirmed address shows what changes, one button
records it for that same person (one person, one record). The link works once and expires."""

from __future__ import annotations

import streamlit as st

from portal.backend.consent.queries import current_texts, list_purposes
from portal.backend.i18n import LOCALES, best_locale, t
from portal.backend.people.services import confirm_pending_change, open_pending_change
from portal.backend.platform.errors import GuardianRequired, TokenError
from portal.backend.staff.queries import organisation
from portal.components.context import get_portal
from portal.components.lost_link import lost_link_form
from portal.components.text import plain, plain_t

portal = get_portal()
token = st.query_params.get("confirm", "")
org = organisation(portal)
browser = best_locale([getattr(st.context, "locale", None) or "en"])

done = st.session_state.get("confirmed_changes")
if done and done["token"] == token:
    # After the button: the outcome in the person's language, and the way to their page (a new link by e-mail).
    st.title(t("confirm.title", done["locale"]), anchor=False)
    st.success(t("confirm.done", done["locale"]))
    st.stop()

try:
    view = open_pending_change(portal, token=token)
except TokenError as exc:
    # Used, expired or damaged: said in the visitor's language, never the internals; "Lost your link?" below.
    st.title(t("confirm.title", browser), anchor=False)
    st.error(t(f"token.{exc.reason}", browser))
    lost_link_form(portal, org, browser, key="confirm_lost_link")
    st.stop()
    raise  # unreachable

locale = view.locale if view.locale in LOCALES else browser
st.title(t("confirm.title", locale), anchor=False)
st.write(plain_t("confirm.intro", locale, name=view.name or ""))
titles = {p.code: current_texts(portal, locale).get(p.id) for p in list_purposes(portal, active_only=False)}
if view.changes:
    for code, action in view.changes:
        text = titles.get(code)
        st.text(f"{text.title if text else code}: {t(f'confirm.action.{action}', locale)}")
else:
    st.info(t("confirm.none", locale))
st.caption(t("confirm.expires", locale, date=view.expires_at.date().isoformat()))
if st.button(t("confirm.button", locale), type="primary", width="stretch", key="confirm_changes"):
    try:
        confirm_pending_change(portal, token=token)
    except GuardianRequired:
        st.error(t("confirm.guardian", locale))
    except TokenError as exc:
        st.error(t(f"token.{exc.reason}", locale))
    else:
        st.session_state["confirmed_changes"] = {"token": token, "locale": locale}
        st.rerun()
st.caption(plain(org.controller_name))
