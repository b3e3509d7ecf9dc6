"""Untrusted text is never markup: the plain-text helper, and a hostile name, event, place, file name, guardian and
purpose text rendered through every page as every role (AppTest, both databases)."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from google.protobuf.message import Message
from sqlalchemy import select, update
from streamlit.testing.v1 import AppTest

from portal.backend.consent.queries import TextContent
from portal.backend.consent.services import publish_purpose_text
from portal.backend.events.queries import event_url
from portal.backend.events.services import create_event
from portal.backend.ops.bootstrap import open_portal
from portal.backend.people.services import create_personal_link, register_subject
from portal.backend.photos.services import link_face, publish_photo
from portal.backend.platform.actors import Actor
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.schema import assets, detections, staff_users
from portal.components.text import plain
from tests.conftest import APP
from tests.factories import make_staff
from tests.seeded import SeededPortal

# The finding: typed on the public form, this became an image request and a real link in staff browsers.
HOSTILE = "![x](http://127.0.0.1:9/track.png) [Reset your staff password](http://host/login)"
# Other shapes of live Markdown: a literal autolink, an e-mail autolink, a directive, emoji, LaTeX, a heading.
# (Names refuse < and >, so the <https://...> autolink is only in the helper's own cases.)
HOSTILE_MORE = "www.evil.example x@evil.example :red[alarm] :smile: $x^2$ ~~struck~~"
MARKERS = ("127.0.0.1:9", "host/login", "evil.example")

# Escaped punctuation, and a WORD JOINER after it, can no longer form syntax.
_ESCAPED = re.compile(r"\\[!-/:-@\[-`{-~]")
_LINK = re.compile(r"!?\[[^\]]*\]\(")
_AUTOLINK = re.compile(r"(?i)<[a-z]+:|(https?://|www\.)[\w-]+(\.[\w-]+)+|[\w.+-]+@[\w-]+(\.[\w-]+)+")
_STRIKE = re.compile(r"~[^~\s][^~]*~")
# Emphasis and code: the pages' own templates use them, so only the helper's own cases check for them.
_EMPHASIS = re.compile(r"`[^`]+`|\*[^*\s][^*]*\*|(?<!\w)_[^_\s][^_]*_(?!\w)")
_DIRECTIVE = re.compile(r":[a-z]+(-background)?\[|:[\w+-]+:|\$[^$]+\$|^\s{0,3}#{1,6}(\s|$)", re.MULTILINE)


def live_markup(body: str, *, emphasis: bool = True) -> list[str]:
    """The Markdown constructs in `body` that would render as a link, an image, a directive or other markup."""
    rest = _ESCAPED.sub("\u00b7", body)  # a neutral stand-in keeps what follows off the line start
    patterns = (_LINK, _AUTOLINK, _DIRECTIVE, _STRIKE, *((_EMPHASIS,) if emphasis else ()))
    return [m.group(0) for pattern in patterns for m in pattern.finditer(rest)]


@pytest.mark.parametrize(
    "typed",
    [
        HOSTILE,
        HOSTILE_MORE,
        "<https://evil.example> <b>bold</b>",
        "# Heading\n> quote\n- item\n1. item\n***\n| a | b |",
        "&#91;x&#93;(http://evil.example) &lt;b&gt;",
        "`code` *em* _em_ ~~del~~ \\[already\\]",
    ],
)
def test_plain_leaves_no_markup(typed: str) -> None:
    assert live_markup(typed), "the case must be live Markdown before the helper"
    assert live_markup(plain(typed)) == []


@pytest.mark.parametrize(
    "typed",
    ["Anna Lindqvist", 'Zoë "Z" O\'Brien & Sons', "E-mail or password is wrong, or the account is disabled.", "3.5"],
)
def test_ordinary_text_is_unchanged(typed: str) -> None:
    # No visible difference for ordinary names and sentences: messages read and compare as written.
    assert plain(typed) == typed


def test_line_breaks_stay_line_breaks_and_none_is_empty() -> None:
    assert plain("first\r\nsecond\nthird") == "first  \nsecond  \nthird"
    assert plain(None) == ""


# -- every page, every role -------------------------------------------------------------------------------------


def _strings(message: Message, kind: str) -> Iterator[tuple[str, str, str]]:
    """(element kind, field, text) for every string in a proto; selectbox options, input values and image alt texts
    are plain (an image's alt is an HTML attribute, which the browser never renders as Markdown)."""
    for field, value in message.ListFields():
        if field.name in {"options", "default", "value", "code_text", "id", "form_id", "placeholder", "url", "alt"}:
            continue
        if kind == "Dataframe" and field.name == "columns":
            # Column labels are drawn as text on the grid's canvas; only a column's help tooltip is Markdown.
            for column in json.loads(value).values():
                if isinstance(column, dict) and isinstance(column.get("help"), str):
                    yield kind, "columns.help", column["help"]
            continue
        values = value if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) else [value]
        for item in values:
            if isinstance(item, str):
                yield kind, field.name, item
            elif isinstance(item, Message):
                yield from _strings(item, kind)


def rendered(at: AppTest) -> list[tuple[str, str, str]]:
    """Every Markdown-rendered string of the page (bodies, labels, captions, help texts) as (kind, field, text)."""
    found: list[tuple[str, str, str]] = []

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if isinstance(proto, Message):
            found.extend(_strings(proto, type(node).__name__))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return found


def assert_inert(at: AppTest, where: str) -> int:
    """No rendered string carries live markup from the hostile values; returns how many strings showed them."""
    assert not at.exception, (where, at.exception)
    shown = 0
    for kind, field, text in rendered(at):
        if any(marker in text.replace("\u2060", "") for marker in MARKERS):
            shown += 1
            assert live_markup(text, emphasis=False) == [], (where, kind, field, text)
    return shown


