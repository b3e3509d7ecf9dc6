"""What the page benches share: serving a script with `streamlit run`, the app's environment for a bench database,
a bare Streamlit page to compare with, and headless Chromium waits for "Streamlit's run has finished"."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
from sqlalchemy import make_url

from portal.backend.platform.db.engine import Database

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# The baseline: what Streamlit itself costs for a page with a title and one button.
BARE = 'import streamlit as st\nst.title("Bare page")\nst.button("Ready")\n'


@dataclass(frozen=True)
class Servers:
    """The portal and the bare page, each served by its own `streamlit run`."""

    app_url: str
    bare_url: str
    app_pid: int
    bare_pid: int


def url_for(db: Database) -> str:
    """The database URL the app can use (a PostgreSQL bench schema goes into the search path)."""
    if not db.schema:
        return db.url
    return make_url(db.url).update_query_dict({"options": f"-csearch_path={db.schema}"}).render_as_string(False)


def app_env(db: Database, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a `streamlit run` of the portal on this database and data folder (no other PORTAL_*)."""
    return (
        {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
        | {
            "PORTAL_DATABASE_URL": url_for(db),
            "PORTAL_DATA_DIR": str(data_dir),
            "PORTAL_LEDGER_KEY": os.environ["PORTAL_LEDGER_KEY"],
        }
        | extra
    )


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(script: Path, env: dict[str, str], cwd: Path, port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """`streamlit run script` on a free port; returns the process and its address once healthy."""
    port = port or free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(script),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"{script} did not start")


@contextmanager
def portal_and_bare(env: dict[str, str], *, app_port: int | None = None) -> Iterator[Servers]:
    """The portal (streamlit_app.py) and the bare page served side by side from a folder with the portal's
    .streamlit config; both stopped afterwards."""
    work = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    shutil.copytree(ROOT / ".streamlit", work / ".streamlit", ignore=shutil.ignore_patterns("secrets.toml"))
    (work / "bare").mkdir()
    (work / "bare" / "bare.py").write_text(BARE)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        app, app_url = serve(ROOT / "streamlit_app.py", env, work, app_port)
        procs.append(app)
        bare, bare_url = serve(work / "bare" / "bare.py", env, work)
        procs.append(bare)
        yield Servers(app_url=app_url, bare_url=bare_url, app_pid=app.pid, bare_pid=bare.pid)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def chromium_page(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A page in Debian's headless Chromium (Playwright), closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": width, "height": height}, locale="en-GB")
        page = context.new_page()
        page.set_default_timeout(180_000)
        try:
            yield page
        finally:
            browser.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (a load's cost that a busy machine does not inflate
    the way it inflates wall-clock time)."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def browser_cpu() -> dict[int, float]:
    """CPU seconds used so far by each of this process's Chromium processes."""
    seconds: dict[int, float] = {}
    for proc in psutil.Process().children(recursive=True):
        try:
            if "chrom" in proc.name():
                times = proc.cpu_times()
                seconds[proc.pid] = times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return seconds


def browser_cpu_since(before: dict[int, float]) -> float:
    """Chromium's CPU seconds since `before` (renderers come and go: a new one counts from zero)."""
    return sum(now - before.get(pid, 0.0) for pid, now in browser_cpu().items())


def settled(page: Any) -> None:
    """Streamlit's run has finished: no running indicator and no stale element."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]') "
        "&& !document.querySelector('[data-stale=\"true\"]')",
        timeout=120_000,
    )


# What `shown_at` checks, in the page: an element's box is drawn, and the main area's images have all loaded.
_IN_PAGE = """
const visible = (el) => !!el && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
const imagesLoaded = (n) => {
  const imgs = [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stImage"] img,'
    + ' [data-testid="stMain"] [data-testid="stFullScreenFrame"] img')];
  return imgs.length >= n && imgs.every((i) => i.complete && i.naturalWidth > 0);
};
const settled = !document.querySelector('[data-testid="stStatusWidget"]')
  && !document.querySelector('[data-stale="true"]');
"""


def shown_at(page: Any, condition: str, arg: object = None, timeout_s: float = 180) -> float:
    """Seconds from the start of the page's navigation until `condition` (a JavaScript expression over `arg`, with
    `visible(el)` and `imagesLoaded(n)` at hand) holds and Streamlit's run has finished, by the page's own clock.

    Checked in the page on every animation frame. Playwright's own waits (`locator.wait_for`) check again after
    0, 20, 50, 100, 100, 500, 500, ... ms, so an element that appears 300 ms into a load is seen at 770 ms: a slower
    page looked up to half a second slower than it was.
    """
    script = f"(arg) => {{ {_IN_PAGE} return settled && ({condition}) ? performance.now() : false; }}"
    handle = page.wait_for_function(script, arg=arg, polling="raf", timeout=timeout_s * 1000)
    return float(handle.json_value()) / 1000


def images_loaded(page: Any, at_least: int = 1) -> None:
    """At least `at_least` images of the main area are shown and every one of them has finished loading."""
    page.wait_for_function(
        '(n) => { const imgs = [...document.querySelectorAll(\'[data-testid="stMain"] [data-testid="stImage"] img,'
        ' [data-testid="stMain"] [data-testid="stFullScreenFrame"] img\')];'
        " return imgs.length >= n && imgs.every(i => i.complete && i.naturalWidth > 0); }",
        arg=at_least,
        timeout=120_000,
    )
