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


def test_revision_0017_gives_current_consents_the_channel_of_their_ledger_entry(empty_db: Database) -> None:
    from portal.backend.risk.figures import staff_declared
    from tests.factories import make_org

    migrate.upgrade(empty_db, "0016")
    make_org(empty_db)
    sid = "22222222-2222-4222-8222-222222222222"
    with empty_db.write() as conn:
        # Rows as version 0016 wrote them: a consent a staff member declared, and one the person gave on the form.
        conn.execute(
            text(
                "INSERT INTO subjects (id, display_name, locale, is_minor, created_at) "
                "VALUES (:s, 'Dora Declared', 'en', false, '2026-01-01 00:00:00')"
            ),
            {"s": sid},
        )
        for seq, code, channel in ((1, "internal", "staff"), (2, "website", "qr_form")):
            pid = conn.execute(text("SELECT id FROM purposes WHERE code = :c"), {"c": code}).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO consent_ledger (seq, entry_id, subject_id, purpose_id, action, text_version, "
                    "text_locale, text_hash, channel, actor, recorded_at, valid_until, evidence, prev_hash, "
                    "entry_hash) VALUES (:seq, :eid, :s, :p, 'given', 1, 'en', :h, :ch, 'staff:1', "
                    "'2026-01-01 00:00:00', '2099-01-01 00:00:00', '{}', :h, :h)"
                ),
                {
                    "seq": seq,
                    "eid": f"00000000-0000-4000-8000-00000000000{seq}",
                    "s": sid,
                    "p": pid,
                    "h": "0" * 64,
                    "ch": channel,
                },
            )
            conn.execute(
                text(
                    "INSERT INTO consent_current (subject_id, purpose_id, scope_key, seq, action, text_version, "
                    "valid_until) VALUES (:s, :p, 0, :seq, 'given', 1, '2099-01-01 00:00:00')"
                ),
                {"s": sid, "p": pid, "seq": seq},
            )
    migrate.upgrade(empty_db)
    with empty_db.read() as conn:
        channels = {r[0]: r[1] for r in conn.execute(text("SELECT seq, channel FROM consent_current"))}
        assert channels == {1: "staff", 2: "qr_form"}
        declared = staff_declared(conn)
    assert (declared.consents, declared.people, declared.by_purpose) == (1, 1, {"internal": 1})
