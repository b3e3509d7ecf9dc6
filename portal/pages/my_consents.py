"""A data subject's own consents, reached by their personal link: a summary first, then their photos, receipts and
rights; every change answered next to the control that made it (R7)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

import streamlit as st

from portal.backend.consent.queries import (
    ConsentStatus,
    PurposeText,
    ReceiptRecord,
    Renewal,
    current_texts,
    ledger_entries,
    list_purposes,
    pending_renewals,
    status_for,
    subject_consents,
    subject_receipts,
    text_version,
)
from portal.backend.consent.services import Decision, change_consent, withdraw_everything
from portal.backend.i18n import LOCALES, best_locale, t
from portal.backend.people.services import erase_subject, export_subject, open_personal_link
from portal.backend.photos.queries import PersonalPhoto, personal_photos, subject_photo_view
from portal.backend.photos.services import AlreadyDisputed, NotYourPhoto, not_me
from portal.backend.platform.actors import Actor
from portal.backend.platform.errors import (
    ConsentStateError,
    DatabaseBusy,
    GuardianRequired,
    NotFound,
    PortalError,
    SubjectErased,
    TokenError,
)
from portal.backend.staff.queries import organisation
from portal.components.a11y import page_language
from portal.components.consent_labels import status_label
from portal.components.context import get_portal
from portal.components.lazy import folded
from portal.components.lost_link import lost_link_form
from portal.components.notice import notice_expander
from portal.components.receipts import receipt_download_buttons
from portal.components.text import plain, plain_t

portal = get_portal()
token = st.query_params.get("link", "")
org = organisation(portal)

erased_token, erased_locale = st.session_state.get("erased") or ("", "en")
if token and token == erased_token:
    # The page after "Erase me": a clean confirmation in the person's language, with no name, photo or button of
    # theirs left on screen (a reload starts a new session, where the link itself says the data was erased).
    page_language(erased_locale)
    st.title(t("rights.erased_title", erased_locale))
    st.success(t("rights.erased", erased_locale))
    st.stop()

if not token:
    locale = best_locale([getattr(st.context, "locale", None) or "en"])
    page_language(locale)
    st.title(t("my_consents.title", locale))
    st.info(plain_t("my_consents.no_link", locale, controller=org.controller_name))
    lost_link_form(portal, org, locale, key="lost_link")
    st.stop()

try:
    # Opening a link that was e-mailed to the person also confirms their address (for "Lost your link?").
    subject = open_personal_link(portal, token=token)
except SubjectErased as exc:
    # Not "ask for a new one": there is nothing left behind this link, and no new one can be made.
    page_language(exc.locale)
    st.title(t("rights.erased_title", exc.locale))
    st.info(t("rights.link_erased", exc.locale))
    st.stop()
    raise  # unreachable
except TokenError as exc:
    # An expired or replaced link: say so in the visitor's language and offer a new one by e-mail.
    locale = best_locale([getattr(st.context, "locale", None) or "en"])
    page_language(locale)
    st.title(t("my_consents.title", locale))
    st.error(t(f"token.{exc.reason}", locale))
    lost_link_form(portal, org, locale, key="lost_link")
    st.stop()
    raise  # unreachable

# Touch targets of at least 44 px (WCAG 2.5.5) on a phone: buttons, expander headers, inputs and checkboxes. The
# style applies while this page is shown; the personal link is a page of its own.
st.html(
    "<style>"
    "[data-testid='stMain'] button, [data-testid='stExpander'] summary, [data-baseweb='input'],"
    " [data-testid='stCheckbox'] label {min-height: 44px;}"
    " [data-testid='stCheckbox'] label {align-items: center;}"
    # Shorter on a phone: a title on one line, tighter spacing, photos no taller than a third of the screen (the
    # full picture is one tap away in Streamlit's full-screen view).
    " [data-testid='stMain'] h1 {font-size: 1.9rem;}"
    " [data-testid='stMain'] [data-testid='stVerticalBlock'] {gap: 0.5rem;}"
    " [data-testid='stMain'] [data-testid='stImage'] img {max-height: 240px; object-fit: contain;}"
    " [data-testid='stMainBlockContainer'] {padding-top: 3.5rem; padding-bottom: 2rem;}"
    "</style>"
)

locale = (
    st.segmented_control(
        t("language", subject.locale),
        options=list(LOCALES),
        format_func=lambda code: {"en": "English", "sv": "Svenska"}[code],
        default=subject.locale if subject.locale in LOCALES else "en",
        key="locale",
    )
    or "en"
)
page_language(locale)
# The person acts for themselves through their own link; for a minor, giving or renewing goes through the guardian
# step below (Art. 8), while withdrawing stays one tap.
me = Actor.subject(subject.id)
_GUARDIAN_STEP = "guardian_step"
_FEEDBACK = "personal_feedback"
_FEEDBACK_SECONDS = 60.0
_CONFIRM_ALL = "confirm_all"
_NOT_ME = "confirm_not_me"


def _first_tap(label: str, *, key: str, state: str, value: object) -> None:
    """The first tap of a two-step action: it only asks (remembers `value` under `state`), nothing is changed."""
    st.button(label, key=key, width="stretch", on_click=st.session_state.__setitem__, args=(state, value))


def _ask_first(ask: str, confirm: str, *, key: str, state: str, on_confirm: Callable[[], None]) -> None:
    """The second step: the question, then Confirm (runs `on_confirm`) or Cancel (forgets `state`); `key` holds {}
    for "_confirm" / "_cancel"."""
    st.warning(ask)
    yes, no = st.columns(2)
    yes.button(confirm, key=key.format("_confirm"), type="primary", width="stretch", on_click=on_confirm)
    no.button(
        t("personal.cancel", locale),
        key=key.format("_cancel"),
        width="stretch",
        on_click=st.session_state.pop,
        args=(state, None),
    )


def _say(where: str, message: str, kind: str = "success") -> None:
    """Keep a message for the control at `where`: shown there (and once as a toast) on the next runs."""
    st.session_state[_FEEDBACK] = (where, message, kind, time.monotonic(), False)


def _feedback(where: str) -> None:
    """Show the message kept for `where`, right next to the control that was used."""
    kept = st.session_state.get(_FEEDBACK)
    if not kept or kept[0] != where:
        return
    _, message, kind, said_at, toasted = kept
    # Kept for a while rather than for one run: another rerun right after the tap (a second tap elsewhere, an
    # expander opening) must not wipe the answer before the person has read it. The next answer replaces it.
    if time.monotonic() - said_at > _FEEDBACK_SECONDS:
        st.session_state.pop(_FEEDBACK, None)
        return
    if kind == "success":
        st.success(message)
        if not toasted:
            st.toast(message)
            st.session_state[_FEEDBACK] = (where, message, kind, said_at, True)
    elif kind == "info":
        st.info(message)
    else:
        st.error(message)


def _explain(exc: PortalError) -> str:
    """A refusal in the person's language: backend messages are English and written for staff."""
    if isinstance(exc, AlreadyDisputed):
        return t("personal.not_me_already", locale)
    if isinstance(exc, NotYourPhoto):
        return t("personal.not_me_not_linked", locale)
    if isinstance(exc, SubjectErased | NotFound):
        return t("personal.erased_gone", locale)
    if isinstance(exc, DatabaseBusy):
        return t("error.busy", locale)
    if isinstance(exc, ConsentStateError):
        # Typically a second tab: the consent had already been withdrawn or given there.
        return t("personal.stale", locale)
    return plain_t("personal.error", locale, controller=org.controller_name)


