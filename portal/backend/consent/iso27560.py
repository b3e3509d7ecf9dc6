"""ISO/IEC TS 27560:2023 consent records, one per consent event (ledger entry), as JSON-LD with DPV terms.

Follows the W3C DPVCG guide "Consent Records and Receipts as per ISO/IEC TS 27560:2023 using DPV"
(https://w3id.org/dpv/guides/consent-27560, Final Community Group Report 2024-08-01; abbreviated "guide" below):
its field list (section "DPV-27560 Consent Record"), its property for each field, and its JSON-LD shape. The record
conforms to the guide's profile for consent records holding what the GDPR requires (`dpv-27560:record-eu-gdpr`).

The `@context` only maps prefixes to IRIs, so a record is read without fetching anything. The person appears by their
pseudonymous id only (guide "Data Subject", and its Security section: pseudonymise what the record does not need);
a guardian who acted appears as the salted hash the ledger keeps, never by name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from portal.backend.consent import dpv
from portal.backend.consent.ledger import LedgerEntry, entries_for_subject
from portal.backend.consent.notice import duration as duration_text
from portal.backend.consent.notice import notice_for
from portal.backend.consent.purposes import Purpose, PurposeText, list_purposes, text_version
from portal.backend.i18n.notice import notice_text
from portal.backend.i18n.records import RECORD_LOCALES, record_text
from portal.backend.people.subjects import Subject, get_subject
from portal.backend.photos.retention import retention_days
from portal.backend.platform.config import Settings
from portal.backend.platform.organisation import Organisation, get_organisation
from portal.backend.staff.recipients import Recipient, configured_processors, list_recipients

# The guide's profile IRIs (section "Profiles"): records that also hold what GDPR requires, and the receipt that
# hands a person copies of their records.
SCHEMA_VERSION = "https://w3id.org/dpv/schema/dpv-27560#record-eu-gdpr"
RECEIPT_SCHEMA_VERSION = "https://w3id.org/dpv/schema/dpv-27560#receipt-eu-gdpr"
GUIDE = "https://w3id.org/dpv/guides/consent-27560"

# Prefixes as in the guide's section "Namespaces" (plus rdf, skos, schema and xsd that its examples use). Properties
# whose values are IRIs are declared so (`@type: @id`), so "dpv:Store" is read as the DPV concept, not as text.
_IRI = {"@type": "@id"}
CONTEXT: dict[str, Any] = {
    "dpv": "https://w3id.org/dpv#",
    "pd": "https://w3id.org/dpv/pd#",
    "loc": "https://w3id.org/dpv/loc#",
    "eu-gdpr": "https://w3id.org/dpv/legal/eu/gdpr#",
    "dct": "http://purl.org/dc/terms/",
    "schema": "https://schema.org/",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "dct:conformsTo": _IRI,
    "dct:source": _IRI,
    "skos:broader": _IRI,
    "schema:url": _IRI,
    "dpv:hasProcessing": _IRI,
    "dpv:hasLegalBasis": _IRI,
    "dpv:hasJurisdiction": _IRI,
    "dpv:hasApplicableLaw": _IRI,
    "dpv:hasLocation": _IRI,
    "dpv:hasDataController": _IRI,
    "dpv:isIndicatedBy": _IRI,
    "dpv:isImplementedByEntity": _IRI,
    "dpv:isExercisedAt": _IRI,
    "dpv:hasRecordOfActivity": _IRI,
    "dpv:isIndicatedAtTime": {"@type": "xsd:dateTime"},
    "dct:created": {"@type": "xsd:dateTime"},
}


@dataclass(frozen=True)
class RequiredField:
    """A field a record must hold: its name in ISO/IEC TS 27560, where the guide defines it, and where it sits."""

    iso_field: str
    guide_section: str
    path: tuple[str, ...]


# Every field the guide marks MUST for a consent record, plus those its mapping table ("ISO 27560:2023, EU GDPR, and
# DPV") marks mandatory under GDPR, which the record-eu-gdpr profile therefore requires (lawful basis, processing,
# rights, authority). Paths walk lists: a field is present when some value at the path is non-empty.
_RECORD = "DPV-27560 Consent Record"
REQUIRED_FIELDS: tuple[RequiredField, ...] = (
    RequiredField("schema_version", f"{_RECORD} > Record Metadata > Schema Version", ("dct:conformsTo",)),
    RequiredField("record_id", f"{_RECORD} > Record Metadata > Record Identifier", ("dct:identifier",)),
    RequiredField(
        "pii_principal_id", f"{_RECORD} > Record Metadata > Data Subject", ("dpv:hasDataSubject", "dct:identifier")
    ),
    RequiredField("privacy_notice (6.3.4.1)", f"{_RECORD} > Notice Fields > Notice", ("dpv:hasNotice", "@id")),
    RequiredField(
        "language (6.3.4.2)", f"{_RECORD} > Notice Fields > Notice Language", ("dpv:hasNotice", "dct:language")
    ),
    RequiredField("purposes", f"{_RECORD} > Processing Fields > Process", ("dpv:hasProcess", "@type")),
    RequiredField(
        "purpose (6.3.4.3)",
        f"{_RECORD} > Processing Fields > Purpose",
        ("dpv:hasProcess", "dpv:hasPurpose", "dct:title"),
    ),
    RequiredField(
        "pii_information (6.3.4.7)",
        f"{_RECORD} > Processing Fields > Personal Data",
        ("dpv:hasProcess", "dpv:hasPersonalData", "@type"),
    ),
    RequiredField(
        "pii_type (6.3.5.1)",
        f"{_RECORD} > Processing Fields > Personal Data > Personal Data Type",
        ("dpv:hasProcess", "dpv:hasPersonalData", "skos:broader"),
    ),
    RequiredField(
        "processing_method (6.3.4.10; mandatory under GDPR Art. 30(1)(b))",
        f"{_RECORD} > Processing Fields > Processing Operations",
        ("dpv:hasProcess", "dpv:hasProcessing"),
    ),
    RequiredField(
        "storage_locations (6.3.4.11)",
        f"{_RECORD} > Processing Fields > Storage Condition(s)",
        ("dpv:hasProcess", "dpv:hasStorageCondition", "dpv:hasLocation"),
    ),
    RequiredField(
        "retention_period (6.3.4.12)",
        f"{_RECORD} > Processing Fields > Storage Condition(s)",
        ("dpv:hasProcess", "dpv:hasStorageCondition", "dpv:hasDuration"),
    ),
    RequiredField(
        "pii_controllers (6.3.4.8)",
        f"{_RECORD} > Processing Fields > Data Controller(s)",
        ("dpv:hasProcess", "dpv:hasDataController"),
    ),
    RequiredField(
        "lawful_basis (6.3.4.6; mandatory under GDPR Art. 6)",
        f"{_RECORD} > Processing Fields > Legal Basis",
        ("dpv:hasProcess", "dpv:hasLegalBasis"),
    ),
    RequiredField(
        "recipient_third_parties (6.3.4.17)",
        f"{_RECORD} > Processing Fields > Recipients",
        ("dpv:hasProcess", "dpv:hasRecipient", "dpv:hasName"),
    ),
    RequiredField(
        "withdrawal_method (6.3.4.18)",
        f"{_RECORD} > Processing Fields > Consent Change & Withdrawal",
        ("dpv:hasProcess", "dpv:hasConsentControl", "dpv:isExercisedAt"),
    ),
    RequiredField(
        "jurisdiction (6.3.4.16)",
        f"{_RECORD} > Processing Fields > Jurisdiction(s)",
        ("dpv:hasProcess", "dpv:hasJurisdiction"),
    ),
    RequiredField(
        "privacy_rights (6.3.4.19; mandatory under GDPR Art. 13(2)(b)-(d))",
        f"{_RECORD} > Processing Fields > Rights",
        ("dpv:hasProcess", "dpv:hasRight", "dpv:isExercisedAt"),
    ),
    RequiredField(
        "authority_party (6.3.4.22; mandatory under GDPR Art. 13(2)(d))",
        "ISO 27560:2023, EU GDPR, and DPV > authority party",
        ("dpv:hasAuthority", "dpv:hasName"),
    ),
    RequiredField(
        "party_name (6.3.6.6)", f"{_RECORD} > Entity Fields > Name", ("dpv:hasDataController", "dpv:hasName")
    ),
    RequiredField(
        "party_id", f"{_RECORD} > Entity Fields > Identifier", ("dpv:hasDataController", "dpv:hasIdentifier")
    ),
    RequiredField("party_role (6.3.6.7)", f"{_RECORD} > Entity Fields > Role", ("dpv:hasDataController", "@type")),
    RequiredField(
        "party_contact (6.3.6.8)",
        f"{_RECORD} > Entity Fields > Contact",
        ("dpv:hasDataController", "schema:contactPoint", "schema:email"),
    ),
    RequiredField(
        "party_address",
        f"{_RECORD} > Entity Fields > Postal Address",
        ("dpv:hasDataController", "schema:address", "schema:addressCountry"),
    ),
    RequiredField(
        "event_type (6.3.7.4)",
        f"{_RECORD} > Consent Event Fields > Consent Type",
        ("dpv:hasConsentStatus", "dpv:hasLegalBasis"),
    ),
    RequiredField(
        "event_state (6.3.7.6)", f"{_RECORD} > Consent Event Fields > Consent State", ("dpv:hasConsentStatus", "@type")
    ),
    RequiredField(
        "event_time (6.3.7.1)",
        f"{_RECORD} > Consent Event Fields > Event Time",
        ("dpv:hasConsentStatus", "dpv:isIndicatedAtTime"),
    ),
    RequiredField(
        "validity_duration (6.3.7.2)",
        f"{_RECORD} > Consent Event Fields > Event Duration",
        ("dpv:hasConsentStatus", "dpv:hasDuration", "rdf:value"),
    ),
    RequiredField(
        "entity_id (6.3.7.3)",
        f"{_RECORD} > Consent Event Fields > Expression by Entity",
        ("dpv:hasConsentStatus", "dpv:isIndicatedBy"),
    ),
)

# Ledger actions and the DPV consent status each one is (DPV 2.1 `dpv/modules/consent_status.csv`): a revocation is
# the organisation ending a consent, which DPV calls ConsentRevoked ("revoked by an entity other than the data
# subject"); an expiry is ConsentExpired.
STATUS_OF_ACTION: dict[str, str] = {
    "given": "dpv:ConsentGiven",
    "renewed": "dpv:RenewedConsentGiven",
    "refused": "dpv:ConsentRefused",
    "withdrawn": "dpv:ConsentWithdrawn",
    "expired": "dpv:ConsentExpired",
    "revoked": "dpv:ConsentRevoked",
}
# Every purpose is asked for separately, with its own tick box or button: explicitly expressed consent.
CONSENT_TYPE = "dpv:ExplicitlyExpressedConsent"
# Art. 6(1)(a) consent; a biometric purpose also rests on Art. 9(2)(a) explicit consent (DPV eu-gdpr legal_basis and
# legal_basis_special modules).
LEGAL_BASIS = "eu-gdpr:A6-1-a"
LEGAL_BASIS_SPECIAL = "eu-gdpr:A9-2-a"
LAW = "eu-gdpr:GDPR"  # the regulation, as the guide's examples name it (dpv:hasApplicableLaw)

# Notice right codes (consent/notice.py) and the DPV eu-gdpr right each one is (eu-gdpr `rights` module).
RIGHT_OF: dict[str, str] = {
    "access": "eu-gdpr:A15",
    "portability": "eu-gdpr:A20",
    "withdrawal": "eu-gdpr:A7-3",
    "erasure": "eu-gdpr:A17",
    "rectification": "eu-gdpr:A16",
}
COMPLAINT_RIGHT = "eu-gdpr:A77"

# Processing operations per standard purpose (DPV `processing` module): photos are recorded and stored for every
# purpose; internal use displays them, the public purposes disseminate them, partners get them shared, and face
# matching derives a template from the selfie and matches it against faces in the photos.
_BASE_PROCESSING = ("dpv:Record", "dpv:Store")
PROCESSING_OF: dict[str, tuple[str, ...]] = {
    "internal": ("dpv:Display",),
    "website": ("dpv:Disseminate",),
    "social_media": ("dpv:Disseminate",),
    "print": ("dpv:Disseminate",),
    "partners": ("dpv:Share",),
    "face_matching": ("dpv:Collect", "dpv:Derive", "dpv:Match"),
}

# Every DPV, DPV-PD, DPV-LOC and eu-gdpr term the records use, each checked against the DPV 2.1 release
# (github.com/w3c/dpv: `2.1/dpv/modules/*.csv`, `2.1/legal/eu/gdpr/modules/*.csv`, `2.1/loc/loc.csv`) or, for the
# record structure itself, the guide; `dpv.KNOWN` (purpose categories, personal data) is checked by consent/dpv.py.
VOCABULARY: frozenset[str] = frozenset(
    {
        # record structure (guide) and entities
        "dpv:ConsentRecord",
        "dpv:ConsentReceipt",
        "dpv:hasRecordOfActivity",
        "dpv:Process",
        "dpv:hasProcess",
        "dpv:Purpose",
        "dpv:hasPurpose",
        "dpv:PersonalData",
        "dpv:SpecialCategoryPersonalData",
        "dpv:hasPersonalData",
        "dpv:hasProcessing",
        "dpv:DataSubject",
        "dpv:Child",
        "dpv:GuardianOfDataSubject",
        "dpv:hasDataSubject",
        "dpv:DataController",
        "dpv:hasDataController",
        "dpv:DataProtectionOfficer",
        "dpv:hasDataProtectionOfficer",
        "dpv:Recipient",
        "dpv:DataProcessor",
        "dpv:ThirdParty",
        "dpv:hasRecipient",
        "dpv:DataProtectionAuthority",
        "dpv:hasAuthority",
        "dpv:hasName",
        "dpv:hasIdentifier",
        "dpv:isImplementedByEntity",
        # notices
        "dpv:ConsentNotice",
        "dpv:PrivacyNotice",
        "dpv:hasNotice",
        # processing operations
        *{op for ops in PROCESSING_OF.values() for op in ops},
        *_BASE_PROCESSING,
        # storage
        "dpv:hasStorageCondition",
        "dpv:StorageLocation",
        "dpv:StorageDuration",
        "dpv:hasLocation",
        "dpv:LocalLocation",
        "dpv:RemoteLocation",
        "dpv:CloudLocation",
        # durations
        "dpv:hasDuration",
        "dpv:TemporalDuration",
        "dpv:UntilTimeDuration",
        "dpv:UntilEventDuration",
        # legal basis, law, jurisdiction
        "dpv:hasLegalBasis",
        CONSENT_TYPE,
        LEGAL_BASIS,
        LEGAL_BASIS_SPECIAL,
        "dpv:hasApplicableLaw",
        LAW,
        "dpv:hasJurisdiction",
        # consent controls and rights
        "dpv:hasConsentControl",
        "dpv:WithdrawConsent",
        "dpv:ManageConsent",
        "dpv:isExercisedAt",
        "dpv:hasRight",
        "dpv:DataSubjectRight",
        *RIGHT_OF.values(),
        COMPLAINT_RIGHT,
        # consent events
        "dpv:hasConsentStatus",
        *STATUS_OF_ACTION.values(),
        "dpv:isIndicatedAtTime",
        "dpv:isIndicatedBy",
        "dpv:hasIndicationMethod",
        # non-DPV vocabularies the guide uses: DCMI terms, schema.org, SKOS, RDF
        "dct:conformsTo",
        "dct:identifier",
        "dct:title",
        "dct:description",
        "dct:language",
        "dct:created",
        "dct:source",
        "dct:hasVersion",
        "schema:contactPoint",
        "schema:ContactPoint",
        "schema:email",
        "schema:telephone",
        "schema:url",
        "schema:address",
        "schema:PostalAddress",
        "schema:streetAddress",
        "schema:postalCode",
        "schema:addressLocality",
        "schema:addressCountry",
        "skos:broader",
        "rdf:value",
    }
)
# DPV-LOC names every ISO 3166-1 alpha-2 country as loc:XX (2.1/loc/loc.csv), and the EU as loc:EU.
LOCATION = re.compile(r"^loc:[A-Z]{2}$")


def known_term(term: str) -> bool:
    """True when `term` is a verified DPV (or guide) term: in VOCABULARY, in consent/dpv.py, or a DPV-LOC country."""
    return term in VOCABULARY or dpv.is_known(term) or bool(LOCATION.match(term))


@dataclass(frozen=True)
class Deployment:
    """Where this portal keeps personal data: what a record's storage location names."""

    database: str  # "sqlite", "postgresql" or "supabase"
    files: str  # "local" or "supabase"
    hosting_country: str  # ISO code of the Supabase region, "" when unknown or not hosted
    base_url: str

    @classmethod
    def of(cls, settings: Settings, *, dialect: str) -> Deployment:
        """The deployment the settings describe, on a database of `dialect`."""
        if dialect == "sqlite":
            database = "sqlite"
        else:
            database = "supabase" if "supabase." in settings.database_url else "postgresql"
        return cls(
            database=database,
            files="supabase" if settings.blob_backend == "supabase" else "local",
            hosting_country=settings.supabase_country.strip().upper(),
            base_url=settings.base_url.rstrip("/"),
        )


