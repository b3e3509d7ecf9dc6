"""E-mails people can read: plain text and an HTML alternative, in English and Swedish, signed by the organisation.

Bodies are built when a message is sent, from the outbox row's payload and what the database says then (the
person's name and language, the purpose's title): nothing personal beyond the queued payload is kept in the outbox.
Every value put into HTML is escaped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from portal.backend.platform.organisation import Organisation

MAIL: dict[str, dict[str, str]] = {
    "en": {
        "hello": "Hello {name},",
        "hello_anonymous": "Hello,",
        "welcome.subject": "Your personal link for photos at {controller}",
        "welcome.body": "Thank you for telling us how we may use photos of you. With your personal link you can see "
        "the photos you are in and change or withdraw your choices at any time, free of charge.",
        "welcome.keep": "Keep this e-mail. Anyone who has the link can see and change your choices, so do not forward "
        "it. If you lose it, ask us for a new one.",
        "open_page": "Open my page",
        "renewal.subject": "Your photo consent for “{purpose}”: please have a look",
        "renewal.expiring": "Your consent to “{purpose}” runs out on {date}. If you want us to keep using photos of "
        "you for this, renew it on your personal page. If you do nothing, we stop using them for it on that day.",
        "renewal.text_replaced": "After you agreed to “{purpose}”, we changed what its text says (your version "
        "{agreed}, now version {current}). Until you renew, we do not use photos of you for it. On your personal "
        "page you can read the new text and renew with one tap, or withdraw. If you do nothing, nothing more happens.",
        "renewal.new_link": "The link in this e-mail is new; links you received earlier keep working.",
        "newlink.subject": "Your new personal link for photos at {controller}",
        "newlink.body": "Someone, probably you, asked for a new personal link to your page about photos of you. With "
        "it you can see the photos you are in and change or withdraw your choices at any time.",
        "newlink.revoked": "Links you received earlier no longer work; use this one.",
        "newlink.kept": "Links you received earlier keep working.",
        "newlink.not_you": "If you did not ask for this, you can ignore this e-mail; nobody else received the link.",
        "confirm.subject": "Please confirm your new photo choices at {controller}",
        "confirm.body": "Someone, probably you, filled in our photo consent form again with this e-mail address. "
        "Your address is already registered with us, so we did not make a second record: nothing changes until you "
        "confirm the new choices with the button below.",
        "confirm.button": "See and confirm my new choices",
        "confirm.expires": "The link works once, until {date}. After that, fill in the form again if you still want "
        "the change.",
        "confirm.not_you": "If you did not fill in the form, ignore this e-mail: your choices stay as they are.",
        "expiry.subject": "Your photo consent for “{purpose}” has run out",
        "expiry.body": "Your consent to “{purpose}” ran out on {date}, so we no longer use photos of you for it. "
        "If you want us to use them for this again, you can give your consent again on your personal page. If you do "
        "nothing, nothing more happens.",
        "erasure.subject": "Your data at {controller} has been erased",
        "erasure.body": "As you asked, we have erased your personal data from our image-consent portal: your name and "
        "contact details, your personal links, and your face in our stored photos, which is now blurred. We keep only "
        "a record without your name of which consents were given and withdrawn and when, as the law requires us to "
        "show. Where a photo of you was published, we are taking it down.",
        "erasure.no_reply": "This is the last e-mail we send you; we no longer have your address.",
        "takedown.subject": "To take down: photo {asset} ({place})",
        "takedown.body": "A published photo must be taken down: photo {asset} “{filename}”, published at {place} "
        "for “{purpose}”. Why: {why}.",
        "takedown.partner": "The photo was shared with a partner for “{purpose}”: tell them to stop using it and "
        "erase it, and note on the task when you did.",
        "takedown.open": "Open “To take down”",
        "not_me.subject": "To review: photo {asset}, someone said it is not them",
        "not_me.body": "A person linked to photo {asset} “{filename}” said on their personal page that the photo "
        "does not show them. Their link was removed and {faces} face(s) are back to review: link the right person "
        "or mark the face not identifiable.",
        "not_me.open": "Open the photo on the review desk",
        "cause.withdrawn": "the person withdrew their consent",
        "cause.refused": "the person refused",
        "cause.veto": "a guardian or the person objected",
        "cause.revoked": "the consent was revoked",
        "cause.expired": "the consent ran out",
        "cause.text_replaced": "the consent text was replaced and the person has not renewed",
        "cause.no_consent": "a person in it has not given consent",
        "cause.unidentified": "a person in it is not identified",
        "cause.erasure": "a person in it had their data erased (the published copy still shows them)",
        "digest.subject": "Photo consent digest {date}",
        "digest.intro": "The portal's figures on {date}.",
        "digest.purpose": "Purpose",
        "digest.at_risk": "At risk",
        "digest.critical": "Critical",
        "digest.expiring": "Expiring soon",
        "digest.takedowns": "Open takedown tasks: {open}.",
        "digest.takedowns_oldest": "Open takedown tasks: {open}; the oldest has waited {days} day(s).",
        "digest.failed": "E-mails that could not be delivered: {failed}. See the Outbox page.",
        "digest.head": "Signed ledger head: entry {seq}, hash {hash}, key {key_id}, signed {signed}. Keep this e-mail: "
        "it is evidence of the ledger's state outside the database.",
        "digest.no_head": "The ledger has no signed head yet.",
        "footer": "{controller}{address}. Questions about your data: {email}.",
        "footer_dpo": "Data protection officer: {dpo}.",
        "footer_staff": "Sent by the image-consent portal of {controller}.",
    },
    "sv": {
        "hello": "Hej {name},",
        "hello_anonymous": "Hej,",
        "welcome.subject": "Din personliga länk för bilder hos {controller}",
        "welcome.body": "Tack för att du berättade hur vi får använda bilder på dig. Med din personliga länk kan du "
        "se bilderna du är med på och ändra eller återkalla dina val när du vill, utan kostnad.",
        "welcome.keep": "Spara det här e-brevet. Den som har länken kan se och ändra dina val, så vidarebefordra den "
        "inte. Om du tappar bort den, be oss om en ny.",
        "open_page": "Öppna min sida",
        "renewal.subject": "Ditt samtycke till bilder för ”{purpose}”: titta gärna igen",
        "renewal.expiring": "Ditt samtycke till ”{purpose}” upphör {date}. Vill du att vi fortsätter använda bilder "
        "på dig för detta, förnya det på din personliga sida. Gör du ingenting slutar vi använda dem för det den dagen.",
        "renewal.text_replaced": "Efter att du godkände ”{purpose}” ändrade vi vad texten säger (din version "
        "{agreed}, nu version {current}). Tills du förnyar använder vi inte bilder på dig för det. På din personliga "
        "sida kan du läsa den nya texten och förnya med ett tryck, eller återkalla. Gör du ingenting händer inget mer.",
        "renewal.new_link": "Länken i det här e-brevet är ny; länkar du fått tidigare fungerar fortfarande.",
        "newlink.subject": "Din nya personliga länk för bilder hos {controller}",
        "newlink.body": "Någon, troligen du, bad om en ny personlig länk till din sida om bilder på dig. Med den kan "
        "du se bilderna du är med på och ändra eller återkalla dina val när du vill.",
        "newlink.revoked": "Länkar du fått tidigare fungerar inte längre; använd den här.",
        "newlink.kept": "Länkar du fått tidigare fungerar fortfarande.",
        "newlink.not_you": "Om du inte bad om detta kan du strunta i det här e-brevet; ingen annan fick länken.",
        "confirm.subject": "Bekräfta dina nya val om bilder hos {controller}",
        "confirm.body": "Någon, troligen du, fyllde i vårt samtyckesformulär för bilder igen med den här "
        "e-postadressen. Adressen finns redan registrerad hos oss, så vi skapade ingen ny post: inget ändras förrän "
        "du bekräftar de nya valen med knappen nedan.",
        "confirm.button": "Se och bekräfta mina nya val",
        "confirm.expires": "Länken fungerar en gång, till och med {date}. Därefter kan du fylla i formuläret igen om "
        "du fortfarande vill ändra.",
        "confirm.not_you": "Om du inte fyllde i formuläret kan du strunta i det här e-brevet: dina val förblir "
        "som de är.",
        "expiry.subject": "Ditt samtycke till bilder för ”{purpose}” har upphört",
        "expiry.body": "Ditt samtycke till ”{purpose}” upphörde {date}, så vi använder inte längre bilder på dig för "
        "det. Vill du att vi använder dem för detta igen kan du ge ditt samtycke på nytt på din personliga sida. Gör du "
        "ingenting händer inget mer.",
        "erasure.subject": "Dina uppgifter hos {controller} är raderade",
        "erasure.body": "Som du bad om har vi raderat dina personuppgifter ur vår bildsamtyckesportal: ditt namn och "
        "dina kontaktuppgifter, dina personliga länkar och ditt ansikte i våra sparade bilder, som nu är suddat. Vi "
        "sparar bara en uppgift utan ditt namn om vilka samtycken som gavs och återkallades och när, som lagen kräver "
        "att vi kan visa. Där en bild på dig har publicerats tar vi ner den.",
        "erasure.no_reply": "Det här är det sista e-brevet vi skickar dig; vi har inte längre din adress.",
        "takedown.subject": "Att ta ner: bild {asset} ({place})",
        "takedown.body": "En publicerad bild måste tas ner: bild {asset} ”{filename}”, publicerad på {place} för "
        "”{purpose}”. Varför: {why}.",
        "takedown.partner": "Bilden delades med en partner för ”{purpose}”: be dem sluta använda den och radera den, "
        "och anteckna på uppgiften när du gjorde det.",
        "takedown.open": "Öppna ”Att ta ner”",
        "not_me.subject": "Att granska: bild {asset}, någon säger att det inte är de",
        "not_me.body": "En person kopplad till bild {asset} ”{filename}” sade på sin personliga sida att bilden inte "
        "visar dem. Kopplingen togs bort och {faces} ansikte(n) ska granskas igen: koppla rätt person eller markera "
        "ansiktet som inte identifierbart.",
        "not_me.open": "Öppna bilden i granskningen",
        "cause.withdrawn": "personen återkallade sitt samtycke",
        "cause.refused": "personen sade nej",
        "cause.veto": "en vårdnadshavare eller personen invände",
        "cause.revoked": "samtycket återkallades",
        "cause.expired": "samtycket upphörde",
        "cause.text_replaced": "samtyckestexten byttes och personen har inte förnyat",
        "cause.no_consent": "en person på bilden har inte gett samtycke",
        "cause.unidentified": "en person på bilden är inte identifierad",
        "cause.erasure": "en person på bilden har fått sina uppgifter raderade (den publicerade kopian visar dem)",
        "digest.subject": "Sammanfattning av bildsamtycken {date}",
        "digest.intro": "Portalens siffror {date}.",
        "digest.purpose": "Ändamål",
        "digest.at_risk": "I riskzonen",
        "digest.critical": "Kritiska",
        "digest.expiring": "Upphör snart",
        "digest.takedowns": "Öppna nedtagningsuppgifter: {open}.",
        "digest.takedowns_oldest": "Öppna nedtagningsuppgifter: {open}; den äldsta har väntat {days} dag(ar).",
        "digest.failed": "E-brev som inte kunde levereras: {failed}. Se sidan Outbox.",
        "digest.head": "Signerat huvud för registret: post {seq}, hash {hash}, nyckel {key_id}, signerat {signed}. Spara "
        "det här e-brevet: det visar registrets tillstånd utanför databasen.",
        "digest.no_head": "Registret har inget signerat huvud än.",
        "footer": "{controller}{address}. Frågor om dina uppgifter: {email}.",
        "footer_dpo": "Dataskyddsombud: {dpo}.",
        "footer_staff": "Skickat av bildsamtyckesportalen hos {controller}.",
    },
}


def mt(key: str, locale: str, **values: object) -> str:
    """The mail text `key` in `locale` (English if missing), with `values` filled in."""
    text = MAIL.get(locale, {}).get(key) or MAIL["en"][key]
    return text.format(**values) if values else text


@dataclass(frozen=True)
class Message:
    """One e-mail ready to send: subject line, plain text and the same as HTML."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class _Part:
    """A piece of a body: a paragraph, a button-style link, or a table (header row first)."""

    text: str = ""
    link: str = ""
    table: tuple[tuple[str, ...], ...] = ()


