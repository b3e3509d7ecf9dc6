"""Managers: subjects and their current consent per purpose, from the real database."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from portal.backend.consent.queries import list_purposes, purpose_titles
from portal.backend.people.queries import likely_duplicates, list_subjects
from portal.backend.people.services import (
    create_personal_link,
    merge_subjects,
    method_label,
    revoke_personal_links,
    view_subject,
)
from portal.components.consent_labels import status_label
from portal.components.context import get_portal, require_role, shows_errors
from portal.components.text import plain

PAGE_SIZE = 50

portal = get_portal()
user = require_role("manager")
st.title("Subjects")
now = datetime.now(UTC)

merged_note = st.session_state.pop("merge_done", None)
if merged_note:
    st.success(merged_note)
groups = likely_duplicates(portal)
with st.expander(f"Likely duplicates ({len(groups)})", expanded=bool(groups)):
    if not groups:
        st.caption("No two people share an e-mail address, or a name at the same event.")
    for n, group in enumerate(groups):
        why = "same e-mail address" if group.reason == "email" else "same name at the same event"
        st.markdown(f"**Group {n + 1}** ({why})")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Name": p.name or "",
                        "E-mail": p.email or "",
                        "Confirmed": "yes" if p.email_confirmed else "",
                        "Minor": "yes" if p.minor else "",
                        "Registered": p.registered,
                        "Id": p.id,
                    }
                    for p in group.people
                ]
            ),
            hide_index=True,
            width="stretch",
        )
        labels = {p.id: f"{p.name or '(no name)'} · {p.registered:%Y-%m-%d %H:%M} · {p.id[:8]}" for p in group.people}
        keep_col, drop_col = st.columns(2)
        keep = keep_col.selectbox(
            "Keep", options=list(labels), format_func=labels.__getitem__, key=f"dup_keep_{n}", index=0
        )
        others = [i for i in labels if i != keep]
        drop = drop_col.selectbox(
            "Merge into it", options=others, format_func=labels.__getitem__, key=f"dup_drop_{n}", index=0
        )
        sure = st.checkbox("I checked that these are the same person. The merge cannot be undone.", key=f"dup_sure_{n}")
        if st.button("Merge", key=f"dup_merge_{n}", disabled=not sure, type="primary"):
            with shows_errors():
                result = merge_subjects(portal, actor=user.as_actor(), keep_id=keep, drop_id=drop)
                st.session_state["merge_done"] = (
                    f"Merged {labels[drop]} into {labels[keep]}: {len(result.entries)} ledger entries, "
                    f"{result.faces_moved} face(s) moved, {result.links_revoked} link(s) withdrawn."
                )
                st.session_state.pop("subject_detail", None)
                st.rerun()

search = st.text_input("Search by name", max_chars=200, placeholder="e.g. Lindqvist")
codes = [p.code for p in list_purposes(portal)]
titles = purpose_titles(portal)  # shown instead of codes such as `social_media`; the code is the column's tooltip
total = list_subjects(portal, now=now, search=search, limit=0).total
pages = max(1, -(-total // PAGE_SIZE))
page = st.number_input("Page", min_value=1, max_value=pages, value=1, step=1) if pages > 1 else 1
found = list_subjects(portal, now=now, search=search, limit=PAGE_SIZE, offset=(int(page) - 1) * PAGE_SIZE)
total, rows = found.total, found.rows
st.caption(f"{total} subjects · page {page} of {pages}")

table = pd.DataFrame(
    [
        {
            "Name": r.name,
            "E-mail": r.email or "",
            "Minor": "yes" if r.minor else "",
            **{code: status_label(r.consents.get(code, "unknown")) for code in codes},
        }
        for r in rows
    ],
    columns=["Name", "E-mail", "Minor", *codes],
)
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={c: st.column_config.TextColumn(titles.get(c, c), help=f"Purpose code: {c}") for c in codes},
)

if rows:
    choice = st.selectbox(
        "Open a subject",
        options=[r.id for r in rows],
        format_func=lambda sid: next(r.name or "(erased)" for r in rows if r.id == sid),
        index=None,
        placeholder="Choose a person to see their consents and history",
    )
    if choice:
        with shows_errors():
            detail = st.session_state.get("subject_detail")
            if detail is None or detail.subject.id != choice:
                # Every view of a subject's data by staff is audited (once per opening, not per rerun).
                detail = view_subject(portal, actor=user.as_actor(), subject_id=choice, now=now)
                st.session_state["subject_detail"] = detail
            subject = detail.subject
            st.subheader(plain(subject.display_name) if subject.display_name else "(erased)", anchor=False)
            if subject.merged_into:
                st.caption(f"Merged into {subject.merged_into} on {subject.merged_at:%Y-%m-%d}.")
            if subject.is_minor:
                st.caption(
                    f"Minor · guardian {plain(subject.guardian_name)} · "
                    f"verified: {plain(method_label(subject.guardian_verification))}"
                )
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "Purpose": titles.get(s.purpose_code, s.purpose_code),
                            "Image": s.scope_asset_id or "all",
                            "Status": status_label(s.status),
                            "Since": s.since,
                            "Valid until": s.valid_until,
                            "Text version": s.text_version,
                        }
                        for s in detail.statuses
                    ]
                ),
                hide_index=True,
                width="stretch",
            )
            st.markdown("**History** (from the append-only ledger)")
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "#": h.entry.seq,
                            "Time": h.entry.recorded_at,
                            "Purpose": titles.get(h.purpose_code, h.purpose_code),
                            "Action": h.entry.action,
                            "Channel": h.entry.channel,
                            "Actor": h.entry.actor,
                            # Entries of a duplicate merged into this person keep their own (pseudonymous) id.
                            "Merged from": "" if h.entry.subject_id == subject.id else h.entry.subject_id[:8],
                            "Hash": h.entry.entry_hash[:16],
                        }
                        for h in detail.history
                    ]
                ),
                hide_index=True,
                width="stretch",
            )
            new_link, revoke = st.columns(2)
            if new_link.button("Create a personal link for this person", key="create_link"):
                url = create_personal_link(portal, actor=user.as_actor(), subject_id=subject.id)
                st.code(url, language=None)
                st.caption(
                    f"Valid for at least {portal.settings.link_ttl_days} days (as long as their consents). "
                    "Their older links no longer work. Give it only to this person."
                )
            if revoke.button("Withdraw all their personal links", key="revoke_links"):
                revoked = revoke_personal_links(portal, actor=user.as_actor(), subject_id=subject.id)
                st.success(f"Withdrew {revoked} active link(s); any copy of them no longer opens.")
