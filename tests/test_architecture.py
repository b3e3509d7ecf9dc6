"""Layering rules: the backend never imports Streamlit, pages or components."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import ROOT

BACKEND = ROOT / "portal" / "backend"


def _imports(path) -> set[str]:  # type: ignore[no-untyped-def]
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_backend_sources_do_not_import_streamlit_or_ui() -> None:
    offenders = {}
    for path in BACKEND.rglob("*.py"):
        bad = {
            n
            for n in _imports(path)
            if n.split(".")[0] == "streamlit" or n.startswith(("portal.pages", "portal.components"))
        }
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert offenders == {}
    assert len(list(BACKEND.rglob("*.py"))) > 10  # the scan really looked at the backend


def test_importing_the_whole_backend_loads_no_streamlit() -> None:
    modules = [
        *sorted(
            ".".join(p.relative_to(ROOT).with_suffix("").parts)
            for p in BACKEND.rglob("*.py")
            if "migrations" not in p.parts and p.name != "__init__.py"
        ),
        "portal.cli",
    ]
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + "print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
