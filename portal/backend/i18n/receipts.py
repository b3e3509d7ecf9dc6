"""Wording of the consent receipts (PDF and the free-text fields of the JSON), in English and Swedish."""

from __future__ import annotations

RECEIPT_MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "title": "Consent receipt",
        "intro": "This receipt confirms the choices we recorded for you. Keep it: it shows what you agreed to, "
        "in which words, and when.",
        "for": "For",
        "subject_id": "Your pseudonymous id",
        "controller": "Who is responsible (controller)",
        "dpo": "Data protection officer",
        "recorded": "Recorded",
        "channel": "How",
        "receipt_id": "Receipt id",
        "policy": "Privacy policy",
        "choices": "Your choices",
        "choice": "Your choice",
        "recipients": "Who receives the photos",
        "data": "Data used",
        "scope": "Applies to",
        "scope_all": "all photos of you",
        "scope_asset": "photo no. {id}",
        "valid_until": "Valid until",
        "guardian": "Given by the guardian {name} (verified: {how}).",
        "note": "Note",
        "sensitive": "This receipt involves biometric data (a face template), a special category of personal "
        "data (GDPR Art. 9). It is used only with your explicit consent.",
        "withdraw_title": "How to withdraw",
        "withdraw": "You can withdraw any consent at any time, free of charge: open your personal link and press "
        "Withdraw, or e-mail {email}. Withdrawing does not affect use before it.",
        "proof_title": "Proof in our consent ledger",
        "proof_intro": "Each choice is an entry in our append-only, hash-chained consent ledger. The hashes below "
        "let anyone check that the record was not changed afterwards.",
        "entry": "Ledger entry",
        "entry_hash": "Entry hash",
        "text_hash": "Text hash",
        "signed_head": "Signed ledger head",
        "signed_head_detail": "Entry #{seq} · key {key_id} · signed {at}. Ed25519 signature: {signature}",
        "text_version": "Text version {version} ({language})",
        "footer": "Machine-readable copy: Kantara Consent Receipt v1.1.0 (JSON) with the same receipt id, signed with "
        "the organisation's key {key_id}.",
        "service": "Photo consent",
        "spi_biometric": "Biometric data (face template)",
        "withdrawal_method": "personal link, or e-mail to {email}",
        "method.qr_form": "QR code form",
        "method.portal": "personal link",
        "method.kiosk": "staff tablet (kiosk)",
        "method.paper": "paper form entered by staff",
        "method.staff": "entered by staff",
        "method.system": "automatically by the portal",
        "method.at_event": "{method} at event {event}",
        "termination.given": "valid until {date}, withdraw any time via your personal link or {email}",
        "termination.refused": "consent not given: the photos are not used for this purpose",
        "termination.withdrawn": "consent withdrawn on {date}: the photos are no longer used for this purpose",
        "termination.revoked": "cancelled by the organisation on {date}",
        "termination.expired": "expired on {date}: the photos are no longer used for this purpose",
        "choice.given": "Given",
        "choice.renewed": "Given (renewed)",
        "choice.refused": "Not given",
        "choice.withdrawn": "Withdrawn",
        "choice.revoked": "Cancelled by the organisation",
        "choice.expired": "Expired",
    },
    "sv": {
        "title": "Kvitto på samtycke",
        "intro": "Det här kvittot bekräftar de val vi har registrerat för dig. Spara det: det visar vad du gick "
        "med på, med vilka ord och när.",
        "for": "För",
        "subject_id": "Ditt pseudonyma id",
        "controller": "Vem som är ansvarig (personuppgiftsansvarig)",
        "dpo": "Dataskyddsombud",
        "recorded": "Registrerat",
        "channel": "Hur",
        "receipt_id": "Kvitto-id",
        "policy": "Integritetspolicy",
        "choices": "Dina val",
        "choice": "Ditt val",
        "recipients": "Vem som får bilderna",
        "data": "Uppgifter som används",
        "scope": "Gäller",
        "scope_all": "alla bilder på dig",
        "scope_asset": "bild nr {id}",
        "valid_until": "Gäller till",
        "guardian": "Lämnat av vårdnadshavaren {name} (kontrollerat: {how}).",
        "note": "Anteckning",
        "sensitive": "Kvittot gäller biometriska uppgifter (en ansiktsmall), en särskild kategori av "
        "personuppgifter (GDPR art. 9). De används bara med ditt uttryckliga samtycke.",
        "withdraw_title": "Så återkallar du",
        "withdraw": "Du kan när som helst och utan kostnad återkalla ett samtycke: öppna din personliga länk och "
        "tryck Återkalla, eller mejla {email}. Återkallelsen påverkar inte användning som skett innan.",
        "proof_title": "Bevis i vårt samtyckesregister",
        "proof_intro": "Varje val är en post i vårt samtyckesregister, som bara kan fyllas på och är kedjat med "
        "hashvärden. Hashvärdena nedan gör att vem som helst kan kontrollera att posten inte ändrats i efterhand.",
        "entry": "Registerpost",
        "entry_hash": "Postens hash",
        "text_hash": "Textens hash",
        "signed_head": "Signerat registerhuvud",
        "signed_head_detail": "Post #{seq} · nyckel {key_id} · signerat {at}. Ed25519-signatur: {signature}",
        "text_version": "Textversion {version} ({language})",
        "footer": "Maskinläsbar kopia: Kantara Consent Receipt v1.1.0 (JSON) med samma kvitto-id, signerad med "
        "organisationens nyckel {key_id}.",
        "service": "Samtycke till bilder",
        "spi_biometric": "Biometriska uppgifter (ansiktsmall)",
        "withdrawal_method": "personlig länk, eller mejl till {email}",
        "method.qr_form": "formulär via QR-kod",
        "method.portal": "personlig länk",
        "method.kiosk": "personalens surfplatta (kiosk)",
        "method.paper": "pappersformulär inmatat av personal",
        "method.staff": "registrerat av personal",
        "method.system": "automatiskt av portalen",
        "method.at_event": "{method} vid evenemanget {event}",
        "termination.given": "gäller till {date}, återkalla när som helst via din personliga länk eller {email}",
        "termination.refused": "samtycke inte givet: bilderna används inte för detta ändamål",
        "termination.withdrawn": "samtycket återkallades {date}: bilderna används inte längre för detta ändamål",
        "termination.revoked": "upphävt av organisationen {date}",
        "termination.expired": "gick ut {date}: bilderna används inte längre för detta ändamål",
        "choice.given": "Givet",
        "choice.renewed": "Givet (förnyat)",
        "choice.refused": "Inte givet",
        "choice.withdrawn": "Återkallat",
        "choice.revoked": "Upphävt av organisationen",
        "choice.expired": "Har gått ut",
    },
}

RECEIPT_LOCALES = tuple(RECEIPT_MESSAGES)


def rt(key: str, locale: str, **values: object) -> str:
    """The receipt message `key` in `locale` (English if missing), with `values` filled in."""
    text = RECEIPT_MESSAGES.get(locale, {}).get(key) or RECEIPT_MESSAGES["en"][key]
    return text.format(**values) if values else text
