"""Staff: events, the purposes they ask for, their QR code and printable poster, and QR rotation."""

from __future__ import annotations

from datetime import date

import streamlit as st

from portal.backend.consent.queries import current_texts, list_purposes
from portal.backend.events.queries import event_url, list_events, qr_png
from portal.backend.events.services import create_event, event_poster, rotate_event_qr
from portal.backend.platform.errors import PortalError
from portal.components.context import get_portal, require_role
from portal.components.kiosk import begin_kiosk
from portal.components.text import plain

portal = get_portal()
user = require_role("staff")
actor = user.as_actor()
st.title("Events")

purposes = list_purposes(portal)
texts = current_texts(portal, "en")
titles = {p.code: texts[p.id].title if p.id in texts else p.code for p in purposes}
events = list_events(portal)

with st.expander("Create an event", expanded=not events):
    with st.form("new_event", clear_on_submit=True):
        name = st.text_input("Name", max_chars=200)
        when = st.date_input("Date", value=date.today())
        place = st.text_input("Place", max_chars=200)
        asked = st.multiselect(
            "Purposes the form asks for",
            options=[p.code for p in purposes],
            default=[p.code for p in purposes if p.code != "partners"],
            format_func=lambda c: titles.get(c, c),
        )
        if st.form_submit_button("Create event", type="primary"):
            try:
                created = create_event(
                    portal,
                    actor=actor,
                    name=name,
                    date=when if isinstance(when, date) else None,
                    place=place,
                    purpose_codes=asked,
                )
            except PortalError as exc:
                st.error(plain(exc))
            else:
                # Kept over the rerun that shows the new event; a message shown before st.rerun is lost.
                st.session_state["events_flash"] = f"Created {created.name}. Its QR code and poster are below."
                st.rerun()

if flash := st.session_state.pop("events_flash", None):
    st.success(plain(flash))

if "kiosk_error" in st.session_state:
    st.error(plain(st.session_state.pop("kiosk_error")))
if not events:
    st.info("No events yet.")
for event in events:
    with st.container(border=True):
        st.subheader(plain(event.name), anchor=False)
        st.caption(" · ".join(plain(x) for x in (event.place, event.starts_on and event.starts_on.isoformat()) if x))
        st.markdown("Asks for: " + ", ".join(plain(titles.get(c, c)) for c in event.purpose_codes))
        url = event_url(portal, event_id=event.id)
        left, right = st.columns([1, 2])
        left.image(qr_png(url, box_size=5), width=180, alt=f"QR code of the consent form for {event.name}")
        right.code(url, language=None, wrap_lines=True)
        poster_key = f"poster_pdf_{event.id}"
        if right.button("Make the QR poster (PDF)", key=f"make_poster_{event.id}"):
            # Rendered on request only: a PDF per event on every page run would make the page slow.
            st.session_state[poster_key] = (url, event_poster(portal, actor=actor, event_id=event.id))
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
        # Replacing the code breaks every printed poster: one click only asks, the second replaces.
        asking = f"rotate_asked_{event.id}"
        if not st.session_state.get(asking):
            if right.button("Replace the QR code (old posters stop working)", key=f"rotate_{event.id}"):
                st.session_state[asking] = True
                st.rerun()
        else:
            right.warning(
                "Replace the QR code? Every printed poster and shared link of this event stops working at once; "
                "print the new poster afterwards."
            )
            yes, no = right.columns(2)
            if yes.button("Yes, replace the QR code", key=f"rotate_yes_{event.id}", type="primary"):
                st.session_state.pop(asking, None)
                try:
                    rotate_event_qr(portal, actor=actor, event_id=event.id)
                except PortalError as exc:
                    st.error(plain(exc))
                else:
                    st.session_state["events_flash"] = (
                        f"The QR code of {event.name} was replaced; print the new poster. Old posters no longer work."
                    )
                    st.rerun()
            if no.button("Cancel", key=f"rotate_no_{event.id}"):
                st.session_state.pop(asking, None)
                st.rerun()
