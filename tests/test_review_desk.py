"""The photographer's review desk on both databases: the library grid over 1,000 photos (filters, badges,
pagination, search), the review view (numbered faces, crops, people's consent), people search for linking, and
unlink / not a face / undo with their risk and audit effects."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import insert, select
from streamlit.testing.v1 import AppTest

from portal.backend.photos.queries import (
    LibraryFilter,
    face_crops,
    library_page,
    next_photo_to_review,
    people_to_link,
    publish_check,
    review_picture,
    review_view,
)
from portal.backend.photos.services import link_face, mark_not_a_face, reject_face, restore_face, unlink_face
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import assets, audit_log, detections, events, purposes
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import ConsentStateError, ValidationError
from portal.backend.platform.runtime import Portal
from portal.backend.risk import index as risk_index
from tests.conftest import APP
from tests.factories import make_portal, make_staff, make_subject, open_folded
from tests.library_fill import STAFF_ENTRY, THUMB_KEY, Library, fill_library
from tests.risk_reference import reference_rows
from tests.seeded import SeededPortal


@pytest.fixture
def desk(org_db: Database, tmp_path: Path) -> Portal:
    """A portal over the organisation's database and a blob folder."""
    return make_portal(org_db, tmp_path / "blobs")


def _all_pages(portal: Portal, chosen: LibraryFilter, size: int = 24) -> list[int]:
    """Every photo id the grid shows for a filter, page by page."""
    ids: list[int] = []
    offset = 0
    while True:
        page = library_page(portal, chosen=chosen, limit=size, offset=offset)
        ids += [c.id for c in page.cards]
        offset += size
        if offset >= page.total:
            assert len(ids) == page.total
            return ids


def test_a_library_of_1000_photos_is_paged_filtered_and_badged(desk: Portal) -> None:
    lib: Library = fill_library(desk.db, desk.blobs, photos=1000)
    done = set(lib.asset_ids) - lib.pending - lib.failed

    # Every photo, newest first, each exactly once over 42 pages.
    everything = _all_pages(desk, LibraryFilter())
    assert everything == sorted(lib.asset_ids, reverse=True)

    # Pending and failed photos carry their own badge, never "all clear", whatever the purpose.
    pending = _all_pages(desk, LibraryFilter(badge="pending"))
    assert set(pending) == lib.pending and len(pending) == 40
    assert set(_all_pages(desk, LibraryFilter(badge="failed"))) == lib.failed
    clear = set(_all_pages(desk, LibraryFilter(badge="clear", purpose="website")))
    assert not clear & (lib.pending | lib.failed)
    first = library_page(desk, chosen=LibraryFilter(badge="pending"), limit=5)
    assert {c.badge for c in first.cards} == {"pending"} and all(c.faces == 0 for c in first.cards)

    # For the website (the person agreed to it) only the strangers' photos are at risk; published ones are critical.
    website = LibraryFilter(purpose="website")
    assert clear == done - lib.with_stranger
    critical = set(_all_pages(desk, LibraryFilter(badge="critical", purpose="website")))
    assert critical == lib.with_stranger & lib.published
    at_risk = set(_all_pages(desk, LibraryFilter(badge="at_risk", purpose="website")))
    assert at_risk == lib.with_stranger - lib.published
    judged = library_page(desk, chosen=website, limit=500)
    assert judged.total == 1000  # a purpose judges the badges, it does not narrow the grid
    assert {c.id for c in judged.cards if c.badge == "clear"} == clear & {c.id for c in judged.cards}
    assert set(_all_pages(desk, LibraryFilter(reason="unidentified"))) == lib.with_stranger
    # Social media was never asked: every analysed photo with the person is at risk for it.
    assert set(_all_pages(desk, LibraryFilter(purpose="social_media", reason="unknown"))) == done

    # Faces to review, one event, search by file name and by the name of the person in the photo.
    assert set(_all_pages(desk, LibraryFilter(unreviewed=True))) == lib.with_stranger
    gala = set(_all_pages(desk, LibraryFilter(event_id=lib.events[0], unreviewed=True)))
    assert gala == {a for a in lib.with_stranger if lib.event_of[a] == lib.events[0]}
    assert [c.filename for c in library_page(desk, chosen=LibraryFilter(search="img_00042")).cards] == ["IMG_00042.jpg"]
    assert set(_all_pages(desk, LibraryFilter(search="walter"))) == done
    assert library_page(desk, chosen=LibraryFilter(search="100%_")).total == 0  # wildcards are literal

    # The cards of a page count their own faces.
    page = library_page(desk, chosen=LibraryFilter(badge="critical", purpose="website"), limit=3)
    for card in page.cards:
        assert (card.faces, card.unreviewed, card.published) == (2, 1, 1)
        assert card.badge == "critical" and card.reasons == ("unidentified",)
        assert card.event_name in ("Spring gala", "Summer fair")

    with pytest.raises(ValidationError):
        library_page(desk, chosen=LibraryFilter(badge="fine"))
    with pytest.raises(ValidationError):
        library_page(desk, chosen=LibraryFilter(purpose="nope"))


