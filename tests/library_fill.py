"""A synthetic photo library bulk-inserted for the review desk's tests and bench (not real analysis): photos in two
events, most analysed, some pending or failed; confirmed faces of people who agreed to the website, faces nobody is
linked to, person boxes, and publications. Every photo shares one real thumbnail, so pages and crops can render."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from PIL import Image, ImageDraw
from sqlalchemy import insert, select

from portal.backend.consent.records import Context
from portal.backend.platform.blobs import BlobStore
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import asset_uses, assets, detections, events, purposes
from portal.backend.risk import index as risk_index
from tests.factories import make_subject

THUMB_KEY = "thumbs/library/shared.jpg"
CHUNK = 5_000
STAFF_ENTRY = Context(channel="staff", actor="staff:test", evidence={"act": "staff_entry"})


@dataclass(frozen=True)
class Library:
    """What was inserted, for the tests to compare with."""

    asset_ids: list[int]  # oldest first
    events: tuple[int, int]
    pending: set[int]
    failed: set[int]
    with_stranger: set[int]  # analysed photos with a face nobody is linked to
    published: set[int]
    event_of: dict[int, int]
    person: str  # the subject confirmed in most photos (website given)
    person_name: str


def shared_thumbnail() -> bytes:
    """A 480x320 JPEG with three light 'faces' on a dark ground, so crops are visibly different regions."""
    image = Image.new("RGB", (480, 320), (40, 60, 90))
    draw = ImageDraw.Draw(image)
    for n, x in enumerate((60, 200, 340)):
        draw.ellipse((x, 80, x + 80, 180), fill=(230, 190 - 40 * n, 160))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def fill_library(db: Database, blobs: BlobStore, *, photos: int, seed: int = 11) -> Library:
    """Insert `photos` photos with detections and publications, then rebuild the risk index."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    blobs.put(THUMB_KEY, shared_thumbnail(), content_type="image/jpeg")
    person_name = "Walter Webb"
    person = make_subject(db, name=person_name, choices={"website": True, "internal": True}, context=STAFF_ENTRY)
    with db.write() as conn:
        first = conn.execute(
            insert(events)
            .values(name="Spring gala", place="Lund", qr_secret="a" * 32, created_at=now)
            .returning(events.c.id)
        ).scalar_one()
        second = conn.execute(
            insert(events)
            .values(name="Summer fair", place="Malmö", qr_secret="b" * 32, created_at=now)
            .returning(events.c.id)
        ).scalar_one()
        website = conn.execute(select(purposes.c.id).where(purposes.c.code == "website")).scalar_one()
        start = int(conn.execute(select(assets.c.id).order_by(assets.c.id.desc()).limit(1)).scalar() or 0)
        rows = []
        for n in range(photos):
            state = "pending" if n % 25 == 3 else "failed" if n % 100 == 7 else "done"
            rows.append(
                {
                    "sha256": f"{start + n + 1:064x}",
                    "blob_key": THUMB_KEY,
                    "thumb_key": THUMB_KEY,
                    "filename": f"IMG_{n:05d}.jpg",
                    "content_type": "image/jpeg",
                    "width": 480,
                    "height": 320,
                    "bytes": 1,
                    "uploaded_at": now - timedelta(seconds=photos - n),
                    "event_id": first if n % 2 == 0 else second,
                    "analysis_state": state,
                }
            )
        for i in range(0, len(rows), CHUNK):
            conn.execute(insert(assets), rows[i : i + CHUNK])
        made = conn.execute(
            select(assets.c.id, assets.c.analysis_state, assets.c.event_id)
            .where(assets.c.id > start)
            .order_by(assets.c.id)
        ).all()
        dets: list[dict[str, object]] = []
        stranger: set[int] = set()
        for a in made:
            if a.analysis_state != "done":
                continue
            has_stranger = rng.random() < 0.3
            faces = [(0.125, person), (0.42, None if has_stranger else person)]
            if has_stranger:
                stranger.add(a.id)
            for x, who in faces:
                dets.append(
                    {
                        "asset_id": a.id,
                        "kind": "face",
                        "x": x,
                        "y": 0.25,
                        "w": 0.17,
                        "h": 0.31,
                        "score": 0.9,
                        "detector": "dlib-hog",
                        "created_at": now,
                        "subject_id": who,
                        "link_method": "manual" if who else None,
                        "link_status": "confirmed" if who else None,
                    }
                )
            if len(dets) >= CHUNK:
                conn.execute(insert(detections), dets)
                dets = []
        if dets:
            conn.execute(insert(detections), dets)
        published = {a.id for a in made if a.analysis_state == "done" and a.id % 10 == 0}
        if published:
            conn.execute(
                insert(asset_uses),
                [
                    {"asset_id": a, "purpose_id": website, "place": f"https://example.org/{a}", "since": now}
                    for a in sorted(published)
                ],
            )
        # One set-based judgement of the whole library, as a migration derives the index (no takedown tasks).
        risk_index.refresh_all(conn)
    return Library(
        asset_ids=[a.id for a in made],
        events=(first, second),
        pending={a.id for a in made if a.analysis_state == "pending"},
        failed={a.id for a in made if a.analysis_state == "failed"},
        with_stranger=stranger,
        published=published,
        event_of={a.id: a.event_id for a in made},
        person=person,
        person_name=person_name,
    )