def _iso(value: datetime) -> str:
    """ISO 8601 UTC time, as 27560 requires for event times."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _country(code: str) -> str:
    """The DPV-LOC term of an ISO country code (the EU writes Greece EL; ISO and DPV-LOC say GR)."""
    code = code.strip().upper()
    return f"loc:{'GR' if code == 'EL' else code}"


def _controller_id(base_url: str) -> str:
    """The controller's IRI in records: the portal's address, which the controller runs."""
    return f"{base_url}/#controller"


def _controller(org: Organisation, base_url: str) -> dict[str, Any]:
    """The controller as a party: name, identifier, role, contact and postal address (guide "Entity Fields")."""
    ident = _controller_id(base_url)
    contact: dict[str, Any] = {"@type": "schema:ContactPoint", "schema:email": org.contact_email}
    if org.contact_phone:
        contact["schema:telephone"] = org.contact_phone
    address: dict[str, Any] = {"@type": "schema:PostalAddress", "schema:addressCountry": org.country.upper()}
    for key, value in (
        ("schema:streetAddress", org.street),
        ("schema:postalCode", org.postal_code),
        ("schema:addressLocality", org.locality),
    ):
        if value:
            address[key] = value
    party: dict[str, Any] = {
        "@id": ident,
        "@type": ["dpv:DataController"],
        "dpv:hasName": org.controller_name,
        "dpv:hasIdentifier": ident,
        "schema:contactPoint": contact,
        "schema:address": address,
    }
    if org.policy_url:
        party["schema:url"] = org.policy_url
    if org.dpo_name or org.dpo_email:
        dpo: dict[str, Any] = {"@type": ["dpv:DataProtectionOfficer"]}
        if org.dpo_name:
            dpo["dpv:hasName"] = org.dpo_name
        if org.dpo_email:
            dpo["schema:contactPoint"] = {"@type": "schema:ContactPoint", "schema:email": org.dpo_email}
        party["dpv:hasDataProtectionOfficer"] = dpo
    return party


def _authority(org: Organisation, locale: str) -> dict[str, Any]:
    """The supervisory authority a person may complain to: the one set in Settings, else the generic wording."""
    name = org.authority_name.strip()
    authority: dict[str, Any] = {
        "@type": ["dpv:DataProtectionAuthority"],
        "dpv:hasName": name or record_text("authority_generic", locale),
        "dpv:hasJurisdiction": _country(org.country),
    }
    if name and org.authority_url.strip():
        authority["schema:url"] = org.authority_url.strip()
    return authority


def _storage_locations(deployment: Deployment, org: Organisation, locale: str) -> list[dict[str, Any]]:
    """Where the database and the files are, with their country (guide "Storage Condition(s)")."""
    own = _country(org.country)
    hosted = [_country(deployment.hosting_country)] if deployment.hosting_country else []
    places = {
        "sqlite": ("dpv:LocalLocation", [own], "storage.sqlite"),
        "postgresql": ("dpv:RemoteLocation", [own], "storage.postgresql"),
        "supabase": ("dpv:CloudLocation", hosted, "storage.supabase_db"),
    }
    kind, countries, key = places[deployment.database]
    files = (
        ("dpv:CloudLocation", hosted, "storage.supabase_files")
        if deployment.files == "supabase"
        else ("dpv:LocalLocation", [own], "storage.local_files")
    )
    return [
        {
            "@type": "dpv:StorageLocation",
            "dpv:hasLocation": [where, *where_countries],
            "dct:description": record_text(what, locale),
        }
        for where, where_countries, what in ((kind, countries, key), files)
    ]


def _retention(purpose: Purpose, archive_days: int | None, controller: str, locale: str) -> dict[str, Any]:
    """How long the data are kept (retention_period), in the words of the notice at collection."""
    if purpose.biometric:
        duration: dict[str, Any] = {"@type": "dpv:UntilEventDuration", "rdf:value": "consent-ends"}
        text = notice_text("kept_template", locale)
    elif archive_days is not None:
        duration = {"@type": "dpv:TemporalDuration", "rdf:value": f"P{archive_days}D"}
        text = notice_text("kept_for", locale, duration=duration_text(archive_days, locale))
    else:
        duration = {"@type": "dpv:UntilEventDuration", "rdf:value": "deleted-under-retention-rules"}
        text = notice_text("kept_until", locale, controller=controller)
    return {"@type": "dpv:StorageDuration", "dpv:hasDuration": duration, "dct:description": text}


def _recipients(
    purpose: Purpose, text: PurposeText, stored: Sequence[Recipient], org: Organisation, base_url: str, locale: str
) -> list[dict[str, Any]]:
    """Who receives the data for this purpose: recorded recipients and processors with their country, else those
    the purpose's text names; a purpose nobody outside receives names the controller (recipients are 1..*)."""
    rows = [r for r in stored if r.purpose in (None, purpose.code)]
    own = [r for r in rows if r.purpose == purpose.code]
    result: list[dict[str, Any]] = []
    for r in rows:
        types = ["dpv:DataProcessor"] if r.kind == "processor" else ["dpv:Recipient"]
        if r.kind != "processor" and purpose.third_party:
            types.append("dpv:ThirdParty")
        item: dict[str, Any] = {"@type": types, "dpv:hasName": r.name}
        if r.country:
            item["dpv:hasLocation"] = _country(r.country)
        if r.service:
            item["dct:description"] = r.service
        result.append(item)
    if not own:
        # Without rows of its own the purpose's text names who receives the photos (no country known).
        kind = ["dpv:Recipient", "dpv:ThirdParty"] if purpose.third_party else ["dpv:Recipient"]
        result.extend({"@type": kind, "dpv:hasName": name} for name in text.recipients)
    if not result:
        result.append(
            {
                "@id": _controller_id(base_url),
                "@type": ["dpv:Recipient", "dpv:DataController"],
                "dpv:hasName": org.controller_name,
                "dct:description": record_text("recipient.controller", locale),
            }
        )
    return result


