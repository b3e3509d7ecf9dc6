"""Managers: the compliance report for a period and the Art. 30 record of processing as PDFs, made on demand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from portal.backend.reports.services import DEFAULT_PERIOD_DAYS, art30_record, compliance_report, report_period
from portal.components.context import get_portal, require_role, shows_errors

portal = get_portal()
user = require_role("manager")
actor = user.as_actor()
st.title("Reports")
st.write(
    "Both reports are generated from the live database and this deployment's settings when you ask for them; each "
    "is noted in the audit log with your name, and names you as its author."
)

left, right = st.columns(2)
today = datetime.now(UTC).date()
start = left.date_input(
    "From (UTC day)", today - timedelta(days=DEFAULT_PERIOD_DAYS - 1), max_value=today, key="report_from"
)
end = left.date_input("To (UTC day, included)", today, max_value=today, key="report_to")
if left.button("Make the compliance report", key="make_compliance", width="stretch"):
    with shows_errors():
        period = report_period(start, end)
        st.session_state["compliance_pdf"] = compliance_report(portal, actor=actor, period=period)
        st.session_state["compliance_name"] = f"compliance-report-{start}-{end}.pdf"
right.caption(
    "The record of processing (GDPR Art. 30) lists purposes, data, recipients, transfers, time limits and "
    "security measures as they are now."
)
if right.button("Make the record of processing (Art. 30)", key="make_art30", width="stretch"):
    with shows_errors():
        st.session_state["art30_pdf"] = art30_record(portal, actor=actor)
if st.session_state.get("compliance_pdf"):
    left.download_button(
        "Download the compliance report (PDF)",
        st.session_state["compliance_pdf"],
        file_name=st.session_state.get("compliance_name", "compliance-report.pdf"),
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
