"""Rewrites by someone who holds the database but not the ledger key, on both databases: each is reported by
`ledger verify` (signed heads, anchors), and the key is loaded, generated and required as the settings say."""

from __future__ import annotations

import base64
import itertools
import json
import os
import stat
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, text, update

from portal.backend.consent import ledger
from portal.backend.consent.receipts import build_receipt, receipt_json_bytes
from portal.backend.consent.records import Decision
from portal.backend.platform import signing
from portal.backend.platform.config import Settings, load_settings
from portal.backend.platform.db import migrate
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import consent_ledger, ledger_head, ledger_heads
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import ConfigError, ValidationError
from portal.backend.reports.receipt import render_receipt_html
from tests.conftest import ROOT, TEST_LEDGER_KEY
from tests.factories import STAFF, make_org, make_subject, record_consent

VERIFY_KEY = signing.SigningKey(Ed25519PrivateKey.from_private_bytes(base64.b64decode(TEST_LEDGER_KEY))).verify_key


def _fill(db: Database, people: int = 3) -> list[str]:
    """Subjects who gave consent and then withdrew one purpose: 4 entries each, one append per action."""
    ids = []
    for i in range(people):
        sid = make_subject(db, name=f"Person {i}", choices={"internal": True, "website": True, "print": False})
        record_consent(db, subject_id=sid, decisions=[Decision("website", "withdrawn")], context=STAFF)
        ids.append(sid)
    return ids


def _drop_guards(db: Database, *tables: str) -> None:
    """What an attacker holding the database does first: remove the append-only triggers."""
    with db.write() as conn:
        for table in tables:
            if db.dialect == "postgresql":
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            else:
                conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
                conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))


def _rehash_from(db: Database, start: int) -> None:
    """Recompute prev_hash and entry_hash from `start` to the end with the project's own hash; move the head."""
    with db.write() as conn:
        rows = [dict(r) for r in conn.execute(select(consent_ledger).order_by(consent_ledger.c.seq)).mappings()]
        prev = ledger.GENESIS_HASH
        for row in rows:
            if row["seq"] >= start:
                row["prev_hash"] = prev
                row["entry_hash"] = ledger.compute_hash(row)
                conn.execute(
                    update(consent_ledger)
                    .where(consent_ledger.c.seq == row["seq"])
                    .values(prev_hash=row["prev_hash"], entry_hash=row["entry_hash"])
                )
            prev = row["entry_hash"]
        conn.execute(update(ledger_head).values(seq=rows[-1]["seq"], entry_hash=prev))


def _withdrawal_seq(db: Database) -> int:
    """The first withdrawal in the chain."""
    with db.read() as conn:
        return int(
            conn.execute(
                select(consent_ledger.c.seq)
                .where(consent_ledger.c.action == "withdrawn")
                .order_by(consent_ledger.c.seq)
                .limit(1)
            ).scalar_one()
        )


def _verify(db: Database, anchors: list[ledger.SignedHead] | None = None) -> ledger.VerifyReport:
    """Verify as an auditor does: with the public key only."""
    return ledger.verify(db, key=VERIFY_KEY, anchors=anchors or ())


def test_every_append_signs_the_new_head(org_db: Database) -> None:
    _fill(org_db)
    report = _verify(org_db)
    assert report.ok and report.signatures_checked and report.checked == 12
    assert report.head is not None and report.head.seq == 12 and report.head.key_id == VERIFY_KEY.key_id
    with org_db.read() as conn:
        heads = [ledger.SignedHead.from_row(r) for r in conn.execute(select(ledger_heads).order_by(ledger_heads.c.seq))]
    # One signed head per transaction (3 registrations + 3 withdrawals), linked one to the next.
    assert [h.seq for h in heads] == [3, 4, 7, 8, 11, 12]
    assert all(h.verifies(VERIFY_KEY) for h in heads)
    assert heads[0].base_seq == 0 and heads[0].prev_digest == ""
    for before, after in itertools.pairwise(heads):
        assert after.prev_digest == before.digest() and after.base_seq == before.seq


def test_a_the_withdrawal_turned_into_given_and_the_chain_rehashed_is_reported(org_db: Database) -> None:
    _fill(org_db)
    target = _withdrawal_seq(org_db)
    _drop_guards(org_db, "consent_ledger")
    with org_db.write() as conn:
        conn.execute(update(consent_ledger).where(consent_ledger.c.seq == target).values(action="given"))
    _rehash_from(org_db, target)
    # The old check alone (the chain and the head row) is fooled: that is the attack.
    with org_db.read() as conn:
        assert ledger.verify_connection(conn, chain_only=True).ok
    report = _verify(org_db)
    assert not report.ok
    assert "no longer matches the chain" in (report.problem or "")
    assert report.first_bad_seq is not None and report.first_bad_seq <= target


