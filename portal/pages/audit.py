"""Managers: the audit log of staff actions (who saw, exported, linked, deleted what)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from portal.backend.staff.queries import audit_log
from portal.components.context import get_portal, require_role
from portal.components.tables import safe_csv

portal = get_portal()
require_role("manager")
st.title("Audit log")
action = st.text_input("Only this action (e.g. view_subject, export_subject, erase_subject)", max_chars=64)
lines = audit_log(portal, limit=500, action=action.strip() or None)
table = pd.DataFrame(
    [
        {
            "id": a.id,
            "at": a.at,
            "actor": a.actor,
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
st.download_button("Download as CSV", safe_csv(table), file_name="audit-log.csv", mime="text/csv")
