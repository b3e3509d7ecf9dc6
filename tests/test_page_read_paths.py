"""The pages' read paths made cheaper per rerun, on both databases: a person's view of a photo is remembered between
reruns of their page and never outlives what decides its pixels (a face linked to them, or the original's bytes
rewritten under the same key as a redaction does, shows on the very next view); a grid's thumbnails come in one
query, the same bytes as one by one, and a photo or file that is gone has none."""

from __future__ import annotations

import io

from PIL import Image, ImageStat

from portal.backend.photos import services
from portal.backend.photos.assets import get_asset
from portal.backend.photos.queries import photo_thumbnail, photo_thumbnails, subject_photo_view
from portal.backend.photos.vision.intake import encode_jpeg
from tests.test_takedowns import Scene, scene

__all__ = ["scene"]  # the fixture, imported for pytest to find


def _view(scene: Scene) -> bytes:
    return subject_photo_view(scene.portal, asset_id=scene.asset_id, subject_id=scene.bob)


def test_a_rerun_reuses_the_view_and_every_change_shows_at_once(scene: Scene) -> None:
    first = _view(scene)
    # Remembered: the same bytes object, not decoded, blurred and encoded again.
    assert _view(scene) is first

    # Anna's face becomes Bob's (a staff correction): it is no longer blurred but outlined as his.
    services.link_face(scene.portal, actor=scene.staff, detection_id=scene.faces[0], subject_id=scene.bob, move=True)
    relinked = _view(scene)
    assert relinked != first

    # The original is rewritten under the same key (as erasure's redaction does with its redacted copy).
    with scene.portal.db.read() as conn:
        key = get_asset(conn, scene.asset_id).blob_key
    size = Image.open(io.BytesIO(scene.portal.blobs.get(key))).size
    scene.portal.blobs.put(key, encode_jpeg(Image.new("RGB", size, (200, 30, 30))), content_type="image/jpeg")
    redone = _view(scene)
    assert redone != relinked
    red, green, blue = ImageStat.Stat(Image.open(io.BytesIO(redone)).convert("RGB")).median
    assert red > 150 and green < 80 and blue < 80  # drawn from the new bytes (outline aside), not the old picture


def test_thumbnails_in_one_query_match_one_by_one_and_skip_what_is_gone(scene: Scene) -> None:
    portal, photo = scene.portal, scene.asset_id
    one = photo_thumbnail(portal, asset_id=photo)
    assert one is not None and Image.open(io.BytesIO(one)).format == "JPEG"
    assert photo_thumbnails(portal, asset_ids=[photo, 999_999]) == {photo: one}  # an unknown id has none
    with scene.portal.db.read() as conn:
        asset = get_asset(conn, photo)
    portal.blobs.delete(asset.thumb_key or asset.blob_key)
    assert photo_thumbnails(portal, asset_ids=[photo]) == {}  # the file is gone: no picture, no error
    assert photo_thumbnails(portal, asset_ids=[]) == {}
