"""Managers: photos at risk per purpose and why, what lapses soon, per event, over time, and the photos behind
each figure."""

from __future__ import annotations

from dataclasses import asdict

import altair as alt
import pandas as pd
import streamlit as st

from portal.backend.risk.queries import (
    REASON_LABELS,
    REASONS,
    WINDOWS,
    coverage_history,
    critical_photos,
    drill_down,
    risk_overview,
    staff_declared_consents,
)
from portal.components.context import get_portal, require_role
from portal.components.tables import safe_csv

portal = get_portal()
user = require_role("manager")
st.title("At-risk photos")
risk = risk_overview(portal)
figures, events, warning = risk.figures, risk.events, risk.warning_days
critical = critical_photos(portal)
history = coverage_history(portal)


def _csv_button(frame: pd.DataFrame, name: str, key: str) -> None:
    """A CSV download of exactly what the table shows."""
    st.download_button("Download as CSV", safe_csv(frame), file_name=name, mime="text/csv", key=key)


cols = st.columns(4)
cols[0].metric("Critical (published, no basis)", len({c.asset_id for c in critical}))
cols[1].metric(
    "At risk for some purpose",
    max((f.at_risk for f in figures), default=0),
    help="the largest per-purpose count; a photo can be at risk for several purposes",
)
cols[2].metric(
    f"Lapsing within {warning} days",
    max((f.expiring for f in figures), default=0),
    help="photos still covered today whose earliest consent lapses in the window (largest per purpose)",
)
covered = [f.coverage for f in figures if f.coverage is not None]
cols[3].metric(
    "Lowest coverage",
    f"{min(covered):.0%}" if covered else "—",
    help="share of photos with people that may be used for the purpose now (lowest purpose)",
)

# Item 7: consents that rest only on a staff member's word, told apart from the person's own act.
declared = staff_declared_consents(portal)
st.caption(
    f"Consents resting only on a staff declaration: {declared.consents} (of {declared.people} people)"
    + (" · " + ", ".join(f"{code} {n}" for code, n in declared.by_purpose.items()) if declared.by_purpose else "")
    + ". No scan and no box ticked by the person: ask them to confirm on their personal link.",
    help="Current given or renewed consents whose latest entry was recorded by staff on channel staff.",
)

tab_purpose, tab_expiring, tab_events, tab_time, tab_critical, tab_drill = st.tabs(
    ["Per purpose", "Expiring", "Per event", "Over time", "Critical", "Drill down"]
)

with tab_purpose:
    table = pd.DataFrame(
        [
            {
                "Purpose": f.purpose,
                "With people": f.with_people,
                "At risk": f.at_risk,
                "Critical": f.critical,
                "Coverage": None if f.coverage is None else round(100 * f.coverage, 1),
                **{REASON_LABELS[r]: f.by_reason.get(r, 0) for r in REASONS},
            }
            for f in figures
        ]
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={"Coverage": st.column_config.NumberColumn("Coverage %", format="%.1f")},
    )
    _csv_button(table, "risk-summary.csv", "csv_purpose")
    if not table.empty:
        st.bar_chart(
            table.set_index("Purpose")[[REASON_LABELS[r] for r in REASONS]],
            stack=True,
            height=300,
            horizontal=True,
            x_label="Photos at risk",
            y_label="",
        )

with tab_expiring:
    st.caption(
        "Photos covered today whose earliest consent lapses within the window. The daily job asks the people to renew."
    )
    expiring = pd.DataFrame(
        [{"Purpose": f.purpose, **{f"{d} days": f.expiring_in.get(d, 0) for d in WINDOWS}} for f in figures]
    )
    st.dataframe(expiring, hide_index=True, width="stretch")
    _csv_button(expiring, "expiring.csv", "csv_expiring")

