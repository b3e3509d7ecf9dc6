"""Message catalogues for the pages data subjects see (English and Swedish)."""

from __future__ import annotations

from collections.abc import Sequence

LOCALES = ("en", "sv")

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "my_consents.title": "Your photo consents",
        "my_consents.intro": "Hello {name}. Here you can see what you have agreed to and change it at any time. "
        "Withdrawing is free and takes one click.",
        "my_consents.controller": "Who is responsible: {controller} ({email}).",
        "my_consents.no_link": "Open this page with the personal link you received after registering. "
        "If you have lost it, ask {controller} for a new one.",
        "my_consents.withdraw": "Withdraw",
        "my_consents.give": "I agree",
        "my_consents.withdraw_all": "Withdraw everything",
        "my_consents.withdraw_all_confirm": "Yes, withdraw all my consents",
        "my_consents.withdrawn": "Withdrawn. We have recorded it and will stop using your photos for this.",
        "my_consents.all_withdrawn": "All your consents are withdrawn.",
        "my_consents.recipients": "Who receives the photos",
        "my_consents.valid_until": "valid until {date}",
        "my_consents.since": "since {date}",
        "status.given": "Given",
        "status.renewed": "Given (renewed)",
        "status.refused": "Not given",
        "status.withdrawn": "Withdrawn",
        "status.revoked": "Cancelled by the organisation",
        "status.expired": "Expired",
        "status.unknown": "Not asked yet",
        "language": "Language",
    },
    "sv": {
        "my_consents.title": "Dina samtycken för bilder",
        "my_consents.intro": "Hej {name}. Här ser du vad du har gått med på och kan ändra det när du vill. "
        "Att återkalla är gratis och tar ett klick.",
        "my_consents.controller": "Ansvarig: {controller} ({email}).",
        "my_consents.no_link": "Öppna sidan med den personliga länk du fick när du registrerade dig. "
        "Om du har tappat bort den, be {controller} om en ny.",
        "my_consents.withdraw": "Återkalla",
        "my_consents.give": "Jag godkänner",
        "my_consents.withdraw_all": "Återkalla allt",
        "my_consents.withdraw_all_confirm": "Ja, återkalla alla mina samtycken",
        "my_consents.withdrawn": "Återkallat. Vi har registrerat det och slutar använda dina bilder för detta.",
        "my_consents.all_withdrawn": "Alla dina samtycken är återkallade.",
        "my_consents.recipients": "Vem som får bilderna",
        "my_consents.valid_until": "gäller till {date}",
        "my_consents.since": "sedan {date}",
        "status.given": "Givet",
        "status.renewed": "Givet (förnyat)",
        "status.refused": "Inte givet",
        "status.withdrawn": "Återkallat",
        "status.revoked": "Upphävt av organisationen",
        "status.expired": "Har gått ut",
        "status.unknown": "Inte tillfrågad än",
        "language": "Språk",
    },
}


def t(key: str, locale: str, **values: object) -> str:
    """The message `key` in `locale` (English if missing), with `values` filled in."""
    text = MESSAGES.get(locale, {}).get(key) or MESSAGES["en"][key]
    return text.format(**values) if values else text


def best_locale(preferred: Sequence[str], offered: Sequence[str] = LOCALES) -> str:
    """The first preferred language that is offered (e.g. from Accept-Language), else English."""
    for tag in preferred:
        base = tag.split(";")[0].strip().split("-")[0].lower()
        if base in offered:
            return base
    return "en"
