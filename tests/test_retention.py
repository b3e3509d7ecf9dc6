"""Retention of the photo archive (R17) on both databases: the daily job flags, a manager lists and deletes.

Deleting removes the files, renditions, detections and risk rows, keeps a tombstone row, leaves the ledger as it
was, is audited, and is refused while the photo is published.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import ColumnElement, Table, func, select, update

from portal.backend.ops.services import run_daily_jobs
from portal.backend.photos.queries import list_assets, past_retention
from portal.backend.photos.services import (
    analyse_pending,
    delete_photo,
    import_photos,
    publish_photo,
    render_rendition,
    unpublish_photo,
)
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import (
    asset_risk,
    asset_uses,
    assets,
    audit_log,
    consent_ledger,
    detections,
    purposes,
)
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import AuthError, ConsentStateError
from portal.backend.platform.runtime import Portal
from portal.backend.risk import index as risk_index
from portal.cli import main as cli_main
from tests.factories import make_portal, make_staff, make_subject
from tests.imagery import group_photo
from tests.seeded import SeededPortal

NOW = utcnow()
ADMIN = Actor.operator("tester")


@pytest.fixture
def portal(org_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Portal:
    """An organisation whose purposes keep photos 30 and 60 days (the biometric purpose's period does not count)."""
    data = tmp_path / "data"
    monkeypatch.setenv("PORTAL_DATA_DIR", str(data))
    with org_db.write() as conn:
        for code, days in (("internal", 30), ("website", 60), ("face_matching", 9999)):
            conn.execute(update(purposes).where(purposes.c.code == code).values(retention_days=days))
    return make_portal(org_db, data / "blobs", secret_key="s" * 40, base_url="https://portal.example")


def _plain_jpeg(shade: int) -> bytes:
    """A photo with no face in it (publishing it needs nobody's consent)."""
    out = io.BytesIO()
    Image.new("RGB", (160, 120), (shade, 120, 150)).save(out, format="JPEG")
    return out.getvalue()


def _import(portal: Portal, name: str, data: bytes, days_ago: int) -> int:
    done = import_photos(portal, actor=ADMIN, files=[(name, data)], now=NOW - timedelta(days=days_ago))
    return done.imported[0]


def _count(portal: Portal, table: Table, *where: ColumnElement[bool]) -> int:
    with portal.db.read() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_flag_list_delete_and_tombstone(portal: Portal, capsys: pytest.CaptureFixture[str]) -> None:
    make_subject(portal.db, name="Ledger Person", choices={"internal": True})
    old_faces = _import(portal, "old-pair.jpg", group_photo(["astronaut", "grace_hopper"], height=300), 100)
    old_plain = _import(portal, "old-plain.jpg", _plain_jpeg(10), 90)
    recent = _import(portal, "recent.jpg", _plain_jpeg(200), 10)
    analyse_pending(portal, actor=ADMIN)
    publish_photo(portal, actor=ADMIN, asset_id=old_plain, purpose="internal", where="Intranet news")

    report = run_daily_jobs(portal, actor=ADMIN, now=NOW)
    assert report.past_retention == 2
    assert run_daily_jobs(portal, actor=ADMIN, now=NOW).past_retention == 0  # flagged once

    capsys.readouterr()
    assert cli_main(["assets", "retention", "--json", "--database-url", portal.db.url]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["period_days"] == 60  # the longest non-biometric period
    rows = {p["asset_id"]: p for p in listed["photos"]}
    assert set(rows) == {old_faces, old_plain}
    assert rows[old_faces]["age_days"] == 100 and rows[old_faces]["filename"] == "old-pair.jpg"
    assert rows[old_plain]["publications"] == ["internal: Intranet news"]

    # A stored rendition (what a publication keeps under renditions/<asset id>/).
    rendition = render_rendition(portal, actor=ADMIN, asset_id=old_faces, purpose="internal")
    portal.blobs.put(f"renditions/{old_faces}/internal.jpg", rendition.data, content_type="image/jpeg")
    with portal.db.read() as conn:
        keys = conn.execute(select(assets.c.blob_key, assets.c.thumb_key).where(assets.c.id == old_faces)).one()
    assert _count(portal, detections, detections.c.asset_id == old_faces) >= 2
    assert _count(portal, asset_risk, asset_risk.c.asset_id == old_faces) > 0
    ledger_before = _count(portal, consent_ledger)

    staff = make_staff(portal.db, role="staff")
    with pytest.raises(AuthError):
        delete_photo(portal, actor=staff, asset_id=old_faces)
    manager = make_staff(portal.db, role="manager", email="manager@example.org")
    capsys.readouterr()
    code = cli_main(
        ["assets", "delete", str(old_faces), "--as", "manager@example.org", "--database-url", portal.db.url]
    )
    assert code == 0 and "Deleted photo" in capsys.readouterr().out

    assert not portal.blobs.exists(keys.blob_key) and not portal.blobs.exists(keys.thumb_key)
    assert portal.blobs.list_keys(f"renditions/{old_faces}/") == []
    assert _count(portal, detections, detections.c.asset_id == old_faces) == 0
    assert _count(portal, asset_risk, asset_risk.c.asset_id == old_faces) == 0
    with portal.db.read() as conn:
        tomb = conn.execute(select(assets).where(assets.c.id == old_faces)).one()
        assert tomb.deleted_at is not None and tomb.filename == ""
        detail = conn.execute(
            select(audit_log.c.actor, audit_log.c.detail).where(
                audit_log.c.action == "delete_photo", audit_log.c.target_id == str(old_faces)
            )
        ).one()
        assert detail.actor == manager.ref and json.loads(detail.detail)["period_days"] == 60
        assert risk_index.check(conn) == []
    assert _count(portal, consent_ledger) == ledger_before
    assert cli_main(["ledger", "verify", "--database-url", portal.db.url]) == 0

    # Gone from the photo list and the retention list; the same file is not imported again.
    assert old_faces not in {a.id for a in list_assets(portal)}
    assert [p.asset_id for p in past_retention(portal).photos] == [old_plain]
    again = import_photos(
        portal, actor=ADMIN, files=[("again.jpg", group_photo(["astronaut", "grace_hopper"], height=300))]
    )
    assert again.imported == () and "deleted past retention" in again.rejected[0][1]

    # Published: refused until the publication ends. Not past retention: refused.
    with pytest.raises(ConsentStateError, match="still published"):
        delete_photo(portal, actor=manager, asset_id=old_plain)
    with portal.db.read() as conn:
        use_id = conn.execute(select(asset_uses.c.id).where(asset_uses.c.asset_id == old_plain)).scalar_one()
    unpublish_photo(portal, actor=ADMIN, use_id=use_id)
    assert delete_photo(portal, actor=manager, asset_id=old_plain).already is False
    with pytest.raises(ConsentStateError, match="not past retention"):
        delete_photo(portal, actor=manager, asset_id=recent)


def test_without_a_period_nothing_is_flagged(portal: Portal, capsys: pytest.CaptureFixture[str]) -> None:
    with portal.db.write() as conn:
        conn.execute(update(purposes).values(retention_days=None))
    _import(portal, "ancient.jpg", _plain_jpeg(50), 4000)
    assert run_daily_jobs(portal, actor=ADMIN, now=NOW).past_retention == 0
    assert past_retention(portal).period_days is None
    capsys.readouterr()
    assert cli_main(["assets", "retention", "--database-url", portal.db.url]) == 0
    assert "No purpose has a retention period" in capsys.readouterr().out


def test_an_admin_sets_the_retention_period_and_the_job_follows(
    portal: Portal, capsys: pytest.CaptureFixture[str]
) -> None:
    with portal.db.write() as conn:
        conn.execute(update(purposes).values(retention_days=None))
    photo = _import(portal, "ancient.jpg", _plain_jpeg(50), 400)
    assert run_daily_jobs(portal, actor=ADMIN, now=NOW).past_retention == 0
    url = ["--database-url", portal.db.url]
    assert cli_main(["purposes", "retention", "website", "--days", "365", *url]) == 0
    assert "website: photos are kept 365 days" in capsys.readouterr().out
    assert run_daily_jobs(portal, actor=ADMIN, now=NOW).past_retention == 1
    assert [row.asset_id for row in past_retention(portal).photos] == [photo]
    # Out of range, or by someone who is not an administrator: refused, nothing changes.
    assert cli_main(["purposes", "retention", "website", "--days", "0", *url]) == 1
    assert "between 1 and 36500 days" in capsys.readouterr().err
    make_staff(portal.db, email="keeper@example.org", role="manager")
    assert cli_main(["purposes", "retention", "website", "--none", "--as", "keeper@example.org", *url]) == 1
    with portal.db.read() as conn:
        assert conn.execute(select(purposes.c.retention_days).where(purposes.c.code == "website")).scalar() == 365
        rows = conn.execute(
            select(audit_log.c.actor, audit_log.c.detail).where(audit_log.c.action == "set_retention_period")
        ).all()
    assert len(rows) == 1 and json.loads(rows[0].detail) == {"from_days": None, "to_days": 365}


def test_the_past_retention_page_lists_and_deletes(seeded_portal: SeededPortal) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP

    db = seeded_portal.db
    with db.write() as conn:
        published = select(asset_uses.c.asset_id).where(asset_uses.c.until.is_(None))
        free, used = (
            conn.execute(select(assets.c.id).where(assets.c.id.not_in(published)).order_by(assets.c.id))
            .scalars()
            .first(),
            conn.execute(published.order_by(asset_uses.c.asset_id)).scalars().first(),
        )
        conn.execute(update(assets).where(assets.c.id.in_([free, used])).values(retention_flagged_at=NOW))
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input[0].input("manager@demo.example")
    at.text_input[1].input("demo-manager-pass")
    at = at.button[0].click().run()
    at.switch_page("portal/pages/retention.py")
    at.run()
    assert not at.exception
    assert at.title[0].value == "Past retention"
    # The published photo cannot be deleted from here until its publication ends.
    assert at.button(key=f"delete_{used}").disabled and any("End the publication" in w.value for w in at.warning)
    assert any(w.value.startswith("Published: Printed material: ") for w in at.warning)  # a title, not `print`
    at.button(key=f"delete_{free}").click().run()
    assert not at.exception and any(f"Photo #{free} was deleted" in s.value for s in at.success)
    assert f"delete_{free}" not in [b.key for b in at.button]
    with db.read() as conn:
        assert conn.execute(select(assets.c.deleted_at).where(assets.c.id == free)).scalar_one() is not None
        assert conn.execute(select(func.count()).where(detections.c.asset_id == free)).scalar_one() == 0
