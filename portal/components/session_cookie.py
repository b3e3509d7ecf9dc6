"""The HttpOnly cookie that keeps a staff sign-in across reloads and deep links: its HTTP route and the page's calls.

Streamlit gives a script no way to set a cookie (st.context.cookies only reads those of the websocket's request),
so streamlit_app.py serves the portal as an st.App with one extra route, /api/session:

- POST {"code": ...}: the one-time code the signed-in page hands its own browser becomes the cookie (HttpOnly,
  SameSite=Strict, Path=/, Secure and the __Host- prefix when the portal is served over HTTPS). The token itself is
  made by the route and never appears in the page, a script or a URL.
- DELETE: ends the remembered sign-in of the cookie sent along and deletes the cookie (sign-out).

Both refuse requests whose Origin is not the portal's own. The subject side (QR form, personal link) never gets a
cookie: it stays stateless.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from urllib.parse import urlsplit

import streamlit as st
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.backend.staff.queries import StaffSession
from portal.backend.staff.services import forget_sign_in, redeem_sign_in_code, remember_sign_in, restore_sign_in
from portal.components.context import FORGET_COOKIE_KEY, KIOSK_KEY, open_current_portal, start_session

ROUTE = "/api/session"
COOKIE = "portal_session"
SECURE_COOKIE = "__Host-portal_session"  # the browser keeps it only from HTTPS, for this host and Path=/
# A code for the page to hand over once; rendered on the next run (as is FORGET_COOKIE_KEY, the order to delete it).
_HANDOFF_KEY = "session_cookie_handoff"
# The hash of the cookie this browser session already tried, so a dead cookie costs one lookup, not one per click.
_TRIED_KEY = "session_cookie_tried"


def _secure(request: Request, base_url: str) -> bool:
    """HTTPS: the portal's public address says so, or the request came over it."""
    return base_url.startswith("https://") or request.url.scheme == "https"


def _same_origin(request: Request) -> bool:
    """The request comes from a page of this portal (browsers send Origin with every POST and DELETE)."""
    origin = request.headers.get("origin")
    host = request.headers.get("host")
    return bool(origin and host) and urlsplit(origin).netloc == host


def _answer(status: int) -> Response:
    return Response(status_code=status, headers={"Cache-Control": "no-store"})


async def session_route(request: Request) -> Response:
    """POST: exchange a one-time code for the sign-in cookie; DELETE: end the cookie's sign-in and delete it."""
    if not _same_origin(request):
        return _answer(403)
    portal = await run_in_threadpool(open_current_portal)
    secure = _secure(request, portal.settings.base_url)
    name = SECURE_COOKIE if secure else COOKIE
    if request.method == "DELETE":
        for cookie in (COOKIE, SECURE_COOKIE):
            if token := request.cookies.get(cookie):
                await run_in_threadpool(forget_sign_in, portal, token=token)
        answer = _answer(204)
        answer.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="strict")
        return answer
    try:
        code = json.loads(await request.body())["code"]
    except (ValueError, KeyError, TypeError):
        return _answer(400)
    got = await run_in_threadpool(redeem_sign_in_code, portal, code=str(code))
    if got is None:
        return _answer(400)
    token, ends_at = got
    answer = _answer(204)
    answer.set_cookie(
        name,
        token,
        max_age=max(int((ends_at - datetime.now(UTC)).total_seconds()), 0),
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )
    return answer


def routes() -> list[Route]:
    """The routes streamlit_app.py serves beside Streamlit's own."""
    return [Route(ROUTE, session_route, methods=["POST", "DELETE"])]


def remember(session: StaffSession) -> StaffSession:
    """A new sign-in (embedded or Supabase) bound to a server-side row; the next page run hands its one-time code to
    the route."""
    if session.token_id is not None:
        return session
    session, code = remember_sign_in(open_current_portal(), session=session)
    st.session_state[_HANDOFF_KEY] = code
    return session


def sync() -> None:
    """Render the pending cookie call, once: a few lines of script with a random code and no user data."""
    code = st.session_state.pop(_HANDOFF_KEY, None)
    if st.session_state.pop(FORGET_COOKIE_KEY, False):
        call = "{method: 'DELETE', credentials: 'same-origin'}"
    elif isinstance(code, str) and code.replace("-", "").replace("_", "").isalnum():
        body = json.dumps(json.dumps({"code": code}))
        call = f"{{method: 'POST', credentials: 'same-origin', headers: {{'Content-Type': 'application/json'}}, body: {body}}}"
    else:
        return
    st.html(f"<script>fetch('{ROUTE}', {call});</script>", unsafe_allow_javascript=True, width="content")


def from_cookie() -> StaffSession | None:
    """The sign-in this browser's cookie brings back (a reload, a deep link, a new tab), kiosk mode included; None
    without a cookie or when its sign-in no longer stands."""
    token = st.context.cookies.get(SECURE_COOKIE) or st.context.cookies.get(COOKIE)
    if not isinstance(token, str) or not token:  # AppTest's client has no real cookies
        return None
    tried = hashlib.sha256(token.encode()).hexdigest()
    if st.session_state.get(_TRIED_KEY) == tried:
        return None
    st.session_state[_TRIED_KEY] = tried
    got = restore_sign_in(open_current_portal(), token=token)
    if got is None:
        return None
    session, kiosk_event = got
    start_session(session)
    if kiosk_event is not None:
        st.session_state[KIOSK_KEY] = {
            "event_id": kiosk_event,
            "staff_id": session.user.id,
            "staff_name": session.user.display_name,
        }
    return session
