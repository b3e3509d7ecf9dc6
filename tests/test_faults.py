"""Faults during an upload: a full disk or a database that cannot be reached leaves no half-written photo.

`ingest` stores the original and the thumbnail first and writes the row last; whatever fails in between, the caller
gets a portal error a person can act on (pages and the CLI catch PortalError, not OSError) and afterwards there is
neither a row without its blobs nor a blob without its row. Supabase Storage breaking off halfway is covered in
test_supabase_hosted.py; a killed analysis worker in test_assets.py. Here: the local blob store on a full disk (the
kernel's ENOSPC injected, and on a real tiny tmpfs where this machine lets us mount one), and the database
unreachable before the upload, lost between the blobs and the row, and killed inside the row's transaction.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url

from portal.backend.photos.assets import ingest
from portal.backend.platform.blobs import LocalBlobStore
from portal.backend.platform.db import migrate
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import assets
from portal.backend.platform.errors import DatabaseUnavailable, StorageError
from tests.factories import make_org
from tests.imagery import group_photo

MAX_PIXELS = 60_000_000


@pytest.fixture(scope="module")
def photo() -> bytes:
    return group_photo(["grace_hopper"])


def _asset_count(db: Database) -> int:
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(assets)).scalar_one()


def _files(root: Path) -> list[str]:
    """Every file under the store's folder, temporary files of interrupted writes included."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


class HookedStore(LocalBlobStore):
    """The real local store, calling `after_put(key)` once a blob is stored (to break something at that moment)."""

    def __init__(self, root: Path, after_put: Callable[[str], None]) -> None:
        super().__init__(root)
        self.after_put = after_put

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store, then run the hook."""
        super().put(key, data, content_type=content_type)
        self.after_put(key)


# --- a full disk under the blob store ------------------------------------------------------------------------------


class FullDiskStore(LocalBlobStore):
    """The real local store on a disk with no room for keys under `full_under`: the write runs as always and the
    kernel answers ENOSPC when the data is flushed (as delayed-allocation filesystems such as ext4 and XFS do)."""

    def __init__(self, root: Path, full_under: str | None) -> None:
        super().__init__(root)
        self.full_under = full_under

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store, with fsync failing when the disk is full for this key."""
        if self.full_under is None or not key.startswith(self.full_under):
            super().put(key, data, content_type=content_type)
            return
        enospc = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        with mock.patch("portal.backend.platform.blobs.os.fsync", side_effect=enospc):
            super().put(key, data, content_type=content_type)


@pytest.mark.parametrize("full_for", ["originals/", "thumbs/"])
def test_a_full_disk_fails_the_upload_clearly_and_leaves_nothing(
    org_db: Database, tmp_path: Path, photo: bytes, full_for: str
) -> None:
    store = FullDiskStore(tmp_path / "blobs", full_for)
    with pytest.raises(StorageError, match=r"the disk of the blob store .* is full \(No space left on device\)"):
        ingest(org_db, store, data=photo, filename="p.jpg", max_pixels=MAX_PIXELS)
    assert _asset_count(org_db) == 0
    assert _files(store.root) == []  # no original, no thumbnail, no half-written temporary file
    store.full_under = None  # space was freed: the same photo goes in whole
    intake = ingest(org_db, store, data=photo, filename="p.jpg", max_pixels=MAX_PIXELS)
    assert intake.created and _asset_count(org_db) == 1
    assert _files(store.root) == sorted([intake.asset.blob_key, intake.asset.thumb_key])


def test_other_write_failures_are_storage_errors_too(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    (store.root / "originals").write_text("a file where the store needs a folder")
    with pytest.raises(StorageError, match=r"Cannot store originals/ab/x\.jpg in the blob store"):
        store.put("originals/ab/x.jpg", b"data", content_type="image/jpeg")


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Callable[[int], Path]]:
    """Mount real tmpfs disks of a given size (root only; skipped, saying why, where mounting is not allowed)."""
    mounted: list[Path] = []

    def mount(size: int) -> Path:
        point = tmp_path / f"disk{len(mounted)}"
        point.mkdir()
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("a real full disk needs a tmpfs mount (root); the injected ENOSPC tests cover the same path")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); the injected ENOSPC tests still run")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        if subprocess.run(["umount", str(point)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(point)], check=True)


