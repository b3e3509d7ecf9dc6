"""The organisation's own settings: who the controller is and its consent rules."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from portal.backend.platform.db.schema import organisation
from portal.backend.platform.errors import NotFound, ValidationError

# Age of digital consent (GDPR Art. 8; R15) in every EU/EEA country, as set by its national implementation law
# (e.g. SE dataskyddslagen 2:4, DE none so Art. 8's 16, SI ZVOP-2 15). Greece appears as both ISO "GR" and the EU's
# own "EL". Outside the EEA Art. 8 sets no national age: those countries use Art. 8's default, 16, unless the
# organisation sets its own age in Settings.
AGE_OF_CONSENT = {
    **dict.fromkeys(("BE", "DK", "EE", "FI", "LV", "MT", "PT", "SE", "IS", "NO"), 13),
    **dict.fromkeys(("AT", "BG", "CY", "IT", "LT", "ES"), 14),
    **dict.fromkeys(("CZ", "FR", "GR", "EL", "SI"), 15),
    **dict.fromkeys(("DE", "HR", "HU", "IE", "LU", "NL", "PL", "RO", "SK", "LI"), 16),
}
DEFAULT_AGE_OF_CONSENT = 16
# EU member states and the three further EEA states (Iceland, Liechtenstein, Norway), ISO 3166-1 alpha-2 plus the EU's
# own "EL" for Greece: data sent anywhere else is a transfer to a third country (Chapter V GDPR), which the notice
# (Art. 13(1)(f)) and the record of processing (Art. 30(1)(e)) must name with its safeguard.
EU_EEA = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR EL HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO".split()
)


@dataclass(frozen=True)
class Organisation:
    """The controller named on every consent form and receipt."""

    controller_name: str
    country: str
    contact_email: str
    street: str = ""
    postal_code: str = ""
    locality: str = ""
    contact_phone: str = ""
    dpo_name: str = ""
    dpo_email: str = ""
    policy_url: str = ""
    age_of_consent: int | None = None
    consent_validity_days: int = 730
    languages: str = "en,sv"
    matching_enabled: bool = False
    is_demo: bool = False
    authority_name: str = ""
    authority_url: str = ""

    @property
    def consent_age(self) -> int:
        """The age below which a guardian must consent: an explicit setting or the country's threshold."""
        if self.age_of_consent is not None:
            return self.age_of_consent
        return AGE_OF_CONSENT.get(self.country.upper(), DEFAULT_AGE_OF_CONSENT)

    @property
    def locales(self) -> list[str]:
        """Languages the forms are offered in."""
        return [part.strip() for part in self.languages.split(",") if part.strip()]


_FIELDS = tuple(f.name for f in fields(Organisation))
_SELECT = select(*(organisation.c[name] for name in _FIELDS)).where(organisation.c.id == 1)


def get_organisation(conn: Connection) -> Organisation:
    """The organisation row, or NotFound when the portal has not been set up."""
    row = conn.execute(_SELECT).one_or_none()
    if row is None:
        raise NotFound("The organisation is not set up yet: run `python -m portal demo` or fill in Settings.")
    return Organisation(*row)


def save_organisation(conn: Connection, org: Organisation, *, now: datetime) -> Organisation:
    """Create or replace the organisation's settings."""
    if not org.controller_name.strip():
        raise ValidationError("The controller's name is required.")
    if len(org.country) != 2 or not org.country.isalpha():
        raise ValidationError(f"Country must be a two-letter ISO code, not {org.country!r}.")
    if "@" not in org.contact_email:
        raise ValidationError(f"Contact e-mail {org.contact_email!r} is not an e-mail address.")
    if org.consent_validity_days <= 0:
        raise ValidationError("Consent validity must be a positive number of days.")
    values = {f.name: getattr(org, f.name) for f in fields(Organisation)}
    values["country"] = org.country.upper()
    values["updated_at"] = now
    exists = conn.execute(select(organisation.c.id).where(organisation.c.id == 1)).first()
    if exists:
        conn.execute(update(organisation).where(organisation.c.id == 1).values(**values))
    else:
        conn.execute(insert(organisation).values(id=1, **values))
    return get_organisation(conn)
