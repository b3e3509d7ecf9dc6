"""Hostile personal-link and event-QR tokens: tampered, truncated, expired, someone else's, replayed after
revocation or erasure, for another event or after a QR rotation, and plain garbage.

Each is refused with its own clear TokenError that names nobody, and nothing is written; a few go through the real
pages (AppTest) to show that no other person's name reaches the screen.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from portal.backend.events.store import create_event, event_url, resolve_event_token, rotate_qr_secret
from portal.backend.people.services import erase_subject, revoke_personal_links
from portal.backend.people.subjects import link_token
from portal.backend.platform import tokens
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import TokenError
from portal.backend.platform.runtime import Portal
from tests.conftest import APP
from tests.factories import OPERATOR, create_personal_link, make_portal, make_subject, resolve_personal_link
from tests.hostile import snapshot
from tests.hostile.conftest import Site

SECRET = "hostile-test-secret-" + "k" * 24
BASE = "https://portal.example"
NAMES = ("Alice Able", "Bob Baker")
CHANGED = "was changed, is incomplete, or has been replaced"
MALFORMED = "not valid"
# What the personal page says, in the visitor's language, for a link that was changed (i18n `token.invalid`).
PAGE_CHANGED = "it was changed, is incomplete, or a newer link replaced it"


@dataclass(frozen=True)
class People:
    """Two subjects with a personal link each, and two events with their QR tokens."""

    alice: str
    bob: str
    alice_token: str
    bob_token: str
    gala: int
    fair: int
    gala_token: str
    fair_token: str


def _event_token(db: Database, event_id: int, secret: str = SECRET) -> str:
    with db.read() as conn:
        return event_url(conn, event_id=event_id, secret=secret, base_url=BASE).split("event=", 1)[1]


def _portal(site: Site) -> Portal:
    return make_portal(site.db, site.blobs, secret_key=SECRET)


def _link(db: Database, subject_id: str, secret: str = SECRET, ttl_days: int = 30) -> str:
    return link_token(create_personal_link(db, subject_id=subject_id, secret=secret, base_url=BASE, ttl_days=ttl_days))


def make_people(db: Database, secret: str = SECRET) -> People:
    """Alice and Bob with links, the Gala and the Fair with QR tokens."""
    alice = make_subject(db, name=NAMES[0], choices={"internal": True})
    bob = make_subject(db, name=NAMES[1], choices={"internal": True, "website": True})
    with db.write() as conn:
        gala = create_event(conn, name="Spring gala", purpose_codes=["internal", "website"], now=utcnow()).id
        fair = create_event(conn, name="Autumn fair", purpose_codes=["internal"], now=utcnow()).id
    return People(
        alice,
        bob,
        _link(db, alice, secret),
        _link(db, bob, secret),
        gala,
        fair,
        _event_token(db, gala, secret),
        _event_token(db, fair, secret),
    )


@pytest.fixture
def people(site: Site) -> People:
    return make_people(site.db)


def _parts(token: str) -> list[str]:
    return token.split(".")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _flip(text: str, at: int) -> str:
    """`text` with one character changed."""
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


def _signed_raw(body: bytes, kind: str, secret: str = SECRET, extra: str = "") -> str:
    """A correctly signed token over an arbitrary body (what a leaked secret or an issuing bug could produce)."""
    key = hmac.new(secret.encode(), f"v1|{kind}|{extra}".encode(), hashlib.sha256).digest()
    encoded = _b64(body)
    return f"v1.{encoded}.{_b64(hmac.new(key, encoded.encode(), hashlib.sha256).digest())}"


def _refused_link(site: Site, token: object, message: str, **kw: object) -> None:
    before = snapshot.take(site.db, site.blobs)
    with pytest.raises(TokenError, match=message) as caught:
        resolve_personal_link(site.db, token=token, secret=SECRET, **kw)  # type: ignore[arg-type]
    assert not any(name in str(caught.value) for name in NAMES)
    snapshot.assert_unchanged(before, site.db, site.blobs)


def test_the_real_link_resolves_to_its_own_person_only(site: Site, people: People) -> None:
    assert resolve_personal_link(site.db, token=people.alice_token, secret=SECRET).id == people.alice
    assert resolve_personal_link(site.db, token=people.bob_token, secret=SECRET).id == people.bob
    # A trailing newline from a copied e-mail link still works (it is not part of the signed text).
    assert resolve_personal_link(site.db, token=people.alice_token + "\n", secret=SECRET).id == people.alice


TAMPERED = [
    ("mac-flipped", lambda p: ".".join([*_parts(p.alice_token)[:2], _flip(_parts(p.alice_token)[2], 5)]), CHANGED),
    (
        "body-flipped",
        lambda p: ".".join([_parts(p.alice_token)[0], _flip(_parts(p.alice_token)[1], 3), _parts(p.alice_token)[2]]),
        CHANGED,
    ),
    ("bobs-body-alices-mac", lambda p: ".".join([*_parts(p.bob_token)[:2], _parts(p.alice_token)[2]]), CHANGED),
    ("alices-body-bobs-mac", lambda p: ".".join([*_parts(p.alice_token)[:2], _parts(p.bob_token)[2]]), CHANGED),
    ("truncated-by-5", lambda p: p.alice_token[:-5], CHANGED),
    ("truncated-to-two-parts", lambda p: p.alice_token.rsplit(".", 1)[0], MALFORMED),
    ("truncated-to-20", lambda p: p.alice_token[:20], MALFORMED),
    ("other-version", lambda p: "v2" + p.alice_token[2:], MALFORMED),
    (
        "other-deployments-secret",
        lambda p: tokens.sign(tokens.peek(p.alice_token), secret="another-secret-" + "x" * 30, kind="subject-link"),
        CHANGED,
    ),
    ("event-token-as-link", lambda p: p.gala_token, CHANGED),
    ("extra-part", lambda p: p.alice_token + ".AAAA", MALFORMED),
]


@pytest.mark.parametrize(("forge", "message"), [t[1:] for t in TAMPERED], ids=[t[0] for t in TAMPERED])
def test_tampered_personal_link_is_refused(site: Site, people: People, forge, message: str) -> None:  # type: ignore[no-untyped-def]
    _refused_link(site, forge(people), message)


GARBAGE = [
    ("empty", ""),
    ("spaces", "   "),
    ("dots", "v1.."),
    ("not-base64", "v1.!!!.!!!"),
    ("non-ascii", "v1.äöü.ÄÖÜ"),
    ("script", "v1.<script>alert(1)</script>.x"),
    ("sql", "v1.' OR 1=1 --.x"),
    ("nul", "v1.\x00.\x00"),
    ("huge", "v1." + "A" * 5000 + ".B"),
    ("none", None),
    ("number", 12345),
]


@pytest.mark.parametrize("token", [g[1] for g in GARBAGE], ids=[g[0] for g in GARBAGE])
def test_garbage_personal_link_is_refused(site: Site, people: People, token: object) -> None:
    _refused_link(site, token, "not valid|damaged|changed")


def test_expired_link_is_refused_even_unrevoked(site: Site, people: People) -> None:
    # Past the 30-day TTL and past Alice's consents (issue 14: a link lives as long as the consents it manages).
    _refused_link(site, people.alice_token, "has expired", now=utcnow() + timedelta(days=3 * 365))


def test_expiry_that_is_not_a_number_counts_as_expired(site: Site, people: People) -> None:
    lid = tokens.peek(people.alice_token)["lid"]
    _refused_link(site, tokens.sign({"lid": lid, "exp": "never"}, secret=SECRET, kind="subject-link"), "has expired")


def test_signed_payload_that_is_not_an_object_is_refused(site: Site, people: People) -> None:
    _refused_link(site, _signed_raw(json.dumps(["lid", "exp"]).encode(), "subject-link"), MALFORMED)


def test_signed_link_to_an_unknown_link_id_is_refused(site: Site, people: People) -> None:
    forged = tokens.sign({"lid": "' OR '1'='1", "exp": 4_000_000_000}, secret=SECRET, kind="subject-link")
    _refused_link(site, forged, "withdrawn")


def test_link_replayed_after_revocation_is_refused_and_a_new_one_works(site: Site, people: People) -> None:
    assert revoke_personal_links(_portal(site), actor=OPERATOR, subject_id=people.alice) == 1
    _refused_link(site, people.alice_token, "has been withdrawn")
    fresh = _link(site.db, people.alice)
    assert resolve_personal_link(site.db, token=fresh, secret=SECRET).id == people.alice
    _refused_link(site, people.alice_token, "has been withdrawn")  # the new link does not revive the old one
    assert resolve_personal_link(site.db, token=people.bob_token, secret=SECRET).id == people.bob


def test_link_replayed_after_erasure_is_refused(site: Site, people: People) -> None:
    erase_subject(_portal(site), actor=OPERATOR, subject_id=people.alice)
    snapshot.assert_consistent(site.db, site.blobs)
    _refused_link(site, people.alice_token, "withdrawn|erased")


# --- event QR tokens ---------------------------------------------------------------------------------------------


def _refused_event(site: Site, token: object, message: str) -> None:
    before = snapshot.take(site.db, site.blobs)
    with pytest.raises(TokenError, match=message), site.db.read() as conn:
        resolve_event_token(conn, token=token, secret=SECRET, now=utcnow())  # type: ignore[arg-type]
    snapshot.assert_unchanged(before, site.db, site.blobs)


def _resolve_event(site: Site, token: str) -> int:
    with site.db.read() as conn:
        return resolve_event_token(conn, token=token, secret=SECRET, now=utcnow()).id


REPLACED = "no longer valid"
NOT_OURS = "does not belong to an event"


def test_event_tokens_resolve_to_their_own_event(site: Site, people: People) -> None:
    assert (_resolve_event(site, people.gala_token), _resolve_event(site, people.fair_token)) == (
        people.gala,
        people.fair,
    )


def test_event_token_after_qr_rotation_is_refused_and_others_keep_working(site: Site, people: People) -> None:
    with site.db.write() as conn:
        rotate_qr_secret(conn, event_id=people.gala)
    _refused_event(site, people.gala_token, REPLACED)
    assert _resolve_event(site, people.fair_token) == people.fair
    assert _resolve_event(site, _event_token(site.db, people.gala)) == people.gala


EVENT_FORGERIES = [
    ("fair-body-gala-mac", lambda p: ".".join([*_parts(p.fair_token)[:2], _parts(p.gala_token)[2]]), REPLACED),
    (
        "eid-rewritten",
        lambda p: ".".join(["v1", _b64(json.dumps({"eid": p.fair}).encode()), _parts(p.gala_token)[2]]),
        REPLACED,
    ),
    ("mac-flipped", lambda p: ".".join([*_parts(p.gala_token)[:2], _flip(_parts(p.gala_token)[2], 7)]), REPLACED),
    ("truncated", lambda p: p.gala_token[:-3], REPLACED),
    ("personal-link-as-event", lambda p: p.alice_token, NOT_OURS),
    ("other-deployments-secret", lambda p: tokens.sign({"eid": p.gala}, secret="x" * 40, kind="event-qr"), REPLACED),
]


@pytest.mark.parametrize(("forge", "message"), [f[1:] for f in EVENT_FORGERIES], ids=[f[0] for f in EVENT_FORGERIES])
def test_forged_event_token_is_refused(site: Site, people: People, forge, message: str) -> None:  # type: ignore[no-untyped-def]
    _refused_event(site, forge(people), message)


# Event ids an attacker can put in an unsigned payload: none may reach the query as something else.
ODD_EIDS = [True, False, None, "1", 1.0, -1, 0, 2**31, 10**30, [1], {"id": 1}]


@pytest.mark.parametrize("eid", ODD_EIDS, ids=[repr(e) for e in ODD_EIDS])
def test_event_token_with_an_odd_event_id_is_refused(site: Site, people: People, eid: object) -> None:
    _refused_event(site, tokens.sign({"eid": eid}, secret="unknown", kind="event-qr"), NOT_OURS)


@pytest.mark.parametrize("token", [g[1] for g in GARBAGE], ids=[g[0] for g in GARBAGE])
def test_garbage_event_token_is_refused(site: Site, people: People, token: object) -> None:
    _refused_event(site, token, "not valid|damaged|does not belong")


# --- through the real pages ----------------------------------------------------------------------------------------


@pytest.fixture
def page_site(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Site, People]:
    """The app pointed at a real database holding Alice, Bob and two events (no demo data), links signed with the
    app's own secret."""
    from portal.backend.platform.blobs import LocalBlobStore
    from portal.backend.platform.db import migrate
    from tests.factories import make_org

    monkeypatch.setenv("PORTAL_DATABASE_URL", db_url)
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PORTAL_DEMO_DATA", "false")
    monkeypatch.chdir(tmp_path)
    db = Database(db_url)
    migrate.upgrade(db)
    make_org(db)
    secret = load_settings(env={}, secrets_path=None).secret_key
    people = make_people(db, secret)
    yield Site(db=db, blobs=LocalBlobStore(tmp_path / "data" / "blobs")), people
    db.dispose()


