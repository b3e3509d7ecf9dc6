"""The standard purposes with plain-language texts in English and Swedish (R1, R4, R24)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from portal.backend.consent.dpv import STANDARD_PURPOSES as STANDARD_DPV
from portal.backend.consent.purposes import TextContent, add_purpose, publish_text


@dataclass(frozen=True)
class StandardPurpose:
    """A purpose the portal ships with, and its first text version."""

    code: str
    dpv_code: str
    biometric: bool
    third_party: bool
    texts: dict[str, TextContent]


_PHOTO = {"en": "photos of you", "sv": "bilder på dig"}

STANDARD_PURPOSES: tuple[StandardPurpose, ...] = (
    StandardPurpose(
        "internal",
        STANDARD_DPV["internal"],
        False,
        False,
        {
            "en": TextContent(
                "Internal use",
                "We may show photos of you inside our organisation: on the intranet, in internal newsletters "
                "and on screens in our offices. People outside the organisation will not see them. "
                "You can withdraw this consent at any time through your personal link, and we will stop using the photos.",
                ("Our employees",),
                ("Photo",),
            ),
            "sv": TextContent(
                "Internt bruk",
                "Vi får visa bilder på dig inom organisationen: på intranätet, i interna nyhetsbrev och på "
                "skärmar på våra kontor. Personer utanför organisationen ser dem inte. "
                "Du kan när som helst återkalla samtycket via din personliga länk, och då slutar vi använda bilderna.",
                ("Våra anställda",),
                ("Bild",),
            ),
        },
    ),
    StandardPurpose(
        "website",
        STANDARD_DPV["website"],
        False,
        False,
        {
            "en": TextContent(
                "Our website",
                "We may publish photos of you on our public website, where anyone can see them. "
                "Your name is not shown with the photo. You can withdraw this consent at any time; "
                "we then take the photos down from the website.",
                ("Visitors to our website (the public)",),
                ("Photo",),
            ),
            "sv": TextContent(
                "Vår webbplats",
                "Vi får publicera bilder på dig på vår offentliga webbplats, där alla kan se dem. "
                "Ditt namn visas inte med bilden. Du kan när som helst återkalla samtycket; "
                "då tar vi bort bilderna från webbplatsen.",
                ("Besökare på vår webbplats (allmänheten)",),
                ("Bild",),
            ),
        },
    ),
    StandardPurpose(
        "social_media",
        STANDARD_DPV["social_media"],
        False,
        True,
        {
            "en": TextContent(
                "Social media",
                "We may post photos of you on our accounts on LinkedIn, Instagram and Facebook. "
                "These companies store the photos on their own servers, also outside the EU. "
                "You can withdraw this consent at any time; we then delete our posts with the photos.",
                ("LinkedIn Ireland Unlimited Company", "Meta Platforms Ireland Ltd (Instagram, Facebook)"),
                ("Photo",),
            ),
            "sv": TextContent(
                "Sociala medier",
                "Vi får lägga upp bilder på dig på våra konton på LinkedIn, Instagram och Facebook. "
                "Dessa företag lagrar bilderna på sina egna servrar, även utanför EU. "
                "Du kan när som helst återkalla samtycket; då tar vi bort våra inlägg med bilderna.",
                ("LinkedIn Ireland Unlimited Company", "Meta Platforms Ireland Ltd (Instagram, Facebook)"),
                ("Bild",),
            ),
        },
    ),
    StandardPurpose(
        "print",
        STANDARD_DPV["print"],
        False,
        False,
        {
            "en": TextContent(
                "Printed material",
                "We may use photos of you in brochures, posters and our annual report. Printed copies that "
                "were already handed out cannot be recalled, but after you withdraw we will not print the photos again.",
                ("Readers of our printed material", "Our printing company"),
                ("Photo",),
            ),
            "sv": TextContent(
                "Tryckt material",
                "Vi får använda bilder på dig i broschyrer, affischer och vår årsredovisning. Tryckta exemplar "
                "som redan delats ut kan inte dras tillbaka, men efter att du återkallat trycker vi inte bilderna igen.",
                ("Läsare av vårt tryckta material", "Vårt tryckeri"),
                ("Bild",),
            ),
        },
    ),
    StandardPurpose(
        "partners",
        STANDARD_DPV["partners"],
        False,
        True,
        {
            "en": TextContent(
                "Sharing with partners",
                "We may give photos of you to the partners named below, who use them to report on the event we "
                "held together. They may not use them for anything else. If you withdraw, we ask them to delete the photos.",
                ("Nordic Event Partners AB", "City of Lund, culture department"),
                ("Photo",),
            ),
            "sv": TextContent(
                "Delning med partner",
                "Vi får lämna bilder på dig till partnerna nedan, som använder dem för att berätta om evenemanget "
                "vi höll tillsammans. De får inte använda dem till något annat. Om du återkallar ber vi dem radera bilderna.",
                ("Nordic Event Partners AB", "Lunds kommun, kulturförvaltningen"),
                ("Bild",),
            ),
        },
    ),
    StandardPurpose(
        "face_matching",
        STANDARD_DPV["face_matching"],
        True,
        False,
        {
            "en": TextContent(
                "Face matching (optional)",
                "Instead of staff finding you in photos by hand, a computer can compare a selfie of you with the "
                "faces in our photos. From the selfie we compute a face template (biometric data); the selfie itself "
                "is deleted straight away. The template is kept only while this consent is valid and is deleted "
                "when you withdraw. Saying no changes nothing else: staff can still find your photos by hand.",
                ("No one outside our organisation",),
                ("Photo", "Face template (biometric data)"),
            ),
            "sv": TextContent(
                "Ansiktsmatchning (frivilligt)",
                "I stället för att personalen letar efter dig i bilderna för hand kan en dator jämföra en selfie av "
                "dig med ansiktena i våra bilder. Av selfien räknar vi fram en ansiktsmall (biometriska uppgifter); "
                "själva selfien raderas direkt. Mallen sparas bara så länge samtycket gäller och raderas när du "
                "återkallar. Att säga nej ändrar inget annat: personalen kan fortfarande hitta dina bilder för hand.",
                ("Ingen utanför vår organisation",),
                ("Bild", "Ansiktsmall (biometriska uppgifter)"),
            ),
        },
    ),
)


def install_standard_purposes(conn: Connection, *, now: datetime) -> None:
    """Create the standard purposes with their first text versions (a new organisation's starting point)."""
    for order, p in enumerate(STANDARD_PURPOSES):
        add_purpose(
            conn,
            code=p.code,
            dpv_code=p.dpv_code,
            sort_order=order,
            biometric=p.biometric,
            third_party=p.third_party,
            now=now,
        )
        publish_text(conn, code=p.code, texts=p.texts, now=now)
