"""Ledger throughput: record consent events through the real service on SQLite and PostgreSQL, then verify.

    python bench/ledger.py [--events 100000] [--postgres URL] [--skip-sqlite]

Prints events per second for two realistic write paths and the time of `ledger verify`:
  registrations - a QR-form submission: one subject plus 5 purpose choices in one transaction;
  changes       - one withdrawal or renewal per transaction (a subject pressing one button).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from bench.databases import add_database_options, each_database
from portal.backend.consent import ledger
from portal.backend.consent.records import Context, Decision
from portal.backend.platform.db import migrate
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.types import utcnow
from tests.factories import make_org, record_consent, register_subject

CODES = ("internal", "website", "social_media", "print", "partners")
CTX = Context(channel="qr_form", actor="subject", evidence={"act": "checkbox"})


def run(db: Database, label: str, events: int) -> None:
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
    total = registrations * len(CODES) + changes + raw
    print(
        f"{label:10} registrations: {registrations:>7,} ({registrations * len(CODES):,} events) in {reg_s:7.1f} s"
        f" = {registrations * len(CODES) / reg_s:7,.0f} events/s ({registrations / reg_s:,.0f} forms/s)"
    )
    print(f"{label:10} changes:       {changes:>7,} events in {chg_s:7.1f} s = {changes / chg_s:7,.0f} events/s")
    print(
        f"{label:10} bare ledger:   {raw:>7,} appends in {raw_s:7.1f} s = {raw / raw_s:7,.0f} events/s"
        " (one transaction each, without the service's validation queries)"
    )
    service = total - raw
    print(
        f"{label:10} service path: {service:,} events in {reg_s + chg_s:.1f} s = {service / (reg_s + chg_s):,.0f} events/s;"
        f" ledger verify of {report.checked:,} entries: {ver_s:.2f} s ({report.checked / ver_s:,.0f} entries/s)"
    )


def main() -> None:
    """Run on SQLite and, when a URL is given, on PostgreSQL."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    add_database_options(ap)
    args = ap.parse_args()
    for label, db in each_database(args):
        run(db, label, args.events)


if __name__ == "__main__":
    main()
