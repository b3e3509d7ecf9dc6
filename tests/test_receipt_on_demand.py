"""Receipts off the request path: a change leaves a pending row; the first download renders, stores and marks it
issued, later downloads get the same bytes, two racing renders leave one receipt, and the daily jobs render the rest
in batches."""

from __future__ import annotations

import io
import json
import subprocess
import threading
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import delete

from portal.backend.consent.queries import get_receipt, subject_receipts
from portal.backend.consent.receipts import check_receipt
from portal.backend.consent.services import Decision, change_consent, issue_pending_receipts, issue_receipt
from portal.backend.i18n.receipts import RECEIPT_MESSAGES
from portal.backend.people.services import export_subject
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import receipts
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import NotFound
from portal.backend.platform.organisation import get_organisation, save_organisation
from portal.backend.platform.runtime import Portal
from portal.backend.platform.signing import signing_key_for
from portal.backend.reports import receipt as receipt_report
from portal.components.receipts import _file
from tests.factories import MANAGER, make_portal, make_subject


@pytest.fixture
def portal(org_db: Database, tmp_path: Path) -> Portal:
    """Services over a fresh organisation and an empty blob store."""
    return make_portal(org_db, tmp_path / "blobs", secret_key="s" * 40, base_url="https://portal.example")


def _tap(portal: Portal, sid: str, code: str = "website", action: str = "given") -> str:
    """One tap on the personal page; the id of the receipt row it left."""
    change = change_consent(
        portal, actor=Actor.subject(sid), subject_id=sid, decisions=[Decision(code, action)], channel="portal"
    )
    assert change.receipt_id is not None
    return change.receipt_id


def _pdf_text(pdf: bytes, tmp_path: Path) -> str:
    """The PDF's text (pdftotext), whitespace removed."""
    path = tmp_path / "receipt.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["/usr/bin/pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True)
    return "".join(out.stdout.decode("utf-8").split())


def test_first_download_renders_and_every_later_one_gets_the_same_bytes(portal: Portal, tmp_path: Path) -> None:
    sid = make_subject(portal.db, choices={"internal": True}, locale="sv")
    rid = _tap(portal, sid)
    # The change returned without rendering anything: the row is pending and no file exists.
    pending = get_receipt(portal, receipt_id=rid)
    assert pending is not None and pending.state == "pending" and portal.blobs.list_keys("receipts/") == []
    # What the download button runs on the first click: render, store, mark issued, serve.
    pdf = _file(portal, rid, "pdf")()
    issued = get_receipt(portal, receipt_id=rid)
    assert issued is not None and issued.issued and issued.pdf_key and issued.json_key
    assert sorted(portal.blobs.list_keys("receipts/")) == sorted([issued.json_key, issued.pdf_key])
    assert pdf.startswith(b"%PDF") and portal.blobs.get(issued.pdf_key) == pdf
    assert "".join(RECEIPT_MESSAGES["sv"]["title"].split()) in _pdf_text(pdf, tmp_path)
    data = json.loads(_file(portal, rid, "json")())
    with portal.db.read() as conn:
        check = check_receipt(conn, data, signing_key_for(conn).verify_key)
    assert check.ok and check.receipt_id == rid and data["language"] == "sv", check.problem
    # Later clicks serve the stored files: same bytes, no new render, the row unchanged.
    assert _file(portal, rid, "pdf")() == pdf and json.loads(_file(portal, rid, "json")()) == data
    assert get_receipt(portal, receipt_id=rid) == issued


def test_two_renders_racing_leave_one_receipt(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> None:
    sid = make_subject(portal.db, choices={"internal": True})
    rid = _tap(portal, sid)
    both_rendered = threading.Barrier(2, timeout=120)
    render: Callable[..., bytes] = receipt_report.render_receipt_pdf

    def render_then_meet(*args: object, **kw: object) -> bytes:
        pdf = render(*args, **kw)
        both_rendered.wait()  # neither stores nor marks the row before both have rendered their own bytes
        return pdf

    monkeypatch.setattr(receipt_report, "render_receipt_pdf", render_then_meet)
    served: dict[str, bytes] = {}
    errors: list[BaseException] = []

    def download(name: str) -> None:
        try:
            served[name] = _file(portal, rid, "pdf")()
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=download, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors and set(served) == {"a", "b"}
    issued = get_receipt(portal, receipt_id=rid)
    assert issued is not None and issued.issued and issued.pdf_key and issued.json_key
    # Both renders happened, one marked the row, the other dropped its files and served the winner's bytes.
    assert served["a"] == served["b"] == portal.blobs.get(issued.pdf_key)
    assert sorted(portal.blobs.list_keys("receipts/")) == sorted([issued.json_key, issued.pdf_key])


def test_jobs_render_the_rest_in_batches_and_stop_at_failures(portal: Portal) -> None:
    sid = make_subject(portal.db, choices={"internal": True})
    ids = [_tap(portal, sid, action=a) for a in ("given", "withdrawn", "given", "withdrawn", "given")]
    issue_receipt(portal, receipt_id=ids[1])  # one was downloaded already
    assert issue_pending_receipts(portal, batch=2) == 4
    assert [r.state for r in subject_receipts(portal, subject_id=sid)] == ["issued"] * 5
    assert issue_pending_receipts(portal, batch=2) == 0
    # Receipts that cannot be made are marked failed once per run, and the run still ends.
    with portal.db.write() as conn:
        org = get_organisation(conn)
        save_organisation(conn, replace(org, contact_phone=""), now=utcnow())
    more = [_tap(portal, sid, code="print") for _ in range(1)] + [_tap(portal, sid, code="print", action="withdrawn")]
    assert issue_pending_receipts(portal, batch=1) == 0
    assert [get_receipt(portal, receipt_id=r).state for r in more] == ["failed", "failed"]  # type: ignore[union-attr]
    with portal.db.write() as conn:
        save_organisation(conn, org, now=utcnow())
    assert issue_pending_receipts(portal, limit=1) == 1  # at most `limit` per call
    assert issue_pending_receipts(portal) == 1


def test_a_receipt_erased_while_rendering_leaves_no_files(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> None:
    sid = make_subject(portal.db, choices={"internal": True})
    rid = _tap(portal, sid)
    render: Callable[..., bytes] = receipt_report.render_receipt_pdf

    def render_during_erasure(*args: object, **kw: object) -> bytes:
        pdf = render(*args, **kw)
        with portal.db.write() as conn:  # the person is erased while the PDF is being made
            conn.execute(delete(receipts).where(receipts.c.id == rid))
        return pdf

    monkeypatch.setattr(receipt_report, "render_receipt_pdf", render_during_erasure)
    with pytest.raises(NotFound):
        issue_receipt(portal, receipt_id=rid)
    assert portal.blobs.list_keys("receipts/") == []


def test_the_export_holds_a_receipt_nobody_downloaded_yet(portal: Portal) -> None:
    sid = make_subject(portal.db, choices={"internal": True})
    rid = _tap(portal, sid)
    names = zipfile.ZipFile(io.BytesIO(export_subject(portal, actor=MANAGER, subject_id=sid))).namelist()
    issued = get_receipt(portal, receipt_id=rid)
    assert issued is not None and issued.issued and {issued.json_key, issued.pdf_key} <= set(names)
