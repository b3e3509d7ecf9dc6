"""The public consent form an event's QR code opens: one plain choice per purpose, nothing pre-ticked (R1-R6, R15)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from portal.backend.consent.queries import current_texts, list_purposes
from portal.backend.events.queries import event_for_token, get_event, qr_png
from portal.backend.i18n import LOCALES, best_locale, t
from portal.backend.people.queries import link_token
from portal.backend.people.services import (
    KIOSK_METHODS,
    NAME_MAX,
    PENDING_DAYS,
    email_my_link,
    email_problem,
    method_label,
    minor_on,
    name_problem,
    register_subject,
)
from portal.backend.platform.actors import Actor
from portal.backend.platform.errors import (
    DatabaseBusy,
    ImageRejected,
    NotFound,
    PortalError,
    SelfieRejected,
    TokenError,
    ValidationError,
)
from portal.backend.staff.queries import organisation
from portal.components.a11y import page_language
from portal.components.context import get_portal
from portal.components.kiosk import clear_form, exit_control, kiosk_session
from portal.components.lost_link import lost_link_form
from portal.components.notice import notice_expander
from portal.components.receipts import receipt_download_buttons
from portal.components.text import plain, plain_t

MAX_SELFIE_BYTES = 15 * 1024 * 1024

portal = get_portal()
token = st.query_params.get("event", "")
# Set only by a signed-in staff member on the Events page; the router then shows this form and nothing else.
kiosk = kiosk_session()
channel = "kiosk" if kiosk else "qr_form"
now = datetime.now(UTC)

org = organisation(portal)
try:
    # The kiosk's event was chosen by staff; a visitor's event comes from the signed QR token.
    event = get_event(portal, kiosk["event_id"]) if kiosk else event_for_token(portal, token=token, now=now)
except (TokenError, NotFound) as exc:
    # In the visitor's language; a TokenError names its case, the message itself is English and for logs.
    visitor = best_locale([getattr(st.context, "locale", None) or "en"])
    page_language(visitor)
    st.title(t("form.bad_token", visitor))
    st.error(t(f"token.{exc.reason}", visitor) if isinstance(exc, TokenError) else plain(exc))
    if kiosk:
        exit_control(kiosk)
    st.stop()
    raise
# Face matching is offered only where it can be used: the event asks for it and the organisation has matching on
# (a selfie's template that nothing compares would be biometric data kept for nothing).
purposes = [
    p for p in list_purposes(portal) if p.code in event.purpose_codes and (org.matching_enabled or not p.biometric)
]

browser = best_locale([getattr(st.context, "locale", None) or "en"])
locale = (
    st.segmented_control(
        t("language", browser),
        options=list(LOCALES),
        default=browser,
        key="form_locale",
        format_func=lambda code: {"en": "English", "sv": "Svenska"}[code],
    )
    or browser
)
texts = current_texts(portal, locale)
page_language(locale)


def _open_page(link: str) -> None:
    """Show the person's own page in this tab, with the link as the tab's address (survives a reload)."""
    st.query_params.clear()
    st.query_params["link"] = link_token(link)


def _email_me(done: dict[str, Any], locale: str) -> None:
    """The "E-mail it to me" button: a new-link e-mail to the address given on the form (earlier links keep working)."""
    answer = st.session_state.get("form_email_me")
    if answer == "queued":
        st.success(plain_t("form.email_me_done", locale, email=done["email"]))
        return
    if answer == "too_soon":
        st.info(t("form.email_me_too_soon", locale))
    possible = bool(done.get("email")) and portal.settings.smtp_configured
    if st.button(t("form.email_me", locale), disabled=not possible, width="stretch", key="form_email_me_button"):
        queued = email_my_link(portal, actor=Actor.subject(done["subject"]), subject_id=done["subject"])
        st.session_state["form_email_me"] = "queued" if queued else "too_soon"
        st.rerun()
    if not done.get("email"):
        st.caption(t("form.email_me_no_address", locale))
    elif not portal.settings.smtp_configured:
        st.caption(t("form.link_not_mailed", locale))


done = st.session_state.get("registered")
if done and done.get("pending"):
    # The address is a confirmed person's: nothing was recorded and nothing of theirs is shown (whoever typed the
    # address may not be them); the message to the address asks them to confirm (one person, one record).
    st.title(t("form.pending_title", locale), anchor=False)
    st.info(plain_t("form.pending", locale, email=done["email"], days=PENDING_DAYS))
    if done.get("selfie"):
        st.caption(t("form.pending_selfie", locale))
    if kiosk:
        st.button(t("kiosk.next", locale), type="primary", width="stretch", key="kiosk_next", on_click=clear_form)
        exit_control(kiosk)
    st.stop()
if kiosk and done:
    # On a shared tablet the next person must not see the last one's name, choices, link or receipts (a link
    # opens their photos and erasure), and a download would stay on the device: the link goes by e-mail, or the
    # organisation sends it on request; the receipts are on the personal-link page.
    st.title(t("kiosk.done", locale))
    st.success(t("kiosk.thanks", locale))
    st.write(
        t("kiosk.link_mailed", locale)
        if done.get("emailed") and portal.settings.smtp_configured  # no promise of an e-mail nothing will send
        else plain_t("kiosk.link_later", locale, controller=org.controller_name, email=org.contact_email)
    )
    st.button(t("kiosk.next", locale), type="primary", width="stretch", key="kiosk_next", on_click=clear_form)
    exit_control(kiosk)
    st.stop()
if done and done["event"] == event.id:
    st.title(plain_t("form.title", locale, event=event.name), anchor=False)
    st.success(plain_t("form.thanks", locale, name=done["name"]))
    given = [texts[p.id].title for p in purposes if done["choices"].get(p.code)]
    st.markdown(
        plain_t("form.summary_given", locale, purposes=", ".join(given)) if given else t("form.summary_none", locale)
    )
    if done["link"]:  # None only for a double submit, whose first answer showed the link
        st.markdown(f"**{t('form.link', locale)}**")
        # Switching this tab to the personal page puts the link in its address: a reload shows the page again,
        # where the thank-you (kept only in the session) would be gone. The link is not put in the form's address.
        st.button(
            t("form.open_page", locale),
            type="primary",
            width="stretch",
            key="form_open_page",
            help=t("form.open_page_help", locale),
            on_click=_open_page,
            args=(done["link"],),
        )
        st.code(done["link"], language=None, wrap_lines=True)  # st.code keeps Streamlit's copy icon
        st.caption(t("form.copy_hint", locale))
        _email_me(done, locale)
        st.image(
            qr_png(done["link"], box_size=6), width=220, caption=t("form.qr", locale), alt=t("form.qr_alt", locale)
        )
    if done.get("email"):
        st.caption(
            plain_t("form.link_mailed", locale, email=done["email"])
            if portal.settings.smtp_configured
            else t("form.link_not_mailed", locale)
        )
    receipt_download_buttons(portal, done.get("receipt"), locale, key="form")
    st.stop()

st.title(plain_t("form.title", locale, event=event.name), anchor=False)
st.markdown(plain_t("form.intro", locale, controller=org.controller_name))
address = ", ".join(x for x in (org.street, f"{org.postal_code} {org.locality}".strip(), org.country) if x)
# One caption, two lines: every element costs the browser time on each load (portal/components/lazy.py).
controller = plain_t(
    "form.controller",
    locale,
    controller=org.controller_name,
    address=address,
    email=org.contact_email,
    dpo=f"{org.dpo_name} ({org.dpo_email})" if org.dpo_name else "-",
)
st.caption(f"{controller}  \n{t('form.separate', locale)}")


def _is_minor(year: int | None, month: int | None) -> bool:
    """A minor unless they have certainly reached the age today (born in the month's last day, judged the same way
    as the service does when it records the form)."""
    return bool(year and month and minor_on(year, month, None, consent_age=org.consent_age, on=now.date()))


def _name_message(problem: str, typed: str) -> str:
    """What is wrong with a typed name, in the visitor's language."""
    if problem == "too_long":
        return t("form.name_too_long", locale, n=len(typed.strip()), max=NAME_MAX)
    return t("form.need_name" if problem == "empty" else "form.name_bad_chars", locale)


