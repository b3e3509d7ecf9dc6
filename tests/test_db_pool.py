"""The connection pool: sized by settings, and back-pressure when it is exhausted (a request waits its bounded time
for a connection, then gets DatabaseBusy, which the public pages say in the visitor's language)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.pool import QueuePool

from portal.backend.i18n import t
from portal.backend.platform.config import PoolSettings, load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.errors import ConfigError, DatabaseBusy


def test_pool_settings_come_from_the_environment() -> None:
    assert load_settings(env={}, secrets_path=None).pool == PoolSettings(size=10, overflow=20, timeout=30.0)
    env = {"PORTAL_DB_POOL_SIZE": "3", "PORTAL_DB_MAX_OVERFLOW": "0", "PORTAL_DB_POOL_TIMEOUT": "5"}
    assert load_settings(env=env, secrets_path=None).pool == PoolSettings(size=3, overflow=0, timeout=5.0)
    with pytest.raises(ConfigError, match="PORTAL_DB_POOL_SIZE"):
        load_settings(env={"PORTAL_DB_POOL_SIZE": "0"}, secrets_path=None)
    with pytest.raises(ConfigError, match="PORTAL_DB_POOL_TIMEOUT"):
        load_settings(env={"PORTAL_DB_POOL_TIMEOUT": "0"}, secrets_path=None)


def test_the_busy_message_is_in_each_language() -> None:
    assert t("error.busy", "en") != t("error.busy", "sv") and "try again" in t("error.busy", "en")


def test_the_engine_is_sized_by_the_settings(db_url: str) -> None:
    db = Database(db_url, pool=PoolSettings(size=4, overflow=6, timeout=7))
    try:
        pool = db.engine.pool
        assert isinstance(pool, QueuePool) and pool.size() == 4 and pool.timeout() == 7
        assert pool._max_overflow == 6
    finally:
        db.dispose()


def _hold(db: Database, held: threading.Event, release: threading.Event) -> None:
    """Keep the pool's only connection in a read transaction until told to let go."""
    with db.read() as conn:
        conn.execute(text("SELECT 1"))
        held.set()
        assert release.wait(timeout=120)


@pytest.mark.postgres
def test_a_second_session_waits_for_the_connection_then_succeeds(pg_url: str) -> None:
    db = Database(pg_url, pool=PoolSettings(size=1, overflow=0, timeout=60))
    held, release, asked = threading.Event(), threading.Event(), threading.Event()
    order: list[str] = []
    got: list[int] = []

    def second() -> None:
        asked.set()
        with db.read() as conn:
            order.append("second got a connection")
            got.append(conn.execute(text("SELECT 2")).scalar_one())

    first = threading.Thread(target=_hold, args=(db, held, release))
    first.start()
    try:
        assert held.wait(timeout=60)
        waiter = threading.Thread(target=second)
        waiter.start()
        assert asked.wait(timeout=60)
        # The pool's one connection is checked out by the first session, so the second cannot have one yet.
        waiter.join(timeout=1.0)
        assert waiter.is_alive() and not got and db.engine.pool.checkedout() == 1  # type: ignore[attr-defined]
        order.append("first released")
        release.set()
        waiter.join(timeout=60)
        assert not waiter.is_alive()
    finally:
        release.set()
        first.join(timeout=60)
        db.dispose()
    assert order == ["first released", "second got a connection"] and got == [2]


@pytest.mark.postgres
def test_a_wait_past_the_timeout_is_busy_not_a_pool_error(pg_url: str) -> None:
    db = Database(pg_url, pool=PoolSettings(size=1, overflow=0, timeout=1))
    held, release = threading.Event(), threading.Event()
    first = threading.Thread(target=_hold, args=(db, held, release))
    first.start()
    try:
        assert held.wait(timeout=60)
        with pytest.raises(DatabaseBusy, match="try again"):
            with db.read():
                pass
    finally:
        release.set()
        first.join(timeout=60)
    with db.read() as conn:  # once the first session is done, the pool serves again
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    db.dispose()


def test_sqlite_writers_queue_without_locked_errors(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'w.db'}", pool=PoolSettings(size=2, overflow=2, timeout=60))
    with db.write() as conn:
        conn.execute(text("CREATE TABLE tally (n INTEGER)"))
    writers = 24
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            start.wait(timeout=60)
            for _ in range(5):
                with db.write() as conn:
                    conn.execute(text("INSERT INTO tally VALUES (:n)"), {"n": n})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=300)
    with db.read() as conn:
        count = conn.execute(text("SELECT count(*) FROM tally")).scalar_one()
    db.dispose()
    # More writers than connections: each waits its turn (process write lock, then the pool), none fails.
    assert not errors and count == writers * 5


def test_queued_writers_leave_connections_for_readers(db_url: str) -> None:
    # Two connections: writers may use one at a time (half the pool), so a second writer waits for its turn holding
    # no connection, and a page's read still gets the other one at once (a 1 s wait would raise DatabaseBusy).
    db = Database(db_url, pool=PoolSettings(size=2, overflow=0, timeout=1))
    held, release, asked, wrote = threading.Event(), threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first_writer() -> None:
        with db.write() as conn:
            conn.execute(text("SELECT 1"))
            held.set()
            assert release.wait(timeout=120)

    def second_writer() -> None:
        asked.set()
        try:
            with db.write() as conn:
                conn.execute(text("SELECT 1"))
                wrote.set()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    first = threading.Thread(target=first_writer)
    first.start()
    second = threading.Thread(target=second_writer)
    try:
        assert held.wait(timeout=60)
        second.start()
        assert asked.wait(timeout=60)
        for _ in range(3):
            with db.read() as conn:
                assert conn.execute(text("SELECT 3")).scalar_one() == 3
        assert not wrote.is_set()  # the second writer is still waiting for the first one's turn to end
    finally:
        release.set()
        first.join(timeout=60)
        second.join(timeout=60)
        db.dispose()
    # The queue waits at least 60 s whatever the pool timeout, so the second writer got its turn.
    assert wrote.is_set() and not errors
