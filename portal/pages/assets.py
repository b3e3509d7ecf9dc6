"""Staff: the photographer's review desk: upload, analyse every pending photo, browse the whole library as a grid
with consent badges and filters, and review one photo (portal/components/photo_review.py)."""

from __future__ import annotations

import math

import streamlit as st

from portal.backend.consent.queries import current_texts, list_purposes
from portal.backend.events.queries import list_events
from portal.backend.photos.queries import (
    BADGE_LABELS,
    BADGES,
    LibraryFilter,
    analysis_counts,
    detector_status,
    library_page,
    photo_thumbnails,
)
from portal.backend.photos.services import IMAGE_TYPES, analyse_pending, import_photos
from portal.backend.platform.errors import PortalError
from portal.backend.risk.queries import REASON_LABELS, REASONS
from portal.components.context import get_portal, require_role, shows_errors
from portal.components.lazy import folded
from portal.components.photo_review import BADGE_COLOURS, show_review
from portal.components.text import plain

PAGE_SIZE = 24  # six rows of four on a laptop; one column of cards on a phone

portal = get_portal()
user = require_role("staff")
actor = user.as_actor()
st.title("Photos")
st.caption("  \n".join(detector_status(portal)))  # one element, a line each

events = list_events(portal)
event_names = {e.id: e.name for e in events}
texts = current_texts(portal, "en")
purposes = [p for p in list_purposes(portal) if not p.biometric]
titles = {p.code: texts[p.id].title if p.id in texts else p.code for p in purposes}

# What the last action said, kept over its rerun (a message shown just before st.rerun would be lost).
for kind, message in st.session_state.pop("desk_flash_list", []):
    (st.error if kind == "error" else st.success)(plain(message))
if flash := st.session_state.pop("desk_flash", None):
    st.success(plain(flash))


def _analyse_all(pending: int, said: list[tuple[str, str]]) -> None:
    """Analyse every pending photo with a progress bar (the request runs until the queue is empty), then rerun
    with what was `said` and the analysis's own summary."""
    bar = st.progress(0.0, text=f"Looking for faces in {pending} photos…")
    seen = [0]

    def _progress(_state: str, _faces: int, _persons: int) -> None:
        seen[0] += 1
        bar.progress(min(1.0, seen[0] / max(pending, 1)), text=f"Analysed {seen[0]} of {pending} photos")

    with shows_errors():
        summary = analyse_pending(portal, actor=actor, progress=_progress)
        said.append(
            (
                "success",
                f"Analysed {summary.done} photos: {summary.faces} faces, {summary.persons} persons"
                + (f"; {summary.failed} could not be analysed." if summary.failed else "."),
            )
        )
    st.session_state["desk_flash_list"] = said
    st.rerun()


def _upload_form() -> None:
    """The uploader, the event the photos belong to, and Import (every new photo is analysed on the spot)."""
    files = st.file_uploader("Photos", type=list(IMAGE_TYPES), accept_multiple_files=True, key="uploads")
    event = st.selectbox(
        "Event",
        options=[None, *event_names],
        key="upload_event",
        format_func=lambda i: "(none)" if i is None else event_names[i],
    )
    if st.button("Import", type="primary", disabled=not files, key="import"):
        uploads = [(f.name, f.getvalue()) for f in files or []]
        bar = st.progress(0.0, text="Importing…")
        seen: list[str] = []

        def _imported(name: str, _outcome: str) -> None:
            seen.append(name)
            bar.progress(len(seen) / len(uploads), text=f"Imported {len(seen)} of {len(uploads)}")

        with shows_errors():
            result = import_photos(portal, actor=actor, files=uploads, event_id=event, progress=_imported)
            said = [
                (
                    "success",
                    f"{len(result.imported)} imported, {len(result.duplicates)} duplicates, "
                    f"{len(result.rejected)} rejected.",
                ),
                *(("error", f"{name}: {reason}") for name, reason in result.rejected),
            ]
            if result.imported:
                # Every new photo is analysed now: one left pending would be a photo nobody looked at for faces.
                _analyse_all(analysis_counts(portal).pending, said)
            st.session_state["desk_flash_list"] = said
            st.rerun()


# Folded until opened (portal/components/lazy.py): the uploader, its event choice and button are not drawn otherwise.
if (upload_box := folded("Upload photos", key="upload_box")) is not None:
    with upload_box:
        _upload_form()

counts = analysis_counts(portal)
if counts.pending:
    left, right = st.columns([3, 1], vertical_alignment="center")
    left.warning(
        f"{counts.pending} photos wait for face analysis. Until then they show as “Pending analysis”, never as "
        "all clear, and cannot be published."
    )
    if right.button(f"Analyse {counts.pending} pending photos", key="analyse_all", type="primary"):
        _analyse_all(counts.pending, [])

# Streamlit forgets a widget's value in a run that does not draw it: keep the filters while a photo is open.
for key in ("desk_search", "desk_event", "desk_badge", "desk_unreviewed", "desk_purpose", "desk_reason"):
    if key in st.session_state:
        st.session_state[key] = st.session_state[key]

