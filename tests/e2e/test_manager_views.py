"""The manager's view in a real browser, on a phone and a laptop: the headline, a drill into the photos behind a
bar as a thumbnail grid with the people in them, a thumbnail into the review desk; the audit log filtered and
exported through the audited service."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.backend.consent.records import Context
from portal.backend.photos.services import analyse_pending, import_photos, link_face, publish_photo
from portal.backend.platform.actors import Actor
from portal.backend.platform.blobs import make_blob_store
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import assets, audit_log, detections
from portal.backend.platform.runtime import Portal
from tests.e2e.conftest import ARTIFACTS, LivePortal, settle
from tests.e2e.test_mail_journey import _open_in_sidebar
from tests.e2e.test_review_desk import _images_loaded
from tests.e2e.test_staff_journey import _choose, _sign_in
from tests.factories import register_subject
from tests.imagery import group_photo

VIEWPORTS = {"phone": "browser_page", "laptop": "desktop_page"}


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_manager_drills_into_a_purpose_reviews_a_photo_and_exports_the_audit_log(
    live_portal: LivePortal, viewport: str, request: pytest.FixtureRequest
) -> None:
    page = request.getfixturevalue(VIEWPORTS[viewport])
    size = f"{page.viewport_size['width']}x{page.viewport_size['height']}"
    db = Database(live_portal.database_url)
    settings = load_settings(
        env={"PORTAL_DATA_DIR": str(live_portal.folder / "data")},
        secrets_path=None,
        database_url=live_portal.database_url,
        base_url=live_portal.url,
    )
    portal = Portal(settings=settings, db=db, blobs=make_blob_store(settings))
    # Erik said no to the website, yet his photo went up there (an override): a published photo without a basis.
    erik = register_subject(
        db,
        name="Erik Ek",
        choices={"internal": True, "website": False},
        context=Context(channel="staff", actor="staff:e2e", evidence={"act": "e2e"}),
    ).subject
    staff = Actor.staff(3, "staff")
    import_photos(portal, actor=staff, files=[("spring-panel.jpg", group_photo(["grace_hopper"]))])
    analyse_pending(portal, actor=staff)
    with db.read() as conn:
        panel = conn.execute(select(assets.c.id).where(assets.c.filename == "spring-panel.jpg")).scalar_one()
        face = (
            conn.execute(
                select(detections.c.id)
                .where(detections.c.asset_id == panel, detections.c.kind == "face")
                .order_by((detections.c.w * detections.c.h).desc())
            )
            .scalars()
            .first()
        )
    assert face is not None
    link_face(portal, actor=staff, detection_id=face, subject_id=erik.id)
    publish_photo(
        portal,
        actor=Actor.staff(1, "admin"),
        asset_id=panel,
        purpose="website",
        where="https://example.org/spring",
        override_reason="published before Erik said no (e2e)",
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    _sign_in(page, live_portal.url, "manager@demo.example", "demo-manager-pass")
    _open_in_sidebar(page, "At-risk photos")
    # The headline says first what must be acted on: the panel photo is published and Erik said no.
    expect(page.get_by_text("1 published photo lost its basis")).to_be_visible(timeout=30_000)
    page.get_by_role("tab", name="Drill down").click()
    _choose(page, "drill_purpose", "Our website")  # by its title (issue 16)
    _choose(page, "drill_what", "Refused")
    card = page.locator(f".st-key-drill_card_{panel}")
    expect(card).to_contain_text("spring-panel.jpg", timeout=30_000)
    expect(card).to_contain_text("Erik")
    expect(card).to_contain_text("Published")
    expect(card.locator("img")).to_be_visible()
    _images_loaded(page)
    page.screenshot(path=str(ARTIFACTS / f"manager-drill-{size}.png"), full_page=True)
    card.get_by_role("button", name="Review").scroll_into_view_if_needed()  # the card's people and reasons
    page.screenshot(path=str(ARTIFACTS / f"manager-drill-card-{size}.png"))

    # A thumbnail's Review button opens that photo on the review desk.
    card.get_by_role("button", name="Review").click()
    expect(page.get_by_role("heading", name=f"#{panel} spring-panel.jpg")).to_be_visible(timeout=30_000)
    settle(page)
    page.screenshot(path=str(ARTIFACTS / f"manager-drill-review-{size}.png"), full_page=True)

    _open_in_sidebar(page, "Audit log")
    _choose(page, "audit_action", "sign_in")
    table = page.locator("[data-testid='stDataFrame']")
    expect(table).to_be_visible(timeout=30_000)
    page.locator(".st-key-audit_export button").click()
    download_button = page.locator(".st-key-audit_download button")
    expect(download_button).to_be_visible(timeout=30_000)
    with page.expect_download() as download:
        download_button.click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert rows and {r["action"] for r in rows} == {"sign_in"}
    assert "Maja Manager (staff 2)" in {r["actor_name"] for r in rows}
    page.screenshot(path=str(ARTIFACTS / f"manager-audit-{size}.png"), full_page=True)
    with db.read() as conn:
        exported = conn.execute(select(audit_log.c.actor).where(audit_log.c.action == "export_audit_log")).all()
    assert [e.actor for e in exported] == ["staff:2"]
    db.dispose()
