"""Managers: subjects and their current consent per purpose, from the real database."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from portal.backend.consent import ledger
from portal.backend.consent.purposes import list_purposes
from portal.backend.consent.status import subject_consents
from portal.backend.people.subjects import create_personal_link, get_subject, list_subjects
from portal.backend.platform.db.types import utcnow
from portal.backend.staff.audit import audit
from portal.components.consent_labels import status_label
from portal.components.context import get_portal, require_role, shows_errors

PAGE_SIZE = 50

portal = get_portal()
user = require_role("manager")
st.title("Subjects")
now = utcnow()

search = st.text_input("Search by name", max_chars=200, placeholder="e.g. Lindqvist")
with portal.db.read() as conn:
    codes = [p.code for p in list_purposes(conn)]
    total = list_subjects(conn, now=now, search=search, limit=0)[0]
pages = max(1, -(-total // PAGE_SIZE))
page = st.number_input("Page", min_value=1, max_value=pages, value=1, step=1) if pages > 1 else 1
with portal.db.read() as conn:
    total, rows = list_subjects(conn, now=now, search=search, limit=PAGE_SIZE, offset=(int(page) - 1) * PAGE_SIZE)
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
st.dataframe(table, hide_index=True, width="stretch")

if rows:
    choice = st.selectbox(
        "Open a subject",
        options=[r.id for r in rows],
        format_func=lambda sid: next(r.name for r in rows if r.id == sid),
        index=None,
        placeholder="Choose a person to see their consents and history",
    )
    if choice:
        with shows_errors():
            with portal.db.write() as conn:
                subject = get_subject(conn, choice)
                statuses = subject_consents(conn, subject.id, now)
                history = ledger.entries_for_subject(conn, subject.id)
                by_id = {p.id: p.code for p in list_purposes(conn, active_only=False)}
                if st.session_state.get("viewed_subject") != subject.id:
                    # Every view of a subject's data by staff is audited (once per opening, not per rerun).
                    audit(
                        conn,
                        actor=f"staff:{user.id}",
                        action="view_subject",
                        target_type="subject",
                        target_id=subject.id,
                        now=now,
                    )
                    st.session_state["viewed_subject"] = subject.id
            st.subheader(subject.display_name or "(erased)")
            if subject.is_minor:
                st.caption(f"Minor · guardian {subject.guardian_name} · verified: {subject.guardian_verification}")
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "Purpose": s.purpose_code,
                            "Image": s.scope_asset_id or "all",
                            "Status": status_label(s.status),
                            "Since": s.since,
                            "Valid until": s.valid_until,
                            "Text version": s.text_version,
                        }
                        for s in statuses
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
                            "#": e.seq,
                            "Time": e.recorded_at,
                            "Purpose": by_id[e.purpose_id],
                            "Action": e.action,
                            "Channel": e.channel,
                            "Actor": e.actor,
                            "Hash": e.entry_hash[:16],
                        }
                        for e in history
                    ]
                ),
                hide_index=True,
                width="stretch",
            )
            if st.button("Create a personal link for this person"):
                s = portal.settings
                url = create_personal_link(
                    portal.db, subject_id=subject.id, secret=s.secret_key, base_url=s.base_url, ttl_days=s.link_ttl_days
                )
                with portal.db.write() as conn:
                    audit(
                        conn,
                        actor=f"staff:{user.id}",
                        action="create_personal_link",
                        target_type="subject",
                        target_id=subject.id,
                        now=utcnow(),
                    )
                st.code(url, language=None)
                st.caption(f"Valid for {s.link_ttl_days} days. Give it only to this person.")
