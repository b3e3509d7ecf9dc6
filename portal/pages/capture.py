"""Staff: enter a signed paper consent form exactly as ticked, with its scan as proof (channel `paper`)."""

from __future__ import annotations

import uuid
from datetime import date

import streamlit as st

from portal.backend.consent.purposes import current_texts, list_purposes
from portal.backend.events.store import list_events
from portal.backend.i18n import t
from portal.backend.ops.outbox import queue
from portal.backend.people.paper import MAX_SCAN_BYTES, record_paper_consent
from portal.backend.people.subjects import create_personal_link
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import PortalError
from portal.backend.platform.organisation import get_organisation
from portal.backend.reports.receipt import issue_receipt
from portal.components.context import get_portal, require_role

portal = get_portal()
user = require_role("staff")
settings = portal.settings
st.title("Paper consent forms")
st.write(
    "Enter a signed paper form exactly as it is ticked, and attach its scan (PDF, JPEG or PNG, at most "
    f"{MAX_SCAN_BYTES >> 20} MB). An unticked box is recorded as refused."
)

with portal.db.read() as conn:
    events = list_events(conn)
    org = get_organisation(conn)
    purposes = list_purposes(conn)
    titles = current_texts(conn, "en")

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
name = st.text_input("Name (as written on the form)", max_chars=200, key="paper_name")
email = st.text_input("E-mail (optional: the personal link is sent there)", max_chars=254, key="paper_email")
locale = st.selectbox("Language of the form", options=org.locales, key="paper_locale")
minor = st.checkbox(f"Below {org.consent_age}: a parent or guardian signed", key="paper_minor")
guardian, verification = "", ""
if minor:
    guardian = st.text_input("Guardian's name", max_chars=200, key="paper_guardian")
    verification = st.text_input(
        "How the guardian was verified",
        max_chars=200,
        key="paper_guardian_how",
        placeholder="e.g. signed in front of staff, ID card checked",
    )

st.subheader("Choices as ticked on the paper")
choices: dict[str, bool] = {}
for p in purposes:
    if p.code in event.purpose_codes:
        label = titles[p.id].title if p.id in titles else p.code
        # value=False: a box is only recorded as given when staff see a tick on the paper (R2).
        choices[p.code] = st.checkbox(f"Ticked: {label}", value=False, key=f"paper_{p.code}")
signed_on = st.date_input("Date signed on the form", value=date.today(), max_value=date.today(), key="paper_signed_on")
scan = st.file_uploader(
    "Scan of the signed form",
    type=["pdf", "jpg", "jpeg", "png"],
    key="paper_scan",
    max_upload_size=MAX_SCAN_BYTES >> 20,
)  # the browser says so before the upload, too

# One id per filled-in form: a double click records the form once.
submission = st.session_state.setdefault("paper_submission", str(uuid.uuid4()))
if st.button("Record the paper form", type="primary", key="paper_submit"):
    try:
        if scan is None:
            raise PortalError("Attach the scan of the signed form.")
        if scan.size > MAX_SCAN_BYTES:
            # Judged by the declared size before the bytes are read; the backend checks the real size again.
            raise PortalError(f"The scan is larger than {MAX_SCAN_BYTES >> 20} MB; scan at 200-300 dpi.")
        result = record_paper_consent(
            portal.db,
            portal.blobs,
            name=name,
            email=email or None,
            locale=locale,
            event_id=event.id,
            choices=choices,
            signed_on=signed_on,
            scan=scan.getvalue(),
            actor=f"staff:{user.id}",
            is_minor=minor,
            guardian_name=guardian if minor else None,
            guardian_verification=verification if minor else None,
            submission_id=submission,
        )
        if not result.replayed:
            try:
                issue_receipt(portal.db, portal.blobs, subject_id=result.subject.id, entries=result.entries)
            except PortalError as exc:
                # The consent is recorded either way; a missing organisation detail must not undo it.
                st.warning(str(exc))
            if result.subject.email:
                link = create_personal_link(
                    portal.db,
                    subject_id=result.subject.id,
                    secret=settings.secret_key,
                    base_url=settings.base_url,
                    ttl_days=settings.link_ttl_days,
                )
                with portal.db.write() as conn:
                    queue(
                        conn,
                        kind="email",
                        now=utcnow(),
                        recipient=result.subject.email,
                        subject_id=result.subject.id,
                        dedupe_key=f"welcome:{result.subject.id}",
                        payload={
                            "subject": t("my_consents.title", locale),
                            "body": f"{t('form.link', locale)}\n{link}",
                        },
                    )
    except PortalError as exc:
        st.error(str(exc))
    else:
        given = sum(1 for ok in choices.values() if ok)
        st.session_state["paper_saved"] = (
            f"Recorded the paper form of {result.subject.display_name}: {given} of {len(choices)} purposes given"
            + (" (this form was already recorded; nothing new was written)." if result.replayed else ".")
        )
        # The next form starts empty, with a new submission id; the event stays (forms come in stacks per event).
        for key in [
            k for k in st.session_state if str(k).startswith("paper_") and k not in ("paper_saved", "paper_event")
        ]:
            del st.session_state[key]
        st.rerun()
