"""A subject's full journey in a real browser on a phone-sized screen: QR form -> personal link -> withdraw one
purpose -> download my data -> erase me."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from sqlalchemy import select

from portal.backend.consent.status import status_for, subject_consents
from portal.backend.events.store import event_url
from portal.backend.photos.analysis import run_worker
from portal.backend.photos.assets import asset_detections, ingest
from portal.backend.photos.renditions import safe_rendition
from portal.backend.photos.services import link_face, publish_photo
from portal.backend.platform.actors import Actor
from portal.backend.platform.blobs import LocalBlobStore
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import consent_ledger, subjects
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.runtime import Portal
from portal.backend.risk import index as risk_index
from portal.backend.risk.figures import critical_assets
from tests.e2e.conftest import ARTIFACTS, LivePortal, settle
from tests.e2e.test_staff_journey import _choose
from tests.imagery import group_photo


def _no_horizontal_scroll(page) -> bool:  # type: ignore[no-untyped-def]
    """True when nothing is wider than the phone's screen."""
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_qr_form_link_and_withdrawal_on_a_phone(live_portal: LivePortal, browser_page) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    db = Database(live_portal.database_url)
    settings = load_settings(env={}, secrets_path=None, database_url=live_portal.database_url, base_url=live_portal.url)
    with db.read() as conn:
        qr_url = event_url(conn, event_id=2, secret=settings.secret_key, base_url=live_portal.url)

    # 1. "Scan" the poster: open the QR URL and fill in the form.
    page.goto(qr_url)
    page.get_by_text("Photos at Summer festival").wait_for()
    settle(page)
    assert _no_horizontal_scroll(page)
    page.locator(".st-key-form_name input").fill("Eva Example")
    page.locator(".st-key-form_name input").press("Tab")
    # Everyone gives month and year of birth (Art. 8); a Streamlit select box filters its options as one types.
    for key, value in (("form_birth_month", "06"), ("form_birth_year", "1990")):
        _choose(page, key, value)  # retries when a rerun closes the list mid-choice (slow machines)
    for key in ("agree_internal", "agree_website"):
        page.locator(f".st-key-{key} label").click()
        settle(page)
    assert page.locator(".st-key-agree_print input").is_checked() is False  # nothing pre-ticked
    page.locator(".st-key-form_submit button").click()
    page.get_by_text("Thank you, Eva Example").wait_for()
    settle(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "qr-form-done-390x844.png"), full_page=True)
    assert _no_horizontal_scroll(page)
    link = page.locator("[data-testid='stCode'] code").first.inner_text().strip()
    assert link.startswith(f"{live_portal.url}/?link=v1.")

    with db.read() as conn:
        eva = conn.execute(select(subjects.c.id).where(subjects.c.display_name == "Eva Example")).scalar_one()
    # Staff link Eva to a photo that is on the website, so her withdrawal has something to affect.
    blobs = LocalBlobStore(live_portal.folder / "data" / "blobs")
    asset = ingest(
        db, blobs, data=group_photo(["grace_hopper"]), filename="eva.jpg", max_pixels=settings.max_image_pixels
    ).asset
    run_worker(db, blobs, settings)
    with db.read() as conn:
        face = next(d for d in asset_detections(conn, asset.id) if d.kind == "face")
    staff = Portal(settings=settings, db=db, blobs=blobs)
    link_face(staff, actor=Actor.operator("e2e"), detection_id=face.id, subject_id=eva)
    publish_photo(
        staff, actor=Actor.operator("e2e"), asset_id=asset.id, purpose="website", where="https://example.org/summer"
    )
    assert safe_rendition(db, blobs, asset_id=asset.id, purpose="website", max_pixels=10**8).kept == 1

    # 2. Come back through the personal link and withdraw one purpose with one tap.
    page.goto(link)
    page.get_by_text("Hello Eva Example").wait_for()
    settle(page)
    # A typed place is plain text: a word joiner after "https:" keeps Markdown from turning it into a link.
    # The photo cards come after the greeting; wait for the one that carries the place.
    page.get_by_text(re.compile("https:\u2060?//example\\.org/summer")).first.wait_for()
    # The summary's "Change" for the website opens its text and the one button; the answer appears right there.
    page.locator(".st-key-change_website summary").click()
    page.locator(".st-key-withdraw_website button").wait_for()
    settle(page)  # a tap while a run is still drawing the page can be lost under load
    page.locator(".st-key-withdraw_website button").click()
    page.locator(".st-key-change_website").get_by_text("Withdrawn. We have recorded it").wait_for()
    settle(page)
    page.screenshot(path=str(ARTIFACTS / "my-consents-after-withdrawal-390x844.png"), full_page=True)
    assert _no_horizontal_scroll(page)

    # 3. The ledger and the photo's status changed at once (R8).
    with db.read() as conn:
        last = conn.execute(
            select(consent_ledger)
            .where(consent_ledger.c.subject_id == eva)
            .order_by(consent_ledger.c.seq.desc())
            .limit(1)
        ).one()
        statuses = subject_consents(conn, eva, utcnow())
    assert (last.action, last.channel, last.actor) == ("withdrawn", "portal", "subject")
    assert status_for(statuses, "website", asset.id) == "withdrawn"
    assert status_for(statuses, "internal") == "given"
    # The photo is now at risk for the website, and critical because it is published there (R8).
    with db.read() as conn:
        critical = critical_assets(conn)
    assert [(c["asset_id"], c["code"], c["reason"]) for c in critical] == [(asset.id, "website", "withdrawn")]
    # A safe rendition for the website blurs her.
    assert safe_rendition(db, blobs, asset_id=asset.id, purpose="website", max_pixels=10**8).kept == 0

    # 4. Download my data: a real ZIP download with her record, her ledger and her photo.
    page.locator(".st-key-rights summary").click()
    page.locator(".st-key-prepare_export button").wait_for()  # drawn when the expander opens (a rerun)
    settle(page)
    page.locator(".st-key-prepare_export button").click()
    page.locator(".st-key-download_export button").wait_for()
    settle(page)
    with page.expect_download() as download:
        page.locator(".st-key-download_export button").click()
    archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    names = archive.namelist()
    assert download.value.suggested_filename == "my-data.zip"
    assert any(n.endswith(".json") for n in names) and any(n.startswith("photos/") for n in names), names
    everything = b"".join(archive.read(n) for n in names if n.endswith((".json", ".csv")))
    assert b"Eva Example" in everything and b"Olivia" not in everything  # hers only

    # 5. Erase me, confirmed by typing the word the page asks for; the link stops working and the photo no longer
    # shows her.
    page.locator(".st-key-erase button").click()
    page.locator(".st-key-erase_word input").fill("ERASE")
    page.locator(".st-key-erase_word input").press("Enter")
    settle(page)
    page.locator(".st-key-erase_confirm button").click()
    page.get_by_text("You have been erased").wait_for()
    settle(page)
    page.screenshot(path=str(ARTIFACTS / "my-consents-erased-390x844.png"), full_page=True)
    with db.read() as conn:
        erased = conn.execute(select(subjects.c.erased_at, subjects.c.display_name).where(subjects.c.id == eva)).one()
        assert risk_index.check(conn) == []
        assert critical_assets(conn) == []  # nobody identifiable left in the published photo
    assert erased.erased_at is not None and erased.display_name != "Eva Example"
    page.goto(link)
    page.get_by_text("The data behind this link has been erased").wait_for()
    settle(page)
    assert page.get_by_text("Hello Eva Example").count() == 0
    assert page.locator("[data-testid='stAlert']").count() >= 1
    db.dispose()
