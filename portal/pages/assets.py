"""Staff: upload photos, see their analysis, review faces (confirm, reject, link, unlink, not identifiable), publish."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from portal.backend.consent.queries import list_purposes
from portal.backend.events.queries import list_events
from portal.backend.people.queries import list_subjects
from portal.backend.photos.queries import (
    annotated_thumbnail,
    asset_detail,
    detector_status,
    list_assets,
    original_url,
    publish_check,
)
from portal.backend.photos.services import (
    IMAGE_TYPES,
    analyse_pending,
    confirm_face,
    import_photos,
    link_face,
    publish_photo,
    reject_face,
    unlink_face,
    unpublish_photo,
)
from portal.components.context import get_portal, require_role, shows_errors
from portal.components.text import plain

# Analysis in the page request is for small uploads; larger batches go to `python -m portal assets analyze`.
ANALYSE_IN_PAGE = 20

portal = get_portal()
user = require_role("staff")
actor = user.as_actor()
settings = portal.settings
st.title("Photos")
for line in detector_status(portal):
    st.caption(line)

events = list_events(portal)
purposes = [p for p in list_purposes(portal) if not p.biometric]

with st.expander("Upload photos", expanded=False):
    files = st.file_uploader("Photos", type=list(IMAGE_TYPES), accept_multiple_files=True, key="uploads")
    event = st.selectbox(
        "Event",
        options=[None, *[e.id for e in events]],
        key="upload_event",
        format_func=lambda i: "(none)" if i is None else next(e.name for e in events if e.id == i),
    )
    if st.button("Import", type="primary", disabled=not files, key="import"):
        uploads = [(f.name, f.getvalue()) for f in files or []]
        bar = st.progress(0.0, text="Importing…")
        seen: list[str] = []

        def _progress(name: str, _outcome: str) -> None:
            seen.append(name)
            bar.progress(len(seen) / len(uploads), text=f"Imported {len(seen)} of {len(uploads)}")

        with shows_errors():
            result = import_photos(portal, actor=actor, files=uploads, event_id=event, progress=_progress)
            st.success(
                f"{len(result.imported)} imported, {len(result.duplicates)} duplicates, "
                f"{len(result.rejected)} rejected."
            )
            for name, reason in result.rejected:
                st.error(f"{plain(name)}: {plain(reason)}")
            if result.imported:
                with st.spinner("Looking for faces…"):
                    summary = analyse_pending(portal, actor=actor, limit=ANALYSE_IN_PAGE)
                st.info(f"Analysed {summary.done} photos: {summary.faces} faces, {summary.persons} persons.")

rows = list_assets(portal, limit=100)
if not rows:
    st.info("No photos yet.")
    st.stop()
st.dataframe(
    [
        {
            "Photo": r.id,
            "File": r.filename,
            "State": r.analysis_state,
            "Faces": r.faces,
            "Persons": r.persons,
            "Suggestions to review": r.suggested,
        }
        for r in rows
    ],
    hide_index=True,
    width="stretch",
)
names = {r.id: r.filename for r in rows}
chosen = st.selectbox(
    "Review a photo", options=list(names), key="review_asset", format_func=lambda i: f"#{i} {names[i]}"
)
detail = asset_detail(portal, asset_id=chosen)
asset, found = detail.asset, detail.detections
people = {r.id: r.name or "(no name)" for r in list_subjects(portal, now=datetime.now(UTC), limit=500).rows}

st.image(
    annotated_thumbnail(portal, detail=detail),
    caption=f"{plain(asset.filename)}: {len(found)} detections",
    width="stretch",
)
with shows_errors():
    # Hosted mode: a short-lived signed URL, so the full-size file goes from Storage to the browser directly.
    if (original := original_url(portal, asset_id=asset.id)) is not None:
        st.link_button(f"Open the full-size original (link valid {settings.signed_url_seconds // 60} min)", original)

for d in found:
    with st.container(border=True):
        who = people.get(d.subject_id, "unknown person") if d.subject_id else "nobody linked"
        state = d.link_status or ("not identifiable" if not d.identifiable else "unreviewed")
        st.markdown(f"**{d.kind.capitalize()} #{d.id}** · {plain(who)} · {state}")
        cols = st.columns(5)
        with shows_errors():
            if d.link_status == "suggested":
                if cols[0].button("Confirm", key=f"confirm_{d.id}"):
                    confirm_face(portal, actor=actor, detection_id=d.id)
                    st.rerun()
                if cols[1].button("Reject", key=f"reject_{d.id}"):
                    reject_face(portal, actor=actor, detection_id=d.id, reason="wrong_person")
                    st.rerun()
            person = cols[2].selectbox(
                "Link to",
                options=[None, *people],
                key=f"who_{d.id}",
                format_func=lambda s: "choose a person…" if s is None else people[s],
                label_visibility="collapsed",
            )
            # Moving a face confirmed as someone else takes it out of their record: ask first.
            current = d.confirmed_subject
            move = False
            if person and current and person != current:
                move = cols[2].checkbox(
                    f"Yes, move this face from {plain(people.get(current, 'another person'))} "
                    f"to {plain(people[person])}",
                    key=f"move_{d.id}",
                )
            if person and cols[2].button("Link", key=f"link_{d.id}"):
                link_face(portal, actor=actor, detection_id=d.id, subject_id=person, move=move)
                st.rerun()
            if d.subject_id and cols[3].button("Unlink", key=f"unlink_{d.id}"):
                unlink_face(portal, actor=actor, detection_id=d.id)
                st.rerun()
            if d.identifiable and cols[4].button("Not identifiable", key=f"unid_{d.id}"):
                reject_face(portal, actor=actor, detection_id=d.id, reason="not_identifiable")
                st.rerun()

st.subheader("Where this photo is published")
for use in detail.uses:
    left, right = st.columns([3, 1])
    left.markdown(f"{plain(use.purpose)}: {plain(use.place)} (since {use.since:%Y-%m-%d})")
    if right.button("Unpublish", key=f"unpublish_{use.id}"):
        with shows_errors():
            unpublish_photo(portal, actor=actor, use_id=use.id)
            st.rerun()
purpose = st.selectbox("Purpose", options=[p.code for p in purposes], key="publish_purpose")
# Who blocks this purpose, shown before the button (read fresh on every run).
check = None
with shows_errors():
    check = publish_check(portal, asset_id=asset.id, purpose=purpose) if purpose else None
override = None
if check is not None and not check.ok:
    st.warning(
        f"Not everyone in this photo may be shown for {plain(check.purpose)}:\n\n"
        + "\n".join(f"- {plain(b.words)}" for b in check.blockers or [])
        + ("" if check.blockers else f"- {', '.join(check.reason_names)}")
    )
    if user.can("admin"):
        override = st.text_input(
            "Publish anyway: the reason (recorded in the audit log)", max_chars=300, key="publish_override"
        )
    else:
        st.caption("Only an admin can publish it anyway, giving a reason.")
with st.form("publish", clear_on_submit=True):
    place = st.text_input("Where (URL or description)", max_chars=300, key="publish_place")
    if st.form_submit_button("Record publication"):
        with shows_errors():
            publish_photo(
                portal, actor=actor, asset_id=asset.id, purpose=purpose, where=place, override_reason=override or None
            )
            st.rerun()