def test_next_photo_to_review_follows_the_grid_and_wraps(desk: Portal) -> None:
    lib = fill_library(desk.db, desk.blobs, photos=60)
    order = sorted(lib.with_stranger, reverse=True)
    chosen = LibraryFilter()
    assert next_photo_to_review(desk, chosen=chosen, after_id=None) == order[0]
    assert next_photo_to_review(desk, chosen=chosen, after_id=order[0]) == order[1]
    assert next_photo_to_review(desk, chosen=chosen, after_id=order[-1]) == order[0]  # from the top again
    # Within a filter: only that event's photos.
    second = LibraryFilter(event_id=lib.events[1])
    follow = next_photo_to_review(desk, chosen=second, after_id=None)
    assert follow is not None and lib.event_of[follow] == lib.events[1]


def _photo(db: Database, *, faces: int, event_id: int | None = None, state: str = "done") -> tuple[int, list[int]]:
    """One photo sharing the library thumbnail, with `faces` unlinked faces side by side."""
    now = utcnow()
    with db.write() as conn:
        asset = conn.execute(
            insert(assets)
            .values(
                sha256=uuid.uuid4().hex * 2,
                blob_key=THUMB_KEY,
                thumb_key=THUMB_KEY,
                filename="stage.jpg",
                content_type="image/jpeg",
                width=480,
                height=320,
                bytes=1,
                uploaded_at=now,
                event_id=event_id,
                analysis_state=state,
            )
            .returning(assets.c.id)
        ).scalar_one()
        ids = [
            conn.execute(
                insert(detections)
                .values(
                    asset_id=asset,
                    kind="face",
                    x=0.125 + 0.29 * n,
                    y=0.25,
                    w=0.17,
                    h=0.31,
                    score=0.9,
                    detector="dlib-hog",
                    created_at=now,
                )
                .returning(detections.c.id)
            ).scalar_one()
            for n in range(faces)
        ]
        risk_index.refresh_assets(conn, [asset], now=now)
    return asset, ids


def _audits(db: Database, action: str) -> list[dict[str, object]]:
    """Audit rows of one action."""
    with db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(audit_log).where(audit_log.c.action == action))]


def test_review_numbers_faces_crops_them_and_shows_the_persons_consent(desk: Portal) -> None:
    fill_library(desk.db, desk.blobs, photos=1)  # the shared thumbnail and the events
    staff = make_staff(desk.db, role="staff")
    anna = make_subject(desk.db, name="Anna Berg", email="anna.berg@example.org", choices={"website": True})
    asset, (one, two, three) = _photo(desk.db, faces=3)
    link_face(desk, actor=staff, detection_id=one, subject_id=anna)

    view = review_view(desk, asset_id=asset)
    assert [(f.number, f.face.id, f.state) for f in view.faces] == [
        (1, one, "confirmed"),
        (2, two, "unreviewed"),
        (3, three, "unreviewed"),
    ]
    assert view.to_review == 2 and view.badge == "at_risk" and "unidentified" in view.reasons
    person = view.faces[0].person
    assert person is not None and person.name == "Anna Berg" and person.email_hint == "an…@example.org"
    statuses = {s.purpose: s.status for s in person.statuses}
    assert statuses["website"] == "given" and statuses["social_media"] == "unknown"
    assert "face_matching" not in statuses  # biometric consent is not a photo's purpose

    crops = face_crops(desk, view=view)
    assert set(crops) == {one, two, three}
    sizes = [Image.open(io.BytesIO(c)).size for c in crops.values()]
    assert all(max(s) == 112 for s in sizes)
    # Each crop shows its own region: the three 'faces' differ in colour.
    colours = [Image.open(io.BytesIO(crops[d])).convert("RGB").resize((1, 1)).getpixel((0, 0)) for d in (one, two)]
    assert colours[0] != colours[1]
    picture = Image.open(io.BytesIO(review_picture(desk, view=view)))
    assert picture.size == (480, 320)


