"""Staff and managers: publications to take down and partners to tell, opened by consent changes elsewhere."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from portal.backend.consent.queries import purpose_titles
from portal.backend.photos.queries import Task, closed_takedowns, list_takedowns, photo_thumbnail
from portal.backend.photos.services import close_task, unpublish_photo
from portal.components.context import get_portal, require_role, shows_errors
from portal.components.text import plain

# Why, in plain words (staff pages are in English).
WHY = {
    "withdrawn": "someone in it withdrew consent",
    "refused": "someone in it refused",
    "veto": "someone in it asked that this photo not be used",
    "revoked": "a consent was revoked",
    "expired": "a consent expired",
    "text_replaced": "the purpose text was replaced and someone has not renewed",
    "no_consent": "someone in it was never asked",
    "unidentified": "a face nobody has identified",
    "erasure": "someone in it asked to be erased",
}

portal = get_portal()
user = require_role("staff")
actor = user.as_actor()
st.title("To take down")
st.caption(
    "A consent change that makes a published photo unusable lists it here at once. Take it down where it is "
    "published, then record that here; for a partner, also record that they were told to stop using it."
)
titles = purpose_titles(portal)  # purposes by their titles, not codes such as `social_media`


def _age(since: datetime) -> str:
    """How long a task has waited, in words."""
    days = (datetime.now(UTC) - since).days
    return "today" if days < 1 else f"{days} day{'s' if days != 1 else ''}"


def _card(task: Task) -> None:
    """One open task with its photo, where, why, since when, and the action that closes it."""
    with st.container(border=True):
        left, right = st.columns([1, 3])
        thumb = photo_thumbnail(portal, asset_id=task.asset_id)
        if thumb is not None:
            # Small on a phone too: the text and button matter more.
            left.image(thumb, width=160, alt=f"Photo #{task.asset_id}, {task.filename}")
        what = "Tell the partner" if task.kind == "notify_partner" else "Take down"
        right.markdown(f"**{what}: photo #{task.asset_id}** · {plain(task.filename)}")
        right.markdown(f"Published for **{plain(titles.get(task.purpose, task.purpose))}** at {plain(task.place)}")
        right.markdown(f"Why: {WHY.get(task.cause, plain(task.cause))}")
        right.caption(f"Open since {task.opened_at:%Y-%m-%d %H:%M} UTC ({_age(task.opened_at)}) · task {task.id}")
        with shows_errors():
            if task.kind == "takedown":
                if right.button("Publication ended (taken down)", key=f"end_{task.id}", type="primary"):
                    unpublish_photo(portal, actor=actor, use_id=task.use_id)
                    st.rerun()
            else:
                if task.publication_ended is None:
                    right.caption("The publication is still recorded as current.")
                note = right.text_input("How and when the partner was told", max_chars=300, key=f"note_{task.id}")
                if right.button("Partner told", key=f"told_{task.id}", disabled=not note.strip()):
                    close_task(portal, actor=actor, task_id=task.id, note=note)
                    st.rerun()


# Read on every run (no caching): a withdrawal made on a personal link shows on the next rerun.
open_tasks = list_takedowns(portal, open_only=True)
tab_open, tab_closed = st.tabs([f"Open ({len(open_tasks)})", "Recently closed"])
with tab_open:
    if not open_tasks:
        st.success("Nothing to take down.")
    for task in open_tasks:
        _card(task)
with tab_closed:
    closed = closed_takedowns(portal, limit=50)
    if not closed:
        st.info("No task has been closed yet.")
    else:
        st.dataframe(
            [
                {
                    "Task": t.id,
                    "Kind": "tell partner" if t.kind == "notify_partner" else "take down",
                    "Photo": f"#{t.asset_id} {t.filename}",
                    "Purpose": titles.get(t.purpose, t.purpose),
                    "Where": t.place,
                    "Why": WHY.get(t.cause, t.cause),
                    "Opened": t.opened_at,
                    "Closed": t.closed_at,
                    "By": t.closed_by,
                    "Note": t.closed_note,
                }
                for t in closed
            ],
            hide_index=True,
            width="stretch",
        )
