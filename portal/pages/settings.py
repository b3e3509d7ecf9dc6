"""Admins: the organisation's details and consent rules, purpose texts (as new versions) and staff accounts."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from portal.backend.consent.purposes import TextContent, current_texts, list_purposes, publish_text
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import PortalError
from portal.backend.platform.organisation import (
    AGE_OF_CONSENT,
    DEFAULT_AGE_OF_CONSENT,
    get_organisation,
    save_organisation,
)
from portal.backend.staff.accounts import ROLES, create_user, list_users
from portal.backend.staff.audit import audit
from portal.components.context import get_portal, require_role, shows_errors

portal = get_portal()
user = require_role("admin")
actor = f"staff:{user.id}"
st.title("Settings")
with portal.db.read() as conn:
    org = get_organisation(conn)

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
            if not phone.strip() or not policy.strip():
                raise PortalError("Receipts need a contact phone and a privacy policy URL.")
            with portal.db.write() as conn:
                save_organisation(
                    conn,
                    replace(
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
                    now=utcnow(),
                )
                audit(conn, actor=actor, action="update_organisation", now=utcnow())
            st.success("Saved.")

st.subheader("Purpose texts")
st.caption(
    "Texts are never edited in place: saving publishes a new version; consents keep the version they were given under."
)
with portal.db.read() as conn:
    purposes = list_purposes(conn)
    english, swedish = current_texts(conn, "en"), current_texts(conn, "sv")
code = st.selectbox("Purpose", [p.code for p in purposes], key="text_purpose")
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
            with portal.db.write() as conn:
                published = publish_text(conn, code=code, texts=texts, now=utcnow())
                audit(
                    conn,
                    actor=actor,
                    action="publish_purpose_text",
                    target_type="purpose",
                    target_id=code,
                    now=utcnow(),
                    detail={"version": published[0].version},
                )
            st.success(
                f"Published version {published[0].version}. `python -m portal jobs run` asks earlier "
                "consenters to renew."
            )

st.subheader("Staff accounts")
with portal.db.read() as conn:
    st.dataframe([u.__dict__ for u in list_users(conn)], hide_index=True, width="stretch")
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
            with portal.db.write() as conn:
                created = create_user(
                    conn, email=new_email, display_name=new_name, role=role, password=password, now=utcnow()
                )
                audit(
                    conn,
                    actor=actor,
                    action="create_user",
                    target_type="staff",
                    target_id=str(created.id),
                    now=utcnow(),
                )
            st.success(f"Created {created.email} ({created.role}).")
