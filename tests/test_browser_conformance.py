"""The conformance vectors once more, inside Chromium (ADR 0090).

`node --test tests/js/` checks the client's views and its plan for today against
every vector in Node; this runs the same modules, as served by `recip serve`, in
the browser that users have, and compares what they compute with what the Python
views and plan rule computed when the vectors were generated.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from server.run import free_port
from tests.browser_support import browser, js, open_page
from tests.conformance.generate import PLAN_VECTORS, VECTORS
from tests.test_e2e_sync import LiveServer

__all__ = ["browser"]

FOLD = """
const { parseWithEvents } = await import('/client/wire.js');
const vector = parseWithEvents(arg);
const views = new recip.Views();
views.applyAll(vector.events);
const plans = (day) => vector.expected.as_of[day].plans.map(
  (p) => views.plan(day, {limit: p.limit}));
"""
COMPUTE = (
    FOLD
    + """
const asOf = Object.fromEntries(vector.as_of.map((day) => [day, {
  ledger: views.ledger(day), cold: views.cold(day),
  cold_all: views.cold(day, {all: true}), stats: views.stats(day), plans: plans(day)}]));
const timelines = Object.fromEntries(
  Object.keys(vector.expected.timelines).map((id) => [id, views.timeline(id)]));
return {contacts: views.contacts({all: true}), as_of: asOf, timelines};
"""
)
COMPUTE_PLANS = (
    FOLD
    + """
return {as_of: Object.fromEntries(vector.as_of.map((day) => [day, {plans: plans(day)}]))};
"""
)


@pytest.fixture(scope="module")
def page(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    live = LiveServer(tmp_path_factory.mktemp("server"), free_port())
    live.start()
    context = browser.new_context()
    try:
        yield open_page(context, live.url)
    finally:
        context.close()
        live.kill(signal.SIGTERM)


@pytest.mark.parametrize("path", sorted(VECTORS.glob("*.json")), ids=lambda p: p.stem)
def test_chromium_computes_the_views_of_every_vector(page: Any, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert js(page, COMPUTE, text) == msgspec.json.decode(text)["expected"]


@pytest.mark.parametrize("path", sorted(PLAN_VECTORS.glob("*.json")), ids=lambda p: p.stem)
def test_chromium_computes_the_plans_of_every_plan_vector(page: Any, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert js(page, COMPUTE_PLANS, text) == msgspec.json.decode(text)["expected"]