if (chosen_photo := st.session_state.get("desk_photo")) is not None:
    show_review(portal, user, int(chosen_photo), titles=titles, event_names=event_names)
    st.stop()

# Filters: what a photographer with last night's 600 photos narrows to; the rarer two are folded away.
with st.container(border=True):
    top = st.columns([2, 2, 2])
    search = top[0].text_input("Search file name or person", max_chars=100, key="desk_search")
    # "All" is 0 or "" rather than None: a None kept in the session state would show as no choice at all.
    event_id = top[1].selectbox(
        "Event",
        options=[0, *event_names],
        key="desk_event",
        format_func=lambda i: event_names.get(i, "All events"),
    )
    badge = top[2].selectbox(
        "State", options=["", *BADGES], key="desk_badge", format_func=lambda b: BADGE_LABELS.get(b, "Any state")
    )
    unreviewed = st.checkbox("Only photos with faces to review", key="desk_unreviewed")
    rare_unset = not st.session_state.get("desk_purpose") and not st.session_state.get("desk_reason")
    # Folded (portal/components/lazy.py): closed, its two filters keep their values (kept above) without being drawn.
    purpose = st.session_state.get("desk_purpose") or ""
    reason = st.session_state.get("desk_reason") or ""
    if (rare := folded("Purpose and reason", key="desk_rare", expanded=not rare_unset)) is not None:
        low = rare.columns(2)
        purpose = low[0].selectbox(
            "Purpose",
            options=["", *titles],
            key="desk_purpose",
            format_func=lambda c: titles.get(c, "Every purpose"),
            help="With a purpose, the state and the reasons are judged for that purpose only.",
        )
        reason = low[1].selectbox(
            "Reason",
            options=["", *REASONS],
            key="desk_reason",
            format_func=lambda r: REASON_LABELS.get(r, "Any reason"),
        )

chosen = LibraryFilter(
    event_id=event_id or None,
    badge=badge or None,
    purpose=purpose or None,
    reason=reason or None,
    unreviewed=unreviewed,
    search=search or "",
)
st.session_state["desk_filter"] = chosen
# A changed filter starts at its first page.
if st.session_state.get("desk_filter_seen") != chosen:
    st.session_state["desk_filter_seen"] = chosen
    st.session_state["desk_page"] = 0
page_no = int(st.session_state.get("desk_page", 0))
try:
    found = library_page(portal, chosen=chosen, limit=PAGE_SIZE, offset=page_no * PAGE_SIZE)
except PortalError as exc:
    st.error(plain(exc))
    st.stop()
pages = max(1, math.ceil(found.total / PAGE_SIZE))
if page_no >= pages:  # the library shrank under the filter since the last run
    st.session_state["desk_page"] = pages - 1
    st.rerun()

if not found.cards:
    st.info("No photos match." if counts.total else "No photos yet.")
    st.stop()


def _pager(where: str) -> None:
    """Previous / page x of y / next, in one row on a phone too."""
    row = st.container(horizontal=True, vertical_alignment="center", horizontal_alignment="distribute")
    if row.button("‹ Previous", key=f"prev_{where}", disabled=page_no == 0):
        st.session_state["desk_page"] = page_no - 1
        st.rerun()
    row.caption(
        f"Page {page_no + 1} of {pages} · photos {found.offset + 1}–{found.offset + len(found.cards)} of {found.total}"
    )
    if row.button("Next ›", key=f"next_{where}", disabled=page_no + 1 >= pages):
        st.session_state["desk_page"] = page_no + 1
        st.rerun()


_pager("top")
columns = st.columns(4)
thumbs = photo_thumbnails(portal, asset_ids=[card.id for card in found.cards])  # one query, not one per card
for n, card in enumerate(found.cards):
    with columns[n % 4].container(border=True, key=f"card_{card.id}"):
        thumb = thumbs.get(card.id)
        if thumb is not None:
            st.image(thumb, width="stretch", alt=f"Photo #{card.id}, {card.filename}")
        # The badge (a fixed label) and the file name in one element, the facts in another: 24 cards of six
        # elements each were most of what the browser drew on this page.
        badge = f":{BADGE_COLOURS[card.badge]}-badge[{BADGE_LABELS[card.badge]}]"
        st.markdown(f"{badge}  \n**#{card.id}** {plain(card.filename)}")
        facts = [f"{card.faces} faces"]
        if card.unreviewed:
            facts.append(f"{card.unreviewed} to review")
        if card.published:
            facts.append(f"published {card.published}×")
        if card.event_name:
            facts.append(card.event_name)
        lines = [" · ".join(facts)] + ([", ".join(REASON_LABELS[r] for r in card.reasons)] if card.reasons else [])
        st.caption("  \n".join(plain(line) for line in lines))
        if st.button("Review", key=f"open_{card.id}", width="stretch"):
            st.session_state["desk_photo"] = card.id
            st.rerun()
_pager("bottom")