def _paragraphs(parts: list[_Part]) -> tuple[str, str]:
    """(plain text, HTML) of the parts; every value is escaped in the HTML."""
    text, markup = [], []
    for part in parts:
        if part.table:
            widths = [max(len(row[i]) for row in part.table) for i in range(len(part.table[0]))]
            text.append(
                "\n".join("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in part.table)
            )
            head, *rows = part.table
            cells = "".join(f"<th align='left'>{html.escape(c)}</th>" for c in head)
            body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
            markup.append(f"<table cellpadding='4'><tr>{cells}</tr>{body}</table>")
        elif part.link:
            text.append(f"{part.text}:\n{part.link}")
            markup.append(
                f"<p><a href='{html.escape(part.link, quote=True)}' style='font-weight:bold'>{html.escape(part.text)}"
                f"</a></p><p style='font-size:small;color:#555'>{html.escape(part.link)}</p>"
            )
        else:
            text.append(part.text)
            markup.append(f"<p>{html.escape(part.text)}</p>")
    return "\n\n".join(text) + "\n", (
        "<!DOCTYPE html><html><body style='font-family:sans-serif;max-width:40em'>" + "".join(markup) + "</body></html>"
    )


def _footer(org: Organisation, locale: str) -> list[_Part]:
    """Who sends this and how to reach them (Art. 13: the controller and its contact)."""
    address = ", ".join(p for p in (org.street, f"{org.postal_code} {org.locality}".strip()) if p)
    parts = [
        _Part(
            "— "
            + mt(
                "footer",
                locale,
                controller=org.controller_name,
                address=f", {address}" if address else "",
                email=org.contact_email,
            )
        )
    ]
    if org.dpo_name or org.dpo_email:
        dpo = " ".join(p for p in (org.dpo_name, f"<{org.dpo_email}>" if org.dpo_email else "") if p)
        parts.append(_Part(mt("footer_dpo", locale, dpo=dpo)))
    return parts


def _build(subject: str, parts: list[_Part]) -> Message:
    """A Message from its subject line and parts."""
    text, markup = _paragraphs(parts)
    return Message(subject=subject, text=text, html=markup)


def _hello(name: str | None, locale: str) -> _Part:
    """The greeting, by name when the person gave one."""
    return _Part(mt("hello", locale, name=name) if name else mt("hello_anonymous", locale))


def welcome(*, org: Organisation, locale: str, name: str | None, link: str) -> Message:
    """The first e-mail after registering: the personal link and how to use it."""
    return _build(
        mt("welcome.subject", locale, controller=org.controller_name),
        [
            _hello(name, locale),
            _Part(mt("welcome.body", locale)),
            _Part(mt("open_page", locale), link=link),
            _Part(mt("welcome.keep", locale)),
            *_footer(org, locale),
        ],
    )


def renewal(
    *, org: Organisation, locale: str, name: str | None, purpose: str, payload: Mapping[str, Any], link: str
) -> Message:
    """A renewal request: which consent, what changed (a new text, or it runs out), and the link to renew."""
    if payload.get("reason") == "text_replaced":
        why = mt(
            "renewal.text_replaced",
            locale,
            purpose=purpose,
            agreed=payload.get("agreed_version", "?"),
            current=payload.get("current_version", "?"),
        )
    else:
        until = str(payload.get("valid_until", ""))
        try:
            date = datetime.fromisoformat(until).date().isoformat()
        except ValueError:
            date = until
        why = mt("renewal.expiring", locale, purpose=purpose, date=date)
    return _build(
        mt("renewal.subject", locale, purpose=purpose),
        [
            _hello(name, locale),
            _Part(why),
            _Part(mt("open_page", locale), link=link),
            _Part(mt("renewal.new_link", locale)),
            *_footer(org, locale),
        ],
    )


def new_link(*, org: Organisation, locale: str, name: str | None, link: str, kept_older: bool) -> Message:
    """A personal link the person asked for ("Lost your link?" or "E-mail it to me")."""
    return _build(
        mt("newlink.subject", locale, controller=org.controller_name),
        [
            _hello(name, locale),
            _Part(mt("newlink.body", locale)),
            _Part(mt("open_page", locale), link=link),
            _Part(mt("newlink.kept" if kept_older else "newlink.revoked", locale)),
            _Part(mt("newlink.not_you", locale)),
            *_footer(org, locale),
        ],
    )


def confirm_changes(*, org: Organisation, locale: str, name: str | None, link: str, expires: str) -> Message:
    """The request to confirm the choices of a second form sent with an already confirmed address (one use)."""
    return _build(
        mt("confirm.subject", locale, controller=org.controller_name),
        [
            _hello(name, locale),
            _Part(mt("confirm.body", locale)),
            _Part(mt("confirm.button", locale), link=link),
            _Part(mt("confirm.expires", locale, date=expires)),
            _Part(mt("confirm.not_you", locale)),
            *_footer(org, locale),
        ],
    )


def digest(*, org: Organisation, locale: str, payload: Mapping[str, Any], day: str, failed: int) -> Message:
    """The managers' daily digest: figures per purpose, open takedowns, undelivered e-mail, the signed ledger head."""
    rows: list[tuple[str, ...]] = [
        (mt("digest.purpose", locale), mt("digest.at_risk", locale), mt("digest.critical", locale),
         mt("digest.expiring", locale))
    ]  # fmt: skip
    for figure in payload.get("risk") or []:
        rows.append(tuple(str(figure.get(k, "")) for k in ("purpose", "at_risk", "critical", "expiring")))
    tasks = payload.get("takedowns") or {}
    opened, oldest = tasks.get("open", 0), tasks.get("oldestDays")
    parts = [_Part(mt("digest.intro", locale, date=day))]
    if len(rows) > 1:
        parts.append(_Part(table=tuple(rows)))
    parts.append(
        _Part(
            mt("digest.takedowns_oldest", locale, open=opened, days=oldest)
            if opened and oldest is not None
            else mt("digest.takedowns", locale, open=opened)
        )
    )
    if failed:
        parts.append(_Part(mt("digest.failed", locale, failed=failed)))
    head = payload.get("ledgerHead")
    parts.append(
        _Part(
            mt(
                "digest.head",
                locale,
                seq=head.get("seq"),
                hash=head.get("entryHash"),
                key_id=head.get("keyId"),
                signed=head.get("signedAt"),
            )
            if head
            else mt("digest.no_head", locale)
        )
    )
    if head:
        # The whole head as one JSON line: saved to a file, `ledger verify --anchor FILE` checks the chain against it.
        parts.append(_Part(json.dumps(head, sort_keys=True)))
    parts.append(_Part(mt("footer_staff", locale, controller=org.controller_name)))
    return _build(mt("digest.subject", locale, date=day), parts)


def _date(value: object) -> str:
    """An ISO timestamp as its date, or the value as it is."""
    try:
        return datetime.fromisoformat(str(value)).date().isoformat()
    except ValueError:
        return str(value)


def expiry(*, org: Organisation, locale: str, name: str | None, purpose: str, valid_until: str, link: str) -> Message:
    """An expiry notice: which consent ran out, and the link to give it again."""
    return _build(
        mt("expiry.subject", locale, purpose=purpose),
        [
            _hello(name, locale),
            _Part(mt("expiry.body", locale, purpose=purpose, date=_date(valid_until))),
            _Part(mt("open_page", locale), link=link),
            _Part(mt("renewal.new_link", locale)),
            *_footer(org, locale),
        ],
    )


def erasure_confirmation(*, org: Organisation, locale: str) -> Message:
    """The confirmation that a person was erased: no name, no link (nothing of the person is left to show)."""
    return _build(
        mt("erasure.subject", locale, controller=org.controller_name),
        [
            _hello(None, locale),
            _Part(mt("erasure.body", locale)),
            _Part(mt("erasure.no_reply", locale)),
            *_footer(org, locale),
        ],
    )


def takedown_notice(
    *,
    org: Organisation,
    locale: str,
    asset_id: int,
    filename: str,
    place: str,
    purpose: str,
    cause: str,
    partner: bool,
    link: str,
) -> Message:
    """A takedown notice to staff: which photo, where it is published, for what, why, and the page to act on."""
    why = mt(f"cause.{cause}", locale) if f"cause.{cause}" in MAIL["en"] else cause
    parts = [
        _Part(mt("takedown.body", locale, asset=asset_id, filename=filename, place=place, purpose=purpose, why=why))
    ]
    if partner:
        parts.append(_Part(mt("takedown.partner", locale, purpose=purpose)))
    parts += [
        _Part(mt("takedown.open", locale), link=link),
        _Part(mt("footer_staff", locale, controller=org.controller_name)),
    ]
    return _build(mt("takedown.subject", locale, asset=asset_id, place=place), parts)


def not_me_notice(*, org: Organisation, locale: str, asset_id: int, filename: str, faces: int, link: str) -> Message:
    """A notice to staff that a person said a photo linked to them is not them: which photo, and where to review it."""
    parts = [
        _Part(mt("not_me.body", locale, asset=asset_id, filename=filename, faces=faces)),
        _Part(mt("not_me.open", locale), link=link),
        _Part(mt("footer_staff", locale, controller=org.controller_name)),
    ]
    return _build(mt("not_me.subject", locale, asset=asset_id), parts)
