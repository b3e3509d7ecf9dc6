"""BlobStore: where originals, thumbnails, renditions and receipts live (local folder by default)."""

from __future__ import annotations

import errno
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from portal.backend.platform.errors import NotFound, StorageError, ValidationError

if TYPE_CHECKING:
    from portal.backend.platform.config import Settings

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,299}")


def check_key(key: str) -> str:
    """Refuse keys that could escape the store (absolute paths, '..', odd characters)."""
    if not _KEY.fullmatch(key) or ".." in key.split("/") or "//" in key:
        raise ValidationError(f"Invalid blob key {key!r}.")
    return key


class BlobStore(Protocol):
    """The contract every blob backend meets; one contract test suite runs against each."""

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store `data` under `key`, replacing what was there."""

    def get(self, key: str) -> bytes:
        """The bytes under `key`, or NotFound."""

    def delete(self, key: str) -> None:
        """Remove `key`; removing a missing key is not an error."""

    def exists(self, key: str) -> bool:
        """True when `key` is stored."""

    def list_keys(self, prefix: str) -> list[str]:
        """Every stored key that starts with `prefix`, sorted."""

    def signed_url(self, key: str, *, seconds: int) -> str | None:
        """A short-lived URL a browser can show the blob from, or None when the store has none (serve the bytes)."""


class LocalBlobStore:
    """Blobs as files under one folder; writes are atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        """Filesystem path of a key."""
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Write atomically so a crash never leaves half a file under the key; a full disk is a StorageError."""
        path = self._path(key)
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException as exc:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise self._write_error(key, exc) from exc
            raise

    def _write_error(self, key: str, exc: OSError) -> StorageError:
        """A message a person can act on for a failed write (callers and pages catch PortalError, not OSError)."""
        reason = exc.strerror or str(exc)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return StorageError(
                f"Cannot store {key}: the disk of the blob store ({self.root}) is full ({reason}). "
                "Free some space or move PORTAL_DATA_DIR to a larger disk, then try again."
            )
        return StorageError(f"Cannot store {key} in the blob store ({self.root}): {reason}.")

    def get(self, key: str) -> bytes:
        """Read a blob."""
        path = self._path(key)
        if not path.is_file():
            raise NotFound(f"No stored file {key!r}.")
        return path.read_bytes()

    def delete(self, key: str) -> None:
        """Delete a blob if present."""
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        """True when the blob is stored."""
        return self._path(key).is_file()

    def list_keys(self, prefix: str) -> list[str]:
        """Stored keys under a prefix (temporary files of interrupted writes are not keys)."""
        check_key(prefix.rstrip("/") or "x")
        base = self.root / prefix
        folder = base if base.is_dir() else base.parent
        if not folder.is_dir():
            return []
        keys = (p.relative_to(self.root).as_posix() for p in folder.rglob("*") if p.is_file())
        return sorted(k for k in keys if k.startswith(prefix) and not Path(k).name.startswith(".tmp-"))

    def signed_url(self, key: str, *, seconds: int) -> str | None:
        """A folder has no URLs of its own: pages serve the bytes instead."""
        check_key(key)
        return None


def make_blob_store(settings: Settings) -> BlobStore:
    """The blob store the settings ask for; a Supabase bucket is checked (reachable, right key, private) first."""
    if settings.blob_backend == "local":
        return LocalBlobStore(settings.blob_dir)
    # Imported here so the embedded mode never loads supabase-py.
    from portal.backend.platform.hosted import SupabaseBlobStore

    return SupabaseBlobStore.from_settings(settings)
