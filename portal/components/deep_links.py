"""The staff pages' own addresses (/photos, /dashboard, ...) answered with Streamlit's page plus where its server is.

Opened at /photos (a reload, a bookmark, a link in an e-mail), Streamlit's frontend cannot tell whether "photos" is a
page or the path the portal is served under, so it first asks /photos/_stcore/health, and only after that fails
(and a retry delay) the root: 0.08-0.1 s of every such load (bench/pages.py). The frontend reads its server's
address from `window.__streamlit.BACKEND_BASE_URL` when a host sets it; these routes set it to the page's parent
address. Should a later Streamlit ignore the setting, the frontend probes as before.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path

import streamlit
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

INDEX = Path(streamlit.__file__).resolve().parent / "static" / "index.html"
# Constant text, no request data: the server is the page's parent address (a path prefix in front is kept).
SERVER_SCRIPT = (
    "<script>window.__streamlit = Object.assign({}, window.__streamlit, {BACKEND_BASE_URL: "
    'new URL(location.pathname.replace(/\\/+$/, "").replace(/[^/]*$/, ""), location.href).href});</script>'
)


@functools.cache
def page_html() -> str | None:
    """Streamlit's index.html with the server script first in its head; None if the file is not where expected."""
    try:
        html = INDEX.read_text(encoding="utf-8")
    except OSError:
        return None
    head = html.find("<head>")
    if head < 0:
        return None
    at = head + len("<head>")
    return html[:at] + SERVER_SCRIPT + html[at:]


async def _staff_page(_request: Request) -> Response:
    """Streamlit's page for a staff page's address (never cached, as Streamlit serves it)."""
    html = page_html()
    assert html is not None  # routes() adds no route without it
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


def routes(paths: Iterable[str]) -> list[Route]:
    """One GET route per page address; none when Streamlit's index.html cannot be read (the frontend then probes)."""
    if page_html() is None:
        return []
    return [Route(f"/{path}", _staff_page, methods=["GET", "HEAD"]) for path in paths]
