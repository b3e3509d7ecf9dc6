"""Admins: the organisation's details and consent rules, purpose texts (as new versions) and staff accounts."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from portal.backend.consent.queries import TextContent, current_texts, list_purposes, preview_purpose_text
from portal.backend.consent.services import publish_purpose_text, set_retention_period
from portal.backend.photos.queries import person_detection_status
from portal.backend.platform.errors import ValidationError
from portal.backend.staff.queries import (
    AGE_OF_CONSENT,
    DEFAULT_AGE_OF_CONSENT,
    ROLES,
    SAFEGUARD_EXAMPLES,
    demo_accounts,
    list_staff,
    organisation,
)
from portal.backend.staff.queries import recipients as recipient_rows
from portal.backend.staff.services import (
    add_recipient,
    add_staff,
    change_recipient,
    disable_staff,
    enable_staff,
    remove_demo_accounts,
    remove_recipient,
    save_organisation,
    set_staff_password,
    set_staff_role,
)
from portal.components.context import get_portal, require_role, shows_errors
from portal.components.text import plain

portal = get_portal()
user = require_role("admin")
actor = user.as_actor()
st.title("Settings")
org = organisation(portal)

st.subheader("Organisation (the controller named on every form and receipt)")
with st.form("organisation"):
    name = st.text_input("Controller name", org.controller_name, max_chars=200)
    street = st.text_input("Street", org.street, max_chars=200)
    postal, locality = st.columns(2)
    postal_code = postal.text_input("Postal code", org.postal_code, max_chars=20)
    town = locality.text_input("Town", org.locality, max_chars=100)
    country = st.text_input(
        "Country (ISO code)",
        org.country,
        max_chars=2,
        help=f"Age of digital consent follows the country: {AGE_OF_CONSENT.get(org.country, DEFAULT_AGE_OF_CONSENT)}",
    )
    email = st.text_input("Contact e-mail", org.contact_email, max_chars=254)
    phone = st.text_input("Contact phone (international form, needed on receipts)", org.contact_phone, max_chars=40)
    dpo_name = st.text_input("Data protection officer", org.dpo_name, max_chars=200)
    dpo_email = st.text_input("DPO e-mail", org.dpo_email, max_chars=254)
    policy = st.text_input("Privacy policy URL (needed on receipts)", org.policy_url, max_chars=500)
    # Art. 13(2)(d): the notice names the authority a person may complain to; the record of processing too.
    authority_name = st.text_input(
        "Supervisory authority", org.authority_name, max_chars=200, help="e.g. Integritetsskyddsmyndigheten (IMY)"
    )
    authority_url = st.text_input("Supervisory authority's web address", org.authority_url, max_chars=500)
    validity = st.number_input("Consent valid for (days)", min_value=1, max_value=3650, value=org.consent_validity_days)
    override = st.number_input(
        "Age of digital consent (0 = the country's rule)", min_value=0, max_value=18, value=org.age_of_consent or 0
    )
    if st.form_submit_button("Save", type="primary"):
        with shows_errors():
            save_organisation(
                portal,
                actor=actor,
                organisation=replace(
                    org,
                    controller_name=name,
                    street=street,
                    postal_code=postal_code,
                    locality=town,
                    country=country,
                    contact_email=email,
                    contact_phone=phone,
                    dpo_name=dpo_name,
                    dpo_email=dpo_email,
                    policy_url=policy,
                    authority_name=authority_name.strip(),
                    authority_url=authority_url.strip(),
                    consent_validity_days=int(validity),
                    age_of_consent=int(override) or None,
                ),
            )
            st.success("Saved.")

st.subheader("Recipients and processors (record of processing, Art. 30)")
st.caption(
    "Everyone outside the organisation who receives photos or processes data for it, with the country where they "
    "do. Outside the EU/EEA a transfer safeguard is required. Processors that follow from this deployment's "
    "settings (Supabase, the e-mail provider) are listed from the settings and cannot be edited here."
)
stored_recipients, configured = recipient_rows(portal)
st.dataframe(
    [
        {
            "purpose": r.purpose or "all purposes",
            "name": r.name,
            "country": r.country or "not stated",
            "kind": r.kind,
            "service": r.service,
            "outside EU/EEA": "yes" if r.is_transfer else "no",
            "safeguard": r.transfer_safeguard,
            "source": "settings" if r.configured else "recorded",
        }
        for r in [*stored_recipients, *configured]
    ],
    hide_index=True,
    width="stretch",
)
_ALL = "(all purposes)"
_purpose_choices = [_ALL, *(p.code for p in list_purposes(portal))]
with st.form("new_recipient", clear_on_submit=True):
    r_purpose = st.selectbox("Purpose", _purpose_choices, key="recipient_purpose")
    r_name = st.text_input("Name", max_chars=200, key="recipient_name")
    r_country = st.text_input("Country (ISO code, e.g. SE, IE, US)", max_chars=2, key="recipient_country")
    r_kind = st.selectbox("Kind", ["recipient", "processor"], key="recipient_kind")
    r_service = st.text_input("What they do with the data", max_chars=300, key="recipient_service")
    r_safeguard = st.text_input(
        "Transfer safeguard (only outside the EU/EEA)",
        max_chars=300,
        key="recipient_safeguard",
        help="e.g. " + "; ".join(SAFEGUARD_EXAMPLES),
    )
    if st.form_submit_button("Add the recipient"):
        with shows_errors():
            added = add_recipient(
                portal,
                actor=actor,
                purpose=None if r_purpose == _ALL else r_purpose,
                name=r_name,
                country=r_country,
                kind=r_kind,
                service=r_service,
                transfer_safeguard=r_safeguard,
            )
            st.success(f"Added {plain(added.name)} ({added.country}).")
if stored_recipients:
    by_rid = {r.id: r for r in stored_recipients if r.id is not None}
    rid = st.selectbox(
        "Change or remove a recorded recipient",
        list(by_rid),
        format_func=lambda i: f"{by_rid[i].name} ({by_rid[i].purpose or 'all purposes'}, {by_rid[i].country})",
        key="change_recipient_id",
    )
    current = by_rid[rid]
    # Keys carry the id: choosing another recipient shows its own values, not the last one's edits.
    with st.form(f"change_recipient_{rid}"):
        c_purpose = st.selectbox(
            "Purpose",
            _purpose_choices,
            index=_purpose_choices.index(current.purpose) if current.purpose in _purpose_choices else 0,
            key=f"change_recipient_purpose_{rid}",
        )
        c_name = st.text_input("Name", current.name, max_chars=200, key=f"change_recipient_name_{rid}")
        c_country = st.text_input(
            "Country (ISO code)", current.country, max_chars=2, key=f"change_recipient_country_{rid}"
        )
        c_kind = st.selectbox(
            "Kind",
            ["recipient", "processor"],
            index=int(current.kind == "processor"),
            key=f"change_recipient_kind_{rid}",
        )
        c_service = st.text_input(
            "What they do with the data", current.service, max_chars=300, key=f"change_recipient_service_{rid}"
        )
        c_safeguard = st.text_input(
            "Transfer safeguard", current.transfer_safeguard, max_chars=300, key=f"change_recipient_safeguard_{rid}"
        )
        save_col, remove_col = st.columns(2)
        if save_col.form_submit_button("Save the changes"):
            with shows_errors():
                changed_r = change_recipient(
                    portal,
                    actor=actor,
                    recipient_id=rid,
                    purpose=None if c_purpose == _ALL else c_purpose,
                    name=c_name,
                    country=c_country,
                    kind=c_kind,
                    service=c_service,
                    transfer_safeguard=c_safeguard,
                )
                st.success(f"Saved {plain(changed_r.name)}.")
        if remove_col.form_submit_button("Remove the recipient"):
            with shows_errors():
                gone_r = remove_recipient(portal, actor=actor, recipient_id=rid)
                st.success(f"Removed {plain(gone_r.name)}.")

st.subheader("Purpose texts")
st.caption(
    "Texts are never edited in place: publishing makes a new version in every language at once. Consents given "
    "under the old version stop counting (status 'text changed') until each person renews on their personal page."
)
_LANGUAGE_NAMES = {"en": "English", "sv": "Swedish"}
purposes = list_purposes(portal)
english = current_texts(portal, "en")
code = st.selectbox(
    "Purpose",
    [p.code for p in purposes],
    key="text_purpose",
    format_func=lambda c: next(
        (f"{english[p.id].title} ({c})" for p in purposes if p.code == c and p.id in english), c
    ),
)
purpose = next(p for p in purposes if p.code == code)
with st.form(f"retention_{purpose.code}"):
    # R17: how long photos are kept for this purpose; the daily job flags photos past the longest period.
    days = st.number_input(
        "Keep photos for this purpose (days; 0 for no period)",
        min_value=0,
        max_value=36_500,
        value=purpose.retention_days or 0,
        step=30,
        key=f"retention_days_{purpose.code}",
        help="A photo is past retention when older than the longest period of the purposes that are not biometric.",
    )
    if st.form_submit_button("Save the retention period"):
        with shows_errors():
            saved = set_retention_period(portal, actor=actor, code=purpose.code, days=int(days) or None)
            st.success(
                f"Saved: {saved.retention_days} days." if saved.retention_days else "Saved: no retention period."
            )
by_locale = {loc: current_texts(portal, loc).get(purpose.id) for loc in org.locales}
# current_texts falls back to English: only a text stored in that very language can be carried over.
own = {loc: text for loc, text in by_locale.items() if text is not None and text.locale == loc}
with st.form("purpose_text"):
    shown_version = next((text.version for text in own.values()), None)
    st.caption(
        f"Current version: {shown_version or '-'}. Change the text in every language, or tick 'keep unchanged' "
        "for a language whose current text still says the same. Fix typos only when the meaning stays the same."
    )
    fields: dict[str, tuple[TextContent, bool]] = {}
    base = own.get("en") or next(iter(own.values()), None)
    for loc in org.locales:
        # A language with no text of its own starts empty: it must be written, not copied from English.
        name, text = _LANGUAGE_NAMES.get(loc, loc), own.get(loc)
        title = st.text_input(
            f"Title ({name})", text.title if text else "", max_chars=200, key=f"text_title_{code}_{loc}"
        )
        body = st.text_area(f"Text ({name})", text.body if text else "", height=140, key=f"text_body_{code}_{loc}")
        # Recipients are named in each language (a company's name stays, "the public" is translated).
        recipients = st.text_input(
            f"Recipients ({name}), separated by ;",
            "; ".join(text.recipients) if text else "",
            key=f"text_recipients_{code}_{loc}",
        )
        keep = st.checkbox(
            f"Keep the current {name} text unchanged in the new version",
            key=f"text_keep_{code}_{loc}",
            disabled=loc not in own,
        )
        names = [r.strip() for r in recipients.split(";") if r.strip()]
        source = text or base
        categories = source.data_categories if source else ("Photo",)
        fields[loc] = (TextContent(title, body, names, categories), keep)
    if st.form_submit_button("Preview the change"):
        st.session_state.pop("text_plan", None)
        with shows_errors():
            texts = {loc: content for loc, (content, keep) in fields.items() if not keep}
            carry = [loc for loc, (_content, keep) in fields.items() if keep]
            plan = preview_purpose_text(portal, code=code, texts=texts, carry_over=carry)
            st.session_state["text_plan"] = (code, texts, carry, plan)

pending = st.session_state.get("text_plan")
if pending and pending[0] == code:
    _code, texts, carry, plan = pending
    with st.container(border=True, key="text_preview"):
        st.markdown(f"**Version {plan.current_version or '-'} → {plan.version}: what changes**")
        for d in plan.locales:
            name = _LANGUAGE_NAMES.get(d.locale, d.locale)
            if d.state == "carried_over":
                st.caption(f"{name}: carried over unchanged.")
                continue
            st.markdown(f"**{name}**")
            if d.title_changed:
                old_title = plain(d.old.title) if d.old else "-"
                st.markdown(f"Title: ~~{old_title}~~ → {plain(d.new.title)}")
            lines = [
                ("➖ " if kind == "removed" else "➕ ") + plain(sentence) for kind, sentence in d.body if kind != "same"
            ]
            if lines:
                st.markdown("  \n".join(lines))
            if d.recipients_changed:
                st.markdown(f"Recipients now: {plain(', '.join(d.new.recipients) or '-')}")
        impact = plan.impact
        st.warning(
            f"Publishing puts {impact.people} person(s) at 'text changed' for this purpose: {impact.photos} photo(s) "
            f"with people become at risk until they renew, and {impact.publications} active publication(s) get a "
            "takedown task."
        )
        sure = st.checkbox("I have read the change and its impact", key=f"text_confirm_{code}")
        if st.button(f"Publish version {plan.version}", key=f"text_publish_{code}", type="primary", disabled=not sure):
            with shows_errors():
                published = publish_purpose_text(
                    portal, actor=actor, code=code, texts=texts, carry_over=carry, based_on_version=plan.current_version
                )
                st.session_state.pop("text_plan", None)
                st.success(
                    f"Published version {published.version} ({', '.join(x.locale for x in published.texts)}). "
                    "People who agreed to the old text are asked to renew on their personal page; "
                    "`python -m portal jobs run` reminds them."
                )

st.subheader("Staff accounts")
accounts = list_staff(portal)
st.dataframe([u.__dict__ for u in accounts], hide_index=True, width="stretch")
with st.form("new_user", clear_on_submit=True):
    new_email = st.text_input("E-mail", max_chars=254, key="new_email")
    new_name = st.text_input("Name", max_chars=200, key="new_name")
    # The least privilege is the default; admin has to be chosen on purpose.
    role = st.selectbox("Role", ROLES, index=ROLES.index("staff"), key="new_role")
    if portal.settings.auth_backend == "supabase":
        # Supabase Auth holds the password; the portal only keeps the role for this e-mail.
        st.caption("Passwords live in Supabase Auth: invite the same e-mail there (Authentication, Users).")
        password = None
    else:
        password = st.text_input("First password (at least 10 characters)", type="password", key="new_password")
    if st.form_submit_button("Create account"):
        with shows_errors():
            created = add_staff(portal, actor=actor, email=new_email, name=new_name, role=role, password=password)
            st.success(f"Created {plain(created.email)} ({created.role}).")

if accounts:
    with st.form("change_user"):
        st.caption(
            "Change an account's role, disable it (its history stays; it cannot sign in, and an open session ends on "
            "its next click) or enable it again."
        )
        by_id = {u.id: u for u in accounts}
        chosen = st.selectbox(
            "Account",
            list(by_id),
            format_func=lambda i: f"{by_id[i].email} ({by_id[i].role}{'' if by_id[i].active else ', disabled'})",
            key="change_user_id",
        )
        new_role = st.selectbox("New role", ROLES, index=ROLES.index("staff"), key="change_role")
        change, disable, enable = st.columns(3)
        if change.form_submit_button("Change the role"):
            with shows_errors():
                changed = set_staff_role(portal, actor=actor, user_id=chosen, role=new_role)
                st.success(f"{plain(changed.email)} is now {changed.role}.")
        if disable.form_submit_button("Disable the account"):
            with shows_errors():
                gone = disable_staff(portal, actor=actor, user_id=chosen)
                st.success(f"{plain(gone.email)} is disabled.")
        if enable.form_submit_button("Enable the account"):
            with shows_errors():
                back = enable_staff(portal, actor=actor, user_id=chosen)
                st.success(f"{plain(back.email)} is enabled.")
    if portal.settings.auth_backend != "supabase":
        with st.form("set_password", clear_on_submit=True):
            st.caption("Set a new password for an account (tell its owner by a channel other than e-mail).")
            target = st.selectbox("Account", list(by_id), format_func=lambda i: by_id[i].email, key="password_user_id")
            first = st.text_input("New password (at least 10 characters)", type="password", key="password_new")
            again = st.text_input("Again", type="password", key="password_again")
            if st.form_submit_button("Set the password"):
                with shows_errors():
                    if first != again:
                        raise ValidationError("The two passwords differ; nothing was changed.")
                    done = set_staff_password(portal, actor=actor, user_id=target, password=first)
                    st.success(f"{plain(done.email)} has a new password.")

st.subheader("Person detection")
# Said here because analysis runs on the server: an admin turns it on with `python -m portal models fetch` there.
st.text(person_detection_status(portal.settings))

demo = demo_accounts(portal)
if demo:
    st.warning(
        "Demo accounts with public passwords exist: "
        + ", ".join(u.email for u in demo)
        + ". Remove them before real use; production mode refuses to start while they exist."
    )
    if st.button("Remove the demo accounts", key="remove_demo"):
        with shows_errors():
            removed = remove_demo_accounts(portal, actor=actor)
            st.success(f"Removed {len(removed)} demo account(s).")