def _personal_data(purpose: Purpose, text: PurposeText, entry: LedgerEntry, locale: str) -> list[dict[str, Any]]:
    """The personal-data categories (DPV-PD), and for a per-photo decision the one photo it is about."""
    scope = (
        record_text("scope.asset", locale, id=entry.scope_asset_id)
        if entry.scope_asset_id is not None
        else record_text("scope.all", locale)
    )
    items: list[dict[str, Any]] = []
    for code in dpv.personal_data_categories(biometric=purpose.biometric):
        concept = dpv.concept(code)
        item: dict[str, Any] = {
            "@type": "dpv:SpecialCategoryPersonalData" if concept.special_category else "dpv:PersonalData",
            "skos:broader": code,
            "dct:title": concept.label(locale),
        }
        if code == dpv.PICTURE:
            item["dct:description"] = scope
            if entry.scope_asset_id is not None:
                # guide "Personal Data Identifier": which data instance, here the photo's id in the archive.
                item["dct:identifier"] = f"asset:{entry.scope_asset_id}"
        items.append(item)
    if text.data_categories:
        # The categories as the text the person saw names them.
        items[0]["dct:description"] = f"{scope} ({', '.join(text.data_categories)})"
    return items


def _purpose(purpose: Purpose, text: PurposeText) -> dict[str, Any]:
    """The purpose, with its DPV category where the code is a verified one (guide "Purpose")."""
    category = dpv.STANDARD_PURPOSES.get(purpose.code)
    if category is None:
        stored = dpv.REPLACED_CODES.get((purpose.code, purpose.dpv_code), purpose.dpv_code)
        category = stored if dpv.is_known(stored) else None
    item: dict[str, Any] = {
        "@type": "dpv:Purpose",
        "dct:identifier": purpose.code,
        "dct:title": text.title,
        "dct:description": text.body,
    }
    if category:
        item["skos:broader"] = category
    return item


