"""`ledger verify` from a signed checkpoint, on both databases: it recomputes only the entries after the checkpoint,
a change after it is caught, a change before it is caught by `--full` (and the incremental run says where it
started), and a checkpoint forged or edited in the database is refused loudly."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update

from portal.backend.consent import ledger
from portal.backend.consent.records import Decision
from portal.backend.platform import signing
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import consent_ledger, ledger_checkpoints
from portal.backend.platform.db.types import utcnow
from tests.conftest import TEST_LEDGER_KEY
from tests.factories import STAFF, record_consent
from tests.test_ledger_tamper import _drop_guards, _fill, _rehash_from

KEY = signing.SigningKey(Ed25519PrivateKey.from_private_bytes(base64.b64decode(TEST_LEDGER_KEY)))
VERIFY_KEY = KEY.verify_key


def _checkpoint(db: Database) -> ledger.Checkpoint:
    """A full verify, then its signed checkpoint (as `ledger verify` records it)."""
    report = ledger.verify(db, key=VERIFY_KEY)
    assert report.ok and report.start_seq == 1
    with db.write() as conn:
        checkpoint = ledger.record_checkpoint(conn, KEY, report, now=utcnow())
    assert checkpoint is not None and checkpoint.seq == report.head.seq  # type: ignore[union-attr]
    return checkpoint


def _more(db: Database, subject_ids: list[str]) -> None:
    """Two more transactions after the checkpoint: a renewal and a withdrawal."""
    record_consent(db, subject_id=subject_ids[0], decisions=[Decision("website", "given")], context=STAFF)
    record_consent(db, subject_id=subject_ids[1], decisions=[Decision("internal", "withdrawn")], context=STAFF)


def _incremental(db: Database) -> ledger.VerifyReport:
    return ledger.verify(db, key=VERIFY_KEY, from_checkpoint=True)


def _tamper(db: Database, seq: int) -> None:
    """Put another actor on entry `seq` without touching its hashes (the simple edit)."""
    _drop_guards(db, "consent_ledger")
    with db.write() as conn:
        conn.execute(update(consent_ledger).where(consent_ledger.c.seq == seq).values(actor="subject:forged"))


def test_incremental_verify_recomputes_only_the_entries_after_the_checkpoint(org_db: Database) -> None:
    ids = _fill(org_db)
    checkpoint = _checkpoint(org_db)
    assert checkpoint.seq == 12 and checkpoint.verifies(VERIFY_KEY)
    _more(org_db, ids)
    report = _incremental(org_db)
    assert report.ok, report.problem
    assert report.checkpoint == checkpoint and report.start_seq == 13 and report.checked == 2
    assert report.head is not None and report.head.seq == 14 and report.signatures_checked
    # Nothing after it: still intact, nothing recomputed; the full check recomputes all 14.
    with org_db.write() as conn:
        ledger.record_checkpoint(conn, KEY, report, now=utcnow())
    again = _incremental(org_db)
    assert again.ok and again.start_seq == 15 and again.checked == 0 and again.head.seq == 14  # type: ignore[union-attr]
    full = ledger.verify(org_db, key=VERIFY_KEY)
    assert full.ok and full.checked == 14 and full.start_seq == 1 and full.checkpoint is None


def test_a_change_after_the_checkpoint_is_caught_by_the_incremental_verify(org_db: Database) -> None:
    ids = _fill(org_db)
    _checkpoint(org_db)
    _more(org_db, ids)
    _tamper(org_db, 14)
    report = _incremental(org_db)
    assert not report.ok and report.first_bad_seq == 14 and "does not match its hash" in (report.problem or "")


def test_a_change_before_the_checkpoint_is_caught_by_the_full_verify_only(org_db: Database) -> None:
    ids = _fill(org_db)
    _checkpoint(org_db)
    _more(org_db, ids)
    _tamper(org_db, 4)
    # The incremental run says where it started: entry 4 lies inside what the checkpoint vouches for.
    incremental = _incremental(org_db)
    assert incremental.ok and incremental.start_seq == 13 and incremental.checkpoint is not None
    full = ledger.verify(org_db, key=VERIFY_KEY)
    assert not full.ok and full.first_bad_seq == 4


def test_a_rewrite_before_the_checkpoint_that_re_hashes_the_chain_is_caught_by_the_incremental_verify(
    org_db: Database,
) -> None:
    ids = _fill(org_db)
    _checkpoint(org_db)
    _more(org_db, ids)
    _tamper(org_db, 4)
    _rehash_from(org_db, 4)
    report = _incremental(org_db)
    assert not report.ok and "entry 12 is no longer the entry verified" in (report.problem or "")


@pytest.mark.parametrize("edit", ["seq", "signature", "forged"])
def test_a_checkpoint_changed_in_the_database_is_refused(org_db: Database, edit: str) -> None:
    ids = _fill(org_db)
    checkpoint = _checkpoint(org_db)
    _more(org_db, ids)
    _tamper(org_db, 13)  # what the attacker wants the verify to skip
    with org_db.write() as conn:
        if edit == "seq":  # moved forward over the changed entry, keeping the old signature
            row = conn.execute(select(consent_ledger).where(consent_ledger.c.seq == 14)).one()
            conn.execute(update(ledger_checkpoints).values(seq=14, entry_hash=row.entry_hash))
        elif edit == "signature":
            conn.execute(update(ledger_checkpoints).values(signature=base64.b64encode(b"\0" * 64).decode()))
        else:  # signed, but by a key of the attacker's own with the portal's key id written beside it
            report = ledger.verify(org_db, key=VERIFY_KEY)
            assert not report.ok  # the attacker's own full check sees the change too; they sign anyway
            own = signing.SigningKey(Ed25519PrivateKey.generate())
            bogus = ledger.Checkpoint(14, "0" * 64, checkpoint.head_digest, VERIFY_KEY.key_id, utcnow(), "")
            conn.execute(
                ledger_checkpoints.insert().values(
                    seq=14,
                    entry_hash=bogus.entry_hash,
                    head_digest=bogus.head_digest,
                    key_id=bogus.key_id,
                    verified_at=bogus.verified_at,
                    signature=own.sign(bogus.message()),
                )
            )
    report = _incremental(org_db)
    assert not report.ok and report.checked == 0
    assert "not signed by the ledger key" in (report.problem or "") and "--full" in (report.problem or "")
    full = ledger.verify(org_db, key=VERIFY_KEY)
    assert not full.ok and full.first_bad_seq == 13


def test_without_a_key_the_checkpoint_is_not_trusted(org_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _fill(org_db)
    _checkpoint(org_db)
    _more(org_db, ids)
    _tamper(org_db, 4)
    monkeypatch.setattr(signing, "verify_key_for", lambda conn: None)
    report = ledger.verify(org_db, from_checkpoint=True)
    assert not report.ok and report.first_bad_seq == 4 and report.start_seq == 1 and not report.signatures_checked


def test_a_signed_head_cannot_pass_for_a_checkpoint(org_db: Database) -> None:
    _fill(org_db)
    checkpoint = _checkpoint(org_db)
    with org_db.read() as conn:
        head = ledger.latest_signed_head(conn)
    assert head is not None
    # Same key, different domain: the head's signature does not verify the checkpoint's message.
    assert not ledger.Checkpoint(**{**checkpoint.__dict__, "signature": head.signature}).verifies(VERIFY_KEY)


def test_the_command_records_a_checkpoint_starts_after_it_and_full_rechecks(
    org_db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    from portal.cli import main as cli_main

    ids = _fill(org_db)
    url = org_db.url
    assert cli_main(["ledger", "verify", "--database-url", url]) == 0
    out = capsys.readouterr().out
    assert "Ledger intact: 12 entries verified" in out and "entries/s" in out
    assert "Signed checkpoint recorded at entry 12" in out
    _more(org_db, ids)
    assert cli_main(["ledger", "verify", "--database-url", url]) == 0
    out = capsys.readouterr().out
    assert "Ledger intact: entries 1 to 14; 2 entries after the signed checkpoint at entry 12" in out
    assert "Signed checkpoint recorded at entry 14" in out
    _tamper(org_db, 4)
    assert cli_main(["ledger", "verify", "--database-url", url]) == 0  # before the checkpoint: not recomputed
    assert "`ledger verify --full` does" in capsys.readouterr().out
    assert cli_main(["ledger", "verify", "--full", "--database-url", url]) == 3
    assert "LEDGER TAMPERED: first bad entry: 4" in capsys.readouterr().out
    with org_db.write() as conn:
        conn.execute(update(ledger_checkpoints).values(signature=base64.b64encode(b"\1" * 64).decode()))
    assert cli_main(["ledger", "verify", "--database-url", url]) == 3
    assert "not signed by the ledger key" in capsys.readouterr().out


def test_the_canonical_hash_is_unchanged() -> None:
    """The faster formatting in `compute_hash` yields the very bytes every stored entry was hashed over."""
    from datetime import UTC, datetime, timedelta, timezone

    row = {
        "seq": 7,
        "entry_id": "0b6f7a1e-3c1d-4e55-9a43-2f7d3c0e9b11",
        "subject_id": "5f0c2b9e-8d7a-4c3b-a1e2-9f8e7d6c5b4a",
        "purpose_id": 2,
        "action": "given",
        "scope_asset_id": 12,
        "text_version": 3,
        "text_locale": "sv",
        "text_hash": "ab" * 32,
        "channel": "qr_form",
        "actor": "subject",
        "event_id": None,
        "recorded_at": datetime(2026, 3, 1, 9, 30, 5, 120, tzinfo=UTC),
        "valid_until": datetime(2027, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=1))),
        "evidence": '{"act":"checkbox","note":"Åsa ✓"}',
        "idempotency_key": "uuid:1234",
        "prev_hash": "f" * 64,
    }
    # Computed with the strftime / json.dumps version this replaced.
    assert ledger.compute_hash(row) == "bd511a3981e4f5a10c3feb825d4b636bbaa56ac9825609105244a42b23371b4a"
    for moment in (datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(2026, 6, 30, 22, 0, tzinfo=UTC)):
        assert ledger._iso(moment) == moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