def _ask_guardian(decisions: list[Decision]) -> None:
    """Remember the give/renew a minor tapped, for the guardian step to record on their behalf."""
    st.session_state[_GUARDIAN_STEP] = [(d.purpose, d.action, d.asset_id) for d in decisions]


def _act(decisions: list[Decision], where: str) -> None:
    """Record the subject's own change with the wording shown in their chosen language; answer at `where`."""
    try:
        change_consent(portal, actor=me, subject_id=subject.id, decisions=decisions, channel="portal", locale=locale)
    except GuardianRequired:
        _ask_guardian(decisions)
        _say(where, t("personal.guardian_above", locale), "info")
    except PortalError as exc:
        _say(where, _explain(exc), "error")
    else:
        given = decisions[0].action in ("given", "renewed")
        _say(where, t("my_consents.saved" if given else "my_consents.withdrawn", locale))


st.title(t("my_consents.title", locale))
st.markdown(plain_t("my_consents.intro", locale, name=subject.display_name))
st.caption(plain_t("my_consents.controller", locale, controller=org.controller_name, email=org.contact_email))
_feedback("top")


def _guardian_step() -> None:
    """The guardian's name and declaration, then the pending give or renew recorded with actor `guardian`."""
    pending = st.session_state.get(_GUARDIAN_STEP)
    if not pending:
        return
    decisions = [Decision(purpose=code, action=action, asset_id=asset) for code, action, asset in pending]
    with st.container(border=True, key="guardian_step_box"):
        st.subheader(t("guardian.step_title", locale), anchor=False)
        st.markdown(plain_t("guardian.step_intro", locale, name=subject.display_name, age=org.consent_age))
        # Name what the guardian agrees to: the tap that led here may be a screen away.
        by_code = {p.code: p.id for p in list_purposes(portal)}
        shown = current_texts(portal, locale)
        what = ", ".join(
            shown[by_code[d.purpose]].title if by_code.get(d.purpose) in shown else d.purpose for d in decisions
        )
        st.markdown(plain_t("guardian.step_for", locale, what=what))
        name = st.text_input(t("guardian.name", locale), max_chars=200, key="guardian_step_name")
        declared = st.checkbox(
            plain_t("guardian.declare", locale, name=subject.display_name), key="guardian_step_declare"
        )
        confirm, cancel = st.columns(2)
        if cancel.button(t("guardian.cancel", locale), key="guardian_step_cancel", width="stretch"):
            st.session_state.pop(_GUARDIAN_STEP, None)
            st.rerun()
        if confirm.button(t("guardian.confirm", locale), key="guardian_step_confirm", type="primary", width="stretch"):
            if not name.strip() or not declared:
                st.error(t("guardian.need", locale))
                return
            try:
                change_consent(
                    portal,
                    actor=Actor.guardian(subject.id, name),
                    subject_id=subject.id,
                    decisions=decisions,
                    channel="portal",
                    locale=locale,
                )
            except PortalError as exc:
                st.error(_explain(exc))
                return
            for key in (_GUARDIAN_STEP, "guardian_step_name", "guardian_step_declare"):
                st.session_state.pop(key, None)
            _say("top", t("my_consents.saved", locale))
            st.rerun()