def _rights(org: Organisation, deployment: Deployment, locale: str, conn: Connection) -> list[dict[str, Any]]:
    """The rights and how to use each: the personal page or the contact address; complaints go to the authority."""
    where = [deployment.base_url, f"mailto:{org.contact_email}"]
    notice = notice_for(conn, locale)
    rights: list[dict[str, Any]] = [
        {
            "@type": ["dpv:DataSubjectRight", RIGHT_OF[r.code]],
            "dct:title": r.title,
            "dct:description": r.how,
            "dpv:isExercisedAt": where,
        }
        for r in notice.rights
        if r.code in RIGHT_OF
    ]
    complaint: dict[str, Any] = {
        "@type": ["dpv:DataSubjectRight", COMPLAINT_RIGHT],
        "dct:title": notice_text("authority_title", locale),
        "dct:description": notice.authority,
        "dpv:isExercisedAt": [notice.authority_url] if notice.authority_url else where,
    }
    rights.append(complaint)
    return rights


def _event(entry: LedgerEntry, subject_ref: str, controller_ref: str, purpose: Purpose, locale: str) -> dict[str, Any]:
    """The consent event: its state, type, time, validity and who expressed it (guide "Consent Event Fields")."""
    evidence = entry.evidence_data
    if entry.action in ("expired", "revoked"):
        by: Any = controller_ref
        method = record_text("method.system" if entry.action == "expired" else "method.revoked", locale)
    elif isinstance(evidence.get("guardian"), dict):
        # R15: a guardian acted for the child; the ledger commits to who by a salted hash, and so does the record.
        by = {
            "@type": "dpv:GuardianOfDataSubject",
            "dct:identifier": f"hmac-sha256:{evidence['guardian'].get('hmac', '')}",
            "dct:description": record_text("guardian", locale),
        }
        method = record_text(f"method.{entry.channel}", locale)
    else:
        by = subject_ref
        method = record_text(f"method.{entry.channel}", locale)
    if entry.valid_until is not None:
        duration: dict[str, Any] = {
            "@type": "dpv:UntilTimeDuration",
            "rdf:value": _iso(entry.valid_until),
            "dct:description": record_text("valid_until", locale, date=entry.valid_until.strftime("%Y-%m-%d")),
        }
    else:
        key = "until_renewed" if entry.action in ("expired", "revoked", "withdrawn") else "until_decided"
        duration = {
            "@type": "dpv:UntilEventDuration",
            "rdf:value": "next-decision",
            "dct:description": record_text(key, locale),
        }
    legal = [CONSENT_TYPE, LEGAL_BASIS_SPECIAL] if purpose.biometric else [CONSENT_TYPE]
    event: dict[str, Any] = {
        "@type": STATUS_OF_ACTION[entry.action],
        "dpv:hasLegalBasis": legal,
        "dpv:isIndicatedAtTime": _iso(entry.recorded_at),
        "dpv:isIndicatedBy": by,
        "dpv:hasIndicationMethod": method,
        "dpv:hasDuration": duration,
    }
    if entry.channel in ("paper", "staff", "kiosk"):
        # Staff wrote down what the person (or guardian) expressed: the controller implemented the recording.
        event["dpv:isImplementedByEntity"] = controller_ref
    return event


