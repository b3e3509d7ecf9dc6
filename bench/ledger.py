"""Ledger throughput: record consent events through the real service on SQLite and PostgreSQL, then verify.

    python bench/ledger.py [--events 100000] [--service-changes 300] [--postgres URL] [--skip-sqlite]

Prints events per second for three realistic write paths and the time of `ledger verify`:
  registrations   - a QR-form submission: one subject plus 5 purpose choices in one transaction;
  changes         - one withdrawal or renewal per transaction (a subject pressing one button), ledger records only;
  service changes - the same tap through `change_consent`, the service the personal page calls: the ledger entry,
                    the risk index, the receipt (its row, and whatever of it the service does before returning);
and, beside them, the bare signed append (one transaction each) the issue measures the service against.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from bench.databases import add_database_options, each_database
from portal.backend.consent import ledger
from portal.backend.consent.records import Context, Decision
from portal.backend.consent.services import change_consent
from portal.backend.platform.actors import Actor
from portal.backend.platform.db import migrate
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.types import utcnow
from tests.factories import make_org, make_portal, record_consent, register_subject

CODES = ("internal", "website", "social_media", "print", "partners")
CTX = Context(channel="qr_form", actor="subject", evidence={"act": "checkbox"})


def service_changes(db: Database, ids: list[str], count: int) -> tuple[int, float]:
    """`count` one-button taps through the consent service (withdraw or give `print`); returns (count, seconds)."""
    if count <= 0:
        return 0, 0.0
    with tempfile.TemporaryDirectory() as blobs:
        portal = make_portal(db, Path(blobs), secret_key="bench-ledger-secret-0123456789abcdef")
        # `print` was given at registration to subjects whose index is not a multiple of 3 (see the choices below).
        given = {sid: i % 3 != 0 for i, sid in enumerate(ids)}
        start = time.perf_counter()
        for i in range(count):
            sid = ids[i % len(ids)]
            action = "withdrawn" if given[sid] else "given"
            change_consent(
                portal,
                actor=Actor.subject(sid),
                subject_id=sid,
                decisions=[Decision("print", action)],
                channel="portal",
            )
            given[sid] = not given[sid]
        return count, time.perf_counter() - start


def run(db: Database, label: str, events: int, service: int = 300) -> None:
    """Fill `db` with about `events` ledger entries and print the figures."""
    migrate.upgrade(db)
    make_org(db)
    registrations = int(events * 0.8) // len(CODES)
    changes = events - registrations * len(CODES)
    ids: list[str] = []
    start = time.perf_counter()
    for i in range(registrations):
        choices = {code: (i + n) % 3 != 0 for n, code in enumerate(CODES)}
        ids.append(register_subject(db, name=f"Bench Person {i}", choices=choices, context=CTX).subject.id)
    reg_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(changes):
        sid = ids[i % len(ids)]
        # internal is given for subjects whose index is not ≡ 0 (mod 3); alternate withdraw / give.
        action = "withdrawn" if (i // len(ids)) % 2 == 0 else "given"
        code = "internal" if i % len(ids) % 3 else "website"
        record_consent(db, subject_id=sid, decisions=[Decision(code, action)], context=CTX)
    chg_s = time.perf_counter() - start
    svc_n, svc_s = service_changes(db, ids, service)
    # The ledger alone (hash chain, head lock, insert) without the service's validation queries.
    raw = min(10_000, max(1, events // 10))
    template = ledger.NewEntry(
        subject_id=ids[0],
        purpose_id=1,
        action="given",
        text_version=1,
        text_locale="en",
        text_hash="0" * 64,
        channel="system",
        actor="bench",
        evidence={"act": "bench"},
    )
    start = time.perf_counter()
    for _ in range(raw):
        with db.write() as conn:
            ledger.append(conn, [template], now=utcnow())
    raw_s = time.perf_counter() - start
    start = time.perf_counter()
    report = ledger.verify(db)
    ver_s = time.perf_counter() - start
    assert report.ok, report.problem
    total = registrations * len(CODES) + changes + svc_n + raw
    print(
        f"{label:10} registrations: {registrations:>7,} ({registrations * len(CODES):,} events) in {reg_s:7.1f} s"
        f" = {registrations * len(CODES) / reg_s:7,.0f} events/s ({registrations / reg_s:,.0f} forms/s)"
    )
    print(f"{label:10} changes:       {changes:>7,} events in {chg_s:7.1f} s = {changes / chg_s:7,.0f} events/s")
    print(
        f"{label:10} bare ledger:   {raw:>7,} appends in {raw_s:7.1f} s = {raw / raw_s:7,.0f} events/s"
        " (one transaction each, without the service's validation queries)"
    )
    if svc_n:
        print(
            f"{label:10} service changes: {svc_n:>5,} taps in {svc_s:7.1f} s = {svc_n / svc_s:7,.0f} changes/s"
            f" = {svc_n / svc_s / (raw / raw_s):.2f}x the bare append (change_consent: entry, index, receipt)"
        )
    service = total - raw - svc_n
    print(
        f"{label:10} service path: {service:,} events in {reg_s + chg_s:.1f} s = {service / (reg_s + chg_s):,.0f} events/s;"
        f" ledger verify of {report.checked:,} entries: {ver_s:.2f} s ({report.checked / ver_s:,.0f} entries/s)"
    )


def verify_figures(db: Database, label: str, entries: int, added: int = 1_000) -> None:
    """`ledger verify` at `entries` (bulk-written chain): the full check (the baseline: what every verify did before
    checkpoints), then the incremental one after `added` more appends from the signed checkpoint the first left."""
    import uuid
    from datetime import timedelta

    from sqlalchemy import insert, update

    from portal.backend.platform import signing
    from portal.backend.platform.db.schema import consent_ledger, ledger_head, subjects

    migrate.upgrade(db)
    make_org(db)
    now = utcnow()
    sid = str(uuid.uuid4())
    start = time.perf_counter()
    with db.write() as conn:
        conn.execute(insert(subjects).values(id=sid, display_name="Bench", locale="en", is_minor=False, created_at=now))
        prev, rows = ledger.GENESIS_HASH, []
        for seq in range(1, entries + 1):
            row = {
                "seq": seq,
                "entry_id": str(uuid.uuid4()),
                "subject_id": sid,
                "purpose_id": 1 + seq % 5,
                "action": "given" if seq % 3 else "withdrawn",
                "scope_asset_id": None,
                "text_version": 1,
                "text_locale": "en",
                "text_hash": "0" * 64,
                "channel": "qr_form",
                "actor": "subject",
                "event_id": None,
                "recorded_at": now - timedelta(seconds=entries - seq),
                "valid_until": None,
                "evidence": '{"act":"checkbox"}',
                "idempotency_key": None,
                "prev_hash": prev,
            }
            row["entry_hash"] = prev = ledger.compute_hash(row)
            rows.append(row)
            if len(rows) >= 20_000:
                conn.execute(insert(consent_ledger), rows)
                rows = []
        if rows:
            conn.execute(insert(consent_ledger), rows)
        conn.execute(update(ledger_head).values(seq=entries, entry_hash=prev))
        ledger.adopt_unsigned_head(conn, signing.signing_key_for(conn), now=now)
    fill_s = time.perf_counter() - start
    with db.read() as conn:
        key = signing.signing_key_for(conn)  # the bench's PORTAL_LEDGER_KEY (bench/databases.py)
    start = time.perf_counter()
    full = ledger.verify(db, key=key.verify_key)
    full_s = time.perf_counter() - start
    assert full.ok, full.problem
    with db.write() as conn:
        ledger.record_checkpoint(conn, key, full, now=utcnow())
    template = ledger.NewEntry(
        subject_id=sid,
        purpose_id=1,
        action="given",
        text_version=1,
        text_locale="en",
        text_hash="0" * 64,
        channel="system",
        actor="bench",
    )
    for _ in range(0, added, 100):  # 100 entries per transaction
        with db.write() as conn:
            ledger.append(conn, [template] * 100, now=utcnow())
    start = time.perf_counter()
    inc = ledger.verify(db, key=key.verify_key, from_checkpoint=True)
    inc_s = time.perf_counter() - start
    assert inc.ok and inc.checkpoint is not None, inc.problem
    print(f"{label:10} ledger of {entries:,} entries bulk-written in {fill_s:.0f} s")
    print(
        f"{label:10} verify --full (baseline): {full.checked:,} entries in {full_s:.2f} s = "
        f"{full.checked / full_s:,.0f} entries/s"
    )
    print(
        f"{label:10} verify from the signed checkpoint after {inc.checked:,} new entries: {inc_s:.3f} s "
        f"({inc.checked / inc_s:,.0f} entries/s; {full_s / inc_s:,.0f}x faster than the full check)"
    )


def main() -> None:
    """Run on SQLite and, when a URL is given, on PostgreSQL."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument(
        "--service-changes", type=int, default=300, help="taps through change_consent (0: leave the service out)"
    )
    ap.add_argument(
        "--verify",
        type=int,
        default=0,
        metavar="ENTRIES",
        help="only time `ledger verify` (full, then from a checkpoint) on a bulk-written chain of ENTRIES",
    )
    add_database_options(ap)
    args = ap.parse_args()
    for label, db in each_database(args):
        if args.verify:
            verify_figures(db, label, args.verify)
            continue
        run(db, label, args.events, args.service_changes)


if __name__ == "__main__":
    main()
