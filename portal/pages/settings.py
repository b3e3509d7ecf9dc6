"""Admins: the organisation's details and consent rules, purpose texts (as new versions) and staff accounts."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from portal.backend.consent.queries import TextContent, current_texts, list_purposes
from portal.backend.consent.services import publish_purpose_text
from portal.backend.platform.errors import ValidationError
from portal.backend.staff.queries import (
    AGE_OF_CONSENT,
    DEFAULT_AGE_OF_CONSENT,
    ROLES,
    demo_accounts,
    list_staff,
    organisation,
)
from portal.backend.staff.services import (
    add_staff,
    disable_staff,
    enable_staff,
    remove_demo_accounts,
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
                    consent_validity_days=int(validity),
                    age_of_consent=int(override) or None,
                ),
            )
            st.success("Saved.")

st.subheader("Purpose texts")
st.caption(
    "Texts are never edited in place: saving publishes a new version; consents keep the version they were given under."
)
purposes = list_purposes(portal)
english, swedish = current_texts(portal, "en"), current_texts(portal, "sv")
code = st.selectbox(
    "Purpose",
    [p.code for p in purposes],
    key="text_purpose",
    format_func=lambda c: next(
        (f"{english[p.id].title} ({c})" for p in purposes if p.code == c and p.id in english), c
    ),
)
purpose = next(p for p in purposes if p.code == code)
with st.form("purpose_text"):
    en, sv = english.get(purpose.id), swedish.get(purpose.id)
    st.caption(
        f"Current version: {en.version if en else '-'}. Publishing a new version replaces the text people "
        "agreed to (R16): their photos count as at risk for this purpose until they renew, and the daily job "
        "asks them to. Fix typos only when the meaning stays the same."
    )
    en_title = st.text_input("Title (English)", en.title if en else "", max_chars=200)
    en_body = st.text_area("Text (English)", en.body if en else "", height=140)
    sv_title = st.text_input("Title (Swedish)", sv.title if sv and sv.locale == "sv" else "", max_chars=200)
    sv_body = st.text_area("Text (Swedish)", sv.body if sv and sv.locale == "sv" else "", height=140)
    recipients = st.text_input("Recipients, separated by ;", "; ".join(en.recipients) if en else "")
    if st.form_submit_button("Publish as a new version"):
        with shows_errors():
            names = [r.strip() for r in recipients.split(";") if r.strip()]
            texts = {"en": TextContent(en_title, en_body, names, en.data_categories if en else ("Photo",))}
            if sv_title.strip() and sv_body.strip():
                texts["sv"] = TextContent(sv_title, sv_body, names, sv.data_categories if sv else ("Bild",))
            published = publish_purpose_text(portal, actor=actor, code=code, texts=texts)
            st.success(
                f"Published version {published[0].version}. `python -m portal jobs run` asks earlier "
                "consenters to renew."
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