@pytest.fixture
def hostile(seeded_portal: SeededPortal) -> dict[str, Any]:
    """The demo portal with hostile text everywhere a person or staff member types it."""
    portal = open_portal(load_settings())
    admin = make_staff(portal.db, role="admin")
    publish_purpose_text(
        portal,
        actor=admin,
        code="internal",
        texts={"en": TextContent(f"Title {HOSTILE}", f"Body {HOSTILE}\n# {HOSTILE_MORE}", [HOSTILE], ("Photo",))},
        carry_over=("sv",),
    )
    event = create_event(
        portal, actor=admin, name=HOSTILE, date=date.today(), place=HOSTILE_MORE, purpose_codes=["internal", "website"]
    )
    registered = register_subject(
        portal,
        actor=Actor(kind="guardian"),
        channel="qr_form",
        name=HOSTILE,
        email="hostile@example.org",
        locale="en",
        is_minor=True,
        guardian_name=HOSTILE_MORE,
        event_id=event.id,
        choices={"internal": True, "website": True},
        submission_id=str(uuid.uuid4()),
    )
    subject_id = registered.subject.id
    with portal.db.read() as conn:
        face = conn.execute(
            select(detections.c.id, detections.c.asset_id)
            .where(detections.c.kind == "face", detections.c.subject_id.is_(None))
            .order_by(detections.c.id)
        ).first()
    assert face is not None
    link_face(portal, actor=admin, detection_id=face.id, subject_id=subject_id)
    publish_photo(
        portal, actor=admin, asset_id=face.asset_id, purpose="internal", where=HOSTILE, override_reason="test photo"
    )
    with portal.db.write() as conn:
        conn.execute(update(assets).where(assets.c.id == face.asset_id).values(filename=f"{HOSTILE}.jpg"))
        # The signed-in manager's own name, shown in the sidebar.
        conn.execute(
            update(staff_users).where(staff_users.c.email == "manager@demo.example").values(display_name=HOSTILE)
        )
    link = create_personal_link(portal, actor=admin, subject_id=subject_id)
    url = event_url(portal, event_id=event.id)
    return {
        "subject": subject_id,
        "asset": face.asset_id,
        "link": parse_qs(urlparse(link).query)["link"][0],
        "event": parse_qs(urlparse(url).query)["event"][0],
    }


ACCOUNTS = {"staff": "demo-staff-pass", "manager": "demo-manager-pass", "admin": "demo-admin-pass"}


def _signed_in(role: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input[0].input(f"{role}@demo.example")
    at.text_input[1].input(ACCOUNTS[role])
    return at.button[0].click().run()


@pytest.mark.slow
@pytest.mark.parametrize("role", ["staff", "manager", "admin"])
def test_every_staff_page_shows_hostile_text_inert(hostile: dict[str, Any], role: str) -> None:
    at = _signed_in(role)
    shown = assert_inert(at, f"{role}: overview")
    for view in sorted(p.stem for p in (Path(APP).parent / "portal" / "pages").glob("*.py")):
        try:
            at.switch_page(f"portal/pages/{view}.py")
        except ValueError:
            continue  # not in this role's navigation
        at.run()
        shown += assert_inert(at, f"{role}: {view}")
        if view == "subjects":
            at.selectbox[0].select(hostile["subject"]).run()
            shown += assert_inert(at, f"{role}: subject detail")
        if view == "assets":
            at.button(key=f"open_{hostile['asset']}").click().run()
            shown += assert_inert(at, f"{role}: photo review")
    # The hostile values did reach the pages (as text): the test looked at something.
    assert shown >= (8 if role == "staff" else 10)


@pytest.mark.slow
def test_public_form_and_personal_page_show_hostile_text_inert(hostile: dict[str, Any]) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["event"] = hostile["event"]
    at.run()
    shown = assert_inert(at, "consent form")
    at.text_input(key="form_name").input(HOSTILE)
    at.selectbox(key="form_birth_month").set_value(6)
    at.selectbox(key="form_birth_year").set_value(1990)
    at.checkbox(key="agree_internal").check()
    at.button(key="form_submit").click().run()
    shown += assert_inert(at, "consent form, thank you")
    assert any("Thank you" in s.value for s in at.success)

    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["link"] = hostile["link"]
    at.run()
    shown += assert_inert(at, "personal page")
    assert shown >= 8


def test_an_unexpected_error_on_a_public_page_shows_an_id_not_internals(
    seeded_portal: SeededPortal, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import portal.backend.consent.queries as queries

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError('SELECT password_hash FROM staff_users WHERE email = "x" -- /srv/portal/secret')

    monkeypatch.setattr(queries, "current_texts", broken)
    portal = open_portal(load_settings())
    url = event_url(portal, event_id=1)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["event"] = parse_qs(urlparse(url).query)["event"][0]
    at.session_state["form_locale"] = "sv"
    with caplog.at_level(logging.ERROR, logger="portal.components.public"):
        at.run()
    assert not at.exception
    [error] = at.error
    assert "Tyvärr gick något fel" in error.value
    error_id = re.search(r"koden: ([0-9A-F]{8})", error.value)
    assert error_id is not None
    assert "password_hash" not in error.value and "/srv" not in error.value
    # The operator finds the id, and the details, in the log.
    logged = [r for r in caplog.records if error_id.group(1) in r.getMessage()]
    assert logged and logged[0].exc_info and "password_hash" in str(logged[0].exc_info[1])
