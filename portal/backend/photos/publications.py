"""Publishing checks consent: who in a photo blocks a purpose and why, before it is published for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from portal.backend.consent.purposes import get_purpose
from portal.backend.consent.status import ALLOWING, VETOING, status_for, subject_consents
from portal.backend.photos.assets import get_asset
from portal.backend.platform.db.schema import asset_risk, asset_uses, assets, detections, purposes, subjects
from portal.backend.platform.errors import ValidationError
from portal.backend.risk.index import REASON_BITS

# What each blocker means, in plain words for staff (staff pages are English).
WORDS = {
    "withdrawn": "withdrew consent",
    "refused": "refused",
    "veto": "asked that this photo not be used",
    "revoked": "consent was revoked",
    "expired": "consent has expired",
    "superseded": "agreed to an earlier text and has not renewed",
    "unknown": "was never asked",
    "unidentified": "nobody has identified this face",
    "unidentified_person": "a person nobody has identified (no face seen)",
    "not_analysed": "the photo has not been analysed for faces yet",
}
_STATUS_BIT = {"veto": "veto", "superseded": "superseded", "unknown": "unknown"}


@dataclass(frozen=True)
class Blocker:
    """One reason a photo may not be published for a purpose: a person and their status, or an unknown face."""

    status: str  # a key of WORDS
    detection_id: int | None = None
    subject_id: str | None = None
    name: str | None = None

    @property
    def words(self) -> str:
        """The blocker in plain words, e.g. 'Grace Hopper withdrew consent'."""
        if self.subject_id is None:
            return WORDS.get(self.status, self.status) + (f" (#{self.detection_id})" if self.detection_id else "")
        who = self.name or "a person whose data was erased"
        return f"{who} {WORDS.get(self.status, self.status)}"

    def to_json(self) -> dict[str, Any]:
        """For the audit row and `--json`: ids and the status, never the name."""
        return {"status": self.status, "detection_id": self.detection_id, "subject_id": self.subject_id}


@dataclass(frozen=True)
class PublishCheck:
    """Whether a photo may be published for a purpose now, and if not, who blocks it and why."""

    asset_id: int
    purpose: str
    reasons: int  # risk_index.REASON_BITS now (a consent lapsed by time counts as expired)
    blockers: tuple[Blocker, ...]
    third_party: bool

    @property
    def ok(self) -> bool:
        """Every face in the photo is covered for the purpose."""
        return not self.blockers and not self.reasons

    @property
    def reason_names(self) -> tuple[str, ...]:
        """The risk reasons, by name."""
        return tuple(name for name, bit in REASON_BITS.items() if self.reasons & bit)

    def sentence(self) -> str:
        """All blockers in one line."""
        return "; ".join(b.words for b in self.blockers) or ", ".join(self.reason_names)


def publish_check(conn: Connection, *, asset_id: int, purpose: str, now: datetime) -> PublishCheck:
    """Who in the photo blocks this purpose and why: every confirmed person whose status does not allow it (with
    the status), every face nobody is confirmed for, and a photo not analysed yet. The risk index decides; the
    detections say who."""
    asset = get_asset(conn, asset_id)
    found = get_purpose(conn, purpose)
    if found.biometric:
        raise ValidationError(f"{found.code} is face matching, not a way to publish a photo.")
    if not found.active:
        raise ValidationError(f"The purpose {found.code} is no longer in use.")
    risk = conn.execute(
        select(asset_risk.c.reasons, asset_risk.c.until).where(
            asset_risk.c.asset_id == asset_id, asset_risk.c.purpose_id == found.id
        )
    ).one_or_none()
    reasons = int(risk.reasons) if risk else 0
    if risk is not None and risk.until is not None and risk.until <= now:
        reasons |= REASON_BITS["expired"]  # lapsed since the last daily job: not usable either
    blockers: list[Blocker] = []
    if asset.analysis_state != "done":
        blockers.append(Blocker("not_analysed"))
    rows = conn.execute(
        select(
            detections.c.id,
            detections.c.kind,
            detections.c.x,
            detections.c.y,
            detections.c.w,
            detections.c.h,
            detections.c.subject_id,
            detections.c.link_status,
            detections.c.identifiable,
            subjects.c.display_name,
        )
        .outerjoin(subjects, subjects.c.id == detections.c.subject_id)
        .where(detections.c.asset_id == asset_id)
        .order_by(detections.c.id)
    ).all()
    # A detection staff marked "not a face" (not identifiable, rejected, nobody linked) covers no person box.
    faces = [r for r in rows if r.kind == "face" and (r.identifiable or r.link_status != "rejected" or r.subject_id)]
    seen: set[str] = set()
    for r in rows:
        if not r.identifiable:
            continue
        if r.link_status == "confirmed" and r.subject_id:
            if r.subject_id in seen:
                continue
            seen.add(r.subject_id)
            status = _person_status(conn, r.subject_id, found.code, asset_id, now)
            if status is not None:
                blockers.append(Blocker(status, r.id, r.subject_id, r.display_name))
        elif r.kind == "face":
            blockers.append(Blocker("unidentified", r.id))
        elif not any(
            r.x <= f.x + f.w / 2 <= r.x + r.w and r.y <= f.y + f.h / 2 <= r.y + r.h for f in faces
        ):  # a person box with a face inside is covered by that face, as in the risk index
            blockers.append(Blocker("unidentified_person", r.id))
    return PublishCheck(asset_id, found.code, reasons, tuple(blockers), found.third_party)


def _person_status(conn: Connection, subject_id: str, code: str, asset_id: int, now: datetime) -> str | None:
    """Why this person blocks the purpose for this photo, or None when their consent covers it."""
    statuses = subject_consents(conn, subject_id, now)
    effective = status_for(statuses, code, asset_id)
    if effective in ALLOWING:
        return None
    if effective in VETOING and status_for(statuses, code) in ALLOWING:
        return "veto"
    return effective


@dataclass(frozen=True)
class Publication:
    """Where a photo is (or was) published, for which purpose, and any override accepted at publication."""

    id: int
    asset_id: int
    filename: str
    purpose: str
    place: str
    since: datetime
    until: datetime | None
    override_reason: str | None
    accepted: tuple[str, ...]


def list_publications(conn: Connection, *, include_ended: bool = False, limit: int = 500) -> list[Publication]:
    """Current publications (or all, with ended ones), newest first."""
    stmt = (
        select(asset_uses, assets.c.filename, purposes.c.code)
        .join(assets, assets.c.id == asset_uses.c.asset_id)
        .join(purposes, purposes.c.id == asset_uses.c.purpose_id)
        .order_by(asset_uses.c.id.desc())
        .limit(limit)
    )
    if not include_ended:
        stmt = stmt.where(asset_uses.c.until.is_(None))
    return [
        Publication(
            id=r.id,
            asset_id=r.asset_id,
            filename=r.filename,
            purpose=r.code,
            place=r.place,
            since=r.since,
            until=r.until,
            override_reason=r.override_reason,
            accepted=tuple(n for n, bit in REASON_BITS.items() if int(r.accepted_reasons) & bit),
        )
        for r in conn.execute(stmt)
    ]
