"""Demo photo library: public-domain portraits from assets/demo, analysed by the real face detector, linked to
demo people and partly published, so the review queue and the at-risk dashboard have something to show."""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from PIL import Image, ImageOps
from sqlalchemy import select

from portal.backend.photos.analysis import Detectors, analyze_one
from portal.backend.photos.assets import ingest, record_use
from portal.backend.photos.biometrics import link_detection, mark_unidentifiable
from portal.backend.photos.vision.faces import FaceAnalyzer
from portal.backend.platform.actors import Actor
from portal.backend.platform.blobs import BlobStore
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import detections

# The demo's staff member who reviewed and published the library.
REVIEWER = Actor.staff(3, "staff")
DEMO_DIR = Path(__file__).resolve().parents[3] / "assets" / "demo"

# (file name, event key, the portraits side by side (":m" mirrors one), who is who from left to right).
# None marks a person nobody has identified yet: a task for staff in the review queue.
LIBRARY = (
    ("spring-keynote.jpg", "spring", ["astronaut"], ["Anna Lindqvist"]),
    ("spring-panel.jpg", "spring", ["astronaut", "grace_hopper"], ["Anna Lindqvist", "Erik Johansson"]),
    ("summer-stage.jpg", "summer", ["grace_hopper"], ["Olivia Karlsson"]),
    ("summer-crowd.jpg", "summer", ["grace_hopper", "astronaut:m"], ["Olivia Karlsson", None]),
)
# Where the demo organisation already uses photos: the panel shows Erik, who withdrew website consent, so the
# dashboard has a critical photo to explain.
PUBLISHED = (
    ("spring-panel.jpg", "website", "https://demo.example/news/spring-conference"),
    ("summer-stage.jpg", "social_media", "https://social.example/demo/posts/1"),
    ("spring-keynote.jpg", "print", "Annual report 2026, page 4"),
)


def _compose(parts: list[str]) -> bytes:
    """Portraits scaled to one height and pasted side by side, as a JPEG."""
    images = []
    for part in parts:
        name, _, flag = part.partition(":")
        with Image.open(DEMO_DIR / f"{name}.jpg") as opened:
            rgb = opened.convert("RGB")
            scaled = rgb.resize((round(rgb.width * 480 / rgb.height), 480))
            images.append(ImageOps.mirror(scaled) if flag == "m" else scaled)
    canvas = Image.new("RGB", (sum(i.width for i in images), 480), "white")
    x = 0
    for img in images:
        canvas.paste(img, (x, 0))
        x += img.width
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=88)
    return out.getvalue()


def add_demo_photos(
    db: Database,
    blobs: BlobStore,
    *,
    people: Mapping[str, str],
    events: Mapping[str, int],
    max_pixels: int,
    now: datetime,
) -> int:
    """Upload, analyse, link and publish the demo library; returns the number of photos."""
    ids: dict[str, int] = {}
    for filename, event, parts, _who in LIBRARY:
        ids[filename] = ingest(
            db, blobs, data=_compose(parts), filename=filename, max_pixels=max_pixels, event_id=events[event], now=now
        ).asset.id
    detectors = Detectors(FaceAnalyzer(model="hog"), None, "off (demo)")
    while analyze_one(db, blobs, detectors, max_pixels=max_pixels) is not None:
        pass
    for filename, _event, _parts, who in LIBRARY:
        with db.read() as conn:
            faces = conn.execute(
                select(detections.c.id, detections.c.x, detections.c.w, detections.c.h, detections.c.score).where(
                    detections.c.asset_id == ids[filename], detections.c.kind == "face"
                )
            ).all()
        # The largest boxes are the portraits' faces; HOG also finds a few faint "faces" (a mission patch).
        largest = sorted(faces, key=lambda f: f.w * f.h, reverse=True)[: len(who)]
        with db.write() as conn:
            for face, name in zip(sorted(largest, key=lambda f: f.x), who, strict=False):
                if name is not None:
                    link_detection(conn, detection_id=face.id, subject_id=people[name], actor=REVIEWER, now=now)
            for face in faces:  # as staff would: the faintest ones are judged not to be people
                if face not in largest and (face.score or 0) < 0.1:
                    mark_unidentifiable(conn, detection_id=face.id, actor=REVIEWER, now=now)
    with db.write() as conn:
        for filename, purpose, place in PUBLISHED:
            record_use(conn, asset_id=ids[filename], purpose=purpose, place=place, actor=REVIEWER, now=now)
    return len(ids)
