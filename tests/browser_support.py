"""Headless Chromium for the browser client's tests, driven by Playwright.

Playwright cannot download its own browsers here: it drives the system's
Chromium (`/usr/bin/chromium`, installed by `.ci/run`). A page is opened on the
server's origin (its `/healthz` document), so that the client's modules load
from `/client/` and its IndexedDB belongs to that origin.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

#: Loads the client into a page as `window.recip`.
LOAD = "async () => { window.recip = await import('/client/index.js'); return true; }"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module (each test opens its own contexts).

    Not per session: Playwright's sync API runs an event loop in this thread
    while it is open, and the in-process CLI tests of other modules run their own.
    """
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is required in CI but {CHROMIUM} is missing")
        pytest.skip("Chromium is not installed (.ci/run installs it)")
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def open_page(context: Any, origin: str) -> Any:
    """A page on `origin` with the client loaded."""
    page = context.new_page()
    page.goto(f"{origin}/healthz")
    page.evaluate(LOAD)
    return page


def js(page: Any, body: str, arg: Any = None) -> Any:
    """Run an async function body with `recip`, `dev` (the page's device) and `arg`;
    its result comes back through JSON (views hold no BigInt)."""
    script = (
        "async (arg) => { const recip = window.recip; const dev = window.dev;"
        f" const out = await (async () => {{ {body} }})();"
        " return out === undefined ? null : JSON.stringify(out); }"
    )
    text = page.evaluate(script, arg)
    return None if text is None else json.loads(text)


def eventually(page: Any, body: str, timeout_s: float = 30.0) -> None:
    """Poll an async function body (as `js`) until it returns true.

    `page.wait_for_function` would take an async predicate's promise for a true
    value at once, so IndexedDB conditions are polled from here.
    """
    deadline = time.monotonic() + timeout_s
    while js(page, body) is not True:
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_s:.0f} s: {body}")
        time.sleep(0.1)
