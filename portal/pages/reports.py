"""Managers: the compliance report and the Art. 30 record of processing as PDFs, generated on demand."""

from __future__ import annotations

import streamlit as st

from portal.backend.platform.db.types import utcnow
from portal.backend.reports.compliance import compliance_report_pdf, record_of_processing_pdf
from portal.backend.staff.audit import audit
from portal.components.context import get_portal, require_role

portal = get_portal()
user = require_role("manager")
st.title("Reports")
st.write("Both reports are generated from the live database when you ask for them.")

left, right = st.columns(2)
if left.button("Make the compliance report", key="make_compliance", width="stretch"):
    st.session_state["compliance_pdf"] = compliance_report_pdf(
        portal.db, window_days=portal.settings.expiry_warning_days
    )
    with portal.db.write() as conn:
        audit(conn, actor=f"staff:{user.id}", action="export_compliance_report", now=utcnow())
if right.button("Make the record of processing (Art. 30)", key="make_art30", width="stretch"):
    st.session_state["art30_pdf"] = record_of_processing_pdf(portal.db)
if st.session_state.get("compliance_pdf"):
    left.download_button(
        "Download the compliance report (PDF)",
        st.session_state["compliance_pdf"],
        file_name="compliance-report.pdf",
        mime="application/pdf",
        width="stretch",
    )
if st.session_state.get("art30_pdf"):
    right.download_button(
        "Download the record of processing (PDF)",
        st.session_state["art30_pdf"],
        file_name="record-of-processing.pdf",
        mime="application/pdf",
        width="stretch",
    )
