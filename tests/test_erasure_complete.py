"""Erasure leaves a pseudonymous remainder only: nothing of a person who had everything is left anywhere (Art. 17).

The person is a child with a guardian, a note, a signed paper form, a selfie template (face matching), receipts
(PDF and JSON), a pending welcome e-mail with a live link and a renewal request, and a photo of them that is
published. After the erasure and the daily job, every text column of every table, every blob (PDF text through
pdftotext), and the raw database (SQLite file and WAL; PostgreSQL heap, index and TOAST pages) are searched for their
name, e-mail, guardian and the note (the guardian's verification is a method code that names nobody). Before the
erasure the same search finds them, so the search is shown to see what it looks for.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select, text

from portal.backend.consent import ledger
from portal.backend.consent.services import issue_pending_receipts
from portal.backend.ops.outbox import queue
from portal.backend.ops.services import run_daily_jobs
from portal.backend.people.erasure import ERASED_TABLES
from portal.backend.people.services import erase_subject, register_subject
from portal.backend.photos.analysis import run_worker
from portal.backend.photos.assets import asset_detections, ingest
from portal.backend.photos.face_templates import has_template
from portal.backend.photos.services import link_face, publish_photo
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import asset_uses, metadata, outbox, receipts, subject_private, takedowns
from portal.backend.platform.runtime import Portal
from tests.factories import OPERATOR, make_portal, make_staff
from tests.imagery import group_photo, sample_bytes

NAME = "Zelda Quixmarch"
EMAIL = "zelda.quixmarch@example.org"
GUARDIAN = "Ottoline Farquharsen"
VERIFIED = "staff_checked_id"  # a method code: it names nobody
NOTE = "binder QZ-4471, shelf Marchwood"
NEEDLES = (NAME, EMAIL, GUARDIAN, NOTE)
ADMIN = Actor.staff(1, "admin")
CLERK = Actor.staff(7, "staff")


def _scan_pdf() -> bytes:
    """A signed paper form whose text names the child and the guardian (as a real scan's OCR layer would)."""
    body = f"BT /F1 12 Tf 20 100 Td (Consent form {NAME}, signed by {GUARDIAN}) Tj ET".encode()
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 400 200]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>",
        b"<</Length %d>>stream\n" % len(body) + body + b"\nendstream",
        b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj" % i + obj + b"endobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _found(haystack: str) -> set[str]:
    """Which needles occur in `haystack` (case-insensitive)."""
    low = haystack.casefold()
    return {n for n in NEEDLES if n.casefold() in low}


def _rows_text(db: Database) -> dict[str, set[str]]:
    """Needles found per table, over every column of every row."""
    hits: dict[str, set[str]] = {}
    with db.read() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                for value in row:
                    shown = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    if found := _found(shown):
                        hits.setdefault(table.name, set()).update(found)
    return hits


def _blob_text(portal: Portal) -> dict[str, set[str]]:
    """Needles found per blob: PDFs through pdftotext, everything else as bytes."""
    hits: dict[str, set[str]] = {}
    for key in portal.blobs.list_keys(""):
        data = portal.blobs.get(key)
        shown = data.decode("latin-1")
        if data.startswith(b"%PDF"):
            shown += subprocess.run(
                ["pdftotext", "-q", "-", "-"], input=data, capture_output=True, check=False, timeout=60
            ).stdout.decode("utf-8", "replace")
        if found := _found(shown):
            hits[key] = found
    return hits


def _pg_pages(db: Database) -> Iterable[bytes]:
    """Every page of every table, index and TOAST relation of the test's schema, as stored (dead rows included)."""
    with db.write() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pageinspect SCHEMA public"))
    with db.read() as conn:
        rels = conn.execute(
            text(
                "SELECT c.oid::regclass::text AS name, pg_relation_size(c.oid) / 8192 AS pages FROM pg_class c "
                "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'i', 't') "
                "UNION SELECT t.oid::regclass::text, pg_relation_size(t.oid) / 8192 FROM pg_class c "
                "JOIN pg_class t ON t.oid = c.reltoastrelid WHERE c.relnamespace = current_schema()::regnamespace"
            )
        ).all()
        for rel in rels:
            for page in range(int(rel.pages)):
                yield bytes(
                    conn.execute(text("SELECT public.get_raw_page(:r, :p)"), {"r": rel.name, "p": page}).scalar()
                )


def _raw_hits(db: Database) -> set[str]:
    """Needles in the database's own files: SQLite's file and WAL, or PostgreSQL's pages."""
    if db.dialect == "sqlite":
        path = Path(db.engine.url.database or "")
        blobs = [p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists()]
    else:
        blobs = list(_pg_pages(db))
    found: set[str] = set()
    for data in blobs:
        found |= {n for n in NEEDLES if n.encode() in data}
    return found


