"""A data subject's own consents, reached by their personal link: see, give and withdraw (R7)."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from portal.backend.consent.queries import (
    Renewal,
    current_texts,
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
from portal.backend.photos.queries import subject_photo_view, subject_photos
from portal.backend.platform.actors import Actor
from portal.backend.platform.errors import GuardianRequired, PortalError, SubjectErased, TokenError
from portal.backend.staff.queries import organisation
from portal.components.consent_labels import status_label
from portal.components.context import get_portal
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
    st.title(t("rights.erased_title", erased_locale))
    st.success(t("rights.erased", erased_locale))
    st.stop()

if not token:
    locale = best_locale([getattr(st.context, "locale", None) or "en"])
    st.title(t("my_consents.title", locale))
    st.info(plain_t("my_consents.no_link", locale, controller=org.controller_name))
    lost_link_form(portal, org, locale, key="lost_link")
    st.stop()

try:
    # Opening a link that was e-mailed to the person also confirms their address (for "Lost your link?").
    subject = open_personal_link(portal, token=token)
except SubjectErased as exc:
    # Not "ask for a new one": there is nothing left behind this link, and no new one can be made.
    st.title(t("rights.erased_title", exc.locale))
    st.info(t("rights.link_erased", exc.locale))
    st.stop()
    raise  # unreachable
except TokenError as exc:
    # An expired or replaced link: say so in the visitor's language and offer a new one by e-mail.
    locale = best_locale([getattr(st.context, "locale", None) or "en"])
    st.title(t("my_consents.title", locale))
    st.error(t(f"token.{exc.reason}", locale))
    lost_link_form(portal, org, locale, key="lost_link")
    st.stop()
    raise  # unreachable

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
# The person acts for themselves through their own link; for a minor, giving or renewing goes through the guardian
# step below (Art. 8), while withdrawing stays one tap.
me = Actor.subject(subject.id)
_GUARDIAN_STEP = "guardian_step"


def _ask_guardian(decisions: list[Decision]) -> None:
    """Remember the give/renew a minor tapped, for the guardian step to record on their behalf."""
    st.session_state[_GUARDIAN_STEP] = [(d.purpose, d.action, d.asset_id) for d in decisions]


def _act(decisions: list[Decision]) -> None:
    """Record the subject's own change with the wording shown in their chosen language."""
    try:
        change_consent(portal, actor=me, subject_id=subject.id, decisions=decisions, channel="portal", locale=locale)
    except GuardianRequired:
        _ask_guardian(decisions)
    except PortalError as exc:
        st.session_state["flash_error"] = str(exc)
    else:
        given = decisions[0].action == "given"
        st.session_state["flash"] = t("my_consents.saved" if given else "my_consents.withdrawn", locale)


st.title(t("my_consents.title", locale))
st.markdown(plain_t("my_consents.intro", locale, name=subject.display_name))
st.caption(plain_t("my_consents.controller", locale, controller=org.controller_name, email=org.contact_email))
if msg := st.session_state.pop("flash", None):
    st.success(msg)
if msg := st.session_state.pop("flash_error", None):
    st.error(plain(msg))


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
                st.error(plain(exc))
                return
            for key in (_GUARDIAN_STEP, "guardian_step_name", "guardian_step_declare"):
                st.session_state.pop(key, None)
            st.session_state["flash"] = t("my_consents.saved", locale)
            st.rerun()


_guardian_step()


def _renew(renewal: Renewal) -> None:
    """Record `renewed` under the current text version, as the person's own act on their link (R16)."""
    decision = Decision(purpose=renewal.purpose_code, action="renewed", asset_id=renewal.scope_asset_id)
    try:
        change_consent(portal, actor=me, subject_id=subject.id, decisions=[decision], channel="portal", locale=locale)
    except GuardianRequired:
        _ask_guardian([decision])
    except PortalError as exc:
        st.session_state["flash_error"] = str(exc)
    else:
        st.session_state["flash"] = t("renew.done", locale)


def _renewal_section() -> None:
    """For each consent under a replaced text: that the text changed, what changed, and one button to renew."""
    for renewal in pending_renewals(portal, subject_id=subject.id, locale=locale):
        scope = renewal.scope_asset_id or "all"
        with st.container(border=True, key=f"renewal_{renewal.purpose_code}_{scope}"):
            st.subheader(t("renew.title", locale), anchor=False)
            st.markdown(plain_t("renew.intro", locale, title=renewal.new.title))
            if renewal.scope_asset_id is not None:
                st.caption(t("renew.photo", locale))
            if renewal.title_changed:
                st.markdown(plain_t("renew.title_changed", locale, old=renewal.old.title, new=renewal.new.title))
            removed = [sentence for kind, sentence in renewal.body if kind == "removed"]
            added = [sentence for kind, sentence in renewal.body if kind == "added"]
            for label, lines in (("renew.removed", removed), ("renew.added", added)):
                if lines:
                    st.markdown(f"**{t(label, locale)}**")
                    st.markdown("\n".join(f"- {plain(line)}" for line in lines))
            if not removed and not added:
                st.caption(t("renew.no_body_change", locale))
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
                args=(renewal,),
                type="primary",
                width="stretch",
            )


_renewal_section()

