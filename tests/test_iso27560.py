"""ISO/IEC TS 27560 consent records (JSON-LD, W3C DPV) in the export ZIP and on the CLI, on both databases."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from portal.backend.consent import iso27560
from portal.backend.consent.iso27560 import (
    CONTEXT,
    REQUIRED_FIELDS,
    SCHEMA_VERSION,
    STATUS_OF_ACTION,
    Deployment,
    known_term,
    missing_fields,
    subject_records,
    terms,
)
from portal.backend.consent.ledger import entries_for_subject
from portal.backend.consent.records import Context, Decision
from portal.backend.i18n.records import record_text
from portal.backend.ops.jobs import expire_lapsed
from portal.backend.people.services import consent_records, erase_subject, export_subject
from portal.backend.photos.assets import ingest
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import audit_log
from portal.backend.platform.errors import ConsentStateError
from portal.backend.platform.runtime import Portal
from tests.factories import MANAGER, make_portal, make_subject, record_consent
from tests.imagery import group_photo

T0 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
PERSON = Context(channel="portal", actor="subject", evidence={"act": "personal_page"})
STAFF = Context(channel="staff", actor="staff:test", evidence={"act": "staff_entry"})
GUARDIAN = "Petra Parentsdottir"


def _zip_records(data: bytes) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The per-event records of an export ZIP by file name, and its index."""
    with zipfile.ZipFile(BytesIO(data)) as zf:
        names = [n for n in zf.namelist() if n.startswith("iso27560/")]
        docs = {n: json.loads(zf.read(n)) for n in names}
    index = docs.pop("iso27560/index.jsonld")
    return docs, index


@pytest.fixture
def lifecycle(org_db: Database, tmp_path: Path) -> dict[str, Any]:
    """Anna (English) with given, refused, withdrawn, revoked, expired and renewed consents and a per-photo veto."""
    portal = make_portal(org_db, tmp_path / "blobs")
    asset = ingest(
        org_db,
        portal.blobs,
        data=group_photo(["astronaut"]),
        filename="one.jpg",
        max_pixels=portal.settings.max_image_pixels,
        now=T0,
    ).asset
    anna = make_subject(
        org_db,
        name="Anna Lindqvist",
        email="anna@example.org",
        choices={"internal": True, "website": True, "print": True, "social_media": False, "face_matching": False},
        context=Context(channel="qr_form", actor="subject", evidence={"act": "form"}),
        now=T0,
    )
    day = timedelta(days=1)
    record_consent(org_db, subject_id=anna, decisions=[Decision("website", "withdrawn")], context=PERSON, now=T0 + day)
    record_consent(
        org_db,
        subject_id=anna,
        decisions=[Decision("internal", "refused", asset_id=asset.id)],
        context=PERSON,
        now=T0 + day,
    )
    record_consent(org_db, subject_id=anna, decisions=[Decision("print", "revoked")], context=STAFF, now=T0 + 2 * day)
    with org_db.write() as conn:
        expired = expire_lapsed(conn, now=T0 + 400 * day)
    assert expired == 1  # internal: given for the organisation's 365 days
    record_consent(
        org_db, subject_id=anna, decisions=[Decision("internal", "renewed")], context=PERSON, now=T0 + 401 * day
    )
    return {"db": org_db, "portal": portal, "anna": anna, "asset": asset.id, "now": T0 + 402 * day}