_guardian_step()


def _renew(renewal: Renewal, where: str) -> None:
    """Record `renewed` under the current text version, as the person's own act on their link (R16)."""
    decision = Decision(purpose=renewal.purpose_code, action="renewed", asset_id=renewal.scope_asset_id)
    try:
        change_consent(portal, actor=me, subject_id=subject.id, decisions=[decision], channel="portal", locale=locale)
    except GuardianRequired:
        _ask_guardian([decision])
        _say(where, t("personal.guardian_above", locale), "info")
    except PortalError as exc:
        _say(where, _explain(exc), "error")
    else:
        _say("top", t("renew.done", locale))


def _renewal_section() -> None:
    """For each consent under a replaced text: that the text changed, what changed, and one button to renew."""
    for renewal in pending_renewals(portal, subject_id=subject.id, locale=locale):
        scope = renewal.scope_asset_id or "all"
        where = f"renewal_{renewal.purpose_code}_{scope}"
        with st.container(border=True, key=where):
            st.subheader(t("renew.title", locale), anchor=False)
            st.markdown(plain_t("renew.intro", locale, title=renewal.new.title))
            if renewal.scope_asset_id is not None:
                st.markdown(t("renew.photo", locale))
            if renewal.title_changed:
                st.markdown(plain_t("renew.title_changed", locale, old=renewal.old.title, new=renewal.new.title))
            removed = [sentence for kind, sentence in renewal.body if kind == "removed"]
            added = [sentence for kind, sentence in renewal.body if kind == "added"]
            for label, lines in (("renew.removed", removed), ("renew.added", added)):
                if lines:
                    st.markdown(f"**{t(label, locale)}**")
                    st.markdown("\n".join(f"- {plain(line)}" for line in lines))
            if not removed and not added:
                st.markdown(t("renew.no_body_change", locale))
            if renewal.recipients_added:
                names = ", ".join(renewal.recipients_added)
                st.markdown(plain_t("renew.recipients_added", locale, names=names))
            if renewal.recipients_removed:
                names = ", ".join(renewal.recipients_removed)
                st.markdown(plain_t("renew.recipients_removed", locale, names=names))
            with st.expander(t("renew.full_text", locale)):
                st.markdown(f"**{plain(renewal.new.title)}**")
                st.markdown(plain(renewal.new.body))
            st.button(
                t("renew.button", locale),
                key=f"renew_{renewal.purpose_code}_{scope}",
                on_click=_renew,
                args=(renewal, where),
                type="primary",
                width="stretch",
            )
            _feedback(where)