@dataclass(frozen=True)
class _Shared:
    """What every record of one person shares: read once per export."""

    subject: Subject
    org: Organisation
    deployment: Deployment
    purposes: dict[int, Purpose]
    recipients: list[Recipient]
    archive_days: int | None
    rights: list[dict[str, Any]]
    locale: str


def _shared(conn: Connection, subject_id: str, deployment: Deployment, settings: Settings | None) -> _Shared:
    """Read the person, the organisation, purposes, recipients and rights once."""
    subject = get_subject(conn, subject_id)
    org = get_organisation(conn)
    locale = subject.locale if subject.locale in RECORD_LOCALES else "en"
    stored = list_recipients(conn)
    if settings is not None:
        stored = [*stored, *configured_processors(settings, dialect=conn.dialect.name)]
    return _Shared(
        subject=subject,
        org=org,
        deployment=deployment,
        purposes={p.id: p for p in list_purposes(conn, active_only=False)},
        recipients=stored,
        archive_days=retention_days(conn),
        rights=_rights(org, deployment, locale, conn),
        locale=locale,
    )


def _record(conn: Connection, entry: LedgerEntry, shared: _Shared) -> dict[str, Any]:
    """One ISO/IEC TS 27560 record for one ledger entry."""
    org, deployment, locale = shared.org, shared.deployment, shared.locale
    purpose = shared.purposes[entry.purpose_id]
    text = text_version(conn, entry.purpose_id, entry.text_version, entry.text_locale)
    controller_ref = _controller_id(deployment.base_url)
    # The person asked about: entries of a duplicate merged into them are theirs too (one person, one history).
    subject_ref = f"urn:uuid:{shared.subject.id}"
    subject_types = ["dpv:DataSubject", "dpv:Child"] if shared.subject.is_minor else ["dpv:DataSubject"]
    notice_id = f"urn:portal:notice:{purpose.code}:v{entry.text_version}:{entry.text_locale}"
    notices: list[dict[str, Any]] = [
        {
            "@id": notice_id,
            "@type": "dpv:ConsentNotice",
            # The notice id is the text version; its SHA-256 pins the exact wording shown (the ledger stores it).
            "dct:identifier": f"{purpose.code} v{entry.text_version} {entry.text_locale} sha256:{entry.text_hash}",
            "dct:hasVersion": str(entry.text_version),
            "dct:title": text.title,
            "dct:language": entry.text_locale,
        }
    ]
    if org.policy_url:
        notices.append({"@type": "dpv:PrivacyNotice", "schema:url": org.policy_url})
    processing = [*_BASE_PROCESSING, *PROCESSING_OF.get(purpose.code, ("dpv:Use",))]
    legal_basis = [LEGAL_BASIS, LEGAL_BASIS_SPECIAL] if purpose.biometric else [LEGAL_BASIS]
    process: dict[str, Any] = {
        "@type": "dpv:Process",
        "dpv:hasPurpose": _purpose(purpose, text),
        "dpv:hasPersonalData": _personal_data(purpose, text, entry, locale),
        "dpv:hasProcessing": processing,
        "dpv:hasDataController": controller_ref,
        "dpv:hasLegalBasis": legal_basis,
        "dpv:hasRecipient": _recipients(purpose, text, shared.recipients, org, deployment.base_url, locale),
        "dpv:hasStorageCondition": [
            *_storage_locations(deployment, org, locale),
            _retention(purpose, shared.archive_days, org.controller_name, locale),
        ],
        "dpv:hasConsentControl": {
            "@type": ["dpv:ManageConsent", "dpv:WithdrawConsent"],
            "dpv:isExercisedAt": [deployment.base_url, f"mailto:{org.contact_email}"],
            "dct:description": record_text("withdrawal", locale, email=org.contact_email),
        },
        "dpv:hasJurisdiction": _country(org.country),
        "dpv:hasApplicableLaw": LAW,
        "dpv:hasRight": shared.rights,
    }
    return {
        "@context": CONTEXT,
        "@id": f"urn:uuid:{entry.entry_id}",
        "@type": "dpv:ConsentRecord",
        "dct:conformsTo": SCHEMA_VERSION,
        "dct:identifier": entry.entry_id,
        "dpv:hasIdentifier": f"ledger:{entry.seq}",
        "dct:created": _iso(entry.recorded_at),
        "dct:language": locale,
        "dct:source": GUIDE,
        "dpv:hasDataSubject": {"@id": subject_ref, "@type": subject_types, "dct:identifier": shared.subject.id},
        "dpv:hasDataController": _controller(org, deployment.base_url),
        "dpv:hasAuthority": _authority(org, locale),
        "dpv:hasJurisdiction": _country(org.country),
        "dpv:hasApplicableLaw": LAW,
        "dpv:hasNotice": notices,
        "dpv:hasProcess": process,
        "dpv:hasConsentStatus": _event(entry, subject_ref, controller_ref, purpose, locale),
    }


