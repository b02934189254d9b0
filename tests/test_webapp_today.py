"""The web app's Today screen is the plan for today (ADR 0100), in headless Chromium.

A CLI device records the hand-computed history of `tests/test_today.py` (plus a
birthday three days ahead, so that every kind of item is due) and syncs; the
browser, its clock pinned to the same day, enrolls and must show the items of
`recip today --json`, which `GET /v1/today` serves too: same people, same order,
same kinds, same sentences. The plan is computed in the browser (web/client/plan.js).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.home import Home
from scoring.plan import NUDGE_KINDS
from sync.remote import load as load_remote
from tests.browser_support import browser
from tests.test_browser_device import recip, sync
from tests.test_e2e_sync import LiveServer
from tests.test_today import PINNED, build_network
from tests.test_webapp import PHONE, enroll, server

__all__ = ["browser", "server"]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
DAY = PINNED[:10]


def todo_text(todo: str) -> str:
    """What to do, as the app shows it: a follow-up's CLI command is its Resolve button."""
    return todo.split(" (recip resolve ", 1)[0]


def shown_plan(page: Any, count: int) -> list[tuple[str | None, str, str, str]]:
    """(kind, name, why, what to do) of each item the Today screen lists."""
    items = page.get_by_role("region", name="Reach out").get_by_role("listitem")
    page.wait_for_function(
        "(n) => document.querySelectorAll('ol.plan > li').length === n", arg=count, timeout=30_000
    )
    return [
        (
            item.get_attribute("data-kind"),
            item.get_by_role("link").inner_text(),
            item.locator(".why").text_content() or "",
            item.locator(".todo").text_content() or "",
        )
        for item in items.all()
    ]


def test_today_shows_the_plan_of_recip_today_and_of_the_server(
    tmp_path: Path, server: LiveServer, browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECIP_NOW", PINNED)
    token = server.add_owner("ada", tmp_path / "admin")
    home = Home(tmp_path / "laptop")
    home.init("laptop", now_iso=PINNED)
    build_network(home)
    laptop = home.path
    recip(laptop, "remote", "add", server.url, "--token", token, "--device-name", "laptop")
    recip(laptop, "contact", "edit", "Hal", "--birthday", "03-04")
    sync(laptop)
    expected = json.loads(recip(laptop, "today", "--json"))
    auth = {"Authorization": f"Bearer {load_remote(laptop).device_token}"}
    served = httpx.get(f"{server.url}/v1/today", params={"as_of": DAY}, headers=auth, timeout=60)
    assert served.json() == expected
    assert expected["as_of"] == DAY and expected["candidates"] == 7
    assert [i["name"] for i in expected["items"]] == ["Eve", "Ada", "Hal", "Cole", "Ben"]
    assert {i["kind"] for i in expected["items"]} == set(NUDGE_KINDS)  # Coy and Fay wait

    context = browser.new_context(viewport=PHONE, timezone_id="UTC")
    try:
        page = context.new_page()
        page.clock.set_fixed_time(PINNED)  # the browser's today is the CLI's
        enroll(page, server, token)
        want = [(i["kind"], i["name"], i["why"], todo_text(i["todo"])) for i in expected["items"]]
        assert shown_plan(page, len(want)) == want
        lede = page.locator(".lede").inner_text()
        assert lede.startswith("Saturday 1 March: 7 people need something from you.")
        # Eve's ask is in the plan, with its Resolve button; Fay's (not yet due) is listed below
        reach = page.get_by_role("region", name="Reach out")
        reach.get_by_role("button", name="Resolve the ask: a reference letter").click()
        resolve = page.get_by_role("form", name="Resolve the ask: a reference letter")
        resolve.get_by_label("Outcome").select_option("declined")
        resolve.get_by_role("button", name="Resolve ask").click()
        asks = page.get_by_role("region", name="Open asks")
        assert asks.get_by_role("link").all_inner_texts() == ["Fay"]
        # resolved, Eve's ask leaves the plan and Ben moves up into it
        page.wait_for_function(
            "() => ![...document.querySelectorAll('ol.plan a')].some(a => a.textContent === 'Eve')"
        )
        names = reach.get_by_role("link").all_inner_texts()
        assert names == ["Ada", "Hal", "Cole", "Ben", "Coy"]
    finally:
        context.close()


def test_today_says_so_when_nothing_is_due(
    tmp_path: Path, server: LiveServer, browser: Any
) -> None:
    token = server.add_owner("ada", tmp_path / "admin")
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        enroll(page, server, token)
        reach = page.get_by_role("region", name="Reach out")
        reach.get_by_text("Nothing pressing today: no one is cold, owed or waiting.").wait_for()
        assert (
            page.get_by_role("region", name="Open asks")
            .get_by_text("No ask is waiting on an answer.")
            .is_visible()
        )
    finally:
        context.close()
