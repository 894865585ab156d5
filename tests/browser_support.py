"""A headless Chromium page for the tests of the HTML pages (the side-by-side page, the
benchmark's index): Debian's ``chromium`` driven by Playwright, a fresh profile each time."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else shutil.which("chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[tuple[Any, dict[str, list[str]]]]:
    """A page, and what it saw: console errors, page errors, dialogs, and requests for anything
    but the files and inline (``data:``) images it was given."""
    if CHROMIUM is None:
        pytest.skip("no chromium (/usr/bin/chromium or on PATH): scripts/setup-browser.sh installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = context.new_page()
            seen: dict[str, list[str]] = {"console": [], "errors": [], "dialogs": [], "requests": []}

            def console(message: Any) -> None:
                if message.type == "error":  # a script error, a load the page's CSP refused...
                    seen["console"].append(message.text)

            def dialog(d: Any) -> None:  # an alert() that injected markup would run
                seen["dialogs"].append(d.message)
                d.dismiss()

            def request(r: Any) -> None:
                if not r.url.startswith(("file:", "data:")):
                    seen["requests"].append(r.url)

            page.on("console", console)
            page.on("pageerror", lambda e: seen["errors"].append(str(e)))
            page.on("dialog", dialog)
            context.on("request", request)
            yield page, seen
        finally:
            context.close()