@dataclass(frozen=True)
class ConsentRecords:
    """One person's ISO/IEC TS 27560 records, one per consent event (ledger entry), oldest first."""

    subject_id: str
    records: tuple[tuple[int, dict[str, Any]], ...]  # (ledger seq, record)
    created: datetime

    def document(self) -> dict[str, Any]:
        """A consent receipt (guide "DPV-27560 Consent Receipts") holding every record, for one JSON-LD file."""
        return self._receipt([{k: v for k, v in r.items() if k != "@context"} for _, r in self.records])

    def index(self) -> dict[str, Any]:
        """The receipt as the export's index: each record by its IRI and the file in the ZIP that holds it."""
        return self._receipt(
            [
                {"@id": r["@id"], "dct:identifier": r["dct:identifier"], "schema:url": self.file(seq)}
                for seq, r in self.records
            ]
        )

    @staticmethod
    def file(seq: int) -> str:
        """The name of one record's file in the export ZIP."""
        return f"iso27560/{seq}.jsonld"

    def _receipt(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """The receipt around `records`."""
        return {
            "@context": CONTEXT,
            "@id": f"urn:portal:consent-records:{self.subject_id}",
            "@type": "dpv:ConsentReceipt",
            "dct:conformsTo": RECEIPT_SCHEMA_VERSION,
            "dct:identifier": f"consent-records-{self.subject_id}",
            "dct:created": _iso(self.created),
            "dpv:hasDataSubject": {"@id": f"urn:uuid:{self.subject_id}", "dct:identifier": self.subject_id},
            "dpv:hasRecordOfActivity": records,
        }


def subject_records(
    conn: Connection,
    *,
    subject_id: str,
    deployment: Deployment,
    now: datetime,
    settings: Settings | None = None,
    entries: Sequence[LedgerEntry] | None = None,
) -> ConsentRecords:
    """Every consent event of one person as a 27560 record (UnknownSubject for an id nobody has).

    `settings` add the processors the configuration implies (Supabase, the SMTP provider) to the recipients;
    `entries` are the person's history when the caller has read it (with those of duplicates merged into them)."""
    shared = _shared(conn, subject_id, deployment, settings)
    history = entries if entries is not None else entries_for_subject(conn, subject_id)
    records = tuple((e.seq, _record(conn, e, shared)) for e in history)
    return ConsentRecords(subject_id=subject_id, records=records, created=now)


def field_values(record: Mapping[str, Any], path: Sequence[str]) -> list[Any]:
    """The values at `path` in a record, walking into every element of a list on the way."""
    found: list[Any] = [record]
    for key in path:
        step: list[Any] = []
        for value in found:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, Mapping) and key in item:
                    step.append(item[key])
        found = step
    return found


def missing_fields(record: Mapping[str, Any]) -> list[str]:
    """The required fields a record lacks or leaves empty (an empty list for a complete record)."""

    def filled(value: Any) -> bool:
        if isinstance(value, list):
            return any(filled(v) for v in value)
        if isinstance(value, Mapping):
            return bool(value)
        return value is not None and str(value).strip() != ""

    return [f.iso_field for f in REQUIRED_FIELDS if not any(filled(v) for v in field_values(record, f.path))]


_COMPACT = re.compile(r"^(dpv|pd|loc|eu-gdpr|dct|schema|skos|rdf):[A-Za-z0-9_-]+$")


def terms(document: Any) -> Iterator[str]:
    """Every vocabulary term a JSON-LD document uses: its prefixed keys, types and IRI values (not `@context`)."""
    if isinstance(document, Mapping):
        for key, value in document.items():
            if key == "@context":
                continue
            if _COMPACT.match(key):
                yield key
            yield from terms(value)
    elif isinstance(document, list):
        for item in document:
            yield from terms(item)
    elif isinstance(document, str) and _COMPACT.match(document):
        yield document