def test_a_rewrite_that_also_deletes_the_later_signed_heads_is_reported(org_db: Database) -> None:
    _fill(org_db)
    target = _withdrawal_seq(org_db)
    _drop_guards(org_db, "consent_ledger", "ledger_heads")
    with org_db.write() as conn:
        conn.execute(update(consent_ledger).where(consent_ledger.c.seq == target).values(action="given"))
        conn.execute(ledger_heads.delete().where(ledger_heads.c.seq >= target))
    _rehash_from(org_db, target)
    report = _verify(org_db)
    assert not report.ok and "not covered by a signed head" in (report.problem or "")


def test_a_rewrite_with_heads_signed_by_the_attackers_own_key_is_reported(org_db: Database) -> None:
    _fill(org_db)
    target = _withdrawal_seq(org_db)
    _drop_guards(org_db, "consent_ledger", "ledger_heads")
    with org_db.write() as conn:
        conn.execute(update(consent_ledger).where(consent_ledger.c.seq == target).values(action="given"))
        conn.execute(ledger_heads.delete())
    _rehash_from(org_db, target)
    forged_key = signing.SigningKey(Ed25519PrivateKey.generate())
    with org_db.write() as conn:
        seq, entry_hash = ledger.lock_head(conn)
        ledger.sign_head(conn, forged_key, seq=seq, entry_hash=entry_hash, base=(0, ledger.GENESIS_HASH), now=_now())
    report = _verify(org_db)
    assert not report.ok and "not genuine" in (report.problem or "")


def test_b_entries_deleted_from_the_end_and_the_head_moved_back_are_reported(org_db: Database) -> None:
    _fill(org_db)
    _drop_guards(org_db, "consent_ledger")
    with org_db.read() as conn:
        older = conn.execute(select(ledger_heads).where(ledger_heads.c.seq == 8)).one()
    with org_db.write() as conn:
        conn.execute(consent_ledger.delete().where(consent_ledger.c.seq > 8))
        conn.execute(update(ledger_head).values(seq=8, entry_hash=older.entry_hash))
    report = _verify(org_db)
    assert not report.ok and report.first_bad_seq == 9
    assert "signed a head at entry 12" in (report.problem or "")


def test_b_a_thorough_rollback_is_caught_by_an_anchor_kept_outside_the_database(org_db: Database) -> None:
    ids = _fill(org_db)
    # A receipt issued for the last change carries the newest signed head: the person's copy is the anchor.
    with org_db.read() as conn:
        entries = [e for e in ledger.entries_for_subject(conn, ids[-1]) if e.action == "withdrawn"]
        receipt = build_receipt(conn, subject_id=ids[-1], entries=entries)
    anchor_text = receipt_json_bytes(receipt).decode()
    # The PDF prints the same signed head.
    assert receipt.ledger_head is not None and receipt.ledger_head.signature in render_receipt_html(receipt)
    assert json.loads(anchor_text)["x-portal"]["ledgerHead"]["seq"] == 12
    _drop_guards(org_db, "consent_ledger", "ledger_heads")
    with org_db.read() as conn:
        older = conn.execute(select(ledger_heads).where(ledger_heads.c.seq == 8)).one()
    with org_db.write() as conn:
        conn.execute(consent_ledger.delete().where(consent_ledger.c.seq > 8))
        conn.execute(ledger_heads.delete().where(ledger_heads.c.seq > 8))
        conn.execute(update(ledger_head).values(seq=8, entry_hash=older.entry_hash))
    # The stated limit: inside the database everything is consistent and validly signed again.
    assert _verify(org_db).ok
    report = _verify(org_db, ledger.parse_anchors(anchor_text))
    assert not report.ok and report.first_bad_seq == 9
    assert "an anchor holds a head signed at entry 12" in (report.problem or "")


def test_c_a_middle_entry_deleted_and_the_rest_renumbered_is_reported(org_db: Database) -> None:
    _fill(org_db)
    _drop_guards(org_db, "consent_ledger")
    with org_db.write() as conn:
        conn.execute(consent_ledger.delete().where(consent_ledger.c.seq == 5))
        for seq in range(6, 13):
            conn.execute(update(consent_ledger).where(consent_ledger.c.seq == seq).values(seq=seq - 1))
    _rehash_from(org_db, 5)
    with org_db.read() as conn:
        assert ledger.verify_connection(conn, chain_only=True).ok
    report = _verify(org_db)
    assert not report.ok and "no longer matches the chain" in (report.problem or "")


def test_an_anchor_still_in_the_chain_verifies_and_a_forged_anchor_is_refused(org_db: Database) -> None:
    _fill(org_db, people=1)
    with org_db.read() as conn:
        head = ledger.latest_signed_head(conn)
    assert head is not None
    report = _verify(org_db, ledger.parse_anchors(head.line() + "\n"))
    assert report.ok and report.anchors == 1
    forged = ledger.SignedHead(**{**head.__dict__, "seq": head.seq + 5})
    with pytest.raises(ValidationError, match="not signed by the ledger key"):
        _verify(org_db, [forged])
    with pytest.raises(ValidationError, match="holds no signed ledger head"):
        ledger.parse_anchors('{"hello": 1}')


