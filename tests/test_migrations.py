"""Migrations: one schema definition, upgrades that keep rows, concurrent starts, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text

from portal.backend.consent import ledger
from portal.backend.ops.demo import seed_demo
from portal.backend.platform.db import migrate
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import metadata, subjects
from tests.factories import in_parallel


def test_upgrade_creates_the_schema_defined_in_schema_py(empty_db: Database) -> None:
    assert migrate.current_revision(empty_db) is None
    before, after = migrate.upgrade(empty_db)
    assert (before, after) == (None, migrate.head_revision())
    with empty_db.read() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diffs == []


def test_upgrade_twice_is_a_no_op(db: Database) -> None:
    assert migrate.upgrade(db) == (migrate.head_revision(), migrate.head_revision())


def test_upgrade_from_an_older_revision_keeps_every_row(empty_db: Database) -> None:
    migrate.upgrade(empty_db, "0001")
    with empty_db.write() as conn:
        # A row written by the older version (before the ledger triggers and head existed).
        conn.execute(
            text(
                "INSERT INTO subjects (id, display_name, locale, is_minor, created_at) "
                "VALUES ('11111111-1111-4111-8111-111111111111', 'Early Bird', 'en', false, "
                "'2026-01-01 00:00:00')"
            )
        )
    migrate.upgrade(empty_db)
    assert migrate.current_revision(empty_db) == migrate.head_revision()
    with empty_db.read() as conn:
        assert conn.execute(select(subjects.c.display_name)).scalars().all() == ["Early Bird"]
    seed_demo(empty_db)
    assert ledger.verify(empty_db).ok
    with empty_db.read() as conn:
        assert conn.execute(select(func.count()).select_from(subjects)).scalar_one() == 8


def test_concurrent_upgrades_do_not_collide(empty_db: Database) -> None:
    assert in_parallel(empty_db.url, migrate.upgrade) == []
    assert migrate.current_revision(empty_db) == migrate.head_revision()


def test_a_database_from_a_newer_version_is_refused_clearly(db: Database) -> None:
    import pytest

    from portal.backend.platform.errors import ConfigError

    with db.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(ConfigError, match="newer version of the portal"):
        migrate.upgrade(db)