with tab_events:
    names = sorted({e.event_name for e in events})
    chosen = st.multiselect("Events", names, placeholder="All events")
    rows = [
        {
            "Event": e.event_name,
            "Purpose": e.figures.purpose,
            "With people": e.figures.with_people,
            "At risk": e.figures.at_risk,
            "Critical": e.figures.critical,
            "Coverage": None if e.figures.coverage is None else round(100 * e.figures.coverage, 1),
            f"Lapsing in {warning} d": e.figures.expiring,
        }
        for e in events
        if not chosen or e.event_name in chosen
    ]
    per_event_table = pd.DataFrame(rows)
    if per_event_table.empty:
        st.info("No photos with people yet.")
    else:
        st.dataframe(
            per_event_table,
            hide_index=True,
            width="stretch",
            column_config={"Coverage": st.column_config.NumberColumn("Coverage %", format="%.1f")},
        )
        _csv_button(per_event_table, "risk-per-event.csv", "csv_events")

with tab_time:
    if not history:
        st.info("Coverage is recorded once a day by `python -m portal jobs run`; the chart starts with its first run.")
    else:
        frame = pd.DataFrame([asdict(h) for h in history])
        frame["day"] = frame["day"].map(lambda d: d.isoformat())
        frame["Coverage %"] = frame["coverage"].map(lambda c: None if c is None else round(100 * c, 1))
        # Points as well as lines: the first days have a single snapshot, which a bare line would not show.
        chart = (
            alt.Chart(frame)
            .mark_line(point=True)
            .encode(
                x=alt.X("day:T", title="Day"),
                y=alt.Y("Coverage %:Q", scale=alt.Scale(domain=[0, 100])),
                color=alt.Color("purpose:N", title="Purpose"),
                tooltip=["day", "purpose", "Coverage %", "at_risk"],
            )
        )
        st.altair_chart(chart.properties(height=300), width="stretch")
        _csv_button(frame.drop(columns=["Coverage %"]), "coverage-history.csv", "csv_history")

with tab_critical:
    if critical:
        crit = pd.DataFrame(
            [
                {
                    "Photo": c.asset_id,
                    "File": c.filename,
                    "Purpose": c.purpose,
                    "Published at": c.place,
                    "Since": c.since.date().isoformat(),
                    "Why": REASON_LABELS.get(c.reason, c.reason),
                }
                for c in critical
            ]
        )
        st.dataframe(crit, hide_index=True, width="stretch")
        _csv_button(crit, "critical.csv", "csv_critical")
    else:
        st.success("No published photo is at risk.")

with tab_drill:
    st.caption("The photos behind a figure. Open them on the Photos page to link people or unpublish.")
    c1, c2, c3 = st.columns(3)
    purpose = c1.selectbox("Purpose", [f.purpose for f in figures], key="drill_purpose")
    what = c2.selectbox(
        "Show",
        ["at risk (any reason)", *[REASON_LABELS[r] for r in REASONS], *[f"lapsing within {d} days" for d in WINDOWS]],
        key="drill_what",
    )
    event_names = {e.event_name: e.event_id for e in events if e.event_id is not None}
    event_name = c3.selectbox("Event", ["All", *sorted(event_names)], key="drill_event")
    published_only = st.checkbox("Only published photos", key="drill_published")
    reason = next((r for r, label in REASON_LABELS.items() if label == what), None)
    within = next((d for d in WINDOWS if what == f"lapsing within {d} days"), None)
    if purpose:
        found = drill_down(
            portal,
            purpose=purpose,
            reason=reason,
            expiring_within=within,
            event_id=event_names.get(event_name),
            published_only=published_only,
            limit=500,
        )
        drill = pd.DataFrame(
            [
                {
                    "Photo": d.asset_id,
                    "File": d.filename,
                    "Event": d.event,
                    "Why": ", ".join(REASON_LABELS.get(r, r) for r in d.reasons),
                    "Earliest consent lapses": d.covered_until.date().isoformat() if d.covered_until else "",
                    "Published": d.published,
                }
                for d in found
            ],
            columns=["Photo", "File", "Event", "Why", "Earliest consent lapses", "Published"],
        )
        st.write(f"{len(drill)} photo(s)" + (" (first 500)" if len(drill) == 500 else ""))
        st.dataframe(drill, hide_index=True, width="stretch")
        _csv_button(drill, f"at-risk-{purpose}.csv", "csv_drill")
