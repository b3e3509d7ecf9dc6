"""The Portal handle every service takes: settings, the database and the blob store of this process."""

from __future__ import annotations

from dataclasses import dataclass

from portal.backend.platform.blobs import BlobStore
from portal.backend.platform.config import Settings
from portal.backend.platform.db.engine import Database


@dataclass(frozen=True)
class Portal:
    """Everything a service needs, built once per process (pages: cached; CLI: per command)."""

    settings: Settings
    db: Database
    blobs: BlobStore
