"""The consent ledger: hash chain, database-enforced append-only, and tamper detection on both databases."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from portal.backend.consent import ledger
from portal.backend.consent.records import Decision
from portal.backend.platform.db import migrate
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import consent_ledger
from tests.factories import STAFF, make_org, make_subject, record_consent


def _fill(db: Database, people: int = 3) -> list[str]:
    """A few subjects with several entries each."""
    ids = []
    for i in range(people):
        sid = make_subject(db, name=f"Person {i}", choices={"internal": True, "website": True, "print": False})
        record_consent(db, subject_id=sid, decisions=[Decision("website", "withdrawn")], context=STAFF)
        ids.append(sid)
    return ids


def _drop_guards(db: Database) -> None:
    """What an attacker with owner rights does first: remove the append-only triggers."""
    with db.write() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("DROP TRIGGER consent_ledger_append_only ON consent_ledger"))
        else:
            conn.execute(text("DROP TRIGGER consent_ledger_no_update"))
            conn.execute(text("DROP TRIGGER consent_ledger_no_delete"))


def test_entries_form_a_chain(org_db: Database) -> None:
    _fill(org_db)
    with org_db.read() as conn:
        entries = ledger.list_entries(conn, limit=1000)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert entries[0].prev_hash == ledger.GENESIS_HASH
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.entry_hash
    for e in entries:
        assert ledger.compute_hash(e.__dict__) == e.entry_hash
    report = ledger.verify(org_db)
    assert report.ok and report.checked == len(entries) == 12


def test_empty_ledger_verifies(db: Database) -> None:
    report = ledger.verify(db)
    assert report.ok and report.checked == 0


@pytest.mark.parametrize("table", ["consent_ledger", "purpose_texts"])
@pytest.mark.parametrize("statement", ["UPDATE {t} SET text_hash = 'x'", "DELETE FROM {t}"])
def test_database_rejects_update_and_delete(org_db: Database, table: str, statement: str) -> None:
    _fill(org_db, people=1)
    with pytest.raises(DBAPIError, match="append-only"):
        with org_db.write() as conn:
            conn.execute(text(statement.format(t=table)))
    assert ledger.verify(org_db).ok


@pytest.mark.postgres
def test_postgres_rejects_truncate_even_for_owner(pg_url: str) -> None:
    org_db = Database(pg_url)
    migrate.upgrade(org_db)
    make_org(org_db)
    _fill(org_db, people=1)
    with pytest.raises(DBAPIError, match="append-only"):
        with org_db.write() as conn:
            conn.execute(text("TRUNCATE consent_ledger CASCADE"))
    with org_db.read() as conn:
        assert conn.execute(select(func.count()).select_from(consent_ledger)).scalar_one() == 4


def test_edited_entry_is_named(org_db: Database) -> None:
    _fill(org_db)
    _drop_guards(org_db)
    with org_db.write() as conn:
        conn.execute(text("UPDATE consent_ledger SET action = 'given' WHERE seq = 4"))
    report = ledger.verify(org_db)
    assert not report.ok
    assert report.first_bad_seq == 4
    assert "contents were changed" in (report.problem or "")


def test_edited_entry_with_recomputed_own_hash_breaks_the_next_link(org_db: Database) -> None:
    _fill(org_db)
    _drop_guards(org_db)
    with org_db.read() as conn:
        row = dict(conn.execute(select(consent_ledger).where(consent_ledger.c.seq == 5)).mappings().one())
    row["actor"] = "someone-else"
    forged = ledger.compute_hash(row)
    with org_db.write() as conn:
        conn.execute(
            text("UPDATE consent_ledger SET actor = 'someone-else', entry_hash = :h WHERE seq = 5"), {"h": forged}
        )
    report = ledger.verify(org_db)
    assert not report.ok and report.first_bad_seq == 6
    assert "does not link" in (report.problem or "")


def test_deleted_middle_entry_is_named(org_db: Database) -> None:
    _fill(org_db)
    _drop_guards(org_db)
    with org_db.write() as conn:
        conn.execute(text("DELETE FROM consent_ledger WHERE seq = 7"))
    report = ledger.verify(org_db)
    assert not report.ok and report.first_bad_seq == 7
    assert "missing" in (report.problem or "")


def test_deleted_last_entry_is_detected_by_the_head(org_db: Database) -> None:
    _fill(org_db)
    _drop_guards(org_db)
    with org_db.write() as conn:
        conn.execute(text("DELETE FROM consent_ledger WHERE seq = 12"))
    report = ledger.verify(org_db)
    assert not report.ok and report.first_bad_seq == 12
    assert "head records entry 12" in (report.problem or "")


def test_reordered_entries_are_detected(org_db: Database) -> None:
    _fill(org_db)
    _drop_guards(org_db)
    with org_db.write() as conn:
        # Swap two entries' positions in the chain.
        conn.execute(text("UPDATE consent_ledger SET seq = -1 WHERE seq = 3"))
        conn.execute(text("UPDATE consent_ledger SET seq = 3 WHERE seq = 4"))
        conn.execute(text("UPDATE consent_ledger SET seq = 4 WHERE seq = -1"))
    report = ledger.verify(org_db)
    assert not report.ok and report.first_bad_seq == 3


def test_appended_forgery_is_detected(org_db: Database) -> None:
    _fill(org_db, people=1)
    with org_db.read() as conn:
        last = dict(
            conn.execute(select(consent_ledger).order_by(consent_ledger.c.seq.desc()).limit(1)).mappings().one()
        )
    forged = dict(
        last,
        seq=last["seq"] + 1,
        entry_id="00000000-0000-4000-8000-000000000000",
        action="given",
        prev_hash=last["entry_hash"],
        idempotency_key=None,
    )
    forged["entry_hash"] = ledger.compute_hash(forged)
    # Inserting is allowed by the triggers; the chain head is what exposes it.
    with org_db.write() as conn:
        conn.execute(consent_ledger.insert().values(**forged))
    report = ledger.verify(org_db)
    assert not report.ok
    assert "head records entry 4" in (report.problem or "")


def test_verify_reads_in_chunks(org_db: Database) -> None:
    _fill(org_db, people=3)
    assert ledger.verify(org_db, chunk=5).checked == 12
