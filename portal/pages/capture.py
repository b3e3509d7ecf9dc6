"""Staff: enter a signed paper consent form exactly as ticked, with its scan as proof (channel `paper`); without a
scan the entry is recorded as the staff member's own declaration (channel `staff`)."""

from __future__ import annotations

import uuid
from datetime import date

import streamlit as st

from portal.backend.consent.queries import current_texts, list_purposes
from portal.backend.events.queries import list_events
from portal.backend.people.services import MAX_SCAN_BYTES, STAFF_METHODS, method_label, minor_on, register_subject
from portal.backend.platform.errors import PortalError
from portal.backend.staff.queries import organisation
from portal.components.context import get_portal, require_role
from portal.components.text import plain

portal = get_portal()
user = require_role("staff")
st.title("Paper consent forms")
st.write(
    "Enter a signed paper form exactly as it is ticked, and attach its scan (PDF, JPEG or PNG, at most "
    f"{MAX_SCAN_BYTES >> 20} MB). An unticked box is recorded as refused. Without a scan, the entry rests only on "
    "your word: it is recorded as a staff declaration, and the dashboard counts such consents separately."
)

events = list_events(portal)
org = organisation(portal)
purposes = list_purposes(portal)
titles = current_texts(portal, "en")

if saved := st.session_state.pop("paper_saved", None):
    st.success(saved)
if not events:
    st.info("Create the event on the Events page first: every paper form belongs to an event.")
    st.stop()

event_id = st.selectbox(
    "Event",
    options=[e.id for e in events],
    key="paper_event",
    format_func=lambda i: next(e.name for e in events if e.id == i),
)
event = next(e for e in events if e.id == event_id)
# One id per filled-in form: a double click records the form once, and every widget of the form carries it in its
# key, so the next form starts with new, empty widgets (a file uploader keeps its file for as long as its key).
form = st.session_state.setdefault("paper_submission", str(uuid.uuid4()))
name = st.text_input("Name (as written on the form)", max_chars=200, key=f"paper_name_{form}")
email = st.text_input(
    "E-mail (optional: the personal link is sent there)"
    if portal.settings.smtp_configured
    else "E-mail (optional; e-mail is not configured yet, so the personal link is sent there once it is)",
    max_chars=254,
    key=f"paper_email_{form}",
)
locale = st.selectbox("Language of the form", options=org.locales, key=f"paper_locale_{form}")
month_col, year_col = st.columns(2)
birth_month = month_col.selectbox(
    "Month of birth (as on the form)",
    options=list(range(1, 13)),
    index=None,
    format_func=lambda m: f"{m:02d}",
    key=f"paper_birth_month_{form}",
)
birth_year = year_col.selectbox(
    "Year of birth",
    options=list(range(date.today().year, date.today().year - 121, -1)),
    index=None,
    key=f"paper_birth_year_{form}",
    help=f"A person is treated as below {org.consent_age} unless this date proves otherwise.",
)
minor = st.checkbox(f"Below {org.consent_age}: a parent or guardian signed", key=f"paper_minor_{form}")
# The same conservative judgement as the service: with month and year, the month's last day counts as the birthday.
if birth_year is not None and minor_on(birth_year, birth_month, None, consent_age=org.consent_age, on=date.today()):
    minor = True
    st.info(f"By the date of birth this is a child below {org.consent_age}: a guardian must have signed.")
guardian, verification = "", None
if minor:
    guardian = st.text_input("Guardian's name", max_chars=200, key=f"paper_guardian_{form}")
    verification = st.selectbox(
        "How the guardian was verified",
        options=list(STAFF_METHODS),
        index=None,
        format_func=method_label,
        key=f"paper_guardian_how_{form}",
    )

st.subheader("Choices as ticked on the paper")
choices: dict[str, bool] = {}
for p in purposes:
    if p.code in event.purpose_codes:
        label = titles[p.id].title if p.id in titles else p.code
        # value=False: a box is only recorded as given when staff see a tick on the paper (R2).
        choices[p.code] = st.checkbox(f"Ticked: {plain(label)}", value=False, key=f"paper_{p.code}_{form}")
signed_on = st.date_input(
    "Date signed on the form", value=date.today(), max_value=date.today(), key=f"paper_signed_on_{form}"
)
scan = st.file_uploader(
    "Scan of the signed form",
    type=["pdf", "jpg", "jpeg", "png"],
    key=f"paper_scan_{form}",
    max_upload_size=MAX_SCAN_BYTES >> 20,
)  # the browser says so before the upload, too
no_scan = st.checkbox(
    "No scan: record it on my word (a staff declaration, the person not present)", key=f"paper_no_scan_{form}"
)

if st.button("Record the paper form", type="primary", key="paper_submit"):
    try:
        if scan is None and not no_scan:
            raise PortalError("Attach the scan of the signed form, or tick that you record it without one.")
        if scan is not None and scan.size > MAX_SCAN_BYTES:
            # Judged by the declared size before the bytes are read; the service checks the real size again.
            raise PortalError(f"The scan is larger than {MAX_SCAN_BYTES >> 20} MB; scan at 200-300 dpi.")
        result = register_subject(
            portal,
            actor=user.as_actor(),
            channel="paper",
            name=name,
            email=email or None,
            locale=locale,
            event_id=event.id,
            choices=choices,
            signed_on=signed_on if scan is not None else None,
            scan=scan.getvalue() if scan is not None else None,
            birth_year=birth_year,
            birth_month=birth_month,
            is_minor=minor,
            guardian_name=guardian if minor else None,
            guardian_verification=verification if minor else None,
            submission_id=form,
        )
    except PortalError as exc:
        st.error(plain(exc))
    else:
        given = sum(1 for ok in choices.values() if ok)
        st.session_state["paper_saved"] = (
            f"Recorded the paper form of {plain(result.subject.display_name)}: {given} of {len(choices)} purposes given"
            + (" (this form was already recorded; nothing new was written)." if result.replayed else ".")
        )
        # The next form starts empty under a new id; this form's values leave the session (they are personal data).
        # The event stays: forms come in stacks per event.
        for key in [k for k in st.session_state if str(k).endswith(f"_{form}")]:
            del st.session_state[key]
        st.session_state["paper_submission"] = str(uuid.uuid4())
        st.rerun()