_renewal_section()

now = datetime.now(UTC)
every_status = subject_consents(portal, subject_id=subject.id, now=now)
statuses: dict[str, ConsentStatus] = {s.purpose_code: s for s in every_status if s.scope_asset_id is None}
texts = current_texts(portal, locale)
purposes = [p for p in list_purposes(portal) if p.id in texts and p.code in statuses]
# What the person agreed to is shown in the words they agreed to; everything else in the current words.
shown_texts: dict[str, PurposeText] = {
    p.code: (
        text_version(portal, purpose_id=p.id, version=version, locale=locale)
        if (version := statuses[p.code].text_version) and statuses[p.code].allowed
        else texts[p.id]
    )
    for p in purposes
}
titles = {code: text.title for code, text in shown_texts.items()}
can_withdraw_all = any(s.allowed or s.status == "superseded" for s in statuses.values())


def _withdraw_all_now(where: str) -> None:
    """Withdraw every consent (general and per photo) in one act; like every change, it issues a receipt."""
    st.session_state.pop(_CONFIRM_ALL, None)
    try:
        withdraw_everything(portal, actor=me, subject_id=subject.id, channel="portal")
    except PortalError as exc:
        _say(where, _explain(exc), "error")
    else:
        _say(where, t("my_consents.all_withdrawn", locale))


def _withdraw_all(where: str) -> None:
    """'Withdraw everything' with its confirmation step, at `where` (under the summary, and again at the end)."""
    suffix = "" if where == "top" else f"_{where}"
    if can_withdraw_all:
        if st.session_state.get(_CONFIRM_ALL) == where:
            with st.container(border=True, key=f"withdraw_all_box{suffix}"):
                _ask_first(
                    t("personal.withdraw_all_ask", locale),
                    t("my_consents.withdraw_all_confirm", locale),
                    key=f"withdraw_all{{}}{suffix}",
                    state=_CONFIRM_ALL,
                    on_confirm=partial(_withdraw_all_now, where),
                )
        else:
            _first_tap(
                t("my_consents.withdraw_all", locale), key=f"withdraw_all{suffix}", state=_CONFIRM_ALL, value=where
            )
    _feedback(f"all_{where}")


def _summary() -> None:
    """What the person allows and does not, the next expiry, and one "Change" per purpose (its text inside)."""
    allowed = [titles[p.code] for p in purposes if statuses[p.code].allowed]
    refused = [titles[p.code] for p in purposes if not statuses[p.code].allowed]
    with st.container(border=True, key="summary"):
        lines = [
            plain_t("personal.you_allow", locale, titles=", ".join(allowed))
            if allowed
            else t("personal.allow_nothing", locale)
        ]
        if refused:
            lines.append(plain_t("personal.you_dont_allow", locale, titles=", ".join(refused)))
        ending = sorted(
            (s.valid_until, s.purpose_code) for s in statuses.values() if s.allowed and s.valid_until is not None
        )
        if ending and ending[0][1] in titles:
            until, code = ending[0]
            lines.append(plain_t("personal.next_expiry", locale, date=until.date().isoformat(), title=titles[code]))
        st.markdown("\n\n".join(lines))  # one element, a paragraph each
        for p in purposes:
            _change(p.code, p.biometric)
    _withdraw_all("top")


