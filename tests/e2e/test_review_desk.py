"""The photographer's review desk in a real browser, on a phone and on a laptop: filter the grid to photos with faces
to review, open one, see numbered faces with their crops, link a face to a person found by search, unlink it, and
go on to the next photo to review. Screenshots go to test-artifacts/e2e/."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.backend.consent.records import Context
from portal.backend.photos.services import analyse_pending, import_photos
from portal.backend.platform.actors import Actor
from portal.backend.platform.blobs import make_blob_store
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import assets, detections
from portal.backend.platform.runtime import Portal
from tests.e2e.conftest import ARTIFACTS, LivePortal, settle
from tests.e2e.test_mail_journey import _open_in_sidebar
from tests.e2e.test_staff_journey import _sign_in
from tests.factories import register_subject
from tests.imagery import group_photo

VIEWPORTS = {"phone": "browser_page", "laptop": "desktop_page"}


def _images_loaded(page) -> None:  # type: ignore[no-untyped-def]
    """Wait until every image on the page has been decoded, so a screenshot shows them."""
    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_review_desk_filters_opens_links_unlinks_and_moves_on(
    live_portal: LivePortal, viewport: str, request: pytest.FixtureRequest
) -> None:
    page = request.getfixturevalue(VIEWPORTS[viewport])
    width = page.viewport_size["width"]
    db = Database(live_portal.database_url)
    settings = load_settings(
        env={"PORTAL_DATA_DIR": str(live_portal.folder / "data")},
        secrets_path=None,
        database_url=live_portal.database_url,
        base_url=live_portal.url,
    )
    portal = Portal(settings=settings, db=db, blobs=make_blob_store(settings))
    walter = register_subject(
        db,
        name="Walter Webb",
        email="walter@gala.example",
        choices={"internal": True, "website": True},
        context=Context(channel="staff", actor="staff:e2e", evidence={"act": "e2e"}),
    ).subject
    # Two of last night's photos with people nobody has linked yet; the newer one is reviewed first.
    staff = Actor.staff(3, "staff")
    import_photos(
        portal,
        actor=staff,
        files=[
            ("gala-pair.jpg", group_photo(["astronaut", "grace_hopper"])),
            ("gala-crowd.jpg", group_photo(["grace_hopper", "astronaut"])),
        ],
    )
    analyse_pending(portal, actor=staff)
    with db.read() as conn:
        pair = conn.execute(select(assets.c.id).where(assets.c.filename == "gala-pair.jpg")).scalar_one()
        crowd = conn.execute(select(assets.c.id).where(assets.c.filename == "gala-crowd.jpg")).scalar_one()
        faces = (
            conn.execute(
                select(detections.c.id)
                .where(detections.c.asset_id == crowd, detections.c.kind == "face")
                .order_by(detections.c.x)  # the desk numbers faces left to right
            )
            .scalars()
            .all()
        )
        # The astronaut's mission patch is found as a face too, with the weakest score: not a face.
        patch = conn.execute(
            select(detections.c.id)
            .where(detections.c.asset_id == pair, detections.c.kind == "face")
            .order_by(detections.c.score)
        ).scalar()
    assert len(faces) >= 2 and crowd > pair and patch is not None
    first = faces[0]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    _sign_in(page, live_portal.url, "staff@demo.example", "demo-staff-pass")
    _open_in_sidebar(page, "Photos")

    # 1. Filter the grid to photos with faces to review: both new photos are there, at risk.
    page.locator(".st-key-desk_unreviewed label").click()
    settle(page)
    expect(page.locator(f".st-key-card_{pair}")).to_be_visible()
    expect(page.locator(f".st-key-card_{crowd}")).to_contain_text("At risk")
    expect(page.locator(f".st-key-card_{crowd}")).to_contain_text(f"{len(faces)} faces · {len(faces)} to review")
    _images_loaded(page)
    page.screenshot(path=str(ARTIFACTS / f"review-desk-grid-{width}.png"), full_page=True)

    # 2. Open the newer one: numbered faces, each with its crop.
    page.locator(f".st-key-open_{crowd} button").click()
    settle(page)
    expect(page.get_by_role("heading", name=f"#{crowd} gala-crowd.jpg")).to_be_visible()
    card = page.locator(f".st-key-face_{first}")
    expect(card).to_contain_text("Face 1 · to review")
    expect(card.locator("img")).to_have_count(1)
    expect(page.locator(f".st-key-face_{faces[1]}")).to_contain_text("Face 2")

    # 3. Link face 1 to Walter, found by part of his name; his consent per purpose shows.
    page.locator(f".st-key-find_{first} input").fill("walter")
    page.locator(f".st-key-find_{first} input").press("Enter")
    settle(page)
    # The e-mail hint tells namesakes apart (a word joiner after "@" keeps it from becoming a mail link).
    expect(page.locator(f".st-key-face_{first}")).to_contain_text("Walter Webb · wa…@\u2060gala.example")
    page.locator(f".st-key-link_{first}_{walter.id} button").click()
    settle(page)
    expect(page.get_by_text("Face 1 linked to Walter Webb.")).to_be_visible()
    card = page.locator(f".st-key-face_{first}")
    expect(card).to_contain_text("Face 1 · confirmed")
    expect(card).to_contain_text("Our website: ✓ given")
    expect(card).to_contain_text("Social media: ✗ not asked")
    _images_loaded(page)
    page.screenshot(path=str(ARTIFACTS / f"review-desk-photo-{width}.png"), full_page=True)

    # 4. Unlink it again: a face to review once more.
    page.locator(f".st-key-unlink_{first} button").click()
    settle(page)
    expect(page.get_by_text("Face 1 unlinked.")).to_be_visible()
    expect(page.locator(f".st-key-face_{first}")).to_contain_text("Face 1 · to review")

    # 5. Next photo to review: the older gala photo, under the same filter.
    page.locator(".st-key-desk_next button").click()
    settle(page)
    expect(page.get_by_role("heading", name=f"#{pair} gala-pair.jpg")).to_be_visible()
    expect(page.locator("[class*='st-key-face_']").first).to_be_visible()
    page.locator(f".st-key-notface_{patch} button:visible").click()  # a button with help is drawn twice
    settle(page)
    expect(page.get_by_text("marked not a face.")).to_be_visible()
    expect(page.locator(f".st-key-face_{patch}")).to_contain_text("· not a face")
    expect(page.locator(f".st-key-restore_{patch} button:visible")).to_have_count(1)  # undone with one click
    _images_loaded(page)
    page.screenshot(path=str(ARTIFACTS / f"review-desk-next-{width}.png"), full_page=True)

    # 6. Back to the grid: the filter is still set.
    page.locator(".st-key-desk_back button").click()
    settle(page)
    expect(page.locator(".st-key-desk_unreviewed input")).to_be_checked()
    expect(page.locator(".st-key-desk_event input")).to_have_value("All events")
    expect(page.locator(f".st-key-card_{crowd}")).to_be_visible()
    db.dispose()
