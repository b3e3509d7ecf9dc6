"""Managers: photos at risk per purpose and why, what lapses soon, per event, over time, and the photos behind
each figure as a thumbnail grid that opens the review desk."""

from __future__ import annotations

import math
from dataclasses import asdict

import altair as alt
import pandas as pd
import streamlit as st

from portal.backend.consent.queries import purpose_titles
from portal.backend.photos.queries import photo_thumbnails
from portal.backend.risk.queries import (
    PRIMARY_ORDER,
    REASON_LABELS,
    REASONS,
    WINDOWS,
    coverage_history,
    critical_photos,
    drill_count,
    drill_down,
    headline,
    risk_overview,
    staff_declared_consents,
)
from portal.components.context import get_portal, require_role
from portal.components.lazy import folded
from portal.components.tables import safe_csv
from portal.components.text import plain

DRILL_PAGE = 12  # three rows of four on a laptop; a phone scrolls one card at a time

portal = get_portal()
user = require_role("manager")
st.title("At-risk photos")
risk = risk_overview(portal)
figures, events, warning = risk.figures, risk.events, risk.warning_days
critical = critical_photos(portal)
# Purposes by their titles (a code such as `social_media` means little to a manager); CSVs keep the code too.
titles = purpose_titles(portal)


def _csv_button(frame: pd.DataFrame, name: str, key: str) -> None:
    """A CSV download of exactly what the table shows."""
    # Made when clicked, not on every rerun: six formula-safe CSVs per run cost more than the page's queries.
    st.download_button("Download as CSV", lambda: safe_csv(frame), file_name=name, mime="text/csv", key=key)


top = headline(figures, critical)
# What a DPO must act on first: photos out in the world without a basis; then how bad the worst publishing purpose is.
if top.published_at_risk:
    st.error(
        f"{top.published_at_risk} published photo{'s' if top.published_at_risk != 1 else ''} lost "
        f"{'their' if top.published_at_risk != 1 else 'its'} basis: unpublish or ask the people again "
        "(the Critical tab lists where)."
    )
else:
    st.success("Every published photo has a basis for the purpose it is published for.")
cols = st.columns(4)
cols[0].metric("Critical (published, no basis)", top.published_at_risk)
cols[1].metric(
    "Worst purpose with publications",
    "—"
    if top.worst_purpose is None
    else f"{plain(titles.get(top.worst_purpose, top.worst_purpose))} {top.worst_coverage:.0%}",
    help=(
        "no photo is published"
        if top.worst_purpose is None
        else f"{top.worst_at_risk} of {top.worst_published} photos published for "
        f"{plain(titles.get(top.worst_purpose, top.worst_purpose))} are at risk"
    ),
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
    + (
        " · " + ", ".join(f"{plain(titles.get(code, code))} {n}" for code, n in declared.by_purpose.items())
        if declared.by_purpose
        else ""
    )
    + ". No scan and no box ticked by the person: ask them to confirm on their personal link.",
    help="Current given or renewed consents whose latest entry was recorded by staff on channel staff.",
)


def _per_purpose() -> None:
    """Per purpose: the table, the reasons as bars, and every reason that applies."""
    st.caption(
        "Each photo at risk counts once per purpose, under its first reason in this order: "
        + ", ".join(REASON_LABELS[r] for r in PRIMARY_ORDER)
        + ". The parts of a bar sum to the photos at risk for that purpose."
    )
    table = pd.DataFrame(
        [
            {
                "Purpose": titles.get(f.purpose, f.purpose),
                "With people": f.with_people,
                "Published": f.published,
                "At risk": f.at_risk,
                "Critical": f.critical,
                "Coverage": None if f.coverage is None else round(100 * f.coverage, 1),
                **{REASON_LABELS[r]: f.primary.get(r, 0) for r in PRIMARY_ORDER},
                "Code": f.purpose,
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
        bars = table.melt(id_vars=["Purpose"], value_vars=[REASON_LABELS[r] for r in PRIMARY_ORDER], var_name="Reason")
        bars = bars[bars["value"] > 0]
        if bars.empty:
            st.success("No photo is at risk for any purpose.")
        else:
            # A Vega-Lite spec as a plain dict: Altair built and validated the same spec in about 20 ms per run.
            spec = {
                "mark": {"type": "bar"},
                "height": 60 + 40 * len(table),
                "encoding": {
                    "y": {"field": "Purpose", "type": "nominal", "title": None},
                    "x": {
                        "aggregate": "sum",
                        "field": "value",
                        "type": "quantitative",
                        "title": "Photos at risk (each once)",
                    },
                    "color": {
                        "field": "Reason",
                        "type": "nominal",
                        "sort": [REASON_LABELS[r] for r in PRIMARY_ORDER],
                        "legend": {"orient": "bottom"},
                    },
                    "tooltip": [
                        {"field": "Purpose", "type": "nominal"},
                        {"field": "Reason", "type": "nominal"},
                        {"field": "value", "type": "quantitative", "title": "Photos"},
                    ],
                },
            }
            st.vega_lite_chart(bars, spec, width="stretch", alt="Photos at risk per purpose, by reason")
    box = folded("Every reason that applies (a photo can have several)", key="every_reason")
    if box is None:
        return
    with box:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Purpose": titles.get(f.purpose, f.purpose),
                        **{REASON_LABELS[r]: f.by_reason.get(r, 0) for r in REASONS},
                    }
                    for f in figures
                ]
            ),
            hide_index=True,
            width="stretch",
        )


