"""Layering rules: the backend never imports Streamlit, pages or components."""

from __future__ import annotations

import ast
import re
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


# What pages, components and CLI commands may import from the backend: the public face of each package (its
# services and read models), plus the few platform pieces every entry point needs. Everything else is private.
ALLOWED_FROM_UI = re.compile(
    r"^portal\.backend\.("
    r"[a-z_]+\.(services|queries)"
    r"|platform\.(actors|errors|config|runtime)"
    r"|ops\.bootstrap"
    r"|i18n(\.[a-z_]+)?"
    r")$"
)
UI_SOURCES = [
    *sorted((ROOT / "portal" / "pages").glob("*.py")),
    *sorted((ROOT / "portal" / "components").glob("*.py")),
    *sorted((ROOT / "portal" / "cli").glob("*.py")),
    ROOT / "portal" / "app.py",
    ROOT / "portal" / "__main__.py",
    ROOT / "streamlit_app.py",
]


def _backend_imports(tree: ast.AST) -> list[str]:
    """Every backend module a source imports, `from portal.backend.x import services` counted as x.services."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("portal.backend")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("portal.backend"):
            package = BACKEND.joinpath(*node.module.split(".")[2:])
            for alias in node.names:
                # `from package import module` names that module; `from package import NAME` the package itself.
                is_module = (package / f"{alias.name}.py").exists() or (package / alias.name).is_dir()
                found.append(f"{node.module}.{alias.name}" if is_module else node.module)
    return found


def _database_or_blob_writes(tree: ast.AST) -> list[str]:
    """Calls that open a transaction (`x.db.read()`, `.write()`), write or delete a blob, or touch SQLAlchemy."""
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            owner_name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if node.func.attr in ("read", "write", "begin", "connect") and owner_name in ("db", "engine"):
                bad.append(f"line {node.lineno}: {owner_name}.{node.func.attr}()")
            if node.func.attr in ("put", "delete") and owner_name == "blobs":
                bad.append(f"line {node.lineno}: blobs.{node.func.attr}()")
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            bad += [f"line {node.lineno}: imports {n}" for n in names if n.split(".")[0] == "sqlalchemy"]
    return bad


def test_pages_components_and_cli_use_only_services_and_read_models() -> None:
    """The import contract: no view, component or CLI module reaches past a package's services and queries."""
    offenders = {}
    for path in UI_SOURCES:
        tree = ast.parse(path.read_text(), filename=str(path))
        bad = [m for m in _backend_imports(tree) if not ALLOWED_FROM_UI.match(m)]
        bad += _database_or_blob_writes(tree)
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(set(bad))
    assert offenders == {}
    assert len(UI_SOURCES) > 25  # the scan really looked at the pages and the CLI


def test_the_contract_check_catches_a_page_that_writes_to_the_database() -> None:
    """The checker itself: a page importing a private module and opening a transaction is reported."""
    sample = ast.parse(
        "from portal.backend.consent.records import record_consent\n"
        "from portal.backend.consent import services, ledger\n"
        "with portal.db.write() as conn:\n    pass\n"
        "portal.blobs.put('k', b'')\n"
    )
    assert [m for m in _backend_imports(sample) if not ALLOWED_FROM_UI.match(m)] == [
        "portal.backend.consent.records",
        "portal.backend.consent.ledger",
    ]
    assert sorted(_database_or_blob_writes(sample)) == ["line 3: db.write()", "line 5: blobs.put()"]


def test_every_backend_package_has_a_public_face() -> None:
    """Each domain package offers services and/or read models; the vision library stays pure (no database)."""
    packages = sorted(p.name for p in BACKEND.iterdir() if (p / "__init__.py").exists())
    missing = [
        name
        for name in packages
        if name not in ("platform", "i18n") and not ((BACKEND / name / "services.py").exists())
    ]
    assert missing == []
    vision = BACKEND / "photos" / "vision"
    for path in vision.rglob("*.py"):
        assert not [m for m in _imports(path) if m.split(".")[0] == "sqlalchemy" or ".platform.db" in m], path


def test_the_started_script_never_sits_beside_a_pages_folder() -> None:
    """Streamlit runs a pages/ folder next to the started script without the router (folder mode)."""
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"streamlit run ([\w./-]+\.py)", readme)
    ci = (ROOT / "tests" / "e2e" / "conftest.py").read_text()
    assert commands, "the README shows how to start the portal"
    for script in {*commands, "streamlit_app.py"}:
        path = ROOT / script
        assert path.is_file(), script
        assert not (path.parent / "pages").exists(), f"{script} sits beside a pages/ folder"
    assert '"streamlit_app.py"' in ci  # the browser tests start the same script
    assert (ROOT / "portal" / "pages").is_dir() and (ROOT / "portal" / "app.py").is_file()