def _free(folder: Path) -> int:
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


def _pages(n: int) -> int:
    return -(-n // 4096) * 4096


@pytest.mark.parametrize("full_for", ["originals/", "thumbs/"])
def test_a_real_full_disk_fails_the_upload_clearly_and_leaves_nothing(
    org_db: Database, tiny_disk: Callable[[int], Path], photo: bytes, full_for: str
) -> None:
    # Room for nothing, or for the original but not its thumbnail (tmpfs counts file data in 4 KiB pages).
    disk = tiny_disk(4096 if full_for == "originals/" else _pages(len(photo)) + 4096)
    store = LocalBlobStore(disk / "blobs")
    with pytest.raises(StorageError, match=r"the disk of the blob store .* is full \(No space left on device\)"):
        ingest(org_db, store, data=photo, filename="p.jpg", max_pixels=MAX_PIXELS)
    assert _asset_count(org_db) == 0
    assert _files(disk) == []
    assert _free(disk) == (4096 if full_for == "originals/" else _pages(len(photo)) + 4096)  # every byte given back


def test_a_disk_that_fills_up_before_the_row_is_written_leaves_nothing(
    tiny_disk: Callable[[int], Path], photo: bytes
) -> None:
    # The embedded mode keeps the SQLite file and the blobs in one data folder: the blobs fit, then the disk fills
    # up (another program writes) before the row goes into the database.
    disk = tiny_disk(4 * 2**20)
    db = Database(f"sqlite:///{disk / 'portal.db'}")
    try:
        migrate.upgrade(db)
        make_org(db)
        db.dispose()  # the last connection closes: the WAL is checkpointed, so the next write needs new room
        filler = disk / "other-program.bin"

        def fill_the_disk(key: str) -> None:
            if key.startswith("thumbs/"):
                filler.write_bytes(b"\0" * _free(disk))

        store = HookedStore(disk / "blobs", fill_the_disk)
        with pytest.raises(DatabaseUnavailable, match=r"Cannot write to the database .* its disk is full"):
            ingest(db, store, data=photo, filename="p.jpg", max_pixels=MAX_PIXELS)
        assert _files(store.root) == []
        filler.unlink()
        assert _asset_count(db) == 0
        store.after_put = lambda key: None
        intake = ingest(db, store, data=photo, filename="p.jpg", max_pixels=MAX_PIXELS)
        assert intake.created and _asset_count(db) == 1
    finally:
        db.dispose()


# --- a database that cannot be reached -----------------------------------------------------------------------------


def test_an_unreachable_postgres_refuses_the_upload_before_storing_anything(tmp_path: Path, photo: bytes) -> None:
    # A port that is bound but not listening: every connection attempt is refused, for as long as we hold it.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        db = Database(f"postgresql+psycopg://postgres@127.0.0.1:{closed.getsockname()[1]}/test")
        store = LocalBlobStore(tmp_path / "blobs")
        with pytest.raises(DatabaseUnavailable, match=r"Cannot reach the database at postgresql\+psycopg://.*refused"):
            ingest(db, store, data=photo, filename="p.jpg", max_pixels=MAX_PIXELS)
        db.dispose()
    assert _files(store.root) == []


def test_an_unopenable_sqlite_file_refuses_the_upload_before_storing_anything(tmp_path: Path, photo: bytes) -> None:
    # The configured database path is a folder (a share mounted in the wrong place): SQLite cannot open it.
    (tmp_path / "portal.db").mkdir()
    db = Database(f"sqlite:///{tmp_path / 'portal.db'}")
    store = LocalBlobStore(tmp_path / "blobs")
    with pytest.raises(DatabaseUnavailable, match=r"Cannot reach the database .* unable to open database file"):
        ingest(db, store, data=photo, filename="p.jpg", max_pixels=MAX_PIXELS)
    db.dispose()
    assert _files(store.root) == []


class CuttableLink:
    """A TCP forwarder between the portal and PostgreSQL whose cable can be pulled: after `cut()` every open
    connection is dead and new ones are refused, as in a network outage or a stopped server."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # cut
            server = socket.create_connection(self.upstream)
            with self.lock:
                self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        """Pull the cable: refuse new connections and break the open ones."""
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (close alone does not on Linux)
        self.listener.close()
        with self.lock:
            for s in self.sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


@pytest.fixture
def pg(pg_url: str) -> Iterator[Database]:
    """A migrated PostgreSQL schema with the organisation, reached directly (for setting up and checking)."""
    db = Database(pg_url)
    migrate.upgrade(db)
    make_org(db)
    yield db
    db.dispose()


@pytest.mark.postgres
def test_a_database_lost_between_the_blobs_and_the_row_leaves_nothing(
    pg: Database, tmp_path: Path, photo: bytes
) -> None:
    url = make_url(pg.url)
    link = CuttableLink(url.host or "127.0.0.1", url.port or 5432)
    db = Database(url.set(host="127.0.0.1", port=link.port).render_as_string(hide_password=False))
    cut_at: list[str] = []

    def pull_the_cable(key: str) -> None:
        if key.startswith("thumbs/"):
            cut_at.append(key)
            link.cut()

    store = HookedStore(tmp_path / "blobs", pull_the_cable)
    try:
        with pytest.raises(DatabaseUnavailable, match="Cannot reach the database"):
            ingest(db, store, data=photo, filename="p.jpg", max_pixels=MAX_PIXELS)
    finally:
        db.dispose()
    assert cut_at  # the outage came after both blobs were stored...
    assert _files(store.root) == []  # ...and they were removed again, though the database could not be asked
    assert _asset_count(pg) == 0


def _backend_pid(db: Database) -> int:
    with db.read() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _terminate(pg: Database, pid: int) -> None:
    with pg.write() as conn:  # waits up to 5 s for the backend to be gone
        assert conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}).scalar_one()


@pytest.mark.postgres
def test_a_connection_killed_between_the_blobs_and_the_row_is_replaced(
    pg: Database, tmp_path: Path, photo: bytes
) -> None:
    db = Database(pg.url)
    pid = _backend_pid(db)  # the pool's one connection, which the upload will use
    store = HookedStore(tmp_path / "blobs", lambda key: _terminate(pg, pid) if key.startswith("thumbs/") else None)
    try:
        intake = ingest(db, store, data=photo, filename="p.jpg", max_pixels=MAX_PIXELS)
        assert _backend_pid(db) != pid  # the dead connection was noticed and replaced, not used
    finally:
        db.dispose()
    assert intake.created and _asset_count(pg) == 1
    assert _files(store.root) == sorted([intake.asset.blob_key, intake.asset.thumb_key])


@pytest.mark.postgres
def test_a_connection_killed_inside_the_row_transaction_leaves_nothing(
    pg: Database, tmp_path: Path, photo: bytes
) -> None:
    db = Database(pg.url)
    killed: list[int] = []

    @event.listens_for(db.engine, "after_cursor_execute")
    def _kill_after_insert(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        # The row is inserted but not committed when the server ends the session (a crash, an administrator).
        if statement.lstrip().upper().startswith("INSERT INTO ASSETS") and not killed:
            killed.append(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
            _terminate(pg, killed[0])

    store = LocalBlobStore(tmp_path / "blobs")
    try:
        with pytest.raises(DatabaseUnavailable, match="Cannot reach the database"):
            ingest(db, store, data=photo, filename="p.jpg", max_pixels=MAX_PIXELS)
    finally:
        db.dispose()
    assert killed
    assert _asset_count(pg) == 0  # the uncommitted row died with the session
    assert _files(store.root) == []  # and the blobs the intake had stored were removed