now = datetime.now(UTC)
every_status = subject_consents(portal, subject_id=subject.id, now=now)
statuses = {s.purpose_code: s for s in every_status if s.scope_asset_id is None}
texts = current_texts(portal, locale)
purposes = list_purposes(portal)
shown_texts = {
    p.code: (
        text_version(portal, purpose_id=p.id, version=version, locale=locale)
        if (version := statuses[p.code].text_version) and statuses[p.code].allowed
        else texts[p.id]
    )
    for p in purposes
    if p.id in texts
}

for p in purposes:
    if p.code not in shown_texts:
        continue
    text, status = shown_texts[p.code], statuses[p.code]
    with st.container(border=True):
        st.subheader(plain(text.title), anchor=False)
        st.markdown(plain(text.body))
        st.caption(f"{t('my_consents.recipients', locale)}: {plain(', '.join(text.recipients))}")
        line = status_label(status.status, locale)
        if status.allowed and status.valid_until:
            line += " · " + t("my_consents.valid_until", locale, date=status.valid_until.date().isoformat())
        elif status.since:
            line += " · " + t("my_consents.since", locale, date=status.since.date().isoformat())
        st.markdown(f"**{line}**")
        if status.allowed or status.status == "superseded":
            st.button(
                t("my_consents.withdraw", locale),
                key=f"withdraw_{p.code}",
                on_click=_act,
                args=([Decision(purpose=p.code, action="withdrawn")],),
                width="stretch",
            )
        elif not p.biometric:
            # Face matching needs a selfie, so it is given through the consent form, not with one button.
            st.button(
                t("my_consents.give", locale),
                key=f"give_{p.code}",
                on_click=_act,
                args=([Decision(purpose=p.code, action="given")],),
                width="stretch",
            )

# The same second layer as on the form (Art. 13), for every purpose this page lists; staff may have noted a phone.
notice_expander(portal, locale, key="my_notice", asks_phone=True)

st.divider()
st.header(t("photos.title", locale))
photos = subject_photos(portal, subject_id=subject.id)
if not photos:
    st.caption(t("photos.none", locale))
else:
    st.caption(t("photos.intro", locale))
for photo in photos:
    with st.container(border=True):
        st.image(
            subject_photo_view(portal, asset_id=photo.asset_id, subject_id=subject.id),
            width="stretch",
        )
        titles = {p.code: shown_texts[p.code].title for p in purposes if p.code in shown_texts}
        for code, place, since in photo.uses:
            st.caption(plain_t("photos.used", locale, purpose=titles.get(code, code), place=place, date=since.date()))
        if not photo.uses:
            st.caption(t("photos.unused", locale))
        for p in purposes:
            if p.biometric or p.code not in titles:
                continue
            here = status_for(every_status, p.code, photo.asset_id)
            own = next(
                (s.status for s in every_status if s.purpose_code == p.code and s.scope_asset_id == photo.asset_id),
                None,
            )
            st.markdown(f"{plain(titles[p.code])}: **{status_label(here, locale)}**")
            if here in ("given", "renewed"):
                action = "withdrawn" if own in ("given", "renewed") else "refused"
                st.button(
                    plain_t("photos.not_this", locale, title=titles[p.code]),
                    key=f"veto_{photo.asset_id}_{p.code}",
                    on_click=_act,
                    args=([Decision(purpose=p.code, action=action, asset_id=photo.asset_id)],),
                    width="stretch",
                )
            else:
                st.button(
                    plain_t("photos.allow_this", locale, title=titles[p.code]),
                    key=f"allow_{photo.asset_id}_{p.code}",
                    on_click=_act,
                    args=([Decision(purpose=p.code, action="given", asset_id=photo.asset_id)],),
                    width="stretch",
                )

if any(s.allowed or s.status == "superseded" for s in statuses.values()):
    st.divider()
    if st.button(t("my_consents.withdraw_all", locale), key="withdraw_all", width="stretch"):
        st.session_state["confirm_all"] = True
    if st.session_state.get("confirm_all"):
        if st.button(
            t("my_consents.withdraw_all_confirm", locale), key="withdraw_all_confirm", type="primary", width="stretch"
        ):
            try:
                # Like every other change, withdrawing everything issues a receipt.
                withdraw_everything(portal, actor=me, subject_id=subject.id, channel="portal")
            except PortalError as exc:
                st.error(plain(exc))
            else:
                st.session_state["confirm_all"] = False
                st.session_state["flash"] = t("my_consents.all_withdrawn", locale)
                st.rerun()

receipts = [r for r in subject_receipts(portal, subject_id=subject.id) if r.issued]
if receipts:
    st.divider()
    st.header(t("receipts.title", locale))
    for receipt in reversed(receipts[-10:]):
        # Date, what the receipt documents, and the language it is written in.
        action = status_label(receipt.summary, locale) if receipt.summary != "mixed" else ""
        st.caption(" · ".join(x for x in (f"{receipt.created_at:%Y-%m-%d %H:%M} UTC", action, receipt.locale) if x))
        receipt_download_buttons(portal, receipt, locale, key=receipt.id)

st.divider()
st.header(t("rights.title", locale))
st.caption(t("rights.intro", locale))
if st.button(t("rights.prepare", locale), key="prepare_export", width="stretch"):
    try:
        st.session_state["export_zip"] = export_subject(portal, actor=me, subject_id=subject.id)
    except PortalError as exc:
        st.error(plain(exc))
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
                st.error(plain(exc))
            else:
                st.session_state.clear()
                st.session_state["erased"] = (token, locale)
                st.rerun()
