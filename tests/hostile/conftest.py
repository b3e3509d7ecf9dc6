"""Fixtures of the hostile-input catalogue: a real organisation on both databases plus a real blob store."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from portal.backend.photos.analysis import Detectors, analyze_one
from portal.backend.photos.assets import ingest
from portal.backend.photos.vision.faces import FaceAnalyzer
from portal.backend.platform.blobs import LocalBlobStore
from portal.backend.platform.db.engine import Database
from tests.imagery import group_photo

MAX_PIXELS = 60_000_000


@dataclass(frozen=True)
class Site:
    """The database (migrated, organisation and purposes installed) and the blob store of one test."""

    db: Database
    blobs: LocalBlobStore


@pytest.fixture
def site(org_db: Database, tmp_path: Path) -> Site:
    """A fresh organisation with an empty local blob store, once on SQLite and once on PostgreSQL."""
    return Site(db=org_db, blobs=LocalBlobStore(tmp_path / "blobs"))


@pytest.fixture(scope="session")
def detectors() -> Detectors:
    """The real face detector (no person detector): what `assets analyze` runs."""
    faces = FaceAnalyzer()
    faces.load()
    return Detectors(faces=faces, persons=None, person_status="off")


def analysed_photo(site: Site, detectors: Detectors, filename: str, event_id: int | None = None) -> int:
    """A real two-person photo, ingested under `filename` and analysed; returns its asset id."""
    asset = ingest(
        site.db,
        site.blobs,
        data=group_photo(["astronaut", "grace_hopper"]),
        filename=filename,
        max_pixels=MAX_PIXELS,
        event_id=event_id,
    ).asset
    state, faces, _ = analyze_one(site.db, site.blobs, detectors, max_pixels=MAX_PIXELS) or ("none", 0, 0)
    assert state == "done" and faces >= 2
    return asset.id


def pdf_text(pdf: bytes, folder: Path, name: str = "doc") -> str:
    """The text pdftotext extracts from a PDF (UTF-8), after checking that its first page is not blank."""
    path = folder / f"{name}.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True).stdout
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(path), str(folder / name)], check=True)
    with Image.open(next(folder.glob(f"{name}*.png"))) as page:
        dark = sum(page.convert("L").histogram()[:128])
    assert dark > 300, "the first page is blank"
    return text.decode("utf-8")


def shows(text: str, literal: str) -> bool:
    """True when the extracted text holds `literal` (whitespace ignored: long words may wrap)."""
    return "".join(literal.split()) in "".join(text.split())
