"""A withdrawal on a phone reaches the staff "To take down" list in the same browser session; ending the publication
there closes the task, and the ledger and audit log show both."""

from __future__ import annotations

import json

from sqlalchemy import select

from portal.backend.consent.records import Context
from portal.backend.photos.analysis import run_worker
from portal.backend.photos.assets import asset_detections, ingest
from portal.backend.photos.services import link_face, publish_photo
from portal.backend.platform.actors import Actor
from portal.backend.platform.blobs import LocalBlobStore
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import asset_uses, audit_log, consent_ledger, takedowns
from portal.backend.platform.runtime import Portal
from portal.backend.risk import index as risk_index
from tests.e2e.conftest import ARTIFACTS, LivePortal, settle
from tests.e2e.test_staff_journey import _open, _sign_in
from tests.factories import create_personal_link, register_subject
from tests.imagery import group_photo


def test_a_withdrawal_on_a_phone_lands_on_the_takedown_list(  # type: ignore[no-untyped-def]
    live_portal: LivePortal, desktop_page
) -> None:
    page = desktop_page
    db = Database(live_portal.database_url)
    settings = load_settings(env={}, secrets_path=None, database_url=live_portal.database_url, base_url=live_portal.url)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # Wanda agreed to the website; her photo is on it.
    wanda = register_subject(
        db,
        name="Wanda Webb",
        choices={"internal": True, "website": True},
        context=Context(channel="staff", actor="staff:e2e", evidence={"act": "e2e"}),
    ).subject
    blobs = LocalBlobStore(live_portal.folder / "data" / "blobs")
    asset = ingest(
        db, blobs, data=group_photo(["grace_hopper"]), filename="wanda-stage.jpg", max_pixels=settings.max_image_pixels
    ).asset
    run_worker(db, blobs, settings)
    with db.read() as conn:
        face = max((d for d in asset_detections(conn, asset.id) if d.kind == "face"), key=lambda d: d.box.w)
    portal = Portal(settings=settings, db=db, blobs=blobs)
    link_face(portal, actor=Actor.operator("e2e"), detection_id=face.id, subject_id=wanda.id)
    use = publish_photo(
        portal, actor=Actor.operator("e2e"), asset_id=asset.id, purpose="website", where="https://example.org/stage"
    )

    # 1. Staff have the list open on a laptop.
    _sign_in(page, live_portal.url, "staff@demo.example", "demo-staff-pass")
    _open(page, "To take down")
    page.get_by_role("heading", name="To take down").wait_for()
    assert page.get_by_text("wanda-stage.jpg").count() == 0

    # 2. Wanda withdraws website consent on her phone, in another page of the same browser.
    phone = page.context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    link = create_personal_link(
        db, subject_id=wanda.id, secret=settings.secret_key, base_url=live_portal.url, ttl_days=settings.link_ttl_days
    )
    phone.goto(link)
    phone.get_by_text("Hello Wanda Webb").wait_for()
    settle(phone)
    # The summary's "Change" for the website opens its text and the one button; the answer appears right there.
    phone.locator(".st-key-change_website summary").click()
    phone.locator(".st-key-withdraw_website button").wait_for()
    settle(phone)  # a tap while a run is still drawing the page can be lost under load
    phone.locator(".st-key-withdraw_website button").click()
    phone.locator(".st-key-change_website").get_by_text("Withdrawn. We have recorded it").wait_for()
    phone.close()

    # 3. The staff list shows the photo on its next run (navigating within the app: a reload would sign out).
    _open(page, "Overview")
    _open(page, "To take down")
    card = page.get_by_text("wanda-stage.jpg")
    card.first.wait_for()
    with db.read() as conn:
        task = conn.execute(select(takedowns).where(takedowns.c.use_id == use)).one()
    assert (task.kind, task.cause, task.closed_at) == ("takedown", "withdrawn", None)
    page.get_by_text("someone in it withdrew consent").first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "takedowns-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    settle(page)
    page.screenshot(path=str(ARTIFACTS / "takedowns-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    settle(page)

    # 4. Ending the publication there closes the task.
    page.locator(f".st-key-end_{task.id} button").click()
    page.locator(f".st-key-end_{task.id}").wait_for(state="detached")
    settle(page)
    with db.read() as conn:
        closed = conn.execute(select(takedowns).where(takedowns.c.id == task.id)).one()
        ended = conn.execute(select(asset_uses.c.until).where(asset_uses.c.id == use)).scalar_one()
        withdrawal = conn.execute(
            select(consent_ledger.c.action, consent_ledger.c.channel, consent_ledger.c.recorded_at)
            .where(consent_ledger.c.subject_id == wanda.id)
            .order_by(consent_ledger.c.seq.desc())
        ).first()
        unpublished = conn.execute(
            select(audit_log.c.actor, audit_log.c.detail).where(audit_log.c.action == "unpublish_photo")
        ).all()
        assert risk_index.check(conn) == []
    assert closed.open_key is None and closed.closed_by.startswith("staff:") and ended is not None
    # The withdrawal (ledger, channel portal) opened the task at its own moment; the unpublish is audited with it.
    assert (withdrawal.action, withdrawal.channel) == ("withdrawn", "portal")
    assert task.opened_at == withdrawal.recorded_at
    assert [(a.actor, json.loads(a.detail)["takedown_tasks"]) for a in unpublished] == [(closed.closed_by, [task.id])]
