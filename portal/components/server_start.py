"""What the Streamlit server does once, before its first visitor: import what the pages use, then freeze that heap."""

from __future__ import annotations

import ast
import gc
import importlib
from pathlib import Path

PAGES = Path(__file__).resolve().parent.parent / "pages"


def page_imports(pages: Path = PAGES) -> list[str]:
    """The modules the page scripts import at their top level, in order and without repeats."""
    names: list[str] = []
    for script in sorted(pages.glob("*.py")):
        for node in ast.parse(script.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.append(node.module)
    return list(dict.fromkeys(name for name in names if name != "__future__"))


def warm_up() -> int:
    """Import the router and everything the pages import, collect, and freeze the heap; returns the frozen count.

    Streamlit runs a full garbage collection after every script run (`runner.postScriptGC`). With pandas, Altair,
    PIL and SQLAlchemy loaded, each one walked every object of those modules: about 0.1 s of server CPU per page
    load and per click (py-spy; `bench/pages.py` server CPU). Frozen objects sit in a permanent generation that
    collections skip, so each run's collection walks only what the runs create. Importing here also spares the
    first visitor of each page its imports.
    """
    importlib.import_module("portal.app")
    for name in page_imports():
        importlib.import_module(name)
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