def test_people_search_tells_namesakes_apart(desk: Portal) -> None:
    lib = fill_library(desk.db, desk.blobs, photos=2)
    staff = make_staff(desk.db, role="staff")
    with desk.db.read() as conn:
        names = {r.id: r.name for r in conn.execute(select(events.c.id, events.c.name))}
    at_fair = make_subject(
        desk.db, name="Anna Berg", email="anna@fair.example", event_id=lib.events[1], context=STAFF_ENTRY
    )
    at_gala = make_subject(
        desk.db, name="Anna Berg", email="anna@gala.example", event_id=lib.events[0], context=STAFF_ENTRY
    )
    _, (face,) = _photo(desk.db, faces=1, event_id=lib.events[0])
    total, found = people_to_link(desk, search="anna berg", event_id=lib.events[0])
    assert total == 2
    assert [p.id for p in found] == [at_gala, at_fair]  # the photo's event's Anna first
    assert [(p.email_hint, p.event_name, p.same_event) for p in found] == [
        ("an…@gala.example", names[lib.events[0]], True),
        ("an…@fair.example", names[lib.events[1]], False),
    ]
    assert found[0].known_face is None
    link_face(desk, actor=staff, detection_id=face, subject_id=at_gala)
    assert people_to_link(desk, search="GALA.example")[1][0].known_face == face  # by e-mail, with her face
    assert people_to_link(desk, search="  ") == (0, [])
    # More than the shown few: the total says so.
    for n in range(10):
        make_subject(desk.db, name=f"Anna Berg {n}", context=STAFF_ENTRY)
    total, found = people_to_link(desk, search="anna", limit=5)
    assert total == 12 and len(found) == 5


def test_unlink_not_a_face_and_undo_change_risk_and_are_audited(desk: Portal) -> None:
    fill_library(desk.db, desk.blobs, photos=1)
    staff = make_staff(desk.db, role="staff")
    walter = make_subject(desk.db, name="Walter", choices={"website": True})
    asset, (face, patch) = _photo(desk.db, faces=2)
    link_face(desk, actor=staff, detection_id=face, subject_id=walter)

    def card() -> tuple[str, int, int]:
        page = library_page(desk, chosen=LibraryFilter(purpose="website", search="stage.jpg"), limit=5)
        found = next(c for c in page.cards if c.id == asset)
        return found.badge, found.faces, found.unreviewed

    assert card() == ("at_risk", 2, 1)  # the patch counts as an unidentified person

    mark_not_a_face(desk, actor=staff, detection_id=patch)
    assert card() == ("clear", 1, 0)
    assert review_view(desk, asset_id=asset).faces[1].state == "not_a_face"
    (row,) = _audits(desk.db, "mark_not_a_face")
    assert row["target_id"] == str(patch) and row["actor"] == staff.ref
    assert next_photo_to_review(desk, chosen=LibraryFilter(), after_id=None) != asset

    restore_face(desk, actor=staff, detection_id=patch)
    assert card() == ("at_risk", 2, 1)
    assert len(_audits(desk.db, "restore_detection")) == 1
    with pytest.raises(ConsentStateError):
        restore_face(desk, actor=staff, detection_id=patch)  # nothing to undo

    reject_face(desk, actor=staff, detection_id=patch, reason="not_identifiable")
    assert card() == ("clear", 2, 0)  # still a face, but nobody identifiable
    assert review_view(desk, asset_id=asset).faces[1].state == "not_identifiable"

    unlink_face(desk, actor=staff, detection_id=face)
    assert card() == ("at_risk", 2, 1)
    (row,) = _audits(desk.db, "unlink_detection")
    assert walter in str(row["detail"])
    # Not a face also takes a confirmed link away, and says from whom.
    link_face(desk, actor=staff, detection_id=face, subject_id=walter)
    mark_not_a_face(desk, actor=staff, detection_id=face)
    assert walter in str(_audits(desk.db, "mark_not_a_face")[-1]["detail"])
    with desk.db.read() as conn:
        assert risk_index.check(conn) == []


def test_a_pending_photo_is_never_all_clear(desk: Portal) -> None:
    fill_library(desk.db, desk.blobs, photos=1)
    asset, _ = _photo(desk.db, faces=0, state="pending")
    view = review_view(desk, asset_id=asset)
    assert view.badge == "pending" and view.faces == []
    for purpose in (None, "website", "internal"):
        assert asset not in _all_pages(desk, LibraryFilter(badge="clear", purpose=purpose))
        assert asset in _all_pages(desk, LibraryFilter(badge="pending", purpose=purpose))


def test_a_person_box_is_not_covered_by_a_detection_that_is_not_a_face(desk: Portal) -> None:
    fill_library(desk.db, desk.blobs, photos=1)
    staff = make_staff(desk.db, role="staff")
    asset, (patch,) = _photo(desk.db, faces=1)
    with desk.db.write() as conn:
        # Someone turned away: the detector found their body, and a patch on it, but no face.
        conn.execute(
            insert(detections).values(
                asset_id=asset, kind="person", x=0.05, y=0.1, w=0.4, h=0.85, detector="yolo", created_at=utcnow()
            )
        )
    reject_face(desk, actor=staff, detection_id=patch, reason="not_identifiable")
    assert publish_check(desk, asset_id=asset, purpose="website").ok  # the body's face cannot be identified
    restore_face(desk, actor=staff, detection_id=patch)
    mark_not_a_face(desk, actor=staff, detection_id=patch)
    # A patch is no face: the person is there, unidentified.
    check = publish_check(desk, asset_id=asset, purpose="website")
    assert [b.status for b in check.blockers] == ["unidentified_person"]
    assert review_view(desk, asset_id=asset).reasons == ("unidentified",)
    with desk.db.read() as conn:
        assert risk_index.check(conn) == []
        website = conn.execute(select(purposes.c.id).where(purposes.c.code == "website")).scalar_one()
        assert (asset, website, "unidentified") in reference_rows(conn, now=utcnow())


