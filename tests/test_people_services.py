"""The people and consent services on both databases: one transaction per action, with everything it implies."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from portal.backend.consent.queries import get_receipt, receipt_file, subject_receipts
from portal.backend.consent.services import (
    Decision,
    change_consent,
    issue_pending_receipts,
    issue_receipt,
    withdraw_everything,
)
from portal.backend.people import services as people_services
from portal.backend.people.services import create_personal_link, register_subject, view_subject
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import (
    audit_log,
    consent_ledger,
    outbox,
    receipts,
    subject_links,
    subject_templates,
    subjects,
)
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import AuthError, ReceiptNotReady, ValidationError
from portal.backend.platform.organisation import get_organisation, save_organisation
from portal.backend.platform.runtime import Portal
from tests.factories import MANAGER, OPERATOR, make_portal, make_subject
from tests.imagery import sample_bytes

TABLES = (subjects, consent_ledger, subject_templates, subject_links, receipts, outbox, audit_log)


@pytest.fixture
def portal(org_db: Database, tmp_path: Path) -> Portal:
    """Services over a fresh organisation and an empty blob store."""
    return make_portal(org_db, tmp_path / "blobs", secret_key="s" * 40, base_url="https://portal.example")


def _counts(portal: Portal) -> dict[str, int]:
    """Rows per table the registration writes to, and the stored blobs."""
    with portal.db.read() as conn:
        counts = {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in TABLES}
    return counts | {"blobs": len(portal.blobs.list_keys(""))}


def _blank_jpeg() -> bytes:
    """A photo with no face in it."""
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (90, 120, 150)).save(out, format="JPEG")
    return out.getvalue()


def _register(portal: Portal, **kw: Any) -> people_services.RegistrationResult:
    """A registration from the event form, as the person sends it."""
    args: dict[str, Any] = {
        "actor": Actor(kind="subject"),
        "channel": "qr_form",
        "name": "Grace Hopper",
        "choices": {"internal": True, "face_matching": True},
        "email": "grace@example.org",
        "locale": "sv",
    }
    return register_subject(portal, **(args | kw))


def test_registration_writes_everything_in_one_go(portal: Portal) -> None:
    result = _register(portal, selfie=sample_bytes("grace_hopper"), submission_id="form-0001-abcd")
    assert result.template_enrolled and result.emailed and not result.replayed
    assert result.link_url and result.link_url.startswith("https://portal.example/?link=")
    counts = _counts(portal)
    assert {k: counts[k] for k in ("subjects", "consent_ledger", "subject_templates", "subject_links", "receipts")} == {
        "subjects": 1,
        "consent_ledger": 2,
        "subject_templates": 1,
        # The link on the screen, and the welcome e-mail's own link (opening that one confirms the address).
        "subject_links": 2,
        "receipts": 1,
    }
    assert counts["audit_log"] == 0  # the person acted themselves: nothing for the staff audit log
    with portal.db.read() as conn:
        mail = conn.execute(select(outbox)).one()
    # The welcome e-mail goes to this person, in their language, with their own link.
    assert (mail.recipient, mail.dedupe_key) == ("grace@example.org", f"welcome:{result.subject.id}")
    payload = json.loads(mail.payload)
    assert result.link_url not in payload["body"] and "?link=" in payload["body"]
    assert payload["subject"] != "My consents"
    receipt = get_receipt(portal, receipt_id=result.receipt_id or "")
    # The row is written with the registration; its files are made on the first download, off the request path.
    assert receipt is not None and receipt.state == "pending" and receipt.summary == "given" and receipt.locale == "sv"
    receipt = issue_receipt(portal, receipt_id=receipt.id)
    assert receipt_file(portal, receipt=receipt, kind="pdf").startswith(b"%PDF")
    # A double submit answers with the first registration and writes nothing.
    before = _counts(portal)
    again = _register(portal, selfie=sample_bytes("grace_hopper"), submission_id="form-0001-abcd")
    assert again.replayed and again.subject.id == result.subject.id and again.receipt_id == result.receipt_id
    assert again.template_enrolled and _counts(portal) == before


def test_a_selfie_without_a_face_writes_nothing(portal: Portal) -> None:
    before = _counts(portal)
    with pytest.raises(ValidationError, match="No face was found"):
        _register(portal, selfie=_blank_jpeg())
    assert _counts(portal) == before


def test_face_matching_on_the_form_needs_the_selfie(portal: Portal) -> None:
    before = _counts(portal)
    with pytest.raises(ValidationError, match="needs a selfie"):
        _register(portal)
    assert _counts(portal) == before


def test_a_failure_after_the_template_leaves_no_template_and_no_consent(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kw: object) -> str:
        raise RuntimeError("disk full while writing the receipt row")

    # The receipt row is written after the template, in the same transaction: its failure must undo both.
    monkeypatch.setattr(people_services._receipts, "add_receipt", broken)
    before = _counts(portal)
    with pytest.raises(RuntimeError, match="disk full"):
        _register(portal, selfie=sample_bytes("grace_hopper"))
    assert _counts(portal) == before


def test_an_unknown_purpose_leaves_no_template(portal: Portal) -> None:
    before = _counts(portal)
    with pytest.raises(Exception, match="Unknown purpose"):
        _register(portal, selfie=sample_bytes("grace_hopper"), choices={"face_matching": True, "billboards": True})
    assert _counts(portal) == before


def test_kiosk_registration_names_the_staff_member_and_is_audited(portal: Portal) -> None:
    result = _register(portal, actor=Actor.kiosk(7), channel="kiosk", choices={"internal": True}, email=None)
    assert {e.actor for e in result.entries} == {"subject"}  # the person still acts themselves
    assert result.entries[0].evidence_data["kiosk_staff_id"] == 7
    with portal.db.read() as conn:
        row = conn.execute(select(audit_log)).one()
    assert (row.actor, row.action, row.target_id) == ("staff:7", "register_subject", result.subject.id)
    assert not result.emailed and _counts(portal)["outbox"] == 0


def test_a_person_cannot_register_on_a_staff_channel(portal: Portal) -> None:
    with pytest.raises(ValidationError, match="channel qr_form"):
        _register(portal, channel="paper")


def test_withdraw_everything_issues_a_receipt(portal: Portal) -> None:
    sid = make_subject(portal.db, choices={"internal": True, "website": True, "print": False})
    change = withdraw_everything(portal, actor=Actor.subject(sid), subject_id=sid, channel="portal")
    assert sorted(e.action for e in change.entries) == ["withdrawn", "withdrawn"]
    assert change.receipt_id is not None
    receipt = get_receipt(portal, receipt_id=change.receipt_id)
    assert receipt is not None and receipt.state == "pending" and receipt.summary == "withdrawn"
    receipt = issue_receipt(portal, receipt_id=change.receipt_id)
    assert receipt.entry_seqs == tuple(sorted(e.seq for e in change.entries))
    pdf = receipt_file(portal, receipt=receipt, kind="pdf")
    data = json.loads(receipt_file(portal, receipt=receipt, kind="json"))
    assert pdf.startswith(b"%PDF") and data["consentReceiptID"] == change.receipt_id
    assert [r.id for r in subject_receipts(portal, subject_id=sid)] == [change.receipt_id]


def test_a_person_changes_only_their_own_consents(portal: Portal) -> None:
    mine = make_subject(portal.db, choices={"internal": True})
    other = make_subject(portal.db, name="Other Person", choices={"internal": True})
    with pytest.raises(AuthError):
        change_consent(
            portal,
            actor=Actor.subject(mine),
            subject_id=other,
            decisions=[Decision("internal", "withdrawn")],
            channel="portal",
        )


def test_staff_consent_change_is_audited_with_its_receipt(portal: Portal) -> None:
    sid = make_subject(portal.db, choices={"internal": True})
    change = change_consent(
        portal, actor=OPERATOR, subject_id=sid, decisions=[Decision("website", "given")], channel="staff"
    )
    with portal.db.read() as conn:
        row = conn.execute(select(audit_log)).one()
        rec = conn.execute(select(receipts)).one()
    assert (row.actor, row.action, row.target_id) == ("operator:tester", "change_consent", sid)
    assert (rec.id, rec.actor, rec.channel, rec.state) == (change.receipt_id, "operator:tester", "staff", "pending")


def test_personal_link_and_its_audit_row_are_one_transaction(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> None:
    sid = make_subject(portal.db)
    url = create_personal_link(portal, actor=MANAGER, subject_id=sid)
    with portal.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(subject_links)).scalar_one() == 1
        row = conn.execute(select(audit_log)).one()
    assert (row.actor, row.action, row.target_id) == ("staff:1", "create_personal_link", sid) and "?link=" in url

    def broken(*args: object, **kw: object) -> None:
        raise RuntimeError("audit log unavailable")

    # No link without its audit row: a failing audit write takes the link row with it.
    monkeypatch.setattr(people_services, "audit", broken)
    before = _counts(portal)
    with pytest.raises(RuntimeError):
        create_personal_link(portal, actor=MANAGER, subject_id=sid)
    assert _counts(portal) == before


def test_a_person_may_not_view_or_link_as_staff(portal: Portal) -> None:
    sid = make_subject(portal.db)
    with pytest.raises(AuthError):
        view_subject(portal, actor=Actor.subject(sid), subject_id=sid)
    with pytest.raises(AuthError):
        view_subject(portal, actor=Actor.staff(2, "staff"), subject_id=sid)


def test_view_subject_is_audited(portal: Portal) -> None:
    sid = make_subject(portal.db, name="Viewed Person", choices={"internal": True, "website": False})
    change_consent(portal, actor=MANAGER, subject_id=sid, decisions=[Decision("print", "given")], channel="staff")
    detail = view_subject(portal, actor=MANAGER, subject_id=sid)
    assert detail.subject.display_name == "Viewed Person"
    assert [h.purpose_code for h in detail.history] == ["internal", "website", "print"]
    assert len(detail.receipts) == 1 and detail.receipts[0].summary == "given"
    with portal.db.read() as conn:
        actions = conn.execute(select(audit_log.c.action, audit_log.c.actor).order_by(audit_log.c.id)).all()
    assert [tuple(a) for a in actions] == [("change_consent", "staff:1"), ("view_subject", "staff:1")]


def test_pending_receipt_is_issued_by_the_jobs(portal: Portal) -> None:
    sid = make_subject(portal.db, choices={"internal": True})
    # The change commits its receipt row only (durable): no file exists until a download or the jobs make it.
    change = change_consent(
        portal, actor=Actor.subject(sid), subject_id=sid, decisions=[Decision("website", "given")], channel="portal"
    )
    assert change.receipt_id is not None
    pending = get_receipt(portal, receipt_id=change.receipt_id)
    assert pending is not None and pending.state == "pending" and portal.blobs.list_keys("receipts/") == []
    assert issue_pending_receipts(portal) == 1
    issued = get_receipt(portal, receipt_id=change.receipt_id)
    assert issued is not None and issued.issued and issued.issued_at is not None
    assert sorted(portal.blobs.list_keys("receipts/")) == [issued.json_key, issued.pdf_key]
    assert issue_pending_receipts(portal) == 0  # nothing left to do


def test_receipt_that_cannot_be_made_is_marked_failed_and_retried(portal: Portal) -> None:
    with portal.db.write() as conn:
        org = get_organisation(conn)
        save_organisation(conn, replace(org, contact_phone=""), now=utcnow())
    sid = make_subject(portal.db, choices={"internal": True})
    change = withdraw_everything(portal, actor=MANAGER, subject_id=sid, channel="staff")
    with pytest.raises(ReceiptNotReady, match="phone"):
        issue_receipt(portal, receipt_id=change.receipt_id or "")
    failed = get_receipt(portal, receipt_id=change.receipt_id or "")
    # The withdrawal stands; the receipt says why it is missing.
    assert failed is not None and failed.state == "failed" and "phone" in (failed.error or "")
    assert len(change.entries) == 1
    with portal.db.write() as conn:
        save_organisation(conn, org, now=utcnow())
    assert issue_pending_receipts(portal) == 1
    assert get_receipt(portal, receipt_id=change.receipt_id or "").issued  # type: ignore[union-attr]
