"""Which photos are at risk for which purpose, and why: computed in SQL, never by loading tables into Python."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Integer, String, bindparam, text

from portal.backend.db.types import UTCDateTime, utcnow

REASONS = ("unidentified", "unknown", "refused", "withdrawn", "revoked", "expired", "veto")

# One row per (asset, purpose, reason). Rules (architecture "Status and risk rules", R8, R23):
# - a face or person nobody is confirmed for (and not marked unidentifiable) is an unidentified person;
#   a person box with a face inside is covered by that face;
# - a confirmed subject without valid consent for the purpose on that very image puts it at risk, with the
#   status as the reason ("veto" when a per-image refusal overrides a general consent).
_AT_RISK = """
WITH latest AS (
    SELECT max(seq) AS seq FROM consent_ledger GROUP BY subject_id, purpose_id, scope_asset_id
), st AS (
    SELECT c.subject_id, c.purpose_id, c.scope_asset_id, c.valid_until,
           CASE WHEN c.action IN ('given', 'renewed') AND c.valid_until IS NOT NULL AND c.valid_until <= :now
                THEN 'expired' ELSE c.action END AS status
    FROM consent_ledger c JOIN latest ON latest.seq = c.seq
), links AS (
    SELECT DISTINCT asset_id, subject_id FROM detections
    WHERE link_status = 'confirmed' AND subject_id IS NOT NULL AND identifiable = true
), eff AS (
    SELECT l.asset_id, p.id AS purpose_id,
           CASE WHEN img.status IN ('refused', 'withdrawn', 'revoked', 'given', 'renewed') THEN img.status
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
              AND f.x + f.w / 2 BETWEEN d.x AND d.x + d.w AND f.y + f.h / 2 BETWEEN d.y AND d.y + d.h))
)
SELECT asset_id, purpose_id, CASE WHEN vetoed = 1 THEN 'veto' ELSE status END AS reason
FROM eff WHERE status NOT IN ('given', 'renewed')
UNION
SELECT u.asset_id, p.id, 'unidentified' FROM unidentified u CROSS JOIN purposes p
WHERE p.active = true AND p.biometric = false
"""

_PUBLISHED = "SELECT DISTINCT asset_id, purpose_id FROM asset_uses WHERE until IS NULL"

_EXPIRING = """
WITH latest AS (
    SELECT max(seq) AS seq FROM consent_ledger WHERE scope_asset_id IS NULL GROUP BY subject_id, purpose_id
)
SELECT DISTINCT d.asset_id, c.purpose_id, c.subject_id, c.valid_until
FROM consent_ledger c JOIN latest ON latest.seq = c.seq
JOIN detections d ON d.subject_id = c.subject_id AND d.link_status = 'confirmed'
WHERE c.action IN ('given', 'renewed') AND c.valid_until > :now AND c.valid_until <= :horizon
"""


@dataclass(frozen=True)
class PurposeRisk:
    """Headline figures of one purpose."""

    purpose: str
    at_risk: int
    critical: int
    expiring: int
    by_reason: dict[str, int]


def _now_params(now: datetime, **extra: datetime) -> Any:
    """Bind parameters typed so both databases compare times the same way."""
    params = [bindparam("now", type_=UTCDateTime)] + [bindparam(k, type_=UTCDateTime) for k in extra]
    return params, {"now": now, **extra}


def at_risk_rows(conn: Connection, *, now: datetime | None = None) -> list[tuple[int, int, str]]:
    """(asset id, purpose id, reason) for every photo at risk."""
    params, values = _now_params(now or utcnow())
    return [tuple(r) for r in conn.execute(text(_AT_RISK).bindparams(*params), values)]


def summary(conn: Connection, *, now: datetime | None = None, warning_days: int = 30) -> list[PurposeRisk]:
    """Per purpose: photos at risk, critical ones (published while at risk), expiring ones, and why."""
    now = now or utcnow()
    params, values = _now_params(now)
    agg = text(f"""
        WITH risk AS ({_AT_RISK}), published AS ({_PUBLISHED})
        SELECT p.code, risk.reason, count(DISTINCT risk.asset_id) AS n,
               count(DISTINCT CASE WHEN pub.asset_id IS NOT NULL THEN risk.asset_id END) AS critical
        FROM risk JOIN purposes p ON p.id = risk.purpose_id
        LEFT JOIN published pub ON pub.asset_id = risk.asset_id AND pub.purpose_id = risk.purpose_id
        GROUP BY p.code, risk.reason
    """).bindparams(*params)
    totals = text(f"""
        WITH risk AS ({_AT_RISK}), published AS ({_PUBLISHED})
        SELECT p.code, count(DISTINCT risk.asset_id) AS n,
               count(DISTINCT CASE WHEN pub.asset_id IS NOT NULL THEN risk.asset_id END) AS critical
        FROM risk JOIN purposes p ON p.id = risk.purpose_id
        LEFT JOIN published pub ON pub.asset_id = risk.asset_id AND pub.purpose_id = risk.purpose_id
        GROUP BY p.code
    """).bindparams(*params)
    exp_params, exp_values = _now_params(now, horizon=now + timedelta(days=warning_days))
    expiring = text(f"""
        SELECT p.code, count(DISTINCT e.asset_id) FROM ({_EXPIRING}) e JOIN purposes p ON p.id = e.purpose_id
        GROUP BY p.code
    """).bindparams(*exp_params)
    reasons: dict[str, dict[str, int]] = {}
    for code, reason, n, _critical in conn.execute(agg, values):
        reasons.setdefault(code, {})[reason] = n
    total = {code: (n, critical) for code, n, critical in conn.execute(totals, values)}
    soon = dict(conn.execute(expiring, exp_values).all())
    codes = [c for (c,) in conn.execute(text(
        "SELECT code FROM purposes WHERE active = true AND biometric = false ORDER BY sort_order, id"))]
    return [
        PurposeRisk(purpose=c, at_risk=total.get(c, (0, 0))[0], critical=total.get(c, (0, 0))[1],
                    expiring=soon.get(c, 0), by_reason=reasons.get(c, {}))
        for c in codes
    ]


def critical_assets(conn: Connection, *, now: datetime | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Published photos that lost their basis: where they are, for what, and why (R10)."""
    params, values = _now_params(now or utcnow())
    rows = conn.execute(text(f"""
        WITH risk AS ({_AT_RISK})
        SELECT u.asset_id, a.filename, p.code, u.place, u.since, risk.reason
        FROM asset_uses u
        JOIN risk ON risk.asset_id = u.asset_id AND risk.purpose_id = u.purpose_id
        JOIN purposes p ON p.id = u.purpose_id JOIN assets a ON a.id = u.asset_id
        WHERE u.until IS NULL ORDER BY u.asset_id, p.code, risk.reason LIMIT :limit
    """).bindparams(*params).columns(asset_id=Integer, filename=String, code=String, place=String,
                                     since=UTCDateTime, reason=String), {**values, "limit": limit})
    return [dict(r._mapping) for r in rows]
