"""Staff: events, the purposes they ask for, their QR code and printable poster, and QR rotation."""

from __future__ import annotations

from datetime import date

import streamlit as st

from portal.backend.consent.purposes import current_texts, list_purposes
from portal.backend.events.store import create_event, event_url, list_events, rotate_qr_secret
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import PortalError
from portal.backend.platform.organisation import get_organisation
from portal.backend.platform.qr import qr_png
from portal.backend.reports.poster import render_poster_pdf
from portal.backend.staff.audit import audit
from portal.components.context import get_portal, require_role
from portal.components.kiosk import begin_kiosk

portal = get_portal()
user = require_role("staff")
settings = portal.settings
st.title("Events")

with portal.db.read() as conn:
    purposes = list_purposes(conn)
    titles = {p.id: t.title for p, t in ((p, current_texts(conn, "en").get(p.id)) for p in purposes) if t}
    events = list_events(conn)
    org = get_organisation(conn)

with st.expander("Create an event", expanded=not events):
    with st.form("new_event", clear_on_submit=True):
        name = st.text_input("Name", max_chars=200)
        when = st.date_input("Date", value=date.today())
        place = st.text_input("Place", max_chars=200)
        asked = st.multiselect(
            "Purposes the form asks for",
            options=[p.code for p in purposes],
            default=[p.code for p in purposes if p.code != "partners"],
            format_func=lambda c: next(titles.get(p.id, c) for p in purposes if p.code == c),
        )
        if st.form_submit_button("Create event", type="primary"):
            try:
                with portal.db.write() as conn:
                    created = create_event(
                        conn,
                        name=name,
                        purpose_codes=asked,
                        starts_on=when,
                        place=place,
                        now=utcnow(),
                        created_by=user.id,
                    )
                    audit(
                        conn,
                        actor=f"staff:{user.id}",
                        action="create_event",
                        target_type="event",
                        target_id=str(created.id),
                        now=utcnow(),
                    )
            except PortalError as exc:
                st.error(str(exc))
            else:
                st.success(f"Created {created.name}.")
                st.rerun()

if "kiosk_error" in st.session_state:
    st.error(st.session_state.pop("kiosk_error"))
if not events:
    st.info("No events yet.")
for event in events:
    with st.container(border=True):
        st.subheader(event.name)
        st.caption(" · ".join(x for x in (event.place, event.starts_on and event.starts_on.isoformat()) if x))
        st.write("Asks for: " + ", ".join(event.purpose_codes))
        with portal.db.read() as conn:
            url = event_url(conn, event_id=event.id, secret=settings.secret_key, base_url=settings.base_url)
        left, right = st.columns([1, 2])
        left.image(qr_png(url, box_size=5), width=180)
        right.code(url, language=None, wrap_lines=True)
        poster_key = f"poster_pdf_{event.id}"
        if right.button("Make the QR poster (PDF)", key=f"make_poster_{event.id}"):
            # Rendered on request only: a PDF per event on every page run would make the page slow.
            st.session_state[poster_key] = (
                url,
                render_poster_pdf(
                    org=org, event_name=event.name, url=url, place=event.place, starts_on=event.starts_on
                ),
            )
        made = st.session_state.get(poster_key)
        if made and made[0] == url:
            right.download_button(
                "Download the QR poster (PDF)",
                data=made[1],
                file_name=f"qr-poster-{event.id}.pdf",
                mime="application/pdf",
                key=f"poster_{event.id}",
            )
        # The callback switches this browser session to kiosk mode before the next run, so the router of that run
        # already shows only the form.
        right.button(
            "Start kiosk mode on this device (hand it to people to fill in the form)",
            key=f"kiosk_{event.id}",
            on_click=begin_kiosk,
            args=(user, event.id),
            help="The form fills the screen with no staff pages; your password ends kiosk mode.",
        )
        if right.button("Replace the QR code (old posters stop working)", key=f"rotate_{event.id}"):
            with portal.db.write() as conn:
                rotate_qr_secret(conn, event_id=event.id)
                audit(
                    conn,
                    actor=f"staff:{user.id}",
                    action="rotate_event_qr",
                    target_type="event",
                    target_id=str(event.id),
                    now=utcnow(),
                )
            st.rerun()
