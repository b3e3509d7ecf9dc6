"""The review view of one photo on the desk: numbered picture, numbered faces with crops and the linked person's
consent, link (by search), unlink, not identifiable, not a face, publications, and "next photo to review"."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Literal

import streamlit as st

from portal.backend.photos.queries import (
    BADGE_LABELS,
    STATE_LABELS,
    LibraryFilter,
    ReviewFace,
    ReviewView,
    face_crops,
    known_face,
    next_photo_to_review,
    original_url,
    people_to_link,
    publish_check,
    review_picture,
    review_view,
)
from portal.backend.photos.services import (
    confirm_face,
    link_face,
    mark_not_a_face,
    publish_photo,
    reject_face,
    restore_face,
    unlink_face,
    unpublish_photo,
)
from portal.backend.platform.errors import NotFound, PortalError
from portal.backend.platform.runtime import Portal
from portal.backend.risk.queries import REASON_LABELS
from portal.components.text import plain

BadgeColour = Literal["red", "orange", "blue", "violet", "green"]
BADGE_COLOURS: dict[str, BadgeColour] = {
    "critical": "red",
    "at_risk": "orange",
    "pending": "blue",
    "failed": "violet",
    "clear": "green",
}
STATUS_MARKS = {"given": "✓", "renewed": "✓"}
STATUS_WORDS = {
    "given": "given",
    "renewed": "given (renewed)",
    "refused": "refused",
    "withdrawn": "withdrawn",
    "revoked": "revoked",
    "expired": "expired",
    "veto": "refused for this photo",
    "superseded": "text changed, not renewed",
    "unknown": "not asked",
}
SEARCH_SHOWN = 5  # people offered per search; more means the search should be longer


def _done(message: str) -> None:
    """Keep a message for the next run (the action's rerun would lose it) and rerun."""
    st.session_state["desk_flash"] = message
    st.rerun()


def _act(action: Callable[[], Any], message: str) -> None:
    """Run a service call; its PortalError is shown here, success is shown after the rerun."""
    try:
        action()
    except PortalError as exc:
        st.error(plain(exc))
        return
    _done(message)


def _go(asset_id: int | None) -> None:
    """Open another photo (None: back to the grid)."""
    st.session_state["desk_photo"] = asset_id
    st.rerun()


def _person_line(face: ReviewFace, titles: dict[str, str]) -> None:
    """Who the face is linked to, what tells them apart, and their consent per purpose for this photo."""
    person = face.person
    if person is None:
        return
    facts = [person.name or "(no name)"]
    facts += [x for x in (person.email_hint, person.event_name) if x]
    if person.minor:
        facts.append("minor")
    if person.erased:
        facts.append("erased")
    st.markdown(plain(" · ".join(facts)))
    st.caption(
        plain(
            " · ".join(
                f"{titles.get(s.purpose, s.purpose)}: {STATUS_MARKS.get(s.status, '✗')} "
                f"{STATUS_WORDS.get(s.status, s.status)}"
                + (f" until {s.until:%Y-%m-%d}" if s.until and s.status in STATUS_MARKS else "")
                for s in person.statuses
            )
        )
    )


def _link_search(portal: Portal, user: Any, face: ReviewFace, view: ReviewView) -> None:
    """Find a person by name or e-mail and link them; moving a confirmed face to someone else asks first."""
    det = face.face.id
    term = st.text_input(
        "Link to a person: type a name or e-mail", max_chars=100, key=f"find_{det}", placeholder="Name or e-mail"
    )
    if not term or not term.strip():
        return
    total, people = people_to_link(portal, search=term, event_id=view.asset.event_id, limit=SEARCH_SHOWN)
    if not people:
        st.caption("Nobody matches.")
        return
    if total > len(people):
        st.caption(f"{total} people match; the first {len(people)} are shown. Type more to narrow it down.")
    current = face.face.confirmed_subject
    for p in people:
        row = st.columns([1, 4, 2], vertical_alignment="center")
        crop = known_face(portal, detection_id=p.known_face) if p.known_face else None
        if crop is not None:
            row[0].image(crop, width=48, alt=f"A known face of {p.name or 'this person'}")
        else:
            row[0].caption("no photo")
        about = [p.name or "(no name)", *(x for x in (p.email_hint, p.event_name) if x)]
        about.append(f"registered {p.registered:%Y-%m-%d}")
        if p.minor:
            about.append("minor")
        row[1].markdown(plain(" · ".join(about)))
        if current and current != p.id:
            if row[2].button("Move here", key=f"move_{det}_{p.id}"):
                st.session_state[f"moving_{det}"] = p.id
        elif current != p.id and row[2].button("Link", key=f"link_{det}_{p.id}"):
            _act(
                partial(link_face, portal, actor=user.as_actor(), detection_id=det, subject_id=p.id),
                f"Face {face.number} linked to {p.name or 'the person'}.",
            )
    target = st.session_state.get(f"moving_{det}")
    if target and current:
        name = next((p.name for p in people if p.id == target), None) or "the chosen person"
        st.warning(
            plain(f"Face {face.number} is confirmed as {face.person.name if face.person else 'someone else'}. ")
            + "Moving it takes this photo out of their record."
        )
        if st.button(plain(f"Yes, move face {face.number} to {name}"), key=f"confirm_move_{det}"):
            st.session_state.pop(f"moving_{det}", None)
            _act(
                lambda: link_face(portal, actor=user.as_actor(), detection_id=det, subject_id=target, move=True),
                f"Face {face.number} moved to {name}.",
            )


def _face_card(
    portal: Portal, user: Any, face: ReviewFace, view: ReviewView, crop: bytes | None, titles: dict[str, str]
) -> None:
    """One numbered detection: crop, state, person, and what can be decided about it."""
    det, actor = face.face.id, user.as_actor()
    with st.container(border=True, key=f"face_{det}"):
        left, right = st.columns([1, 3])
        kind = "Face" if face.face.kind == "face" else "Person"
        if crop is not None:
            left.image(crop, width=96, alt=f"{kind} {face.number}, close up")
        with right:
            st.markdown(f"**{kind} {face.number}** · {STATE_LABELS[face.state]}")
            _person_line(face, titles)
            buttons = st.container(horizontal=True, gap="small")
            if face.state == "suggested":
                if buttons.button("Confirm", key=f"confirm_{det}", type="primary"):
                    _act(lambda: confirm_face(portal, actor=actor, detection_id=det), f"Face {face.number} confirmed.")
                if buttons.button("Reject", key=f"reject_{det}"):
                    _act(
                        lambda: reject_face(portal, actor=actor, detection_id=det, reason="wrong_person"),
                        f"Suggestion for face {face.number} rejected.",
                    )
            if face.state == "confirmed" and buttons.button("Unlink", key=f"unlink_{det}"):
                _act(lambda: unlink_face(portal, actor=actor, detection_id=det), f"Face {face.number} unlinked.")
            if face.state in ("not_identifiable", "not_a_face"):
                if buttons.button("Undo", key=f"restore_{det}", help="It becomes a face to review again."):
                    _act(lambda: restore_face(portal, actor=actor, detection_id=det), f"Face {face.number} restored.")
                if face.state == "not_identifiable":  # someone may recognise them after all
                    _link_search(portal, user, face, view)
                return
            if buttons.button(
                "Not identifiable", key=f"unid_{det}", help="Too small, blurred or turned away: needs no consent."
            ):
                _act(
                    lambda: reject_face(portal, actor=actor, detection_id=det, reason="not_identifiable"),
                    f"Face {face.number} marked not identifiable.",
                )
            if face.face.kind == "face" and buttons.button(
                "Not a face", key=f"notface_{det}", help="A false detection (a patch, a poster): it stops counting."
            ):
                _act(
                    lambda: mark_not_a_face(portal, actor=actor, detection_id=det),
                    f"Detection {face.number} marked not a face.",
                )
            _link_search(portal, user, face, view)


def _numbered(detection_id: int | None, view: ReviewView) -> str:
    """'Face 3: ' for a blocker that is one of the photo's numbered detections."""
    number = next((f.number for f in view.faces if f.face.id == detection_id), None)
    return "" if number is None else f"Face {number}: "


def _publications(portal: Portal, user: Any, view: ReviewView, titles: dict[str, str]) -> None:
    """Where the photo is published, and recording a new publication with the consent check shown first."""
    actor = user.as_actor()
    asset = view.asset
    st.subheader("Where this photo is published", anchor=False)
    if not view.uses:
        st.caption("Not published anywhere.")
    for use in view.uses:
        left, right = st.columns([3, 1], vertical_alignment="center")
        left.markdown(f"{plain(titles.get(use.purpose, use.purpose))}: {plain(use.place)} (since {use.since:%Y-%m-%d})")
        if right.button("Unpublish", key=f"unpublish_{use.id}"):
            _act(partial(unpublish_photo, portal, actor=actor, use_id=use.id), "Publication ended.")
    purpose = st.selectbox(
        "Publish for", options=list(titles), key="publish_purpose", format_func=lambda c: titles.get(c, c)
    )
    check = None
    try:
        check = publish_check(portal, asset_id=asset.id, purpose=purpose) if purpose else None
    except NotFound as exc:
        st.error(plain(exc))
    override = None
    if check is not None and not check.ok:
        st.warning(
            f"Not everyone in this photo may be shown for {plain(titles.get(check.purpose, check.purpose))}:\n\n"
            + "\n".join(f"- {plain(_numbered(b.detection_id, view))}{plain(b.words)}" for b in check.blockers or [])
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
            _act(
                lambda: publish_photo(
                    portal,
                    actor=actor,
                    asset_id=asset.id,
                    purpose=purpose,
                    where=place,
                    override_reason=override or None,
                ),
                f"Publication for {titles.get(purpose, purpose)} recorded.",
            )


def show_review(
    portal: Portal, user: Any, asset_id: int, *, titles: dict[str, str], event_names: dict[int, str]
) -> None:
    """The whole review view of one photo."""
    chosen = st.session_state.get("desk_filter") or LibraryFilter()
    try:
        view = review_view(portal, asset_id=asset_id)
    except NotFound as exc:
        st.error(plain(exc))
        if st.button("Back to all photos", key="desk_back_missing"):
            _go(None)
        return
    asset = view.asset
    nav = st.columns([1, 1, 2], vertical_alignment="center")
    if nav[0].button("‹ All photos", key="desk_back", width="stretch"):
        _go(None)
    if nav[1].button("Next photo to review ›", key="desk_next", type="primary", width="stretch"):
        following = next_photo_to_review(portal, chosen=chosen, after_id=asset.id)
        if following is None:
            st.session_state["desk_flash"] = "No other photo has faces to review."
        _go(following if following is not None else asset.id)
    nav[2].badge(BADGE_LABELS[view.badge], color=BADGE_COLOURS[view.badge])
    st.subheader(f"#{asset.id} {plain(asset.filename)}", anchor=False)
    facts = [f"{len(view.faces)} detections", f"{view.to_review} to review"]
    if asset.event_id is not None:
        facts.append(event_names.get(asset.event_id, f"event {asset.event_id}"))
    if view.reasons:
        facts.append("at risk: " + ", ".join(REASON_LABELS[r] for r in view.reasons))
    st.caption(plain(" · ".join(facts)))
    if asset.analysis_state != "done":
        st.info(
            "This photo has not been analysed for faces yet: nobody knows who is in it, so it is not safe to "
            "publish. Analyse the pending photos above."
            if asset.analysis_state != "failed"
            else plain(f"The analysis of this photo failed: {asset.analysis_error or 'unknown error'}.")
        )
    picture, faces = st.columns([3, 2])
    with picture:
        try:
            st.image(
                review_picture(portal, view=view),
                width="stretch",
                alt=f"Photo #{asset.id}, {asset.filename}, with {len(view.faces)} numbered boxes around the "
                "faces and persons listed beside it",
            )
        except NotFound:
            st.caption("The photo's file is missing.")
        if (original := original_url(portal, asset_id=asset.id)) is not None:
            minutes = portal.settings.signed_url_seconds // 60
            st.link_button(f"Open the full-size original (link valid {minutes} min)", original)
    crops = face_crops(portal, view=view)
    with faces:
        if not view.faces and asset.analysis_state == "done":
            st.caption("No faces or persons were found in this photo.")
        for face in view.faces:
            _face_card(portal, user, face, view, crops.get(face.face.id), titles)
    _publications(portal, user, view, titles)
