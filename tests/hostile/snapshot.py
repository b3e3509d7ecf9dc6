"""Before/after pictures of the whole store: row counts of every table and the blob store's keys.

A hostile input that is refused must leave both exactly as they were; one that is accepted must change them by a
precise, expected amount. After every case that writes, the ledger must still verify, the risk index must still
agree with a fresh computation, and every photo row must have its blobs (and every photo blob its row).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from portal.backend.consent import ledger
from portal.backend.platform.blobs import BlobStore
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import assets, metadata, subjects
from portal.backend.risk import index as risk_index


@dataclass(frozen=True)
class Snapshot:
    """Row count per table and the set of stored blob keys at one moment."""

    rows: dict[str, int]
    keys: frozenset[str]


def take(db: Database, blobs: BlobStore) -> Snapshot:
    """Count every table of the schema and list every blob key."""
    with db.read() as conn:
        rows = {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one()) for t in metadata.sorted_tables
        }
    return Snapshot(rows=rows, keys=frozenset(blobs.list_keys("")))


@dataclass(frozen=True)
class Change:
    """What happened between two snapshots: row deltas per table (non-zero only) and blob keys added/removed."""

    rows: dict[str, int]
    added: frozenset[str]
    removed: frozenset[str]

    @property
    def nothing(self) -> bool:
        """True when neither the database nor the blob store changed."""
        return not self.rows and not self.added and not self.removed


def change(before: Snapshot, db: Database, blobs: BlobStore) -> Change:
    """The change from `before` to now."""
    after = take(db, blobs)
    rows = {t: after.rows[t] - before.rows[t] for t in after.rows if after.rows[t] != before.rows[t]}
    return Change(rows=rows, added=after.keys - before.keys, removed=before.keys - after.keys)


def assert_unchanged(before: Snapshot, db: Database, blobs: BlobStore) -> None:
    """Nothing was written: no row, no blob (and what was there is still there)."""
    found = change(before, db, blobs)
    assert found.nothing, f"refused input changed the store: {found}"
    assert_consistent(db, blobs)


def assert_consistent(db: Database, blobs: BlobStore) -> None:
    """Ledger chain intact, risk index equal to a fresh computation, photo rows and photo blobs in step."""
    report = ledger.verify(db)
    assert report.ok, report
    with db.read() as conn:
        assert risk_index.check(conn) == []
        rows = conn.execute(select(assets.c.blob_key, assets.c.thumb_key)).all()
        subject_ids = set(conn.execute(select(subjects.c.id)).scalars())
    keys = set(blobs.list_keys(""))
    wanted = {k for r in rows for k in (r.blob_key, r.thumb_key) if k}
    assert wanted <= keys, f"photo rows without their blobs: {sorted(wanted - keys)}"
    photo_blobs = {k for k in keys if k.startswith(("originals/", "thumbs/"))}
    assert photo_blobs <= wanted, f"photo blobs without a row: {sorted(photo_blobs - wanted)}"
    owners = {k.split("/")[1] for k in keys if k.startswith(("paper/", "receipts/"))}
    assert owners <= subject_ids, f"scans or receipts of unknown subjects: {sorted(owners - subject_ids)}"


def expect(before: Snapshot, db: Database, blobs: BlobStore, *, rows: dict[str, int], added: Any = None) -> Change:
    """Exactly these row deltas happened, no blob was removed, and (when given) exactly these keys were added.

    `added` is a set of keys or a callable that checks the set of added keys; the store is then checked for
    consistency.
    """
    found = change(before, db, blobs)
    if rows.get("consent_ledger") and "ledger_heads" not in rows:
        # The write that appended them signed the ledger's new head: one signed head per such transaction.
        rows = {**rows, "ledger_heads": 1}
    assert found.rows == rows, f"row deltas {found.rows}, expected {rows}"
    assert not found.removed, f"blobs removed: {sorted(found.removed)}"
    if callable(added):
        assert added(found.added), f"unexpected blobs added: {sorted(found.added)}"
    elif added is not None:
        assert found.added == frozenset(added), f"blobs added {sorted(found.added)}, expected {sorted(added)}"
    assert_consistent(db, blobs)
    return found
