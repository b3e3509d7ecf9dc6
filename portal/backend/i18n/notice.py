"""Wording of the notice at collection's second layer ("More about your data"), in English and Swedish."""

from __future__ import annotations

NOTICE_MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "heading": "More about your data",
        "intro": "What the law (GDPR Art. 13) says we must tell you about how we use your data, and how to use "
        "your rights.",
        "controller_title": "Who is responsible",
        "controller": "{controller}, {address}.",
        "contact": "Contact: {contact}.",
        "dpo_title": "Data protection officer",
        "dpo": "{name} ({email}).",
        "purposes_title": "What we use your data for, and why we may",
        "legal_basis": "Legal basis",
        "basis_consent": "Your consent (GDPR Art. 6(1)(a)). Without it we do not use photos of you for this.",
        "basis_explicit": "Your explicit consent (GDPR Art. 6(1)(a) and Art. 9(2)(a)): a face template is "
        "biometric data, a special category of personal data, and is used only if you agree.",
        "consent_lasts": "How long your consent lasts",
        "lasts": "{duration} from the day you give it, unless you withdraw it earlier. After that we stop using "
        "photos of you for this until you renew it.",
        "photos_kept": "How long photos are kept",
        "kept_for": "Photos are kept for up to {duration} from the day they were taken, then deleted. When you "
        "withdraw, we stop using them for this straight away.",
        "kept_until": "We use photos of you for this until you withdraw. The photos themselves are kept until "
        "{controller} deletes them under its retention rules; you can ask for them to be erased at any time.",
        "kept_template": "The selfie is deleted straight away. The face template is kept only while this consent "
        "is valid and is deleted when you withdraw or the consent runs out.",
        "recipients": "Who receives the data",
        "recipients_none": "No one outside {controller}.",
        "shared_title": "Service providers for every purpose",
        "kind.recipient": "recipient",
        "kind.processor": "processor (works only on our instructions)",
        "in_country": "in {country}",
        "transfer": "Outside the EU/EEA: the data is transferred there under {safeguard}.",
        "transfer_unknown": "Outside the EU/EEA: ask {email} how the transfer is safeguarded.",
        "data_title": "What data we collect",
        "data.name": "Your name.",
        "data.email": "Your e-mail address, if you give one: to send you your personal link and receipts.",
        "data.phone": "Your phone number, if you give it to staff.",
        "data.birth": "Your month and year of birth: only to know whether a parent or guardian must consent "
        "(below {age}).",
        "data.guardian": "For a child below {age}: the parent's or guardian's name and how they were checked.",
        "data.photos": "Photos of you taken at our events, and where they are published.",
        "data.face_boxes": "Where your face is in each photo (a box), so that we can blur you or show you your photos.",
        "data.template": "A face template (biometric data) computed from a selfie, only if you agree to face "
        "matching; the selfie itself is deleted straight away.",
        "data.records": "A record of each choice: what you chose, the exact wording you saw, when and how. We keep "
        "it as proof that we asked (GDPR Art. 7(1)).",
        "rights_title": "Your rights and how to use them",
        "right.access": "See your data and get a copy (access, Art. 15)",
        "how.access": "On your personal page, press “{prepare}”, then “{download}”; or e-mail {email}.",
        "right.portability": "Take your data elsewhere (portability, Art. 20)",
        "how.portability": "The download is a ZIP file with machine-readable files (JSON and CSV) and your photos.",
        "right.withdrawal": "Withdraw your consent (Art. 7(3))",
        "how.withdrawal": "One tap on “{withdraw}” on your personal page, or e-mail {email}. It is free and does not "
        "affect use before you withdrew.",
        "right.erasure": "Have your data erased (Art. 17)",
        "how.erasure": "Press “{erase}” on your personal page, or e-mail {email}.",
        "right.rectification": "Have wrong data corrected (Art. 16)",
        "how.rectification": "E-mail {email} and tell us what is wrong.",
        "personal_page": "You get your personal page through the personal link you receive after sending the "
        "consent form.",
        "authority_title": "Complaints",
        "authority": "You have the right to complain to the supervisory authority: {name}.",
        "authority_generic": "You have the right to complain to the data protection authority of the country "
        "where you live or work, or where you think the rules were broken.",
        "policy_title": "Privacy policy",
        "policy": "Read our full privacy policy:",
        "policy_missing": "Ask {email} for our privacy policy.",
        "years": "{n} years",
        "year": "1 year",
        "months": "{n} months",
        "month": "1 month",
        "days": "{n} days",
        "day": "1 day",
    },
    "sv": {
        "heading": "Mer om dina uppgifter",
        "intro": "Det som lagen (artikel 13 i dataskyddsförordningen) säger att vi måste berätta om hur vi "
        "använder dina uppgifter, och hur du använder dina rättigheter.",
        "controller_title": "Vem som ansvarar",
        "controller": "{controller}, {address}.",
        "contact": "Kontakt: {contact}.",
        "dpo_title": "Dataskyddsombud",
        "dpo": "{name} ({email}).",
        "purposes_title": "Vad vi använder dina uppgifter till, och varför vi får det",
        "legal_basis": "Rättslig grund",
        "basis_consent": "Ditt samtycke (artikel 6.1 a i dataskyddsförordningen). Utan det använder vi inte "
        "bilder på dig till detta.",
        "basis_explicit": "Ditt uttryckliga samtycke (artikel 6.1 a och artikel 9.2 a i dataskyddsförordningen): "
        "en ansiktsmall är biometriska uppgifter, en särskild kategori av personuppgifter, och används bara om du "
        "godkänner det.",
        "consent_lasts": "Hur länge ditt samtycke gäller",
        "lasts": "{duration} från den dag du lämnar det, om du inte återkallar det innan. Därefter slutar vi "
        "använda bilder på dig till detta tills du förnyar det.",
        "photos_kept": "Hur länge bilderna sparas",
        "kept_for": "Bilderna sparas i högst {duration} från den dag de togs och raderas sedan. När du återkallar "
        "slutar vi genast använda dem till detta.",
        "kept_until": "Vi använder bilder på dig till detta tills du återkallar. Själva bilderna sparas tills "
        "{controller} raderar dem enligt sina gallringsregler; du kan när som helst begära att de raderas.",
        "kept_template": "Selfien raderas direkt. Ansiktsmallen sparas bara så länge samtycket gäller och raderas "
        "när du återkallar eller när samtycket går ut.",
        "recipients": "Vem som får uppgifterna",
        "recipients_none": "Ingen utanför {controller}.",
        "shared_title": "Leverantörer för alla ändamål",
        "kind.recipient": "mottagare",
        "kind.processor": "personuppgiftsbiträde (arbetar bara enligt våra instruktioner)",
        "in_country": "i {country}",
        "transfer": "Utanför EU/EES: uppgifterna förs över dit med stöd av {safeguard}.",
        "transfer_unknown": "Utanför EU/EES: fråga {email} hur överföringen skyddas.",
        "data_title": "Vilka uppgifter vi samlar in",
        "data.name": "Ditt namn.",
        "data.email": "Din e-postadress, om du anger en: för att skicka din personliga länk och dina kvitton.",
        "data.phone": "Ditt telefonnummer, om du lämnar det till personalen.",
        "data.birth": "Din födelsemånad och ditt födelseår: bara för att veta om en förälder eller "
        "vårdnadshavare måste samtycka (under {age} år).",
        "data.guardian": "För ett barn under {age} år: förälderns eller vårdnadshavarens namn och hur hen "
        "kontrollerades.",
        "data.photos": "Bilder på dig från våra evenemang, och var de publiceras.",
        "data.face_boxes": "Var ditt ansikte finns i varje bild (en ruta), så att vi kan sudda dig eller visa dig "
        "dina bilder.",
        "data.template": "En ansiktsmall (biometriska uppgifter) som räknas fram av en selfie, bara om du "
        "godkänner ansiktsmatchning; själva selfien raderas direkt.",
        "data.records": "En uppgift om varje val: vad du valde, exakt vilken text du såg, när och hur. Vi sparar "
        "den som bevis på att vi frågade (artikel 7.1 i dataskyddsförordningen).",
        "rights_title": "Dina rättigheter och hur du använder dem",
        "right.access": "Se dina uppgifter och få en kopia (tillgång, artikel 15)",
        "how.access": "Tryck på ”{prepare}” och sedan ”{download}” på din personliga sida, eller mejla {email}.",
        "right.portability": "Ta med dina uppgifter någon annanstans (dataportabilitet, artikel 20)",
        "how.portability": "Nedladdningen är en ZIP-fil med maskinläsbara filer (JSON och CSV) och dina bilder.",
        "right.withdrawal": "Återkalla ditt samtycke (artikel 7.3)",
        "how.withdrawal": "Ett tryck på ”{withdraw}” på din personliga sida, eller mejla {email}. Det är gratis och "
        "påverkar inte användning innan du återkallade.",
        "right.erasure": "Få dina uppgifter raderade (artikel 17)",
        "how.erasure": "Tryck på ”{erase}” på din personliga sida, eller mejla {email}.",
        "right.rectification": "Få felaktiga uppgifter rättade (artikel 16)",
        "how.rectification": "Mejla {email} och berätta vad som är fel.",
        "personal_page": "Din personliga sida når du via den personliga länk du får när du har skickat "
        "samtyckesformuläret.",
        "authority_title": "Klagomål",
        "authority": "Du har rätt att klaga hos tillsynsmyndigheten: {name}.",
        "authority_generic": "Du har rätt att klaga hos dataskyddsmyndigheten i det land där du bor eller arbetar, "
        "eller där du anser att reglerna har brutits.",
        "policy_title": "Integritetspolicy",
        "policy": "Läs hela vår integritetspolicy:",
        "policy_missing": "Fråga {email} efter vår integritetspolicy.",
        "years": "{n} år",
        "year": "1 år",
        "months": "{n} månader",
        "month": "1 månad",
        "days": "{n} dagar",
        "day": "1 dag",
    },
}


def notice_text(key: str, locale: str, **values: object) -> str:
    """The notice message `key` in `locale` (English if missing), with `values` filled in."""
    text = NOTICE_MESSAGES.get(locale, {}).get(key) or NOTICE_MESSAGES["en"][key]
    return text.format(**values) if values else text