def _change(code: str, biometric: bool) -> None:
    """One purpose's "Change": its status, text and recipients, and the one button that flips it."""
    text, status = shown_texts[code], statuses[code]
    where = f"purpose_{code}"
    # The key keeps the expander open across the rerun a tap causes, so the answer below the button is seen.
    box = folded(plain_t("personal.change", locale, title=text.title), key=f"change_{code}")
    if box is None:
        return
    with box:
        line = status_label(status.status, locale)
        if status.allowed and status.valid_until:
            line += " · " + t("my_consents.valid_until", locale, date=status.valid_until.date().isoformat())
        elif status.since:
            line += " · " + t("my_consents.since", locale, date=status.since.date().isoformat())
        st.markdown(f"**{line}**")
        st.markdown(plain(text.body))
        st.markdown(f"{t('my_consents.recipients', locale)}: {plain(', '.join(text.recipients))}")
        if status.allowed or status.status == "superseded":
            st.button(
                t("my_consents.withdraw", locale),
                key=f"withdraw_{code}",
                on_click=_act,
                args=([Decision(purpose=code, action="withdrawn")], where),
                width="stretch",
            )
        elif not biometric:
            st.button(
                t("my_consents.give", locale),
                key=f"give_{code}",
                on_click=_act,
                args=([Decision(purpose=code, action="given")], where),
                type="primary",
                width="stretch",
            )
        else:
            # Face matching needs a selfie, so it is given through the consent form, not with one button.
            st.markdown(t("personal.face_matching_form", locale))
        _feedback(where)


_summary()

# The same second layer as on the form (Art. 13), for every purpose this page lists; staff may have noted a phone.
notice_expander(portal, locale, key="my_notice", asks_phone=True)


def _not_me(asset_id: int) -> None:
    """The person says this photo does not show them: it leaves their page and goes back to staff to review."""
    st.session_state.pop(_NOT_ME, None)
    try:
        not_me(portal, actor=me, asset_id=asset_id)
    except PortalError as exc:
        _say("photos", _explain(exc), "error")
    else:
        _say("photos", t("personal.not_me_done", locale))


def _photo_card(photo: PersonalPhoto) -> None:
    """One photo: the picture (others blurred), one line of status, the per-purpose choices, and "That's not me"."""
    asset = photo.asset_id
    where = f"photo_{asset}"
    per_photo = [p for p in purposes if not p.biometric]
    here = {p.code: status_for(every_status, p.code, asset) for p in per_photo}
    own = {s.purpose_code: s.status for s in every_status if s.scope_asset_id == asset}
    allowed = sum(status in ("given", "renewed") for status in here.values())
    date = photo.taken_on.isoformat() if photo.taken_on else ""
    # Alt text describes the picture without naming anyone else in it; the event name is staff text (an attribute,
    # not Markdown).
    alt = (
        t("personal.photo_alt_event", locale, event=photo.event_name, date=date)
        if photo.event_name
        else t("personal.photo_alt", locale, date=date)
    )
    places = sorted({place for _, place, _ in photo.uses})
    used = plain_t("personal.used_on", locale, places=", ".join(places)) if places else t("personal.not_used", locale)
    with st.container(border=True, key=where):
        st.image(subject_photo_view(portal, asset_id=asset, subject_id=subject.id), width="stretch", alt=alt)
        st.markdown(f"{used} · {t('personal.allowed_of', locale, allowed=allowed, total=len(per_photo))}")
        box = folded(t("personal.photo_choices", locale), key=f"choices_{asset}")
        if box is None:
            return
        with box:
            for p in per_photo:
                title = titles[p.code]
                st.markdown(f"{plain(title)}: **{status_label(here[p.code], locale)}**")
                uses = [(place, since) for code, place, since in photo.uses if code == p.code]
                for place, since in uses:
                    st.markdown(plain_t("photos.used", locale, purpose=title, place=place, date=since.date()))
                if here[p.code] in ("given", "renewed"):
                    action = "withdrawn" if own.get(p.code) in ("given", "renewed") else "refused"
                    st.button(
                        plain_t("photos.not_this", locale, title=title),
                        key=f"veto_{asset}_{p.code}",
                        on_click=_act,
                        args=([Decision(purpose=p.code, action=action, asset_id=asset)], where),
                        width="stretch",
                    )
                else:
                    st.button(
                        plain_t("photos.allow_this", locale, title=title),
                        key=f"allow_{asset}_{p.code}",
                        on_click=_act,
                        args=([Decision(purpose=p.code, action="given", asset_id=asset)], where),
                        width="stretch",
                    )
            _feedback(where)
            if st.session_state.get(_NOT_ME) == asset:
                _ask_first(
                    t("personal.not_me_ask", locale),
                    t("personal.not_me_confirm", locale),
                    key=f"not_me{{}}_{asset}",
                    state=_NOT_ME,
                    on_confirm=partial(_not_me, asset),
                )
            else:
                _first_tap(t("personal.not_me", locale), key=f"not_me_{asset}", state=_NOT_ME, value=asset)


