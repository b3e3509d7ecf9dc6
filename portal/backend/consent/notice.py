"""The notice at collection's second layer (GDPR Art. 13): who, why, on what basis, how long, to whom, which data,
which rights and where to complain, in the visitor's language. A read model: it writes nothing."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select

from portal.backend.consent import purposes as _purposes
from portal.backend.i18n import t
from portal.backend.i18n.notice import notice_text
from portal.backend.photos.retention import retention_days
from portal.backend.platform.db.schema import recipients as recipients_table
from portal.backend.platform.organisation import EU_EEA, Organisation, get_organisation

# Only an address from the organisation's own settings becomes a link, and only a plain web address.
_WEB_URL = re.compile(r"^https?://[^\s<>()\[\]`\"']+$")


@dataclass(frozen=True)
class NoticeRecipient:
    """Someone who receives the data: a name, where they are and, outside the EU/EEA, how the transfer is covered."""

    name: str
    service: str  # what they do with the data, as the organisation wrote it ("" when not said)
    country: str  # ISO code, "" when only a purpose text names them
    kind: str  # "recipient" or "processor", "" when only a purpose text names them
    kind_label: str
    transfer_note: str  # "" inside the EU/EEA or when the country is unknown


@dataclass(frozen=True)
class PurposeNotice:
    """One purpose: its title, legal basis, how long consent lasts and photos are kept, and who receives them."""

    code: str
    title: str
    biometric: bool
    legal_basis: str
    consent_lasts: str
    photos_kept: str
    recipients: tuple[NoticeRecipient, ...]


@dataclass(frozen=True)
class Right:
    """A data subject's right in plain words and how to use it here."""

    code: str
    title: str
    how: str


@dataclass(frozen=True)
class Notice:
    """Everything the second layer says, already in `locale`; URLs only from the organisation's settings."""

    locale: str
    controller: str
    contact: str
    dpo: str  # "" when the organisation named no data protection officer
    purposes: tuple[PurposeNotice, ...]
    shared_recipients: tuple[NoticeRecipient, ...]  # processors and recipients for every purpose (hosting, e-mail)
    data_collected: tuple[str, ...]
    rights: tuple[Right, ...]
    personal_page: str
    authority: str
    authority_name: str
    authority_url: str  # a checked http(s) address or ""
    policy_url: str  # a checked http(s) address or ""
    policy_text: str


def web_url(value: str) -> str:
    """`value` when it is a plain http(s) address, else "" (so a page never links anything else)."""
    value = value.strip()
    return value if _WEB_URL.match(value) else ""


def duration(days: int, locale: str) -> str:
    """A number of days in the words people use: whole years, whole months, or days."""
    for size, one, many in ((365, "year", "years"), (30, "month", "months"), (1, "day", "days")):
        if days % size == 0:
            n = days // size
            return notice_text(one, locale) if n == 1 else notice_text(many, locale, n=n)
    raise AssertionError("unreachable: every whole number of days is a number of days")


def _recipient(row: object, locale: str, email: str) -> NoticeRecipient:
    """A `recipients` row as the notice names it, with a transfer note outside the EU/EEA."""
    m = row._mapping  # type: ignore[attr-defined]
    country = str(m["country"]).upper()
    note = ""
    if country not in EU_EEA:
        safeguard = str(m["transfer_safeguard"]).strip()
        note = (
            notice_text("transfer", locale, safeguard=safeguard)
            if safeguard
            else notice_text("transfer_unknown", locale, email=email)
        )
    return NoticeRecipient(
        name=str(m["name"]),
        service=str(m["service"]).strip(),
        country=country,
        kind=str(m["kind"]),
        kind_label=notice_text(f"kind.{m['kind']}", locale),
        transfer_note=note,
    )


def _data_collected(org: Organisation, locale: str, *, biometric: bool, asks_phone: bool) -> tuple[str, ...]:
    """What is collected about a person, in the order a person meets it."""
    age = org.consent_age
    items = [notice_text("data.name", locale), notice_text("data.email", locale)]
    if asks_phone:
        items.append(notice_text("data.phone", locale))
    items += [
        notice_text("data.birth", locale, age=age),
        notice_text("data.guardian", locale, age=age),
        notice_text("data.photos", locale),
        notice_text("data.face_boxes", locale),
    ]
    if biometric:
        items.append(notice_text("data.template", locale))
    items.append(notice_text("data.records", locale))
    return tuple(items)


