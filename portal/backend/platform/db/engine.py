"""Database handle: owns the engine and exposes read and write transactions."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from portal.backend.platform.config import PoolSettings
from portal.backend.platform.errors import ConfigError, DatabaseBusy, DatabaseUnavailable

_WRITE = "portal_write"
_log = logging.getLogger(__name__)


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


class Database:
    """One database: an engine plus the two verbs `read()` and `write()`."""

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        create: bool = True,
        echo: bool = False,
        pool: PoolSettings | None = None,
    ) -> None:
        self.url = url
        self.schema = schema
        self.pool = pool or PoolSettings()
        self.engine = _make_engine(url, schema=schema, create=create, echo=echo, pool=self.pool)
        # Writers queue here before they take a pooled connection. SQLite has one writer at a time: its writers
        # wait in turn instead of spinning in SQLite's busy handler (unfair under load, each spinner holding a
        # connection). On PostgreSQL consent writes serialise on the ledger head's row lock, and a writer waiting
        # for that lock holds a connection: capping this process's writers at half the pool keeps the other half
        # for the pages' reads, so a burst of taps slows taps down, not everyone's page.
        self._writers = _WriterQueue(1 if self.dialect == "sqlite" else max(1, self.pool.size // 2))

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction."""
        with _translate_errors(self.url), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in a write transaction; on SQLite it takes the write lock up front."""
        # BEGIN IMMEDIATE avoids SQLite's deadlock when two deferred readers both try to upgrade to writers.
        with self._queued(), _translate_errors(self.url), self.engine.connect() as raw:
            conn = raw.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    @contextmanager
    def _queued(self) -> Iterator[None]:
        """Wait for this process's turn to write: up to the pool timeout, and at least as long as SQLite's own busy
        timeout (60 s), which still orders writers of other processes."""
        with self._writers.turn(timeout=max(self.pool.timeout, 60.0)):
            yield

    def scrub(self, tables: Sequence[str], *, full: bool = False) -> None:
        """Make rows just overwritten or deleted in `tables` unreadable in the database files (after an erasure).

        SQLite (with secure_delete) zeroes them in the main file; the write-ahead log still holds the old pages until
        a checkpoint, so the log is checkpointed and truncated. PostgreSQL keeps old row versions until VACUUM prunes
        them, which it can only do once no open transaction still sees them and only as the tables' owner (others
        get a warning, not an error); a pruned row's bytes can stay in the page's free space, so `full` rewrites
        the tables (VACUUM FULL: a short exclusive lock, given up after 30 s), as the daily job does after erasures.
        Both run outside any transaction; failures are logged and left to the next run, never raised into the
        erasure that already committed.
        """
        try:
            if self.dialect == "sqlite":
                raw = self.engine.raw_connection()
                try:
                    raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                finally:
                    raw.close()
                return
            names = [t for t in tables if t.isidentifier()]
            if names:
                with self.engine.connect() as conn:
                    auto = conn.execution_options(isolation_level="AUTOCOMMIT")
                    if full:
                        auto.exec_driver_sql("SET lock_timeout = '30s'")
                    auto.exec_driver_sql(f"VACUUM {'FULL ' if full else ''}{', '.join(names)}")
                    if full:
                        auto.exec_driver_sql("RESET lock_timeout")
        except (DBAPIError, sqlite3.Error) as exc:
            _log.warning(
                "Scrubbing %s after an erasure failed (the next daily run retries): %s", safe_url(self.url), exc
            )

    def vacuum(self, tables: Sequence[str]) -> None:
        """Reclaim the old row versions a large batch left in `tables` and refresh their planner statistics.

        PostgreSQL only (VACUUM (ANALYZE), outside any transaction): where autovacuum is off or slow, a day that
        expires a million consents leaves several dead versions per risk-index row, and the dashboard's summary at a
        million photos went from 0.55 s to 1.06 s until they were vacuumed. SQLite reuses freed pages itself. A
        failure is logged and left to the next run.
        """
        names = [t for t in tables if t.isidentifier()]
        if self.dialect != "postgresql" or not names:
            return
        try:
            with self.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    f"VACUUM (ANALYZE) {', '.join(names)}"
                )
        except DBAPIError as exc:
            _log.warning("Vacuuming %s failed (the next daily run retries): %s", safe_url(self.url), exc)

    def ping(self) -> None:
        """Raise DatabaseUnavailable unless the database answers."""
        with self.read() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()


class _WriterQueue:
    """At most `permits` write transactions of this process at once, the others waiting in turn; re-entrant per
    thread, so a write opened inside another one in the same thread does not wait for itself."""

    def __init__(self, permits: int) -> None:
        self._permits = threading.BoundedSemaphore(permits)
        self._depth = threading.local()

    @contextmanager
    def turn(self, *, timeout: float) -> Iterator[None]:
        """Hold a permit for the block; DatabaseBusy when none came free within `timeout` seconds."""
        depth = getattr(self._depth, "n", 0)
        if depth == 0 and not self._permits.acquire(timeout=timeout):
            raise DatabaseBusy(_BUSY)
        self._depth.n = depth + 1
        try:
            yield
        finally:
            self._depth.n = depth
            if depth == 0:
                self._permits.release()


_BUSY = (
    "The database is busy: every connection stayed in use while this request waited. Nothing was changed; "
    "try again in a moment (operators: see PORTAL_DB_POOL_SIZE and PORTAL_DB_MAX_OVERFLOW)."
)


@contextmanager
def _translate_errors(url: str) -> Iterator[None]:
    """Turn connection failures into DatabaseUnavailable with an actionable message, and a full pool or a locked
    SQLite file into DatabaseBusy (the request waited its bounded time; try again)."""
    try:
        yield
    except PoolTimeout as exc:
        raise DatabaseBusy(_BUSY) from exc
    except OperationalError as exc:
        if getattr(exc.orig, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise DatabaseBusy(_BUSY) from exc
        if getattr(exc.orig, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            # Not an unreachable server: SQLite's disk has no room for the write (the transaction was rolled back).
            raise DatabaseUnavailable(
                f"Cannot write to the database at {safe_url(url)}: its disk is full ({str(exc.orig).strip()}). "
                "Free some space on that disk, then try again."
            ) from exc
        if exc.connection_invalidated or _is_connect_error(exc):
            raise DatabaseUnavailable(
                f"Cannot reach the database at {safe_url(url)}: {str(exc.orig).strip().splitlines()[0]}. "
                "Check PORTAL_DATABASE_URL (or --database-url) and that the server is running."
            ) from exc
        raise


def _is_connect_error(exc: DBAPIError) -> bool:
    """True for errors raised while opening a connection rather than by a statement."""
    return exc.statement is None or "unable to open database" in str(exc.orig).lower()


def _make_engine(url: str, *, schema: str | None, create: bool, echo: bool, pool: PoolSettings) -> Engine:
    """Create an engine with the pragmas and session settings the portal relies on."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"Database URL {url!r} is not a valid SQLAlchemy URL (expected e.g. sqlite:///data/portal.db "
            "or postgresql+psycopg://user@host:5432/db)."
        ) from None
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    file_db = backend == "sqlite" and bool(parsed.database) and parsed.database != ":memory:"
    if backend == "postgresql" or file_db:
        # SQLAlchemy's default (5 + 10, 30 s) raised "QueuePool limit reached" at 100 sessions.
        kwargs.update(pool_size=pool.size, max_overflow=pool.overflow, pool_timeout=pool.timeout)
    if backend == "sqlite":
        if file_db and parsed.database:
            path = Path(parsed.database)
            if not create and not path.is_file():
                raise DatabaseUnavailable(
                    f"There is no database file at {path}. Check --database-url, or create it with "
                    "`python -m portal db upgrade`."
                )
            path.parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 60, "check_same_thread": False}
        engine = create_engine(parsed, **kwargs)
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        connect_args: dict[str, Any] = {"connect_timeout": 10}
        if schema:
            connect_args["options"] = f"-c search_path={schema}"
        kwargs.update(connect_args=connect_args, pool_pre_ping=True)
        return create_engine(parsed, **kwargs)
    raise ConfigError(f"Unsupported database {backend!r}: use sqlite:/// or postgresql+psycopg://.")


def _enable_wal(cur: sqlite3.Cursor) -> None:
    """Switch a database file to WAL once; the switch needs a moment alone with the file, so when several
    processes open a brand-new database at the same instant the losers retry briefly instead of failing."""
    if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
        return
    deadline = time.monotonic() + 30
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout and explicit BEGIN so transactions mean what they say."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's begin event emit BEGIN itself (pysqlite's implicit BEGIN is unreliable).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        _enable_wal(cur)
        cur.execute("PRAGMA synchronous=NORMAL")
        # Deleted and overwritten content is zeroed in the file, not left in free space (erasure, Art. 17).
        cur.execute("PRAGMA secure_delete=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")
