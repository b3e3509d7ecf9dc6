"""Managers: the compliance report and the Art. 30 record of processing as PDFs, generated on demand."""

from __future__ import annotations

import streamlit as st

from portal.backend.reports.services import art30_record, compliance_report
from portal.components.context import get_portal, require_role, shows_errors

portal = get_portal()
user = require_role("manager")
actor = user.as_actor()
st.title("Reports")
st.write("Both reports are generated from the live database when you ask for them; each is noted in the audit log.")

left, right = st.columns(2)
if left.button("Make the compliance report", key="make_compliance", width="stretch"):
    with shows_errors():
        st.session_state["compliance_pdf"] = compliance_report(portal, actor=actor)
if right.button("Make the record of processing (Art. 30)", key="make_art30", width="stretch"):
    with shows_errors():
        st.session_state["art30_pdf"] = art30_record(portal, actor=actor)
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
