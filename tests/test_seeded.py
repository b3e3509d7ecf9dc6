"""The seeded demo templates the page tests clone: each clone is complete, its own, and cleaned up."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, func, select, text, update

from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import assets, subjects
from tests.conftest import PG_URL, require_postgres
from tests.seeded import DemoTemplates, SeededPortal


def _names(db: Database) -> set[str]:
    with db.read() as conn:
        return set(conn.execute(select(subjects.c.display_name)).scalars())


def test_a_clone_holds_the_demo_and_its_photos_and_changes_stay_in_it(
    seeded_portal: SeededPortal, demo_templates: DemoTemplates, tmp_path: Path
) -> None:
    with seeded_portal.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(subjects)).scalar_one() == 7
        keys = [k for row in conn.execute(select(assets.c.blob_key, assets.c.thumb_key)) for k in row if k]
    assert len(keys) >= 4 and all((seeded_portal.data_dir / "blobs" / k).is_file() for k in keys)
    with seeded_portal.db.write() as conn:
        conn.execute(update(subjects).where(subjects.c.display_name == "Noah Berg").values(display_name="Changed"))
    (seeded_portal.data_dir / "blobs" / keys[0]).unlink()
    other = demo_templates.clone(seeded_portal.kind, tmp_path / "other")
    try:
        assert "Noah Berg" in _names(other.db) and "Changed" not in _names(other.db)
        assert (other.data_dir / "blobs" / keys[0]).is_file()
    finally:
        demo_templates.discard(other)


def test_close_drops_the_template_and_every_copy_on_postgres(tmp_path: Path) -> None:
    require_postgres()
    templates = DemoTemplates(root=tmp_path / "templates", pg_base=PG_URL)
    admin = create_engine(PG_URL)

    def existing(names: set[str]) -> set[str]:
        with admin.connect() as conn:
            query = text("SELECT datname FROM pg_database WHERE datname = ANY(:names)")
            return set(conn.execute(query, {"names": sorted(names)}).scalars())

    try:
        discarded = templates.clone("postgresql", tmp_path / "a")
        templates.discard(discarded)
        left = templates.clone("postgresql", tmp_path / "b")  # as a test that died before its teardown leaves it
        left.db.dispose()
        spare = templates._spare.result() if templates._spare is not None else None  # the next test's copy
        template = templates._pg
        assert template is not None and spare is not None
        made = {str(discarded.db.engine.url.database), str(left.db.engine.url.database), template, spare}
        assert len(made) == 4 and {template, str(left.db.engine.url.database), spare} <= existing(made)
        templates.close()
        assert existing(made) == set()
    finally:
        templates.close()
        admin.dispose()