def _page(**query: str) -> tuple[AppTest, str]:
    """Run the app with these query parameters; returns it and everything it put on the page, as text."""
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    parts: list[str] = []

    def walk(node: object) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return at, "\n".join(parts)


def test_page_shows_only_the_links_own_person(page_site: tuple[Site, People]) -> None:
    _, people = page_site
    _, shown = _page(link=people.alice_token)
    assert NAMES[0] in shown and NAMES[1] not in shown


PAGE_LINKS = [
    ("bobs-body-alices-mac", lambda p: ".".join([*_parts(p.bob_token)[:2], _parts(p.alice_token)[2]]), PAGE_CHANGED),
    ("truncated", lambda p: p.alice_token[:-4], PAGE_CHANGED),
    ("garbage", lambda p: "<script>alert(1)</script>", MALFORMED),
]


@pytest.mark.parametrize(("forge", "message"), [p[1:] for p in PAGE_LINKS], ids=[p[0] for p in PAGE_LINKS])
def test_page_with_a_forged_link_names_nobody(page_site: tuple[Site, People], forge, message: str) -> None:  # type: ignore[no-untyped-def]
    site, people = page_site
    before = snapshot.take(site.db, site.blobs)
    at, shown = _page(link=forge(people))
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert not any(name in shown for name in NAMES)
    snapshot.assert_unchanged(before, site.db, site.blobs)