def test_every_record_in_the_export_holds_every_required_field(lifecycle: dict[str, Any]) -> None:
    db, portal, anna = lifecycle["db"], lifecycle["portal"], lifecycle["anna"]
    data = export_subject(portal, actor=MANAGER, subject_id=anna, now=lifecycle["now"])
    records, index = _zip_records(data)
    with db.read() as conn:
        ledger = entries_for_subject(conn, anna)
    # One record per consent event, named by its ledger sequence number, listed in the index.
    assert sorted(records) == sorted(f"iso27560/{e.seq}.jsonld" for e in ledger)
    assert [r["schema:url"] for r in index["dpv:hasRecordOfActivity"]] == [f"iso27560/{e.seq}.jsonld" for e in ledger]
    assert index["@type"] == "dpv:ConsentReceipt" and index["dpv:hasDataSubject"]["dct:identifier"] == anna
    by_entry = {e.entry_id: e for e in ledger}
    states = set()
    for name, record in records.items():
        assert missing_fields(record) == [], name
        unknown = sorted({t for t in terms(record) if not known_term(t)})
        assert unknown == [], name
        assert record["@context"] == CONTEXT and record["@type"] == "dpv:ConsentRecord"
        assert record["dct:conformsTo"] == SCHEMA_VERSION
        entry = by_entry[record["dct:identifier"]]
        assert record["dpv:hasConsentStatus"]["@type"] == STATUS_OF_ACTION[entry.action]
        assert record["dpv:hasNotice"][0]["dct:identifier"].endswith(f"sha256:{entry.text_hash}")
        assert record["dpv:hasDataSubject"]["dct:identifier"] == anna
        states.add(record["dpv:hasConsentStatus"]["@type"])
        # Pseudonymous: neither the name nor the e-mail address is in any record.
        text = json.dumps(record, ensure_ascii=False)
        assert "Anna" not in text and "anna@example.org" not in text
    assert states == {
        "dpv:ConsentGiven",
        "dpv:ConsentRefused",
        "dpv:ConsentWithdrawn",
        "dpv:ConsentRevoked",
        "dpv:ConsentExpired",
        "dpv:RenewedConsentGiven",
    }
    # The per-photo veto names the one photo; the general consents do not.
    scoped = [r for r in records.values() if by_entry[r["dct:identifier"]].scope_asset_id is not None]
    assert len(scoped) == 1
    picture = scoped[0]["dpv:hasProcess"]["dpv:hasPersonalData"][0]
    assert picture["skos:broader"] == "pd:Picture" and picture["dct:identifier"] == f"asset:{lifecycle['asset']}"
    # Face matching is biometric: special-category data on explicit consent (Art. 9(2)(a)), even when refused.
    face = next(
        r for r in records.values() if r["dpv:hasProcess"]["dpv:hasPurpose"]["dct:identifier"] == "face_matching"
    )
    assert face["dpv:hasProcess"]["dpv:hasLegalBasis"] == ["eu-gdpr:A6-1-a", "eu-gdpr:A9-2-a"]
    assert "pd:FacialPrint" in iso27560.field_values(face, ("dpv:hasProcess", "dpv:hasPersonalData", "skos:broader"))
    # The expiry and the revocation are the organisation's acts; the rest the person's.
    for record in records.values():
        action = by_entry[record["dct:identifier"]].action
        by = record["dpv:hasConsentStatus"]["dpv:isIndicatedBy"]
        assert by == (
            record["dpv:hasDataController"]["@id"] if action in ("expired", "revoked") else f"urn:uuid:{anna}"
        )
    # Storage names where this database keeps the data, in the organisation's country.
    kind = "dpv:LocalLocation" if db.url.startswith("sqlite") else "dpv:RemoteLocation"
    first = next(iter(records.values()))
    assert [kind, "loc:SE"] in iso27560.field_values(
        first, ("dpv:hasProcess", "dpv:hasStorageCondition", "dpv:hasLocation")
    )


def test_the_field_check_catches_a_missing_field(lifecycle: dict[str, Any]) -> None:
    with lifecycle["db"].read() as conn:
        records = subject_records(
            conn,
            subject_id=lifecycle["anna"],
            deployment=Deployment("sqlite", "local", "", "https://portal.example"),
            now=lifecycle["now"],
        )
    record = json.loads(json.dumps(records.records[0][1]))
    assert missing_fields(record) == []
    record["dpv:hasProcess"]["dpv:hasRecipient"] = []
    del record["dpv:hasConsentStatus"]["dpv:isIndicatedBy"]
    record["dpv:hasNotice"][0]["dct:language"] = " "
    assert missing_fields(record) == [
        "language (6.3.4.2)",
        "recipient_third_parties (6.3.4.17)",
        "entity_id (6.3.7.3)",
    ]
    assert not known_term("dpv:ConsentTerminated") and not known_term("dpv:ThirdPartySharing")
    # The list covers every field the issue names, each with its place in the guide.
    names = " ".join(f.iso_field for f in REQUIRED_FIELDS)
    for field in (
        "schema_version",
        "record_id",
        "privacy_notice",
        "pii_principal_id",
        "party_id",
        "party_role",
        "purpose",
        "pii_type",
        "processing_method",
        "lawful_basis",
        "recipient_third_parties",
        "storage_locations",
        "retention_period",
        "validity_duration",
        "event_type",
        "event_state",
        "jurisdiction",
        "authority_party",
        "privacy_rights",
        "withdrawal_method",
        "entity_id",
    ):
        assert field in names
    assert all(f.guide_section and f.path for f in REQUIRED_FIELDS)


def test_hosted_storage_is_the_cloud_in_the_hosting_country(lifecycle: dict[str, Any]) -> None:
    with lifecycle["db"].read() as conn:
        records = subject_records(
            conn,
            subject_id=lifecycle["anna"],
            deployment=Deployment("supabase", "supabase", "DE", "https://portal.example"),
            now=lifecycle["now"],
        )
    record = records.records[0][1]
    places = iso27560.field_values(record, ("dpv:hasProcess", "dpv:hasStorageCondition", "dpv:hasLocation"))
    assert places == [["dpv:CloudLocation", "loc:DE"], ["dpv:CloudLocation", "loc:DE"]]
    assert record["dpv:hasProcess"]["dpv:hasConsentControl"]["dpv:isExercisedAt"][0] == "https://portal.example"