st.header(t("photos.title", locale), anchor=False)
photos = personal_photos(portal, subject_id=subject.id)
st.markdown(t("photos.intro" if photos else "photos.none", locale))
_feedback("photos")
for photo in photos:
    _photo_card(photo)

_withdraw_all("end")


def _receipt_label(receipt: ReceiptRecord, entries: dict[int, tuple[int, str, int | None]]) -> str:
    """Date, what the receipt documents (action and purpose titles) and its language."""
    by_id = {p.id: titles.get(p.code, p.code) for p in every_purpose}
    groups: dict[str, list[str]] = {}
    for seq in receipt.entry_seqs:
        if seq not in entries:
            continue
        purpose_id, action, scope = entries[seq]
        title = by_id.get(purpose_id, "?")
        if scope is not None:
            title = t("personal.receipt_this_photo", locale, title=title)
        groups.setdefault(action, []).append(title)
    what = "; ".join(
        t("personal.receipt_what", locale, action=t(f"status.{action}", locale), titles=", ".join(names))
        for action, names in groups.items()
    )
    language = t(f"personal.receipt_language.{receipt.locale}", locale) if receipt.locale in LOCALES else ""
    stamp = f"{receipt.created_at:%Y-%m-%d %H:%M} UTC"
    return " · ".join(x for x in (f"**{stamp}**", plain(what), language) if x)


def _receipt(receipt: ReceiptRecord, entries: dict[int, tuple[int, str, int | None]]) -> None:
    """One receipt: its label, then its PDF and JSON."""
    st.markdown(_receipt_label(receipt, entries))
    receipt_download_buttons(portal, receipt, locale, key=receipt.id)


# Every receipt, newest first, each labelled, one tap away (a page of its own would push the rest off the phone).
receipts = list(reversed(subject_receipts(portal, subject_id=subject.id)))
if receipts and (box := folded(t("personal.receipts", locale, count=len(receipts)), key="receipts")) is not None:
    every_purpose = list_purposes(portal, active_only=False)
    entries = {
        e.seq: (e.purpose_id, e.action, e.scope_asset_id)
        for e in ledger_entries(portal, subject_id=subject.id, limit=100_000)
    }
    with box:
        for receipt in receipts:
            _receipt(receipt, entries)


def _rights() -> None:
    """Download everything held about the person, or erase them (typing a word to confirm)."""
    st.markdown(t("rights.intro", locale))
    if st.button(t("rights.prepare", locale), key="prepare_export", width="stretch"):
        try:
            st.session_state["export_zip"] = export_subject(portal, actor=me, subject_id=subject.id)
        except PortalError as exc:
            st.error(_explain(exc))
    if st.session_state.get("export_zip"):
        st.download_button(
            t("rights.download", locale),
            data=st.session_state["export_zip"],
            file_name="my-data.zip",
            mime="application/zip",
            key="download_export",
            width="stretch",
        )
    if st.button(t("rights.erase", locale), key="erase", width="stretch"):
        st.session_state["confirm_erase"] = True
    if st.session_state.get("confirm_erase"):
        st.warning(t("rights.erase_warning", locale))
        # Erasure cannot be undone and a leaked link allows it: two taps are not enough, the person types a word.
        word = t("rights.erase_word", locale)
        typed = st.text_input(t("rights.erase_type", locale, word=word), key="erase_word", max_chars=40)
        if st.button(t("rights.erase_confirm", locale), key="erase_confirm", type="primary", width="stretch"):
            if typed.strip().casefold() != word.casefold():
                st.error(t("rights.erase_word_wrong", locale, word=word))
            else:
                try:
                    erase_subject(portal, actor=me, subject_id=subject.id)
                except PortalError as exc:
                    st.error(_explain(exc))
                else:
                    st.session_state.clear()
                    st.session_state["erased"] = (token, locale)
                    st.rerun()


if (rights_box := folded(t("personal.rights_more", locale), key="rights")) is not None:
    with rights_box:
        _rights()
