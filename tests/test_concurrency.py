"""Many writers at once never fork or break the chain, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from portal.backend.consent import ledger
from portal.backend.consent.records import Decision, record_consent
from portal.backend.consent.status import subject_consents
from portal.backend.db.engine import Database
from portal.backend.db.schema import consent_ledger
from portal.backend.db.types import utcnow
from tests.factories import STAFF, make_subject

THREADS = 8
ROUNDS = 15


def test_concurrent_writers_keep_one_valid_chain(org_db: Database) -> None:
    subjects = [make_subject(org_db, name=f"Writer {i}") for i in range(THREADS)]
    shared = make_subject(org_db, name="Shared person")
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def writer(i: int) -> None:
        # Each thread has its own engine, like a separate portal process.
        own = Database(org_db.url)
        try:
            start.wait()
            for r in range(ROUNDS):
                action = "given" if r % 2 == 0 else "withdrawn"
                record_consent(own, subject_id=subjects[i], decisions=[Decision("internal", action)], context=STAFF)
                # Everyone also appends for the same person, which forces contention on one chain.
                record_consent(own, subject_id=shared, decisions=[Decision("print", "given")], context=STAFF)
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    report = ledger.verify(org_db)
    assert report.ok, report.problem
    expected = THREADS * ROUNDS * 2
    assert report.checked == expected
    with org_db.read() as conn:
        seqs = conn.execute(select(func.count(func.distinct(consent_ledger.c.prev_hash)))).scalar_one()
        assert seqs == expected  # no two entries share a predecessor: the chain never forked
        for sid in subjects:
            internal = next(s for s in subject_consents(conn, sid, utcnow()) if s.purpose_code == "internal")
            assert internal.status == ("given" if ROUNDS % 2 == 1 else "withdrawn")
