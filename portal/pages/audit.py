"""Managers: the audit log of staff actions (who saw, exported, linked, deleted what), filtered by days, actor and
action, paged, and exported as CSV through the audited service."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from portal.backend.platform.errors import PortalError
from portal.backend.staff.queries import AuditFilter, audit_choices, audit_count, audit_log
from portal.backend.staff.services import export_audit_log
from portal.components.context import get_portal, require_role
from portal.components.text import plain

PAGE_SIZE = 100

portal = get_portal()
user = require_role("manager")
st.title("Audit log")
actions, actors = audit_choices(portal)
today = datetime.now(UTC).date()

with st.container(border=True):
    top = st.columns(2)
    # A range of whole UTC days; a half-chosen range (one click so far) reads as that single day.
    days = top[0].date_input(
        "Days (UTC)", value=(today - timedelta(days=30), today), max_value=today, key="audit_days", format="YYYY-MM-DD"
    )
    actor = top[1].selectbox(
        "Actor", ["", *actors], key="audit_actor", format_func=lambda a: actors.get(a, "Everyone") if a else "Everyone"
    )
    action = st.selectbox("Action", ["", *actions], key="audit_action", format_func=lambda a: a or "Every action")

picked = list(days) if isinstance(days, (tuple, list)) else [days]
first = picked[0] if picked else None
last = picked[-1] if picked else None
chosen = AuditFilter.for_days(first, last, action=action or None, actor=actor or None)
if st.session_state.get("audit_seen") != chosen:  # a changed filter starts at its first page
    st.session_state["audit_seen"] = chosen
    st.session_state["audit_page"] = 0
    st.session_state.pop("audit_csv", None)  # an export of the previous filter is not this one's
total = audit_count(portal, chosen=chosen)
pages = max(1, math.ceil(total / PAGE_SIZE))
page_no = min(int(st.session_state.get("audit_page", 0)), pages - 1)
lines = audit_log(portal, chosen=chosen, limit=PAGE_SIZE, offset=page_no * PAGE_SIZE)

row = st.container(horizontal=True, vertical_alignment="center", horizontal_alignment="distribute")
if row.button("‹ Newer", key="audit_prev", disabled=page_no == 0):
    st.session_state["audit_page"] = page_no - 1
    st.rerun()
row.caption(f"{total} line(s)" + (f" · page {page_no + 1} of {pages}" if total > PAGE_SIZE else ""))
if row.button("Older ›", key="audit_next", disabled=page_no + 1 >= pages):
    st.session_state["audit_page"] = page_no + 1
    st.rerun()

table = pd.DataFrame(
    [
        {
            "id": a.id,
            "at": a.at,
            "actor": a.actor_name,
            "action": a.action,
            "target_type": a.target_type,
            "target_id": a.target_id,
            "detail": a.detail,
        }
        for a in lines
    ],
    columns=["id", "at", "actor", "action", "target_type", "target_id", "detail"],
)
st.dataframe(table, hide_index=True, width="stretch")

# The export goes through the service, which writes its own audit line: a download button alone would leave none.
if st.button(f"Export {total} line(s) as CSV", key="audit_export", disabled=not total):
    try:
        csv_text, exported = export_audit_log(portal, actor=user.as_actor(), chosen=chosen)
    except PortalError as exc:
        st.error(plain(exc))
    else:
        st.session_state["audit_csv"] = (csv_text.encode("utf-8"), exported)
if (ready := st.session_state.get("audit_csv")) is not None:
    data, exported = ready
    st.download_button(
        f"Download the CSV ({exported} line(s); the export is in the log)",
        data,
        file_name=f"audit-log-{first or 'all'}-{last or 'all'}.csv",
        mime="text/csv",
        key="audit_download",
    )
