"""An independent oracle for the risk index: the original straight-from-the-ledger SQL, kept only for tests.

It judges every (photo, person, purpose) from the ledger at query time, with no projection in between, so a
test that compares it with `risk.at_risk_rows` catches a risk index that fell out of step.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, text

from portal.backend.platform.db.types import UTCDateTime

# One row per (asset, purpose, reason). Rules (architecture "Status and risk rules", R8, R23):
# - a face or person nobody is confirmed for (and not marked unidentifiable) is an unidentified person;
#   a person box with a face inside is covered by that face;
# - a confirmed subject without valid consent for the purpose on that very image puts it at risk, with the
#   status as the reason ("veto" when a per-image refusal overrides a general consent, "superseded" when the
#   consent was given under a text version that has since been replaced, R16).
_AT_RISK = """
WITH latest AS (
    SELECT max(seq) AS seq FROM consent_ledger GROUP BY subject_id, purpose_id, scope_asset_id
), texts AS (
    SELECT purpose_id, max(version) AS version FROM purpose_texts GROUP BY purpose_id
), st AS (
    SELECT c.subject_id, c.purpose_id, c.scope_asset_id, c.valid_until,
           CASE WHEN c.action IN ('given', 'renewed') AND c.text_version < t.version THEN 'superseded'
                WHEN c.action IN ('given', 'renewed') AND c.valid_until IS NOT NULL AND c.valid_until <= :now
                THEN 'expired' ELSE c.action END AS status
    FROM consent_ledger c JOIN latest ON latest.seq = c.seq LEFT JOIN texts t ON t.purpose_id = c.purpose_id
), links AS (
    SELECT DISTINCT asset_id, subject_id FROM detections
    WHERE link_status = 'confirmed' AND subject_id IS NOT NULL AND identifiable = true
), eff AS (
    SELECT l.asset_id, p.id AS purpose_id,
           CASE WHEN img.status IN ('refused', 'withdrawn', 'revoked', 'given', 'renewed', 'superseded')
                THEN img.status
                WHEN gen.status IS NOT NULL THEN gen.status
                WHEN img.status = 'expired' THEN 'expired'
                ELSE 'unknown' END AS status,
           CASE WHEN img.status IN ('refused', 'withdrawn', 'revoked') AND gen.status IN ('given', 'renewed')
                THEN 1 ELSE 0 END AS vetoed
    FROM links l
    CROSS JOIN purposes p
    LEFT JOIN st gen ON gen.subject_id = l.subject_id AND gen.purpose_id = p.id AND gen.scope_asset_id IS NULL
    LEFT JOIN st img ON img.subject_id = l.subject_id AND img.purpose_id = p.id AND img.scope_asset_id = l.asset_id
    WHERE p.active = true AND p.biometric = false
), unidentified AS (
    SELECT DISTINCT d.asset_id FROM detections d
    WHERE d.identifiable = true AND (d.subject_id IS NULL OR d.link_status <> 'confirmed')
      AND (d.kind = 'face' OR NOT EXISTS (
            SELECT 1 FROM detections f
            WHERE f.asset_id = d.asset_id AND f.kind = 'face'
              AND NOT (f.identifiable = false AND coalesce(f.link_status, '') = 'rejected' AND f.subject_id IS NULL)
              AND f.x + f.w / 2 BETWEEN d.x AND d.x + d.w AND f.y + f.h / 2 BETWEEN d.y AND d.y + d.h))
)
SELECT asset_id, purpose_id, CASE WHEN vetoed = 1 THEN 'veto' ELSE status END AS reason
FROM eff WHERE status NOT IN ('given', 'renewed')
UNION
SELECT u.asset_id, p.id, 'unidentified' FROM unidentified u CROSS JOIN purposes p
WHERE p.active = true AND p.biometric = false
"""


def reference_rows(conn: Connection, *, now: datetime) -> set[tuple[int, int, str]]:
    """(asset id, purpose id, reason) at risk, computed from scratch."""
    stmt = text(_AT_RISK).bindparams(bindparam("now", type_=UTCDateTime))
    return {tuple(r) for r in conn.execute(stmt, {"now": now})}
