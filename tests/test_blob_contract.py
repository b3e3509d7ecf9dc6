"""One contract for every BlobStore: the local folder always; Supabase Storage through supabase-py against a
recorded exchange replayed on 127.0.0.1 (so the request shapes stay right); and against a real Supabase project
when SUPABASE_URL and a service key are set."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from portal.backend.platform.blobs import BlobStore, LocalBlobStore
from portal.backend.platform.errors import NotFound, ValidationError
from portal.backend.platform.hosted import SupabaseBlobStore
from tests.supabase_replay import SERVICE_KEY, ReplayServer, load

BUCKET = "consent-portal-test"
ORIGINAL = b"\xff\xd8\xff\xe0 original photo \x00\x01\x02\xfe"
REPLACEMENT = b"\xff\xd8\xff\xe0 redacted photo \x00\x03"
THUMB = b"\xff\xd8\xff\xe0 thumbnail"


@dataclass(frozen=True)
class Contract:
    """A store under test and the key prefix this test may use in it."""

    store: BlobStore
    prefix: str


def _live_key() -> str:
    """A service key for a live run from the usual variable names, or ''."""
    names = ("PORTAL_SUPABASE_SERVICE_KEY", "SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_SERVICE_KEY")
    return next((os.environ[n] for n in names if os.environ.get(n)), "")


@pytest.fixture(params=["local", "supabase-replay", "supabase-live"])
def contract(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Contract]:
    """The same test body against each BlobStore."""
    if request.param == "local":
        yield Contract(LocalBlobStore(tmp_path / "blobs"), "contract/")
    elif request.param == "supabase-replay":
        exchanges = load("supabase_storage", request.node.originalname)
        with ReplayServer(exchanges, service_key=SERVICE_KEY, bucket=BUCKET, prefix="contract/replay") as server:
            store = SupabaseBlobStore(server.url, SERVICE_KEY, BUCKET)
            store.check_bucket()
            yield Contract(store, "contract/replay/")
            server.assert_complete()
    else:
        url, key = os.environ.get("SUPABASE_URL", ""), _live_key()
        if not (url and key):
            pytest.skip(
                "Supabase Storage live contract run skipped: set SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY of a test "
                "project to run it (it uses the bucket PORTAL_SUPABASE_BUCKET or 'consent-portal-test')."
            )
        store = SupabaseBlobStore(url, key, os.environ.get("PORTAL_SUPABASE_BUCKET", BUCKET))
        store.create_bucket()
        prefix = f"contract/{uuid.uuid4().hex}/"
        try:
            yield Contract(store, prefix)
        finally:
            for leftover in store.list_keys(prefix):
                store.delete(leftover)


def test_put_get_roundtrip_and_replace(contract: Contract) -> None:
    store, key = contract.store, contract.prefix + "photos/a.jpg"
    store.put(key, ORIGINAL, content_type="image/jpeg")
    assert store.get(key) == ORIGINAL
    assert store.exists(key)
    # Erasure rewrites an original under its key: a second put replaces, it does not fail or duplicate.
    store.put(key, REPLACEMENT, content_type="image/jpeg")
    assert store.get(key) == REPLACEMENT


def test_missing_blobs_are_not_found_and_deleting_is_idempotent(contract: Contract) -> None:
    store, key = contract.store, contract.prefix + "receipts/gone.json"
    with pytest.raises(NotFound, match="No stored file"):
        store.get(key)
    assert not store.exists(key)
    store.delete(key)  # nothing there: not an error
    store.put(key, b'{"receipt": 1}', content_type="application/json")
    store.delete(key)
    assert not store.exists(key)


def test_list_keys_walks_folders_and_keeps_to_the_prefix(contract: Contract) -> None:
    store, p = contract.store, contract.prefix
    for name, kind in (
        ("r/1/b/c.jpg", "image/jpeg"),
        ("r/1/a.pdf", "application/pdf"),
        ("r/10/x.jpg", "image/jpeg"),
        ("s.json", "application/json"),
    ):
        store.put(p + name, name.encode(), content_type=kind)
    assert store.list_keys(p + "r/1/") == [p + "r/1/a.pdf", p + "r/1/b/c.jpg"]  # not r/10/, which only shares "1"
    assert store.list_keys(p + "none/") == []


def test_signed_urls_show_a_blob_without_the_key(contract: Contract) -> None:
    store, key = contract.store, contract.prefix + "thumbs/t.jpg"
    store.put(key, THUMB, content_type="image/jpeg")
    url = store.signed_url(key, seconds=60)
    if isinstance(store, LocalBlobStore):
        assert url is None  # the page serves the bytes itself
        return
    assert url is not None and "token=" in url
    assert all(secret not in url for secret in (SERVICE_KEY, _live_key()) if secret)
    shown = httpx.get(url, timeout=30)  # a browser's request: no apikey, no Authorization
    assert shown.status_code == 200 and shown.content == THUMB


@pytest.mark.parametrize("bad", ["../x.jpg", "/etc/passwd", "a//b.jpg", "a/../b.jpg", ""])
def test_keys_that_could_escape_are_refused_before_any_request(contract: Contract, bad: str) -> None:
    store = contract.store
    for attempt in (
        lambda: store.put(bad, b"x", content_type="image/jpeg"),
        lambda: store.get(bad),
        lambda: store.delete(bad),
        lambda: store.exists(bad),
        lambda: store.signed_url(bad, seconds=60),
    ):
        with pytest.raises(ValidationError, match="Invalid blob key"):
            attempt()
