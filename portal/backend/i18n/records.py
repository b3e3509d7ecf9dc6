"""Wording of the free-text fields in ISO/IEC TS 27560 consent records (JSON-LD), in English and Swedish."""

from __future__ import annotations

RECORD_MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "method.qr_form": "Ticked per purpose on the QR code form",
        "method.portal": "Chosen per purpose on the personal page (personal link)",
        "method.kiosk": "Ticked per purpose on the staff tablet (kiosk)",
        "method.paper": "Signed paper form, entered by staff",
        "method.staff": "Told to staff, who entered it",
        "method.system": "Recorded by the portal's daily job",
        "method.revoked": "Ended by the organisation",
        "valid_until": "Valid until {date} (UTC), unless withdrawn earlier; then it must be renewed.",
        "until_decided": "Stands until the person decides again: gives, refuses or withdraws consent.",
        "until_renewed": "Stands until the person gives or renews consent again.",
        "scope.all": "All photos of the person",
        "scope.asset": "Only photo no. {id}",
        "storage.sqlite": "Embedded SQLite database on the organisation's own server",
        "storage.postgresql": "PostgreSQL database run by the organisation",
        "storage.supabase_db": "PostgreSQL database hosted by Supabase",
        "storage.local_files": "Photos and documents as files on the organisation's own server",
        "storage.supabase_files": "Photos and documents in Supabase Storage",
        "guardian": "The person's guardian (identity kept as a salted hash in the consent ledger)",
        "authority_generic": "The data protection authority of the country where you live or work",
        "recipient.controller": "Only the controller itself",
        "withdrawal": "Withdraw on the personal page (one tap per purpose), or e-mail {email}. It is free and "
        "does not affect use before the withdrawal.",
    },
    "sv": {
        "method.qr_form": "Kryssat per ändamål i formuläret via QR-kod",
        "method.portal": "Valt per ändamål på den personliga sidan (personlig länk)",
        "method.kiosk": "Kryssat per ändamål på personalens surfplatta (kiosk)",
        "method.paper": "Undertecknad pappersblankett, inmatad av personal",
        "method.staff": "Meddelat personal, som matade in det",
        "method.system": "Registrerat av portalens dagliga körning",
        "method.revoked": "Avslutat av organisationen",
        "valid_until": "Gäller till {date} (UTC), om det inte återkallas innan; därefter måste det förnyas.",
        "until_decided": "Gäller tills personen bestämmer sig på nytt: lämnar, avböjer eller återkallar samtycket.",
        "until_renewed": "Gäller tills personen lämnar eller förnyar samtycket igen.",
        "scope.all": "Alla bilder på personen",
        "scope.asset": "Endast bild nr {id}",
        "storage.sqlite": "Inbäddad SQLite-databas på organisationens egen server",
        "storage.postgresql": "PostgreSQL-databas som organisationen driver",
        "storage.supabase_db": "PostgreSQL-databas hos Supabase",
        "storage.local_files": "Bilder och dokument som filer på organisationens egen server",
        "storage.supabase_files": "Bilder och dokument i Supabase Storage",
        "guardian": "Personens vårdnadshavare (identiteten sparas som ett saltat hashvärde i samtyckesloggen)",
        "authority_generic": "Dataskyddsmyndigheten i det land där du bor eller arbetar",
        "recipient.controller": "Endast den personuppgiftsansvariga själv",
        "withdrawal": "Återkalla på den personliga sidan (ett tryck per ändamål), eller mejla {email}. Det är "
        "gratis och påverkar inte användning före återkallelsen.",
    },
}

RECORD_LOCALES = tuple(RECORD_MESSAGES)


def record_text(key: str, locale: str, **values: object) -> str:
    """The record message `key` in `locale` (English if missing), with `values` filled in."""
    text = RECORD_MESSAGES.get(locale, {}).get(key) or RECORD_MESSAGES["en"][key]
    return text.format(**values) if values else text
