"""Staff: upload photos, see their analysis, review faces (confirm, reject, link, not identifiable), publish."""

from __future__ import annotations

import io

import streamlit as st
from PIL import Image

from portal.backend.consent.purposes import list_purposes
from portal.backend.events.store import list_events
from portal.backend.people.subjects import list_subjects
from portal.backend.photos.analysis import run_worker
from portal.backend.photos.assets import (
    asset_detections,
    current_uses,
    get_asset,
    ingest,
    list_assets,
    publish,
    unpublish,
)
from portal.backend.photos.biometrics import link_detection, mark_unidentifiable, review_suggestion
from portal.backend.photos.vision.intake import encode_jpeg
from portal.backend.photos.vision.redaction import highlight
from portal.backend.photos.vision.schemas import Box
from portal.backend.photos.vision.status import detector_status
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import PortalError
from portal.components.context import get_portal, require_role, shows_errors

# Analysis in the page request is for small uploads; larger batches go to `python -m portal assets analyze`.
ANALYSE_IN_PAGE = 20

portal = get_portal()
user = require_role("staff")
settings = portal.settings
actor = f"staff:{user.id}"
st.title("Photos")
for line in detector_status(settings):
    st.caption(line)

with portal.db.read() as conn:
    events = list_events(conn)
    purposes = [p for p in list_purposes(conn) if not p.biometric]

with st.expander("Upload photos", expanded=False):
    files = st.file_uploader(
        "Photos", type=["jpg", "jpeg", "png", "webp", "tif", "tiff", "gif"], accept_multiple_files=True, key="uploads"
    )
    event = st.selectbox(
        "Event",
        options=[None, *[e.id for e in events]],
        key="upload_event",
        format_func=lambda i: "(none)" if i is None else next(e.name for e in events if e.id == i),
    )
    if st.button("Import", type="primary", disabled=not files, key="import"):
        bar = st.progress(0.0, text="Importing…")
        imported, duplicates, rejected = 0, 0, []
        for n, f in enumerate(files or []):
            try:
                result = ingest(
                    portal.db,
                    portal.blobs,
                    data=f.getvalue(),
                    filename=f.name,
                    max_pixels=settings.max_image_pixels,
                    event_id=event,
                    uploaded_by=user.id,
                )
            except PortalError as exc:
                rejected.append(f"{f.name}: {exc}")
            else:
                imported += result.created
                duplicates += not result.created
            bar.progress((n + 1) / len(files), text=f"Imported {n + 1} of {len(files)}")
        st.success(f"{imported} imported, {duplicates} duplicates, {len(rejected)} rejected.")
        for reason in rejected:
            st.error(reason)
        if imported:
            with st.spinner("Looking for faces…"):
                summary = run_worker(portal.db, portal.blobs, settings, limit=ANALYSE_IN_PAGE)
            st.info(f"Analysed {summary.done} photos: {summary.faces} faces, {summary.persons} persons.")

with portal.db.read() as conn:
    rows = list_assets(conn, limit=100)
if not rows:
    st.info("No photos yet.")
    st.stop()
st.dataframe(
    [
        {
            "Photo": r.id,
            "File": r["filename"],
            "State": r["analysis_state"],
            "Faces": r["faces"],
            "Persons": r["persons"],
            "Suggestions to review": r["suggested"],
        }
        for r in rows
    ],
    hide_index=True,
    width="stretch",
)
chosen = st.selectbox(
    "Review a photo",
    options=[r.id for r in rows],
    key="review_asset",
    format_func=lambda i: next(f"#{r['id']} {r['filename']}" for r in rows if r.id == i),
)
with portal.db.read() as conn:
    asset = get_asset(conn, chosen)
    found = asset_detections(conn, asset.id)
    uses = current_uses(conn, asset.id)
    people = {r.id: r.name for r in list_subjects(conn, now=utcnow(), limit=500)[1]}

thumb = Image.open(io.BytesIO(portal.blobs.get(asset.thumb_key or asset.blob_key)))
boxes = [Box(**d["box"]) for d in found]
st.image(encode_jpeg(highlight(thumb, boxes)), caption=f"{asset.filename}: {len(found)} detections", width="stretch")
with shows_errors():
    # Hosted mode: a short-lived signed URL, so the full-size file goes from Storage to the browser directly.
    if (original := portal.blobs.signed_url(asset.blob_key, seconds=settings.signed_url_seconds)) is not None:
        st.link_button(f"Open the full-size original (link valid {settings.signed_url_seconds // 60} min)", original)

for d in found:
    with st.container(border=True):
        who = people.get(d["subject_id"], "unknown person") if d["subject_id"] else "nobody linked"
        state = d["link_status"] or ("not identifiable" if not d["identifiable"] else "unreviewed")
        st.markdown(f"**{d['kind'].capitalize()} #{d['id']}** · {who} · {state}")
        cols = st.columns(4)
        with shows_errors():
            if d["link_status"] == "suggested":
                if cols[0].button("Confirm", key=f"confirm_{d['id']}"):
                    review_suggestion(portal.db, detection_id=d["id"], accept=True, staff_id=user.id)
                    st.rerun()
                if cols[1].button("Reject", key=f"reject_{d['id']}"):
                    review_suggestion(portal.db, detection_id=d["id"], accept=False, staff_id=user.id)
                    st.rerun()
            person = cols[2].selectbox(
                "Link to",
                options=[None, *people],
                key=f"who_{d['id']}",
                format_func=lambda s: "choose a person…" if s is None else people[s],
                label_visibility="collapsed",
            )
            if person and cols[2].button("Link", key=f"link_{d['id']}"):
                link_detection(portal.db, detection_id=d["id"], subject_id=person, actor=actor)
                st.rerun()
            if d["identifiable"] and cols[3].button("Not identifiable", key=f"unid_{d['id']}"):
                mark_unidentifiable(portal.db, detection_id=d["id"], actor=actor)
                st.rerun()

st.subheader("Where this photo is published")
for use in uses:
    left, right = st.columns([3, 1])
    left.write(f"{use['code']}: {use['place']} (since {use['since']:%Y-%m-%d})")
    if right.button("Unpublish", key=f"unpublish_{use['id']}"):
        unpublish(portal.db, use_id=use["id"])
        st.rerun()
with st.form("publish", clear_on_submit=True):
    purpose = st.selectbox("Purpose", options=[p.code for p in purposes], key="publish_purpose")
    place = st.text_input("Where (URL or description)", max_chars=300, key="publish_place")
    if st.form_submit_button("Record publication"):
        with shows_errors():
            publish(portal.db, asset_id=asset.id, purpose=purpose, place=place, actor_id=user.id)
            st.rerun()