@pytest.fixture
def everything(org_db: Database, tmp_path: Path) -> dict:
    """A child who has everything the portal can hold about a person."""
    portal = make_portal(org_db, tmp_path / "blobs", secret_key="s" * 40)
    manager = make_staff(org_db)
    result = register_subject(
        portal,
        actor=CLERK,
        channel="paper",
        name=NAME,
        email=EMAIL,
        is_minor=True,
        guardian_name=GUARDIAN,
        guardian_verification=VERIFIED,
        choices={"website": True, "print": False, "face_matching": True},
        selfie=sample_bytes("grace_hopper"),
        scan=_scan_pdf(),
        signed_on=date.today(),
        note=NOTE,
    )
    sid = result.subject.id
    asset = ingest(
        org_db,
        portal.blobs,
        data=group_photo(["astronaut", "grace_hopper"]),
        filename="festival.jpg",
        max_pixels=portal.settings.max_image_pixels,
    ).asset
    run_worker(org_db, portal.blobs, portal.settings)
    with org_db.read() as conn:
        face = max((d for d in asset_detections(conn, asset.id) if d.kind == "face"), key=lambda d: d.box.x)
    link_face(portal, actor=manager, detection_id=face.id, subject_id=sid)
    publish_photo(
        portal,
        actor=OPERATOR,
        asset_id=asset.id,
        purpose="website",
        where="https://example.org/kids",
        override_reason="the other face is a poster",
    )
    with org_db.write() as conn:
        # A renewal request that names the person in its text, as a mail template would.
        queue(
            conn,
            kind="renewal",
            now=result.entries[0].recorded_at,
            recipient=EMAIL,
            subject_id=sid,
            payload={"purpose": "website", "greeting": f"Dear {GUARDIAN}, about {NAME}"},
        )
    # The receipt's files exist once the person has downloaded it (they are made on demand).
    issue_pending_receipts(portal)
    return {"db": org_db, "portal": portal, "sid": sid, "scan_key": result.scan_key}


def test_erasure_leaves_nothing_of_the_person(everything: dict) -> None:
    db, portal, sid = everything["db"], everything["portal"], everything["sid"]
    # The search sees what it looks for: before the erasure every needle is in the tables, the blobs, the files.
    before_rows = set().union(*_rows_text(db).values())
    before_blobs = _blob_text(portal)
    assert before_rows == set(NEEDLES)
    assert {NAME, GUARDIAN} <= set().union(*before_blobs.values())  # the receipts and the scan
    assert any(k.endswith(".pdf") and k.startswith("receipts/") for k in before_blobs)
    assert {NAME, EMAIL} <= _raw_hits(db)
    # The ledger itself never held the guardian, the verification or the note: HMACs only.
    with db.read() as conn:
        evidence = " ".join(str(e.evidence) for e in ledger.entries_for_subject(conn, sid))
    assert _found(evidence) == set()
    with db.read() as conn:
        assert has_template(conn, sid)

    report = erase_subject(portal, actor=Actor.subject(sid), subject_id=sid)
    assert report.receipts_deleted >= 1 and report.messages_cancelled == 2 and report.scans_deleted == 1
    assert report.images_redacted == 1 and report.takedown_tasks == 1
    run_daily_jobs(portal, actor=ADMIN)

    assert _rows_text(db) == {}
    assert _blob_text(portal) == {}
    assert portal.blobs.list_keys(f"receipts/{sid}/") == [] and portal.blobs.list_keys(f"paper/{sid}/") == []
    # PostgreSQL drops old row versions only once no open transaction (another test's, here) still sees them; the
    # daily job repeats the rewrite for a week after an erasure, as this loop does.
    deadline = time.monotonic() + 60
    while (raw := _raw_hits(db)) and db.dialect == "postgresql" and time.monotonic() < deadline:
        time.sleep(1)
        db.scrub(ERASED_TABLES, full=True)
    assert raw == set()

    with db.read() as conn:
        assert conn.execute(select(subject_private)).all() == []
        assert not has_template(conn, sid)
        assert conn.execute(select(receipts).where(receipts.c.subject_id == sid)).all() == []
        mail = conn.execute(select(outbox).where(outbox.c.subject_id == sid, outbox.c.kind != "takedown")).all()
        task = conn.execute(select(takedowns)).one()
        place = conn.execute(select(asset_uses.c.place).where(asset_uses.c.id == task.use_id)).scalar_one()
    assert {(m.status, m.recipient, m.payload) for m in mail} == {("cancelled", None, "{}")}
    assert (task.cause, task.closed_at) == ("erasure", None)  # staff still take the photo down
    assert place == "https://example.org/kids"
    assert ledger.verify(db).ok
