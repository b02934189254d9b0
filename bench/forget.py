"""Forgetting a person in the browser device (ADR 0130), in headless Chromium.

One device's history of N events (100,000 at full size, from `bench.workload`)
is pushed to a real `recip serve` and pulled by a browser device (`web/client`);
then, on that device:

- **a forget**: `device.record("ContactForgotten")` of one of the busiest
  contacts, until the views show it forgotten: one IndexedDB transaction reads
  every chunk of the log, rewrites those holding events about the contact (and
  the device's own copies), then the views are folded again from the log;
  baseline: folding the views again alone (`device.refold`, the log read from
  IndexedDB), so the ratio is what redacting adds to the refold it needs;
- **a record once someone is forgotten**: `device.record` of a note about a
  contact, until the views show it, after the forgets (every append checks the
  forgotten set); baseline: the same before anyone was forgotten.

    python -m bench forget [--quick]
"""

from __future__ import annotations

from typing import Any

from bench.browser import ARGS, CHROMIUM, LOAD, prelude, seeded_server
from bench.harness import Comparison, Figure, Mode, report, result_name

REPEATS = {"full": 3, "quick": 2, "smoke": 1}
RECORDS = 7

ENROLL = """async (token) => {
  const dev = window.dev = await window.recip.openDevice();
  await dev.enroll(token, 'bench-forget');
  const summary = await dev.sync();
  const busiest = dev.views.ledger().sort((a, b) =>
    b.gives + b.asks - (a.gives + a.asks) || (a.contact_id < b.contact_id ? -1 : 1));
  return [summary.pulled, busiest.map((r) => r.contact_id)];
}"""
FORGET = """async (contactId) => {
  const dev = window.dev;
  const start = performance.now();
  await dev.record('ContactForgotten', {contact_ids: [contactId]});
  const ms = performance.now() - start;
  const row = dev.views.contacts({all: true}).find((c) => c.contact_id === contactId);
  return [ms, row ? row.name : null];
}"""
REFOLD = """async () => {
  const start = performance.now();
  await window.dev.refold();
  return [performance.now() - start, window.dev.views.contacts().length];
}"""
NOTE = """async (contactId) => {
  const dev = window.dev;
  const start = performance.now();
  const e = await dev.record('NoteAdded', {contact_id: contactId, text: 'a bench note'});
  const shown = dev.views.timeline(contactId).some((t) => t.event_id === e.event_id);
  return [performance.now() - start, shown];
}"""


def run(mode: Mode) -> dict[str, Any]:
    params, skipped = prelude("forget", mode, REPEATS)
    if skipped is not None:
        return skipped
    with seeded_server("forget", params["events"]) as (_work, system, token, source):
        figures = _browser(system.url, token, source.events, params["repeats"])
    *timings, forgotten = figures
    forget, refold, after, before = timings
    params["forgotten_ids"] = forgotten
    return report(
        result_name("forget", mode),
        params,
        [
            Comparison("a forget (redact + refold) / a refold alone", forget, refold),
            Comparison("a record once someone is forgotten / before", after, before),
        ],
        write=mode != "smoke",
    )


def _browser(url: str, token: str, events: int, repeats: int) -> tuple[Any, ...]:
    """The four figures, and how many ids the device has forgotten at the end."""
    from playwright.sync_api import sync_playwright

    forget = Figure("browser forget of a busy contact, to views refolded", "ms")
    refold = Figure("browser refold of the views from IndexedDB", "ms")
    after = Figure("browser record once someone is forgotten", "ms")
    before = Figure("browser record before anyone is forgotten", "ms")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_context().new_page()
            page.goto(f"{url}/healthz")
            page.evaluate(LOAD)
            pulled, busiest = page.evaluate(ENROLL, token)
            if pulled != events or len(busiest) < repeats + 1:
                raise RuntimeError(f"the browser pulled {pulled} of {events} events")
            kept = busiest[-1]
            # each record figure follows a refold (the forgets end with one)
            for _ in range(repeats):
                ms, rows = page.evaluate(REFOLD)
                if not rows:
                    raise RuntimeError("the refolded views are empty")
                refold.samples.append(ms)
            for _ in range(RECORDS):
                _note(page, kept, before)
            for contact in busiest[:repeats]:
                ms, name = page.evaluate(FORGET, contact)
                if name != "(forgotten)":
                    raise RuntimeError(f"contact {contact} is shown as {name!r} after a forget")
                forget.samples.append(ms)
            for _ in range(RECORDS):
                _note(page, kept, after)
            forgotten = page.evaluate("async () => (await window.dev.store.forgotten()).length")
        finally:
            browser.close()
    return forget, refold, after, before, forgotten


def _note(page: Any, contact: str, figure: Figure) -> None:
    ms, shown = page.evaluate(NOTE, contact)
    if not shown:
        raise RuntimeError("the new note is not in the timeline")
    figure.samples.append(ms)


if __name__ == "__main__":
    run("full")
