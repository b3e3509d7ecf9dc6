"""Managers: photos at risk per purpose and why, and the published ones that lost their basis (critical)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from portal.backend.risk import REASONS, critical_assets, summary
from portal.components.context import get_portal, require_role

portal = get_portal()
user = require_role("manager")
st.title("At-risk photos")
with portal.db.read() as conn:
    figures = summary(conn, warning_days=portal.settings.expiry_warning_days)
    critical = critical_assets(conn)

cols = st.columns(3)
cols[0].metric("Critical (published, no basis)", len({c["asset_id"] for c in critical}))
cols[1].metric("At risk for some purpose", max((f.at_risk for f in figures), default=0),
               help="the largest per-purpose count; a photo can be at risk for several purposes")
cols[2].metric("Expiring soon", sum(f.expiring for f in figures),
               help=f"photos whose consent lapses within {portal.settings.expiry_warning_days} days, per purpose")

table = pd.DataFrame(
    [{"Purpose": f.purpose, "At risk": f.at_risk, "Critical": f.critical, "Expiring": f.expiring,
      **{r: f.by_reason.get(r, 0) for r in REASONS}} for f in figures]
)
st.subheader("Per purpose")
st.dataframe(table, hide_index=True, width="stretch")
st.download_button("Download as CSV", table.to_csv(index=False).encode(), file_name="risk-summary.csv",
                   mime="text/csv")
if not table.empty:
    st.bar_chart(table.set_index("Purpose")[list(REASONS)], stack=True, height=280)

st.subheader("Critical: published photos that lost their basis")
if critical:
    crit = pd.DataFrame(critical).rename(columns={"asset_id": "Photo", "filename": "File", "code": "Purpose",
                                                  "place": "Published at", "since": "Since", "reason": "Why"})
    st.dataframe(crit, hide_index=True, width="stretch")
else:
    st.success("No published photo is at risk.")
