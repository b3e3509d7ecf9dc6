"""In a real browser: a hostile name, event name and place make no request to a listener on 127.0.0.1 and produce no
image or link element; and the server refuses an upload over its limit from any session, before reading it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from sqlalchemy import update
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from portal.backend.events.store import event_url
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import events, staff_users, subjects
from tests.e2e.conftest import ARTIFACTS, LivePortal, settle
from tests.e2e.test_staff_journey import _open, _sign_in


class _Listener(BaseHTTPRequestHandler):
    """Records every request it gets; a rendered hostile image or a prefetched link would land here."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_response(204)
        self.end_headers()

    do_POST = do_HEAD = do_GET

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def listener() -> Iterator[tuple[int, list[str]]]:
    """An HTTP server on 127.0.0.1 (a free port) and the list of paths requested from it."""
    seen: list[str] = []
    handler = type("Listener", (_Listener,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def _hostile_elements(page, port: int) -> list[str]:  # type: ignore[no-untyped-def]
    """Outer HTML of every img or a element that points at the listener or came from the hostile text."""
    return page.evaluate(  # type: ignore[no-any-return]
        """(port) => [...document.querySelectorAll('img, a, image, link, iframe, source')]
            .filter(e => ['src', 'href', 'srcset', 'data'].some(a => {
                const v = e.getAttribute(a) || '';
                return v.includes(':' + port) || v.includes('host/login') || v.includes('evil.example');
            }) || (e.tagName === 'A' && /Reset your staff password/.test(e.textContent)))
            .map(e => e.outerHTML)""",
        port,
    )


def test_hostile_text_makes_no_request_and_no_link(  # type: ignore[no-untyped-def]
    live_portal: LivePortal, desktop_page, listener: tuple[int, list[str]]
) -> None:
    port, seen = listener
    page = desktop_page
    name = f"![x](http://127.0.0.1:{port}/track.png) [Reset your staff password](http://127.0.0.1:{port}/login)"
    place = f"http://127.0.0.1:{port}/place.png www.evil.example x@evil.example"
    db = Database(live_portal.database_url)
    with db.write() as conn:
        conn.execute(update(subjects).where(subjects.c.display_name == "Anna Lindqvist").values(display_name=name))
        conn.execute(update(events).where(events.c.id == 2).values(name=name, place=place))
        conn.execute(update(staff_users).where(staff_users.c.email == "manager@demo.example").values(display_name=name))
    settings = load_settings(env={}, secrets_path=None, database_url=live_portal.database_url, base_url=live_portal.url)
    with db.read() as conn:
        form_url = event_url(conn, event_id=2, secret=settings.secret_key, base_url=live_portal.url)
    db.dispose()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    # The public form, which every visitor of the event sees.
    page.goto(form_url)
    page.get_by_text("Reset your staff password").first.wait_for()
    settle(page)
    assert _hostile_elements(page, port) == []

    # A manager: the sidebar (their own name), the subject's detail, the events with their places. (The photo pages
    # are covered by tests/test_plain_text.py: this live portal has no photos.)
    _sign_in(page, live_portal.url, "manager@demo.example", "demo-manager-pass")
    assert _hostile_elements(page, port) == []
    _open(page, "Subjects")
    field = page.get_by_role("combobox", name="Open a subject")
    field.click()
    field.fill("Reset your staff")
    page.get_by_role("option").first.click()
    settle(page)
    page.get_by_text("History (from the append-only ledger)").wait_for()
    page.screenshot(path=str(ARTIFACTS / "hostile-subject-1280.png"), full_page=True)
    assert _hostile_elements(page, port) == []
    _open(page, "Events")
    assert _hostile_elements(page, port) == []

    # The names were there, as text: what the person typed is what staff read.
    assert page.get_by_text("[Reset your staff password]").count() >= 1
    page.wait_for_timeout(500)  # a late image request would still arrive
    assert seen == [], f"the browser requested {seen} from the listener"


def test_an_upload_over_the_limit_is_refused_before_it_is_read(live_portal: LivePortal, browser_page) -> None:  # type: ignore[no-untyped-def]
    """The sign-in page has no uploader, yet its session could upload 200 MB; now 50 MB is the most from anyone."""
    page = browser_page
    sessions: list[str] = []

    def frames(ws) -> None:  # type: ignore[no-untyped-def]
        def got(payload: bytes | str) -> None:
            if isinstance(payload, bytes):
                msg = ForwardMsg.FromString(payload)
                if msg.HasField("new_session"):
                    sessions.append(msg.new_session.initialize.session_id)

        ws.on("framereceived", got)

    page.on("websocket", frames)
    page.goto(live_portal.url)
    page.get_by_text("Staff sign-in").wait_for()
    settle(page)
    assert sessions, "no session id seen on the websocket"
    # From inside the page, as Streamlit's own uploader sends it (same origin, XSRF cookie and header).
    statuses = page.evaluate(
        """async ([session, sizes]) => {
            const xsrf = (document.cookie.match(/_streamlit_xsrf=([^;]+)/) || [])[1] || '';
            const out = [];
            for (const mb of sizes) {
                const body = new FormData();
                body.append('file', new Blob([new Uint8Array(mb * 1024 * 1024)]), 'big.png');
                const answer = await fetch(`/_stcore/upload_file/${session}/file-${mb}`,
                    {method: 'PUT', body, headers: {'X-Xsrftoken': decodeURIComponent(xsrf)}, credentials: 'same-origin'});
                out.push(answer.status);
            }
            return out;
        }""",
        [sessions[0], [1, 51, 150]],
    )
    small, over, huge = statuses
    assert small in (200, 204), statuses  # the same request under the limit is taken
    assert over == 413 and huge == 413, statuses