def _rights(locale: str, email: str) -> tuple[Right, ...]:
    """Access, portability, withdrawal, erasure and rectification, each with the button or address that does it."""
    how = {
        "access": notice_text(
            "how.access",
            locale,
            prepare=t("rights.prepare", locale),
            download=t("rights.download", locale),
            email=email,
        ),
        "portability": notice_text("how.portability", locale),
        "withdrawal": notice_text("how.withdrawal", locale, withdraw=t("my_consents.withdraw", locale), email=email),
        "erasure": notice_text("how.erasure", locale, erase=t("rights.erase", locale), email=email),
        "rectification": notice_text("how.rectification", locale, email=email),
    }
    return tuple(Right(code, notice_text(f"right.{code}", locale), text) for code, text in how.items())


def notice_for(
    conn: Connection, locale: str, *, purpose_codes: Sequence[str] | None = None, asks_phone: bool = False
) -> Notice:
    """The second layer in `locale` for the purposes a form asks about (`purpose_codes`, in display order), or for
    every active purpose; `asks_phone` where the channel asks for a phone number (staff entry)."""
    org = get_organisation(conn)
    email = org.contact_email
    texts = _purposes.current_texts(conn, locale)
    chosen = [
        p for p in _purposes.list_purposes(conn) if p.id in texts and (purpose_codes is None or p.code in purpose_codes)
    ]
    rows = conn.execute(
        select(recipients_table).order_by(recipients_table.c.kind, recipients_table.c.name, recipients_table.c.id)
    ).all()
    archive_days = retention_days(conn)
    controller = org.controller_name
    items: list[PurposeNotice] = []
    for p in chosen:
        text = texts[p.id]
        own = [_recipient(r, locale, email) for r in rows if r.purpose_id == p.id]
        # Without rows of its own the purpose's text names its recipients (no country known, so no transfer note).
        named = own or [NoticeRecipient(name, "", "", "", "", "") for name in text.recipients]
        if p.biometric:
            kept = notice_text("kept_template", locale)
        elif archive_days is not None:
            kept = notice_text("kept_for", locale, duration=duration(archive_days, locale))
        else:
            kept = notice_text("kept_until", locale, controller=controller)
        items.append(
            PurposeNotice(
                code=p.code,
                title=text.title,
                biometric=p.biometric,
                legal_basis=notice_text("basis_explicit" if p.biometric else "basis_consent", locale),
                consent_lasts=notice_text(
                    "lasts", locale, duration=duration(p.validity_days or org.consent_validity_days, locale)
                ),
                photos_kept=kept,
                recipients=tuple(named),
            )
        )
    address = ", ".join(x for x in (org.street, f"{org.postal_code} {org.locality}".strip(), org.country) if x)
    contact = ", ".join(x for x in (org.contact_email, org.contact_phone) if x)
    authority_name = org.authority_name.strip()
    policy_url = web_url(org.policy_url)
    return Notice(
        locale=locale,
        controller=notice_text("controller", locale, controller=controller, address=address),
        contact=notice_text("contact", locale, contact=contact),
        dpo=notice_text("dpo", locale, name=org.dpo_name, email=org.dpo_email) if org.dpo_name else "",
        purposes=tuple(items),
        shared_recipients=tuple(_recipient(r, locale, email) for r in rows if r.purpose_id is None),
        data_collected=_data_collected(org, locale, biometric=any(p.biometric for p in chosen), asks_phone=asks_phone),
        rights=_rights(locale, email),
        personal_page=notice_text("personal_page", locale),
        authority=(
            notice_text("authority", locale, name=authority_name)
            if authority_name
            else notice_text("authority_generic", locale)
        ),
        authority_name=authority_name,
        authority_url=web_url(org.authority_url) if authority_name else "",
        policy_url=policy_url,
        policy_text=notice_text("policy", locale) if policy_url else notice_text("policy_missing", locale, email=email),
    )
