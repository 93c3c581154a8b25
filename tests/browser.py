"""Debian's Chromium, driven by Playwright: one browser per test worker, while it runs
browser tests.

Debian's chromium is used (never a downloaded browser). Without it the browser tests are
skipped on a developer machine and fail under CI=true, so a CI image that lost it cannot
pass.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> None:
    if Path(CHROMIUM).exists() and shutil.which(CHROMIUM):
        return
    message = f"{CHROMIUM} is missing: apt-get install -y chromium"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


class _WorkerBrowser:
    """Playwright and its Chromium, started by the first browser test of a run of them and
    stopped after the last (``close_unless_next_needs_it``): while Playwright's sync API
    runs, its asyncio loop is the thread's running loop, which a later test of the worker
    must not find (``asyncio.run`` would refuse to start)."""

    def __init__(self) -> None:
        self.playwright: Any = None
        self.browser: Any = None

    def get(self) -> Any:
        if self.browser is None:
            from playwright.sync_api import sync_playwright

            self.playwright = sync_playwright().start()
            try:
                self.browser = self.playwright.chromium.launch(
                    executable_path=CHROMIUM, args=CHROMIUM_ARGS
                )
            except BaseException:
                self.close()
                raise
        return self.browser

    def close(self) -> None:
        browser, playwright = self.browser, self.playwright
        self.browser = self.playwright = None
        try:
            if browser is not None:
                browser.close()
        finally:
            if playwright is not None:
                playwright.stop()


_WORKER = _WorkerBrowser()


def close_unless_next_needs_it(nextitem: pytest.Item | None) -> None:
    if nextitem is None or "chromium" not in getattr(nextitem, "fixturenames", ()):
        _WORKER.close()


def new_tab(chromium: Any, **context_options: Any) -> tuple[Any, Any]:
    """A tab in a context of its own (cookies, storage and downloads of its own, as a new
    browser profile has) and that context, to close after the test."""
    context = chromium.new_context(**context_options)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    return context, tab


@pytest.fixture
def chromium() -> Any:
    """The worker's Chromium. Each test opens its own context (:func:`new_tab`): starting
    Playwright's driver and the browser took a second of both cores, every test."""
    require_chromium()
    return _WORKER.get()
