"""Two paper forms in a row in a real browser: the second person is recorded with their own ticks, e-mail and scan,
never with what was left on the page from the first (the form and its file uploader are empty after each record)."""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path

from PIL import Image
from sqlalchemy import select

from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import consent_ledger, outbox, purposes, subjects
from tests.e2e.conftest import ARTIFACTS, LivePortal, settle
from tests.e2e.test_staff_journey import _sign_in

# The label says whether the link is e-mailed now or once e-mail is configured; either way it is this field.
_EMAIL = re.compile(r"^E-mail \(optional")


def _scan(path: Path, colour: tuple[int, int, int]) -> bytes:
    """A distinct 'scanned form' (a JPEG) written to `path`; returns its bytes."""
    out = io.BytesIO()
    Image.new("RGB", (300, 420), colour).save(out, format="JPEG")
    path.write_bytes(out.getvalue())
    return out.getvalue()


def _record(page, *, name: str, email: str | None, ticks: list[str], scan: Path) -> None:  # type: ignore[no-untyped-def]
    """Fill in one paper form as staff would, and record it."""
    name_box = page.get_by_role("textbox", name="Name (as written on the form)")
    # The form must be empty when a new one starts: nothing of the previous person is left in it.
    assert name_box.input_value() == ""
    assert page.get_by_role("textbox", name=_EMAIL).input_value() == ""
    assert page.get_by_text("first.jpg").count() == 0 and page.get_by_text("second.jpg").count() == 0
    assert page.get_by_role("checkbox", checked=True).count() == 0
    name_box.fill(name)
    name_box.press("Tab")
    if email:
        mail_box = page.get_by_role("textbox", name=_EMAIL)
        mail_box.fill(email)
        mail_box.press("Tab")
    settle(page)
    for title in ticks:
        page.get_by_text(f"Ticked: {title}", exact=True).click()
        settle(page)
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(scan))
    page.get_by_text(scan.name).wait_for()
    settle(page)
    page.get_by_role("button", name="Record the paper form").click()
    page.get_by_text(f"Recorded the paper form of {name}").wait_for()
    settle(page)


def test_two_paper_forms_in_a_row_keep_each_persons_own_data(  # type: ignore[no-untyped-def]
    live_portal: LivePortal, desktop_page, tmp_path: Path
) -> None:
    page = desktop_page
    db = Database(live_portal.database_url)
    first_scan = _scan(tmp_path / "first.jpg", (230, 225, 210))
    second_scan = _scan(tmp_path / "second.jpg", (200, 210, 235))
    _sign_in(page, live_portal.url, "staff@demo.example", "demo-staff-pass")
    page.locator("[data-testid='stSidebarNav']").get_by_text("Paper forms", exact=True).click()
    settle(page)
    page.get_by_text("Choices as ticked on the paper").wait_for()
    with db.read() as conn:
        titles = dict(conn.execute(select(purposes.c.code, purposes.c.id)).all())
    page.get_by_text(re.compile(r"^Ticked: ")).first.wait_for()
    labels = [
        label.strip().removeprefix("Ticked: ") for label in page.get_by_text(re.compile(r"^Ticked: ")).all_inner_texts()
    ]
    assert len(labels) >= 2 and titles

    _record(page, name="Paula First", email="paula@example.org", ticks=[labels[0]], scan=tmp_path / "first.jpg")
    _record(page, name="Sven Second", email="sven@example.org", ticks=[labels[1]], scan=tmp_path / "second.jpg")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "paper-forms-second-recorded.png"), full_page=True)

    with db.read() as conn:
        people = {
            r.display_name: r
            for r in conn.execute(
                select(subjects).where(subjects.c.display_name.in_(("Paula First", "Sven Second")))
            ).all()
        }
        assert set(people) == {"Paula First", "Sven Second"}
        entries = {
            name: conn.execute(
                select(consent_ledger).where(consent_ledger.c.subject_id == row.id).order_by(consent_ledger.c.seq)
            ).all()
            for name, row in people.items()
        }
        mail = {
            name: conn.execute(
                select(outbox.c.recipient).where(outbox.c.dedupe_key == f"welcome:{row.id}")
            ).scalar_one()
            for name, row in people.items()
        }
    db.dispose()
    given = {name: [e.purpose_id for e in rows if e.action == "given"] for name, rows in entries.items()}
    # Each person has exactly the one tick made on their own form: the first form's tick did not carry over.
    assert len(given["Paula First"]) == 1 and len(given["Sven Second"]) == 1
    assert given["Paula First"] != given["Sven Second"]
    # Their welcome e-mail (with their personal link) goes to their own address.
    assert mail == {"Paula First": "paula@example.org", "Sven Second": "sven@example.org"}
    # The evidence holds each form's own scan.
    scans = {name: {json.loads(e.evidence)["scan_sha256"] for e in rows} for name, rows in entries.items()}
    assert scans == {
        "Paula First": {hashlib.sha256(first_scan).hexdigest()},
        "Sven Second": {hashlib.sha256(second_scan).hexdigest()},
    }
    stored = live_portal.folder / "data" / "blobs" / "paper"
    assert (stored / people["Sven Second"].id).is_dir() and (stored / people["Paula First"].id).is_dir()
