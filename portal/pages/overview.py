"""Start page for signed-in staff: who the controller is and the state of the consent records."""

from __future__ import annotations

import streamlit as st

from portal.backend.consent.queries import verify_ledger
from portal.backend.risk.queries import detector_status, overview
from portal.components.context import get_portal, require_role
from portal.components.text import plain

portal = get_portal()
user = require_role("staff")
st.title("Overview")
facts = overview(portal)
org = facts.organisation
st.markdown(
    f"**Controller:** {plain(org.controller_name)}, {plain(org.street)}, {plain(org.postal_code)} "
    f"{plain(org.locality)}, {plain(org.country)}  \n"
    f"**Contact:** {plain(org.contact_email)} · {plain(org.contact_phone)}  \n"
    f"**Data protection officer:** {plain(org.dpo_name or '-')} ({plain(org.dpo_email or '-')})  \n"
    f"**Age of digital consent:** {org.consent_age} · **Consent valid for:** {org.consent_validity_days} days"
)
cols = st.columns(4)
cols[0].metric("Subjects", facts.subjects)
cols[1].metric("Events", facts.events)
cols[2].metric("Ledger entries", facts.ledger_entries)
cols[3].metric("Consents expiring soon", facts.expiring_soon, help=f"within {portal.settings.expiry_warning_days} days")
with st.expander("Detectors"):
    for line in detector_status(portal):
        st.markdown(plain(line))
if user.can("manager") and st.button("Verify the consent ledger"):
    report = verify_ledger(portal)
    if report.ok:
        st.success(f"Ledger intact: {report.checked} entries verified.")
    else:
        st.error(f"Ledger tampered: first bad entry {report.first_bad_seq}. {plain(report.problem)}.")