# Once the birth date says a guardian fills in the form, it speaks about "the child", not to "you". The date is
# chosen below the name, so this reads the choice of the previous run (the labels follow one tap later).
child = _is_minor(st.session_state.get("form_birth_year"), st.session_state.get("form_birth_month"))
# No max_chars: a browser empties a field when a longer text is pasted into it, silently. The length is judged here
# and said at the field, with the text kept for the person to shorten.
name = st.text_input(t("form.name_child" if child else "form.name", locale), key="form_name")
name_error = st.empty()
if (problem := name_problem(name)) not in (None, "empty"):
    name_error.error(_name_message(problem, name))
email = st.text_input(t("form.email_child" if child else "form.email", locale), key="form_email")
email_error = st.empty()
if email.strip() and email_problem(email):
    email_error.error(t("form.bad_email", locale))
# Month and year, not the day: enough to judge the age conservatively (Art. 8), no more than that (Art. 5(1)(c)).
month_col, year_col = st.columns(2)
birth_month = month_col.selectbox(
    t("form.birth_month", locale),
    options=list(range(1, 13)),
    index=None,
    format_func=lambda m: f"{m:02d}",
    key="form_birth_month",
    placeholder=t("form.choose", locale),
)
birth_year = year_col.selectbox(
    t("form.birth_year", locale),
    options=list(range(now.year, now.year - 121, -1)),
    index=None,
    key="form_birth_year",
    placeholder=t("form.choose", locale),
    help=t("form.birth_help", locale, age=org.consent_age),
)
minor = _is_minor(birth_year, birth_month)
birth_error = st.empty()
guardian, guardian_ok, method = "", False, None
if minor:
    st.info(t("form.minor_note", locale, age=org.consent_age))
    guardian = st.text_input(t("form.guardian_name", locale), key="form_guardian")
    guardian_ok = st.checkbox(t("form.guardian_confirm", locale), key="form_guardian_ok")
    if kiosk:
        # On the tablet the staff member sees the guardian and records how they checked them (no free text).
        method = st.selectbox(
            t("form.kiosk_method", locale),
            options=list(KIOSK_METHODS),
            index=None,
            format_func=lambda code: method_label(code, locale),
            key="form_guardian_method",
            placeholder=t("form.choose", locale),
        )

