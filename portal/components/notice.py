"""The notice at collection's second layer: "More about your data", one tap away under the form's short first layer
and on the personal page. Every value is shown as plain text; only addresses from the organisation's settings that
are plain web addresses become links."""

from __future__ import annotations

import re
from collections.abc import Sequence

import streamlit as st

from portal.backend.consent.queries import Notice, NoticeRecipient, notice
from portal.backend.i18n.notice import notice_text
from portal.backend.platform.runtime import Portal
from portal.components.lazy import folded
from portal.components.text import plain

# Markdown's inline punctuation; a checked address keeps its text (no word joiner, so its accessible name is the URL).
_PUNCTUATION = re.compile(r"([\\`*_\[\]<>~$|])")


def _link(url: str) -> str:
    """A Markdown link to an address the notice already checked (http(s), no spaces, brackets or quotes)."""
    label = _PUNCTUATION.sub(r"\\\1", url)
    return f"[{label}](<{url}>)"


def _recipient_line(r: NoticeRecipient, locale: str) -> str:
    """'Name, in SE, processor (...): what they do.' plus the transfer note, as plain text."""
    parts = [r.name]
    if r.country:
        parts.append(notice_text("in_country", locale, country=r.country))
    if r.kind_label:
        parts.append(r.kind_label)
    line = ", ".join(parts) + (f": {r.service}" if r.service else "")
    return plain(f"{line}. {r.transfer_note}" if r.transfer_note else line)


def _bullets(lines: Sequence[str]) -> str:
    """Already plain lines as a Markdown list."""
    return "\n".join(f"- {line}" for line in lines)


def render_notice(n: Notice) -> None:
    """The notice's sections inside the current container."""
    loc = n.locale
    st.caption(notice_text("intro", loc))
    st.markdown(f"**{notice_text('controller_title', loc)}**")
    st.markdown(f"{plain(n.controller)}  \n{plain(n.contact)}")
    if n.dpo:
        st.markdown(f"**{notice_text('dpo_title', loc)}**")
        st.markdown(plain(n.dpo))
    st.markdown(f"**{notice_text('purposes_title', loc)}**")
    for p in n.purposes:
        with st.container(border=True, key=f"notice_purpose_{p.code}"):
            st.markdown(f"**{plain(p.title)}**")
            recipients = [_recipient_line(r, loc) for r in p.recipients]
            lines = [
                f"*{notice_text('legal_basis', loc)}:* {plain(p.legal_basis)}",
                f"*{notice_text('consent_lasts', loc)}:* {plain(p.consent_lasts)}",
                f"*{notice_text('photos_kept', loc)}:* {plain(p.photos_kept)}",
                f"*{notice_text('recipients', loc)}:* {'; '.join(recipients)}",
            ]
            st.markdown(_bullets(lines))
    if n.shared_recipients:
        st.markdown(f"**{notice_text('shared_title', loc)}**")
        st.markdown(_bullets([_recipient_line(r, loc) for r in n.shared_recipients]))
    st.markdown(f"**{notice_text('data_title', loc)}**")
    st.markdown(_bullets([plain(item) for item in n.data_collected]))
    st.markdown(f"**{notice_text('rights_title', loc)}**")
    st.markdown(_bullets([f"*{plain(r.title)}:* {plain(r.how)}" for r in n.rights]))
    st.caption(plain(n.personal_page))
    st.markdown(f"**{notice_text('authority_title', loc)}**")
    authority = plain(n.authority)
    if n.authority_url:
        authority += " " + _link(n.authority_url)
    st.markdown(authority)
    st.markdown(f"**{notice_text('policy_title', loc)}**")
    policy = plain(n.policy_text)
    if n.policy_url:
        policy += " " + _link(n.policy_url)
    st.markdown(policy)


def notice_expander(
    portal: Portal, locale: str, *, key: str, purpose_codes: Sequence[str] | None = None, asks_phone: bool = False
) -> None:
    """'More about your data' as an expander (a native, keyboard-operable disclosure) holding the full notice, which is
    read and drawn when the expander is opened."""
    if (box := folded(notice_text("heading", locale), icon=":material/info:", key=key)) is not None:
        with box:
            render_notice(notice(portal, locale=locale, purpose_codes=purpose_codes, asks_phone=asks_phone))