def test_page_with_a_revoked_link_names_nobody(page_site: tuple[Site, People]) -> None:
    site, people = page_site
    revoke_personal_links(_portal(site), actor=OPERATOR, subject_id=people.alice)
    before = snapshot.take(site.db, site.blobs)
    at, shown = _page(link=people.alice_token)
    assert any("has been withdrawn" in e.value for e in at.error)
    assert not any(name in shown for name in NAMES)
    snapshot.assert_unchanged(before, site.db, site.blobs)


def test_consent_form_with_a_rotated_qr_shows_no_form(page_site: tuple[Site, People]) -> None:
    site, people = page_site
    with site.db.write() as conn:
        rotate_qr_secret(conn, event_id=people.gala)
    at, shown = _page(event=people.gala_token)
    assert any(REPLACED in e.value for e in at.error)
    assert "Spring gala" not in shown and not at.checkbox and not at.text_input


@pytest.mark.parametrize("eid", [True, 10**30], ids=["true", "huge"])
def test_consent_form_with_an_odd_event_id_shows_the_error_not_a_crash(
    page_site: tuple[Site, People], eid: object
) -> None:
    site, _ = page_site
    before = snapshot.take(site.db, site.blobs)
    at, _ = _page(event=tokens.sign({"eid": eid}, secret="unknown", kind="event-qr"))
    assert any(NOT_OURS in e.value for e in at.error)
    assert not at.checkbox and not at.text_input
    snapshot.assert_unchanged(before, site.db, site.blobs)