def _expiring() -> None:
    """What lapses within 30, 60 and 90 days, per purpose."""
    st.caption(
        "Photos covered today whose earliest consent lapses within the window. The daily job asks the people to renew."
    )
    expiring = pd.DataFrame(
        [
            {
                "Purpose": titles.get(f.purpose, f.purpose),
                **{f"{d} days": f.expiring_in.get(d, 0) for d in WINDOWS},
                "Code": f.purpose,
            }
            for f in figures
        ]
    )
    st.dataframe(expiring, hide_index=True, width="stretch")
    _csv_button(expiring, "expiring.csv", "csv_expiring")


def _per_event() -> None:
    """The figures per event, filterable by event."""
    names = sorted({e.event_name for e in events})
    chosen = st.multiselect("Events", names, placeholder="All events")
    rows = [
        {
            "Event": e.event_name,
            "Purpose": titles.get(e.figures.purpose, e.figures.purpose),
            "With people": e.figures.with_people,
            "At risk": e.figures.at_risk,
            "Critical": e.figures.critical,
            "Coverage": None if e.figures.coverage is None else round(100 * e.figures.coverage, 1),
            f"Lapsing in {warning} d": e.figures.expiring,
            "Code": e.figures.purpose,
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


def _over_time() -> None:
    """Coverage per purpose from the daily snapshots."""
    history = coverage_history(portal)
    if not history:
        st.info("Coverage is recorded once a day by `python -m portal jobs run`; the chart starts with its first run.")
    else:
        frame = pd.DataFrame([asdict(h) for h in history])
        frame["day"] = frame["day"].map(lambda d: d.isoformat())
        frame["Coverage %"] = frame["coverage"].map(lambda c: None if c is None else round(100 * c, 1))
        frame["Purpose"] = frame["purpose"].map(lambda c: titles.get(c, c))
        # Points as well as lines: the first days have a single snapshot, which a bare line would not show.
        chart = (
            alt.Chart(frame)
            .mark_line(point=True)
            .encode(
                x=alt.X("day:T", title="Day"),
                y=alt.Y("Coverage %:Q", scale=alt.Scale(domain=[0, 100])),
                color=alt.Color("Purpose:N", title="Purpose"),
                tooltip=["day", "Purpose", "Coverage %", "at_risk"],
            )
        )
        st.altair_chart(chart.properties(height=300), width="stretch")
        _csv_button(frame.drop(columns=["Coverage %", "Purpose"]), "coverage-history.csv", "csv_history")


def _critical() -> None:
    """Published photos without a basis, and where they are published."""
    if critical:
        crit = pd.DataFrame(
            [
                {
                    "Photo": c.asset_id,
                    "File": c.filename,
                    "Purpose": titles.get(c.purpose, c.purpose),
                    "Published at": c.place,
                    "Since": c.since.date().isoformat(),
                    "Why": REASON_LABELS.get(c.reason, c.reason),
                    "Code": c.purpose,
                }
                for c in critical
            ]
        )
        st.dataframe(crit, hide_index=True, width="stretch")
        _csv_button(crit, "critical.csv", "csv_critical")
    else:
        st.success("No published photo is at risk.")


def _drill() -> None:
    """The photos behind a figure as a paged thumbnail grid that opens the review desk."""
    st.caption("The photos behind a figure, with the people in them. Review opens the photo on the Photos page.")
    c1, c2, c3 = st.columns(3)
    purpose = c1.selectbox(
        "Purpose", [f.purpose for f in figures], key="drill_purpose", format_func=lambda c: titles.get(c, c)
    )
    shows = {"": "at risk (any reason)", **{r: REASON_LABELS[r] for r in PRIMARY_ORDER}}
    shows.update({f"lapse:{d}": f"lapsing within {d} days" for d in WINDOWS})
    what = c2.selectbox("Show", list(shows), key="drill_what", format_func=shows.__getitem__)
    event_names = {e.event_name: e.event_id for e in events if e.event_id is not None}
    event_name = c3.selectbox("Event", ["All", *sorted(event_names)], key="drill_event")
    published_only = st.checkbox("Only published photos", key="drill_published")
    # The reasons are the bars' parts (each photo under its first reason), so a drill's count matches its bar.
    drill_key = (purpose, what, event_name, published_only)
    if purpose:
        primary_reason = what if what in PRIMARY_ORDER else None
        within = int(what.removeprefix("lapse:")) if what.startswith("lapse:") else None
        event_id = event_names.get(event_name)
        total = drill_count(
            portal,
            purpose=purpose,
            primary_reason=primary_reason,
            expiring_within=within,
            event_id=event_id,
            published_only=published_only,
        )
        pages = max(1, math.ceil(total / DRILL_PAGE))
        if st.session_state.get("drill_seen") != drill_key:  # a changed figure starts at its first page
            st.session_state["drill_seen"] = drill_key
            st.session_state["drill_page"] = 0
        page_no = min(int(st.session_state.get("drill_page", 0)), pages - 1)
        found = drill_down(
            portal,
            purpose=purpose,
            primary_reason=primary_reason,
            expiring_within=within,
            event_id=event_id,
            published_only=published_only,
            limit=DRILL_PAGE,
            offset=page_no * DRILL_PAGE,
        )
        row = st.container(horizontal=True, vertical_alignment="center", horizontal_alignment="distribute")
        if row.button("‹ Previous", key="drill_prev", disabled=page_no == 0):
            st.session_state["drill_page"] = page_no - 1
            st.rerun()
        row.caption(
            f"{total} photo(s)" + (f" · page {page_no + 1} of {pages}" if total > DRILL_PAGE else ""),
        )
        if row.button("Next ›", key="drill_next", disabled=page_no + 1 >= pages):
            st.session_state["drill_page"] = page_no + 1
            st.rerun()
        columns = st.columns(4)
        thumbs = photo_thumbnails(portal, asset_ids=[d.asset_id for d in found])  # one query, not one per card
        for n, d in enumerate(found):
            with columns[n % 4].container(border=True, key=f"drill_card_{d.asset_id}"):
                thumb = thumbs.get(d.asset_id)
                if thumb is not None:
                    st.image(thumb, width="stretch", alt=f"Photo #{d.asset_id}, {d.filename}")
                if d.published:
                    st.badge("Published", color="red")
                st.markdown(f"**#{d.asset_id}** {plain(d.filename)}")
                st.caption(plain(", ".join(d.people) if d.people else "No person linked"))
                st.caption(
                    plain(
                        " · ".join(
                            x
                            for x in (
                                ", ".join(REASON_LABELS.get(r, r) for r in d.reasons),
                                d.event or "",
                                f"lapses {d.covered_until.date().isoformat()}" if d.covered_until else "",
                            )
                            if x
                        )
                    )
                )
                if st.button("Review", key=f"drill_open_{d.asset_id}", width="stretch"):
                    # The review desk opens the photo kept under this key (as its own grid does).
                    st.session_state["desk_photo"] = d.asset_id
                    st.switch_page("portal/pages/assets.py")
        if (box := folded("This page as a table", key="drill_table")) is not None:
            drill = pd.DataFrame(
                [
                    {
                        "Photo": d.asset_id,
                        "File": d.filename,
                        "Event": d.event,
                        "People": ", ".join(d.people),
                        "Why": ", ".join(REASON_LABELS.get(r, r) for r in d.reasons),
                        "Earliest consent lapses": d.covered_until.date().isoformat() if d.covered_until else "",
                        "Published": d.published,
                    }
                    for d in found
                ],
                columns=["Photo", "File", "Event", "People", "Why", "Earliest consent lapses", "Published"],
            )
            with box:
                st.dataframe(drill, hide_index=True, width="stretch")
                _csv_button(drill, f"at-risk-{purpose}.csv", "csv_drill")


# Only the open tab is drawn (a tab switch reruns the page): at 10,000 photos drawing all six tables and charts on
# every run cost more than the page's queries, in the server and above all in the browser.
TABS = {
    "Per purpose": _per_purpose,
    "Expiring": _expiring,
    "Per event": _per_event,
    "Over time": _over_time,
    "Critical": _critical,
    "Drill down": _drill,
}
for tab, draw in zip(st.tabs(list(TABS), key="dash_tab", on_change="rerun"), TABS.values(), strict=True):
    if tab.open:
        with tab:
            draw()