def _staff_app() -> AppTest:
    """The app signed in as the demo staff member."""
    at = AppTest.from_file(APP, default_timeout=90).run()
    at.text_input[0].input("staff@demo.example")
    at.text_input[1].input("demo-staff-pass")
    return at.button[0].click().run()


def test_the_desk_page_filters_pages_and_opens_a_photo(seeded_portal: SeededPortal) -> None:
    db = seeded_portal.db
    with db.read() as conn:
        newest = conn.execute(select(assets.c.id).order_by(assets.c.id.desc())).scalars().all()
        to_review = (
            conn.execute(
                select(detections.c.asset_id).where(
                    detections.c.kind == "face",
                    detections.c.identifiable.is_(True),
                    detections.c.subject_id.is_(None),
                )
            )
            .scalars()
            .all()
        )
    at = _staff_app().switch_page("portal/pages/assets.py").run()
    assert not at.exception
    assert [b.key for b in at.button if b.key and b.key.startswith("open_")] == [f"open_{a}" for a in newest]
    at.checkbox(key="desk_unreviewed").check().run()
    assert {b.key for b in at.button if b.key and b.key.startswith("open_")} == {f"open_{a}" for a in to_review}
    assert any("Page 1 of 1" in c.value for c in at.caption)
    at.button(key=f"open_{to_review[0]}").click().run()
    assert not at.exception
    assert any(b.key and b.key.startswith("notface_") for b in at.button)
    assert any("Face 1" in m.value for m in at.markdown)
    at.button(key="desk_back").click().run()
    assert at.checkbox(key="desk_unreviewed").value is True  # the filter outlived the review view


def test_the_purpose_and_reason_filters_are_folded_and_keep_their_choice(seeded_portal: SeededPortal) -> None:
    desk = make_portal(seeded_portal.db, seeded_portal.data_dir / "blobs")

    def cards(at: AppTest) -> list[int]:
        return [int(b.key.removeprefix("open_")) for b in at.button if b.key and b.key.startswith("open_")]

    at = _staff_app().switch_page("portal/pages/assets.py").run()
    everything = cards(at)
    # Folded: the two filters are not drawn until the expander is opened.
    assert "desk_rare" in [e.key for e in at.expander]
    assert not [s for s in at.selectbox if s.key in ("desk_purpose", "desk_reason")]
    open_folded(at, "desk_rare").selectbox(key="desk_purpose").select("website").run()
    at.selectbox(key="desk_reason").select("unidentified").run()
    assert not at.exception
    chosen = LibraryFilter(purpose="website", reason="unidentified")
    expected = [card.id for card in library_page(desk, chosen=chosen).cards]
    assert expected and cards(at) == expected != everything
    # Closed again, the filter still holds (its values are kept without the selectboxes being drawn).
    at.session_state["desk_rare"] = False
    at.run()
    assert not [s for s in at.selectbox if s.key == "desk_purpose"]
    assert cards(at) == expected


def test_replacing_a_qr_code_asks_first_and_the_created_message_stays(seeded_portal: SeededPortal) -> None:
    db = seeded_portal.db
    with db.read() as conn:
        event_id, secret = conn.execute(select(events.c.id, events.c.qr_secret).order_by(events.c.id)).first()
    at = _staff_app().switch_page("portal/pages/events.py").run()
    at.button(key=f"rotate_{event_id}").click().run()
    assert any("stops working at once" in w.value for w in at.warning)
    at.button(key=f"rotate_no_{event_id}").click().run()
    with db.read() as conn:
        assert conn.execute(select(events.c.qr_secret).where(events.c.id == event_id)).scalar() == secret
    at.button(key=f"rotate_{event_id}").click().run()
    at.button(key=f"rotate_yes_{event_id}").click().run()
    assert not at.exception
    assert any("was replaced" in s.value for s in at.success)
    with db.read() as conn:
        assert conn.execute(select(events.c.qr_secret).where(events.c.id == event_id)).scalar() != secret
    at.text_input[0].input("Winter market")
    next(b for b in at.button if b.label == "Create event").click().run()
    assert any("Created Winter market." in s.value for s in at.success)
