"""Risk at scale: a synthetic library of 100,000 assets, 300,000 detections, 50,000 subjects and 500,000 ledger
events on SQLite and PostgreSQL, then the time of the full risk computation (`risk.summary`).

    python bench/dashboard.py [--scale 1.0] [--postgres URL] [--skip-sqlite]

Rows are bulk-inserted (the ledger with a valid hash chain) rather than written through the services, which would
take hours; the risk queries do not care how the rows got there.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, text, update

from bench.databases import add_database_options, each_database
from portal.backend.consent import ledger
from portal.backend.db import migrate
from portal.backend.db.engine import Database
from portal.backend.db.schema import asset_uses, assets, consent_ledger, detections, ledger_head, subjects
from portal.backend.risk import summary
from tests.factories import make_org

NOW = datetime.now(UTC)
CHUNK = 20_000


def fill(db: Database, scale: float) -> dict[str, int]:
    """Insert the synthetic library; returns the row counts."""
    rng = random.Random(7)
    n_assets, n_subjects, n_events = int(100_000 * scale), int(50_000 * scale), int(500_000 * scale)
    migrate.upgrade(db)
    make_org(db, now=NOW - timedelta(days=900))
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n_subjects)]
    with db.write() as conn:
        for i in range(0, n_subjects, CHUNK):
            conn.execute(insert(subjects), [{"id": s, "display_name": f"Person {i + k}", "locale": "en",
                                             "is_minor": False, "created_at": NOW - timedelta(days=800)}
                                            for k, s in enumerate(ids[i:i + CHUNK])])
        for i in range(0, n_assets, CHUNK):
            conn.execute(insert(assets), [{"sha256": f"{a:064x}", "blob_key": f"o/{a}", "filename": f"{a}.jpg",
                                           "content_type": "image/jpeg", "width": 4000, "height": 3000,
                                           "bytes": 1, "uploaded_at": NOW, "analysis_state": "done"}
                                          for a in range(i + 1, min(n_assets, i + CHUNK) + 1)])
        dets = []
        for a in range(1, n_assets + 1):
            for k in range(3):  # 3 detections per asset: mostly linked faces, some strangers and persons
                roll = rng.random()
                linked = roll < 0.8
                dets.append({"asset_id": a, "kind": "person" if roll > 0.95 else "face", "x": 0.1 + 0.3 * k,
                             "y": 0.2, "w": 0.1, "h": 0.15, "detector": "dlib-hog", "created_at": NOW,
                             "subject_id": rng.choice(ids) if linked else None,
                             "link_method": "manual" if linked else None,
                             "link_status": "confirmed" if linked else None})
            if len(dets) >= CHUNK:
                conn.execute(insert(detections), dets)
                dets = []
        if dets:
            conn.execute(insert(detections), dets)
        conn.execute(insert(asset_uses), [{"asset_id": a, "purpose_id": 2, "place": f"https://example.org/{a}",
                                           "since": NOW - timedelta(days=10)} for a in range(1, n_assets + 1, 20)])
        prev, rows, seq = ledger.GENESIS_HASH, [], 0
        actions = ["given"] * 7 + ["refused", "withdrawn", "renewed"]
        for _ in range(n_events):
            seq += 1
            action = rng.choice(actions)
            at = NOW - timedelta(days=rng.randint(1, 700))
            row = {"seq": seq, "entry_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                   "subject_id": rng.choice(ids), "purpose_id": rng.randint(1, 5), "action": action,
                   "scope_asset_id": rng.randint(1, n_assets) if rng.random() < 0.05 else None,
                   "text_version": 1, "text_locale": "en", "text_hash": "0" * 64, "channel": "qr_form",
                   "actor": "subject", "event_id": None, "recorded_at": at,
                   "valid_until": at + timedelta(days=365) if action in ("given", "renewed") else None,
                   "evidence": "{}", "idempotency_key": None, "prev_hash": prev}
            row["entry_hash"] = prev = ledger.compute_hash(row)
            rows.append(row)
            if len(rows) >= CHUNK:
                conn.execute(insert(consent_ledger), rows)
                rows = []
        if rows:
            conn.execute(insert(consent_ledger), rows)
        conn.execute(update(ledger_head).values(seq=seq, entry_hash=prev))
    return {"assets": n_assets, "detections": n_assets * 3, "subjects": n_subjects, "ledger events": n_events}


def run(db: Database, label: str, scale: float) -> None:
    """Fill, then time the risk summary (cold and warm) and print the figures."""
    start = time.perf_counter()
    counts = fill(db, scale)
    fill_s = time.perf_counter() - start
    if db.dialect == "postgresql":
        with db.write() as conn:
            conn.execute(text("ANALYZE"))
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        with db.read() as conn:
            figures = summary(conn, now=NOW)
        timings.append(time.perf_counter() - start)
    at_risk = {f.purpose: f.at_risk for f in figures}
    print(f"{label:10} {', '.join(f'{v:,} {k}' for k, v in counts.items())} (filled in {fill_s:.0f} s)")
    print(f"{label:10} risk summary: first {timings[0]:.2f} s, then {min(timings[1:]):.2f} s; at risk: {at_risk}")


def main() -> None:
    """Run on SQLite and, when a URL is given, on PostgreSQL."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    add_database_options(ap)
    args = ap.parse_args()
    for label, db in each_database(args):
        run(db, label, args.scale)


if __name__ == "__main__":
    main()
