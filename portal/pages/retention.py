"""Managers: photos past the archive's retention period (R17), flagged by the daily job, and deleting them."""

from __future__ import annotations

import streamlit as st

from portal.backend.consent.queries import purpose_titles
from portal.backend.photos.queries import past_retention
from portal.backend.photos.services import delete_photo
from portal.backend.platform.errors import PortalError
from portal.components.context import get_portal, require_role
from portal.components.text import plain

portal = get_portal()
user = require_role("manager")
actor = user.as_actor()
st.title("Past retention")
if (gone := st.session_state.pop("retention_deleted", None)) is not None:
    st.success(f"Photo #{gone} was deleted.")

found = past_retention(portal)
if found.period_days is None:
    st.info(
        "No purpose has a retention period, so no photo is ever past retention. An admin sets the periods of the "
        "purposes (`retention_days`)."
    )
    st.stop()
st.write(
    f"Photos older than {found.period_days} days (the longest retention period of the purposes a photo may serve), "
    "taken or, without a date in the file, uploaded. The daily job (`jobs run`) flags them. Deleting a photo removes "
    "its files, renditions and face detections; the consent ledger is not touched. A published photo is deleted "
    "only after its publication has ended."
)
if not found.photos:
    st.success("No photo is past retention.")
    st.stop()

titles = purpose_titles(portal)


def _publication(line: str) -> str:
    """'code: where' with the purpose's title instead of its code."""
    code, _, place = line.partition(": ")
    return f"{titles.get(code, code)}: {place}"


for p in found.photos:
    with st.container(border=True):
        left, right = st.columns([4, 1])
        left.markdown(f"**#{p.asset_id} {plain(p.filename)}**")
        left.caption(f"Dated {p.date:%Y-%m-%d}: {p.age_days} days old; the period is {p.period_days} days.")
        if p.publications:
            where = "; ".join(_publication(x) for x in p.publications)
            left.warning(f"Published: {plain(where)}. End the publication before deleting.")
        if right.button(
            "Delete", key=f"delete_{p.asset_id}", disabled=bool(p.publications), type="primary", width="stretch"
        ):
            try:
                delete_photo(portal, actor=actor, asset_id=p.asset_id)
            except PortalError as exc:
                st.error(plain(exc))
            else:
                st.session_state["retention_deleted"] = p.asset_id
                st.rerun()