# The notice's second layer (Art. 13), one tap away: the first layer above stays short.
notice_expander(portal, locale, key="form_notice", purpose_codes=[p.code for p in purposes])
guardian_error = st.empty()  # under the guardian's fields, where the correction is made
st.subheader(t("form.purposes_child" if minor else "form.purposes", locale))
choices: dict[str, bool] = {}
for p in purposes:
    text = texts.get(p.id)
    if text is None:
        continue
    with st.container(border=True):
        # One element per purpose's text (each element costs the browser time on every load): the title, what it
        # means, and who receives the photos (named, R4) with the data used.
        st.markdown(
            f"**{plain(text.title)}**\n\n{plain(text.body)}\n\n"
            f"*{t('form.recipients', locale)}:* {plain(', '.join(text.recipients))} · "
            f"*{t('form.data', locale)}:* {plain(', '.join(text.data_categories))}"
        )
        # value=False always: an untouched form records no consent (R2).
        choices[p.code] = st.checkbox(
            plain_t("form.agree", locale, title=text.title), value=False, key=f"agree_{p.code}"
        )

selfie: bytes | None = None
biometric = next((p for p in purposes if p.biometric), None)
if biometric and choices.get(biometric.code):
    with st.container(border=True):
        st.markdown(f"**{t('form.selfie_title_child' if minor else 'form.selfie_title', locale)}**")
        st.write(t("form.selfie_text_child" if minor else "form.selfie_text", locale))
        # The camera starts only when the person asks for it: ticking face matching must not switch it on.
        how = st.radio(
            t("form.selfie_how", locale),
            options=["camera", "upload"],
            format_func=lambda way: t(f"form.selfie_how_{way}", locale),
            index=None,
            key="selfie_how",
        )
        picked = None
        if how == "camera":
            picked = st.camera_input(t("form.selfie_camera", locale), key="selfie_camera")
        elif how == "upload":
            picked = st.file_uploader(
                t("form.selfie_upload", locale),
                type=["jpg", "jpeg", "png", "webp"],
                key="selfie_upload",
                max_upload_size=MAX_SELFIE_BYTES >> 20,
            )
        if picked is not None and picked.size > MAX_SELFIE_BYTES:
            # Judged by the declared size, before the bytes are read into memory.
            st.error(t("form.selfie_too_big", locale, mb=MAX_SELFIE_BYTES >> 20))
        elif picked is not None:
            selfie = picked.getvalue()