def test_a_childs_records_show_the_guardian_by_hash_only(org_db: Database, tmp_path: Path) -> None:
    portal = make_portal(org_db, tmp_path / "blobs")
    kid = make_subject(
        org_db,
        name="Kim Child",
        choices={"internal": True, "website": False},
        is_minor=True,
        guardian_name=GUARDIAN,
        guardian_verification="staff_checked_id",
        context=STAFF,
        now=T0,
    )
    records, _ = _zip_records(export_subject(portal, actor=MANAGER, subject_id=kid, now=T0 + timedelta(hours=1)))
    assert len(records) == 2
    for record in records.values():
        assert missing_fields(record) == []
        assert record["dpv:hasDataSubject"]["@type"] == ["dpv:DataSubject", "dpv:Child"]
        by = record["dpv:hasConsentStatus"]["dpv:isIndicatedBy"]
        assert by["@type"] == "dpv:GuardianOfDataSubject"
        assert by["dct:identifier"].startswith("hmac-sha256:") and len(by["dct:identifier"]) > len("hmac-sha256:") + 32
        # Staff entered what the guardian said: the controller implemented the recording.
        assert record["dpv:hasConsentStatus"]["dpv:isImplementedByEntity"] == record["dpv:hasDataController"]["@id"]
        assert GUARDIAN not in json.dumps(record, ensure_ascii=False)


def test_a_swedish_persons_records_are_in_swedish(org_db: Database, tmp_path: Path) -> None:
    portal = make_portal(org_db, tmp_path / "blobs")
    sven = make_subject(org_db, name="Sven Svensson", choices={"website": True}, locale="sv", context=STAFF, now=T0)
    records, _ = _zip_records(export_subject(portal, actor=MANAGER, subject_id=sven, now=T0 + timedelta(hours=1)))
    (record,) = records.values()
    assert missing_fields(record) == []
    assert record["dct:language"] == "sv" and record["dpv:hasNotice"][0]["dct:language"] == "sv"
    assert record["dpv:hasProcess"]["dpv:hasPurpose"]["dct:title"] == "Vår webbplats"
    event = record["dpv:hasConsentStatus"]
    assert event["dpv:hasIndicationMethod"] == record_text("method.staff", "sv") != record_text("method.staff", "en")
    assert event["dpv:hasDuration"]["dct:description"].startswith("Gäller till ")
    titles = [r["dct:title"] for r in record["dpv:hasProcess"]["dpv:hasRight"]]
    assert "Återkalla ditt samtycke (artikel 7.3)" in titles
    withdraw = record["dpv:hasProcess"]["dpv:hasConsentControl"]["dct:description"]
    assert withdraw == record_text("withdrawal", "sv", email="privacy@nordlys.example")


def test_the_cli_prints_the_records_of_the_export(lifecycle: dict[str, Any], tmp_path: Path) -> None:
    from tests.test_cli import cli

    db, portal, anna = lifecycle["db"], lifecycle["portal"], lifecycle["anna"]
    records, _ = _zip_records(export_subject(portal, actor=MANAGER, subject_id=anna, now=lifecycle["now"]))
    printed = cli(db.url, "subjects", "record", anna, "--format", "iso27560")
    assert printed.returncode == 0, printed.stderr
    document = json.loads(printed.stdout)
    assert document["@context"] == CONTEXT and document["@type"] == "dpv:ConsentReceipt"
    expected = sorted(records.items(), key=lambda item: int(item[0].split("/")[1].split(".")[0]))
    assert document["dpv:hasRecordOfActivity"] == [{k: v for k, v in r.items() if k != "@context"} for _, r in expected]
    out = tmp_path / "anna.jsonld"
    written = cli(db.url, "subjects", "record", anna, "--out", str(out))
    assert written.returncode == 0 and f"{len(expected)} record(s)" in written.stdout
    assert json.loads(out.read_text())["dpv:hasRecordOfActivity"] == document["dpv:hasRecordOfActivity"]
    with db.read() as conn:
        reads = conn.execute(select(audit_log).where(audit_log.c.action == "view_consent_records")).all()
    assert len(reads) == 2 and {r.target_id for r in reads} == {anna}
    wrong = cli(db.url, "subjects", "record", anna, "--format", "kantara")
    assert wrong.returncode != 0 and "invalid choice" in wrong.stderr


def test_an_erased_person_has_no_export_but_pseudonymous_records(lifecycle: dict[str, Any]) -> None:
    portal: Portal = lifecycle["portal"]
    anna = lifecycle["anna"]
    erase_subject(portal, actor=MANAGER, subject_id=anna, now=lifecycle["now"])
    with pytest.raises(ConsentStateError, match="erased"):
        export_subject(portal, actor=MANAGER, subject_id=anna, now=lifecycle["now"])
    document = consent_records(portal, actor=MANAGER, subject_id=anna, now=lifecycle["now"])
    records = document["dpv:hasRecordOfActivity"]
    # Erasure withdrew what was still given: its withdrawals are records too.
    assert records[-1]["dpv:hasConsentStatus"]["@type"] == "dpv:ConsentWithdrawn"
    assert all(missing_fields({**r, "@context": CONTEXT}) == [] for r in records)
    assert "Anna" not in json.dumps(document, ensure_ascii=False)
