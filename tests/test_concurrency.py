"""Many writers at once never fork or break the chain, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import multiprocessing
import threading
import traceback

import pytest
from sqlalchemy import func, insert, select

from portal.backend.consent import ledger
from portal.backend.consent.records import Context, Decision
from portal.backend.consent.status import subject_consents
from portal.backend.photos.assets import record_use
from portal.backend.photos.biometrics import link_detection
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import assets, consent_ledger, detections, purposes
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import ConsentStateError
from portal.backend.risk import index as risk_index
from portal.backend.risk.figures import critical_assets
from tests.factories import STAFF, make_subject, record_consent

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


# --- many processes change one person's consent for one purpose at the same instant --------------------------------

PURPOSE = "print"


def _change_in_own_process(url: str, subject_id: str, index: int, action: str, ready, go, results) -> None:  # type: ignore[no-untyped-def]
    """One portal process (spawned, own interpreter and engine): connect, wait for the start signal, then record
    one change; report what happened, including a crash's traceback, to the test."""
    try:
        db = Database(url)
        db.ping()  # connected before the start, so the contention is in the writes themselves
        ready.release()
        if not go.wait(timeout=300):
            raise RuntimeError("the start signal never came")
        context = Context(channel="staff", actor=f"staff:process-{index}", evidence={"process": index})
        try:
            entries = record_consent(db, subject_id=subject_id, decisions=[Decision(PURPOSE, action)], context=context)
        except ConsentStateError as exc:
            results.put((index, action, "refused", str(exc)))
        else:
            results.put((index, action, "written", entries[0].seq))
        db.dispose()
    except BaseException:
        results.put((index, action, "crashed", traceback.format_exc()))
        raise


def _library_with(db: Database, subject_id: str) -> int:
    """One analysed, published photo of the person (so every change re-judges it in the risk index)."""
    now = utcnow()
    with db.write() as conn:
        asset_id = conn.execute(
            insert(assets)
            .values(
                sha256="c" * 64,
                blob_key="originals/cc/c.jpg",
                filename="crowd.jpg",
                content_type="image/jpeg",
                width=100,
                height=100,
                bytes=1,
                uploaded_at=now,
                analysis_state="done",
            )
            .returning(assets.c.id)
        ).scalar_one()
        detection_id = conn.execute(
            insert(detections)
            .values(asset_id=asset_id, kind="face", x=0.2, y=0.2, w=0.1, h=0.1, detector="dlib-hog", created_at=now)
            .returning(detections.c.id)
        ).scalar_one()
        risk_index.refresh_assets(conn, [asset_id])
    with db.write() as conn:
        link_detection(conn, detection_id=detection_id, subject_id=subject_id, actor=Actor.system("test"), now=now)
        record_use(
            conn,
            asset_id=asset_id,
            purpose=PURPOSE,
            place="https://example.org/crowd",
            actor=Actor.system("test"),
            now=now,
        )
    return asset_id


def _race_processes(db: Database, processes: int) -> None:
    """`processes` spawned processes, lined up behind an event, change the same consent at once: every third gives
    it, the others withdraw it.

    Giving is legal from any status; a withdrawal is legal only while the consent is given, so whichever order the
    database picks, every write is legal or cleanly refused (two withdrawals for each grant make racing withdrawals
    likely: without a per-person lock two of them were judged against the same grant and both written).
    Afterwards the chain verifies, holds exactly the written changes, every withdrawal in it follows a grant (each
    writer judged the status the previous one left), the person's status is the last entry's action, and the risk
    index agrees.
    """
    person = make_subject(db, name="Contested person", choices={PURPOSE: True})
    asset_id = _library_with(db, person)
    ctx = multiprocessing.get_context("spawn")
    ready, go, results = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    actions = ["given" if i % 3 == 0 else "withdrawn" for i in range(processes)]
    workers = [
        ctx.Process(target=_change_in_own_process, args=(db.url, person, i, actions[i], ready, go, results))
        for i in range(processes)
    ]
    for w in workers:
        w.start()
    try:
        for _ in range(processes):
            # A process that dies before it is ready would otherwise keep the others waiting for ever.
            assert ready.acquire(timeout=240), "a process never got ready"
        go.set()
        outcomes = sorted(results.get(timeout=240) for _ in range(processes))
    finally:
        go.set()
        for w in workers:
            w.join(timeout=60)
            if w.is_alive():
                w.kill()
    crashed = [o for o in outcomes if o[2] == "crashed"]
    assert not crashed, crashed[0][3]
    assert [w.exitcode for w in workers] == [0] * processes
    written = {o[0]: o[3] for o in outcomes if o[2] == "written"}
    refused = [o for o in outcomes if o[2] == "refused"]
    # Only withdrawals can be refused, and only because there was nothing given to withdraw.
    assert all(o[1] == "withdrawn" and "Nothing to withdraw" in o[3] for o in refused), refused
    assert all(i in written for i, a in enumerate(actions) if a == "given")

    report = ledger.verify(db)
    assert report.ok, report.problem
    assert report.checked == 1 + len(written)  # the registration, then exactly the writes that were reported
    with db.read() as conn:
        purpose_id = conn.execute(select(purposes.c.id).where(purposes.c.code == PURPOSE)).scalar_one()
        chain = conn.execute(
            select(consent_ledger.c.seq, consent_ledger.c.action, consent_ledger.c.actor)
            .where(consent_ledger.c.subject_id == person, consent_ledger.c.purpose_id == purpose_id)
            .order_by(consent_ledger.c.seq)
        ).all()
        assert [r.seq for r in chain] == list(range(1, len(chain) + 1))  # gapless, nothing else interleaved
        # Each process's entry is the one it was told about, and a refused process wrote nothing.
        assert {r.actor: r.seq for r in chain[1:]} == {f"staff:process-{i}": seq for i, seq in written.items()}
        assert {r.actor: r.action for r in chain[1:]} == {f"staff:process-{i}": actions[i] for i in written}
        for before, entry in itertools.pairwise(chain):
            if entry.action == "withdrawn":
                assert before.action == "given", (
                    f"entry {entry.seq} withdrew a consent that entry {before.seq} "
                    f"had already {before.action}: two writers judged the same status"
                )
        status = next(
            s
            for s in subject_consents(conn, person, utcnow())
            if s.purpose_code == PURPOSE and s.scope_asset_id is None
        )
        assert (status.status, status.seq) == (chain[-1].action, chain[-1].seq)
        assert risk_index.check(conn) == []
        critical = {c["asset_id"] for c in critical_assets(conn) if c["code"] == PURPOSE}
        assert critical == ({asset_id} if chain[-1].action == "withdrawn" else set())


@pytest.mark.slow
def test_many_processes_change_one_consent_at_once(org_db: Database) -> None:
    # 50 separate processes on PostgreSQL; SQLite serialises its writers (BEGIN IMMEDIATE), so 10 prove the same.
    _race_processes(org_db, 50 if org_db.dialect == "postgresql" else 10)
