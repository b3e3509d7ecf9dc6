"""A real portal (`streamlit run`) on a free local port and Debian's headless Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import IN_CI, ROOT

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"


@dataclass(frozen=True)
class LivePortal:
    """A running portal: its address, database URL and data folder."""

    url: str
    database_url: str
    folder: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_portal_env() -> dict[str, str]:
    """Extra PORTAL_* settings for the live portal; a test module overrides this fixture (e.g. SMTP settings)."""
    return {}


@pytest.fixture
def live_portal(tmp_path: Path, live_portal_env: dict[str, str]) -> Iterator[LivePortal]:
    """Seed a SQLite portal, start `streamlit run` on it and wait until its health check answers."""
    from portal.backend.ops.demo import seed_demo
    from portal.backend.platform.db import migrate
    from portal.backend.platform.db.engine import Database

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    database_url = f"sqlite:///{tmp_path / 'portal.db'}"
    db = Database(database_url)
    migrate.upgrade(db)
    seed_demo(db)
    db.dispose()
    shutil.copytree(ROOT / ".streamlit", tmp_path / ".streamlit", ignore=shutil.ignore_patterns("secrets.toml"))
    env = (
        {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
        | {
            "PORTAL_DATABASE_URL": database_url,
            "PORTAL_DATA_DIR": str(tmp_path / "data"),
            "PORTAL_BASE_URL": url,
        }
        | live_portal_env
    )
    log = (tmp_path / "streamlit.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "streamlit_app.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
        ],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the portal did not start:\n" + (tmp_path / "streamlit.log").read_text())
                time.sleep(0.2)
        yield LivePortal(url=url, database_url=database_url, folder=tmp_path)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _open_page(request: pytest.FixtureRequest, width: int, height: int) -> Iterator[object]:
    """A page in Debian's Chromium at this size; a screenshot of every open page is saved if the test fails."""
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail("Debian's chromium is missing: .ci/run installs it with apt-get.")
        pytest.skip("browser tests need Debian's chromium at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(
            viewport={"width": width, "height": height}, locale="en-GB", accept_downloads=True
        )
        page = context.new_page()
        page.set_default_timeout(60_000)
        yield page
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            for n, open_page in enumerate(context.pages):
                open_page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-failure-{n}.png"), full_page=True)
        browser.close()


@pytest.fixture
def browser_page(request: pytest.FixtureRequest) -> Iterator[object]:
    """A phone-sized page (390x844), as a data subject holds it."""
    yield from _open_page(request, 390, 844)


@pytest.fixture
def desktop_page(request: pytest.FixtureRequest) -> Iterator[object]:
    """A laptop-sized page (1280x900), as staff and managers use the portal."""
    yield from _open_page(request, 1280, 900)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Remember each phase's report on the test item, so fixtures can see whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def settle(page: object, timeout_ms: int = 60_000) -> None:
    """Wait until Streamlit has finished its script run (no running indicator, no stale elements)."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)  # type: ignore[attr-defined]
    page.wait_for_timeout(300)  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]') "
        "&& !document.querySelector('[data-stale=\"true\"]')",
        timeout=timeout_ms,
    )
