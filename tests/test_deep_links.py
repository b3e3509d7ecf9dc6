"""The staff pages' addresses: Streamlit's own page with the server's address set first, one route per page."""

from __future__ import annotations

from portal.app import STAFF_PAGES
from portal.components import deep_links


def test_the_page_is_streamlits_with_the_server_script_first() -> None:
    html = deep_links.page_html()
    assert html is not None
    original = deep_links.INDEX.read_text(encoding="utf-8")
    # Nothing of Streamlit's page is lost; the script comes before Streamlit's own module script.
    assert html.replace(deep_links.SERVER_SCRIPT, "", 1) == original
    assert html.index(deep_links.SERVER_SCRIPT) < html.index('<script type="module"')
    assert html.index("<head>") < html.index(deep_links.SERVER_SCRIPT)


def test_every_staff_page_gets_a_get_route() -> None:
    paths = [page[3] for page in STAFF_PAGES]
    routes = deep_links.routes(paths)
    assert [route.path for route in routes] == [f"/{path}" for path in paths]
    assert all(route.methods is not None and {"GET", "HEAD"} <= route.methods for route in routes)
    assert "/dashboard" in [route.path for route in routes] and "/photos" in [route.path for route in routes]


def test_without_streamlits_page_there_are_no_routes(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(deep_links, "INDEX", tmp_path / "missing.html")
    deep_links.page_html.cache_clear()
    try:
        assert deep_links.routes(["photos"]) == []
    finally:
        monkeypatch.undo()
        deep_links.page_html.cache_clear()