selfie_error = st.empty()


def _problems() -> list[tuple[Any, str]]:
    """Each field that needs a correction, as (the place under it, what to do), in the visitor's language."""
    wrong: list[tuple[Any, str]] = []
    if (problem := name_problem(name)) is not None:
        wrong.append((name_error, _name_message(problem, name)))
    if email.strip() and email_problem(email):
        wrong.append((email_error, t("form.bad_email", locale)))
    if not (birth_year and birth_month):
        wrong.append((birth_error, t("form.need_birth", locale)))
    if minor and (not guardian.strip() or not guardian_ok):
        wrong.append((guardian_error, t("form.need_guardian", locale)))
    elif minor and (problem := name_problem(guardian)) is not None:
        wrong.append((guardian_error, _name_message(problem, guardian)))
    if minor and kiosk and method is None:
        wrong.append((guardian_error, t("form.need_method", locale)))
    if biometric and choices.get(biometric.code) and selfie is None:
        wrong.append((selfie_error, t("form.need_selfie", locale)))
    return wrong


def _refusal(exc: PortalError) -> tuple[Any, str]:
    """Where and how to say that the service refused the form: the services' own messages are English."""
    if isinstance(exc, SelfieRejected):
        return selfie_error, t(f"form.selfie_{exc.reason}", locale)
    if isinstance(exc, ImageRejected):
        return selfie_error, t("form.selfie_unreadable", locale)
    if isinstance(exc, DatabaseBusy):
        return None, t("error.busy", locale)
    return None, plain_t("form.not_recorded", locale, controller=org.controller_name)


submission = st.session_state.setdefault("submission_id", str(uuid.uuid4()))
submit_label = t("form.submit_child" if minor else "form.submit", locale)
if st.button(submit_label, type="primary", width="stretch", key="form_submit"):
    try:
        if wrong := _problems():
            # At each field, where the correction is made, and once here, where the person is looking.
            for place, message in wrong:
                place.error(message)
            raise ValidationError(t("form.fix_above", locale))
        # One service call writes the person, their choices, the face template (from the selfie, which is kept
        # nowhere), the personal link, the receipt and the welcome e-mail, all of it or nothing.
        result = register_subject(
            portal,
            actor=Actor.kiosk(kiosk["staff_id"]) if kiosk else Actor(kind="guardian" if minor else "subject"),
            channel=channel,
            name=name,
            email=email or None,
            locale=locale,
            birth_year=birth_year,
            birth_month=birth_month,
            is_minor=minor,
            guardian_name=guardian if minor else None,
            guardian_verification=method if minor and kiosk else None,
            event_id=event.id,
            choices=choices,
            selfie=selfie if biometric and choices.get(biometric.code) else None,
            submission_id=submission,
        )
        subject = result.subject
    except PortalError as exc:
        place, message = (None, str(exc)) if wrong else _refusal(exc)
        if place is not None:
            place.error(message)
            message = t("form.fix_above", locale)
        st.error(plain(message))
    else:
        if result.pending:
            # Only what the visitor typed is kept for the answer, nothing of the registered person.
            if kiosk:
                clear_form(keep=("form_locale",))
            st.session_state["registered"] = {
                "event": event.id,
                "pending": True,
                "email": email.strip(),
                "selfie": selfie is not None,
            }
            st.session_state.pop("submission_id", None)
            st.rerun()
        if kiosk:
            # Nothing of this person stays in the tablet's session, only whether their link was e-mailed.
            # The language stays for the thank-you screen; "next person" clears it too.
            clear_form(keep=("form_locale",))
            st.session_state["registered"] = {"event": event.id, "emailed": result.emailed}
        else:
            st.session_state["registered"] = {
                "event": event.id,
                "name": subject.display_name,
                "subject": subject.id,
                "link": result.link_url,
                "email": subject.email,
                "choices": choices,
                "receipt": result.receipt_id,
            }
            st.session_state.pop("submission_id", None)
        st.rerun()

if kiosk:
    exit_control(kiosk)
else:
    # Registered before and lost the link: ask for a new one here (the same answer whether or not the address is known).
    lost_link_form(portal, org, locale, key="form_lost_link")
