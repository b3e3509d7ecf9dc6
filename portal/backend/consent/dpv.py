"""W3C Data Privacy Vocabulary (DPV 2.x) codes the portal uses, in one place (receipts, records, Art. 30).

Every code here was checked against the DPV 2.0 release (https://w3id.org/dpv, files
`2.0/dpv/modules/purposes.csv`, `2.0/dpv/modules/entities_legalrole.csv` and `2.0/pd/pd.csv` in
https://github.com/w3c/dpv). A code not listed here is not known to exist; `is_known` says so. Codes are written
as compact IRIs with DPV's suggested prefixes (`dpv:`, `pd:`); `iri` expands them.
"""

from __future__ import annotations

from dataclasses import dataclass

DPV_NAMESPACE = "https://w3id.org/dpv#"
PD_NAMESPACE = "https://w3id.org/dpv/pd#"
PREFIXES: dict[str, str] = {"dpv": DPV_NAMESPACE, "pd": PD_NAMESPACE}


@dataclass(frozen=True)
class Concept:
    """A DPV concept: its compact code, its label in each language the portal speaks, and DPV's definition."""

    code: str
    labels: dict[str, str]
    definition: str
    special_category: bool = False

    @property
    def iri(self) -> str:
        """The full IRI of the concept."""
        return iri(self.code)

    def label(self, locale: str) -> str:
        """The label in `locale`, English where the portal has no translation."""
        return self.labels.get(locale) or self.labels["en"]


def _concepts(*items: Concept) -> dict[str, Concept]:
    """Concepts keyed by code."""
    return {c.code: c for c in items}


# Personal-data categories (DPV-PD). Every purpose of the portal processes photos; face matching adds the
# template computed from a selfie, a biometric special category (GDPR Art. 9).
PICTURE = "pd:Picture"
FACIAL_PRINT = "pd:FacialPrint"

PERSONAL_DATA: dict[str, Concept] = _concepts(
    Concept(
        PICTURE,
        {"en": "Photo", "sv": "Bild"},
        "Information about visual representation or image e.g. profile photo.",
    ),
    Concept(
        FACIAL_PRINT,
        {"en": "Face template (biometric data)", "sv": "Ansiktsmall (biometriska uppgifter)"},
        "Information about facial print or pattern.",
        special_category=True,
    ),
)


def personal_data_categories(*, biometric: bool) -> tuple[str, ...]:
    """The DPV-PD codes of the personal data a purpose processes: photos, plus the face template if biometric."""
    return (PICTURE, FACIAL_PRINT) if biometric else (PICTURE,)


# Purpose categories (DPV core). Sharing is not a purpose in DPV (it is a processing operation): a purpose that
# gives photos to partners keeps its own category and names its recipients as `THIRD_PARTY`.
PURPOSE_CATEGORIES: dict[str, Concept] = _concepts(
    Concept(
        "dpv:CommunicationManagement",
        {"en": "Communication management", "sv": "Kommunikation"},
        "Purposes associated with providing or managing communication activities.",
    ),
    Concept(
        "dpv:PublicRelations",
        {"en": "Public relations", "sv": "PR och kommunikation med allmänheten"},
        "Purposes associated with managing and conducting public relations processes, including creating "
        "goodwill for the organisation.",
    ),
    Concept(
        "dpv:SocialMediaMarketing",
        {"en": "Social media marketing", "sv": "Marknadsföring i sociala medier"},
        "Purposes associated with conducting marketing through social media.",
    ),
    Concept(
        "dpv:Marketing",
        {"en": "Marketing", "sv": "Marknadsföring"},
        "Purposes associated with conducting marketing in relation to organisation or products or services "
        "e.g. promoting, selling, and distributing.",
    ),
    Concept(
        "dpv:Advertising",
        {"en": "Advertising", "sv": "Reklam"},
        "Purposes associated with conducting advertising.",
    ),
    Concept(
        "dpv:SearchFunctionalities",
        {"en": "Search functionalities", "sv": "Sökfunktioner"},
        "Purposes associated with providing searching, querying, or other forms of information retrieval "
        "related functionalities.",
    ),
)

# The standard purposes (portal/backend/i18n/purposes.py) and their DPV categories:
# internal use is internal communication (intranet, newsletters, office screens), not resource optimisation;
# partners report on a joint event, which is public relations, and the partners are third-party recipients;
# face matching searches the photos for one person (information retrieval), it verifies nobody's identity.
STANDARD_PURPOSES: dict[str, str] = {
    "internal": "dpv:CommunicationManagement",
    "website": "dpv:PublicRelations",
    "social_media": "dpv:SocialMediaMarketing",
    "print": "dpv:Marketing",
    "partners": "dpv:PublicRelations",
    "face_matching": "dpv:SearchFunctionalities",
}

# Codes older versions stored in `purposes.dpv_code` for the standard purposes, and what replaces them
# (`dpv:ThirdPartySharing` does not exist; the other two misdescribed the purpose). Migration 0011 applies it.
REPLACED_CODES: dict[tuple[str, str], str] = {
    ("internal", "dpv:InternalResourceOptimisation"): "dpv:CommunicationManagement",
    ("partners", "dpv:ThirdPartySharing"): "dpv:PublicRelations",
    ("face_matching", "dpv:IdentityVerification"): "dpv:SearchFunctionalities",
}

# Entity roles (DPV core), for recipients and controllers in records.
ENTITY_ROLES: dict[str, Concept] = _concepts(
    Concept(
        "dpv:DataController",
        {"en": "Controller", "sv": "Personuppgiftsansvarig"},
        "The individual or organisation that decides (or controls) the purpose(s) of processing personal data.",
    ),
    Concept(
        "dpv:DataProcessor",
        {"en": "Processor", "sv": "Personuppgiftsbiträde"},
        "A natural or legal person, public authority, agency or other body which processes data on behalf of "
        "the controller.",
    ),
    Concept(
        "dpv:Recipient",
        {"en": "Recipient", "sv": "Mottagare"},
        "Entities that receive data or technologies.",
    ),
    Concept(
        "dpv:ThirdParty",
        {"en": "Third party", "sv": "Tredje part"},
        "Any natural or legal person other than the entities directly involved or operating under those "
        "directly involved in a process.",
    ),
)
THIRD_PARTY = "dpv:ThirdParty"

KNOWN: dict[str, Concept] = {**PERSONAL_DATA, **PURPOSE_CATEGORIES, **ENTITY_ROLES}


def is_known(code: str) -> bool:
    """True when `code` is one of the DPV concepts verified above."""
    return code in KNOWN


def concept(code: str) -> Concept:
    """The verified concept of `code` (KeyError for a code that is not listed)."""
    return KNOWN[code]


def iri(code: str) -> str:
    """The full IRI of a compact code such as `pd:Picture` (a full IRI is returned as it is)."""
    prefix, sep, name = code.partition(":")
    if sep and prefix in PREFIXES:
        return PREFIXES[prefix] + name
    return code
