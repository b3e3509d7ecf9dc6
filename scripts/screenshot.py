"""Screenshot portal pages in Debian's headless Chromium (no browser download): python scripts/screenshot.py URL OUT.png."""

from __future__ import annotations

import argparse

from playwright.sync_api import sync_playwright

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


def settle(page, timeout_ms: int = 30_000) -> None:  # type: ignore[no-untyped-def]
    """Wait until Streamlit has finished running the script (no running indicator, no stale elements)."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)
    page.wait_for_timeout(800)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]') "
        "&& !document.querySelector('[data-stale=\"true\"]')",
        timeout=timeout_ms,
    )
    page.wait_for_timeout(500)


def main() -> None:
    """Open each URL, optionally sign in, wait for Streamlit to settle, save a full-page PNG."""
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("out")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=900)
    ap.add_argument("--email")
    ap.add_argument("--password")
    ap.add_argument("--click", action="append", default=[], help="text of a button to click after loading")
    args = ap.parse_args()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.goto(args.url)
        settle(page)
        if args.email:
            page.get_by_role("textbox", name="E-mail").fill(args.email)
            page.get_by_role("textbox", name="Password").fill(args.password)
            page.get_by_role("button", name="Sign in").click()
            settle(page)
        for label in args.click:
            page.get_by_text(label, exact=True).first.click()
            settle(page)
        page.screenshot(path=args.out, full_page=True)
        browser.close()


if __name__ == "__main__":
    main()