def test_an_append_without_a_key_writes_nothing(org_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORTAL_LEDGER_KEY")
    with pytest.raises(signing.LedgerKeyMissing):
        make_subject(org_db, choices={"internal": True})
    with org_db.read() as conn:
        assert conn.execute(select(consent_ledger)).first() is None
        assert conn.execute(select(ledger_heads)).first() is None


def _now() -> datetime:
    """The time now (UTC)."""
    return utcnow()


# --- the key: generated in development, required in production, never readable by others -------------------


def test_development_generates_a_private_key_file_once(tmp_path: Path) -> None:
    settings = load_settings(env={"PORTAL_DATA_DIR": str(tmp_path / "data")}, secrets_path=None)
    first = signing.load_signing_key(settings)
    path = tmp_path / "data" / signing.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert signing.load_signing_key(settings).key_id == first.key_id
    public = (tmp_path / "data" / signing.PUBLIC_KEY_FILE).read_text()
    verifier = load_settings(env={"PORTAL_LEDGER_PUBLIC_KEY": public}, secrets_path=None)
    assert signing.load_verify_key(verifier).key_id == first.key_id
    assert "PRIVATE" not in repr(first) and first.key_id in repr(first)


def test_production_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    settings = Settings(environment="production", data_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="PORTAL_LEDGER_KEY is missing"):
        signing.load_signing_key(settings)
    assert not (tmp_path / signing.KEY_FILE).exists()


def test_bad_keys_and_readable_key_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="neither a key nor the path"):
        signing.load_signing_key(load_settings(env={"PORTAL_LEDGER_KEY": "not a key"}, secrets_path=None))
    pem = tmp_path / "ledger.pem"
    key = signing.SigningKey(Ed25519PrivateKey.generate())
    pem.write_bytes(
        key.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    pem.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        signing.load_signing_key(load_settings(env={"PORTAL_LEDGER_KEY": str(pem)}, secrets_path=None))
    pem.chmod(0o600)
    loaded = signing.load_signing_key(load_settings(env={"PORTAL_LEDGER_KEY": str(pem)}, secrets_path=None))
    assert loaded.key_id == key.key_id


# --- the command line, as a real process -----------------------------------------------------------------------


def _cli(url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """python -m portal ARGS against `url`, run in the test's own working folder (its data folder is there)."""
    full = {**os.environ, "PYTHONPATH": str(ROOT), "PORTAL_DATABASE_URL": url, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "portal", *args], capture_output=True, text=True, env=full, cwd=Path.cwd(), timeout=120
    )


def test_cli_verify_with_the_public_key_only_and_an_anchor_file(db_url: str, tmp_path: Path) -> None:
    db = Database(db_url)
    try:
        migrate.upgrade(db)
        make_org(db)
        _fill(db, people=2)
        # An auditor: the public key only, no private key anywhere, a data folder of their own.
        public = base64.b64encode(VERIFY_KEY.raw).decode()
        auditor = {"PORTAL_LEDGER_KEY": "", "PORTAL_LEDGER_PUBLIC_KEY": public, "PORTAL_DATA_DIR": str(tmp_path)}
        head = _cli(db_url, "ledger", "head")
        assert head.returncode == 0, head.stderr
        anchors = tmp_path / "heads.txt"
        anchors.write_text(head.stdout)
        ok = _cli(db_url, "ledger", "verify", "--anchor", str(anchors), env=auditor)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "Ledger intact: 8 entries" in ok.stdout and "1 anchor(s)" in ok.stdout
        assert not (tmp_path / signing.KEY_FILE).exists()
        _drop_guards(db, "consent_ledger", "ledger_heads")
        with db.read() as conn:
            older = conn.execute(select(ledger_heads).where(ledger_heads.c.seq == 4)).one()
        with db.write() as conn:
            conn.execute(consent_ledger.delete().where(consent_ledger.c.seq > 4))
            conn.execute(ledger_heads.delete().where(ledger_heads.c.seq > 4))
            conn.execute(update(ledger_head).values(seq=4, entry_hash=older.entry_hash))
        bad = _cli(db_url, "ledger", "verify", "--anchor", str(anchors), env=auditor)
        assert bad.returncode == 3, bad.stdout + bad.stderr
        assert "LEDGER TAMPERED" in bad.stdout and "rolled back" in bad.stdout
        nokey = _cli(db_url, "ledger", "verify", env={**auditor, "PORTAL_LEDGER_PUBLIC_KEY": ""})
        assert nokey.returncode == 1 and "NOT checked" in nokey.stdout
        missing = _cli(db_url, "ledger", "verify", "--anchor", str(tmp_path / "nope.json"), env=auditor)
        assert missing.returncode == 1 and "Cannot read the anchor file" in missing.stderr
    finally:
        db.dispose()
