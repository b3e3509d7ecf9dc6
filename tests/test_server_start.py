"""The server's start: what the pages import is loaded and frozen for the GC, and no page needs Streamlit's magic."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

from portal.components.server_start import page_imports

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = [*sorted((ROOT / "portal" / "pages").glob("*.py")), ROOT / "streamlit_app.py"]


def _shown_by_magic(script: Path) -> list[str]:
    """The statements Streamlit's magic would write to the page: bare expressions other than calls and docstrings."""
    found = []
    for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
        for field in ("body", "orelse", "finalbody"):
            statements = getattr(node, field, None)
            if not isinstance(statements, list):
                continue
            for i, statement in enumerate(statements):
                if not isinstance(statement, ast.Expr) or isinstance(statement.value, ast.Call | ast.Await):
                    continue
                docstring = (
                    isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef)
                    and field == "body"
                    and i == 0
                    and isinstance(statement.value, ast.Constant)
                )
                if not docstring:
                    found.append(f"{script.name}:{statement.lineno} {ast.unparse(statement)}")
    return found


def test_magic_is_off_and_no_page_relies_on_it() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["runner"]["magicEnabled"] is False
    assert [line for script in SCRIPTS for line in _shown_by_magic(script)] == []


def test_the_magic_check_sees_a_bare_expression(tmp_path: Path) -> None:
    page = tmp_path / "page.py"
    page.write_text('"""Doc."""\nimport streamlit as st\nx = 1\nx\nst.write(x)\nif x:\n    "shown"\n')
    assert _shown_by_magic(page) == ["page.py:4 x", "page.py:7 'shown'"]


def test_page_imports_lists_what_the_pages_import() -> None:
    names = page_imports()
    assert {"pandas", "altair", "streamlit", "portal.backend.risk.queries", "portal.components.context"} <= set(names)
    assert "__future__" not in names
    assert len(names) == len(set(names))


def test_warm_up_imports_the_pages_modules_and_freezes_the_heap() -> None:
    # In a fresh interpreter: a frozen heap stays frozen for the rest of the process.
    probe = (
        "import gc, json, sys\n"
        "from portal.components.server_start import page_imports, warm_up\n"
        "frozen = warm_up()\n"
        "print(json.dumps({'frozen': frozen, 'tracked': len(gc.get_objects()),"
        " 'missing': [m for m in ['portal.app', *page_imports()] if m not in sys.modules]}))\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["missing"] == []
    # What a full collection still walks is a sliver of what was imported.
    assert got["frozen"] > 100_000
    assert got["tracked"] < got["frozen"] / 20
