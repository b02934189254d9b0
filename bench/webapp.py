"""The web app: what a person waits for, on a heavy user's log, in headless Chromium.

One device's history of N events (100,000 at full size, from `bench.workload`) is
pushed to a real `recip serve` and pulled into the web app once; then, in the same
browser and on the same device:

- **app cold start to Today ready**: reload `/#/today` (the shell from the
  service worker) and read the `recip:ready` mark, set once the log is folded and
  Today is drawn with its actions; baseline: the client library alone on a plain
  page, from navigation start until its ledger and going-cold view are computed
  from the log (`bench/browser.py`'s cold start, without the saved summaries). The
  ratio is what the app adds: its modules, the worker and drawing the screen;
- **app first view**: the `recip:first-view` mark, set when Today's preview is
  drawn from the summaries saved at the last run (before the log is folded);
- **to Stats** and **to a contact** from Today (the fragment changes, the screen is
  drawn): Stats folds every event into twelve months, a contact builds its
  timeline.
- **Today's plan** (ADR 0100, `web/client/plan.js`) on a second handle on the
  same device's log, in the page: its first computation (every contact's history
  built, then scored), and its recomputation after one new event (only that
  contact's group is rebuilt); baseline, same page and log: what Today showed
  before the plan, the going-cold view and the open asks, computed the same way.

    python -m bench webapp [--quick]
"""

from __future__ import annotations

from typing import Any

from bench import workload
from bench.browser import ARGS, CHROMIUM, COLD_START, LOAD, SIZES, seeded_server, unavailable
from bench.harness import Comparison, Figure, Mode, report, result_name

REPEATS = {"full": 5, "quick": 3, "smoke": 1}

FIRST_VIEW = """async () => {
  for (;;) {
    const [ready] = performance.getEntriesByName('recip:ready');
    const [first] = performance.getEntriesByName('recip:first-view');
    const items = document.querySelectorAll('main li').length;
    if (ready) return [first.startTime / 1000, ready.startTime / 1000, items];
    await new Promise((r) => setTimeout(r, 5));
  }
}"""
# the app's own hashchange listener was added first, so it has drawn when ours runs
GO = """async (hash) => {
  const start = performance.now();
  const drawn = new Promise((r) => addEventListener('hashchange', () => r(null), {once: true}));
  location.hash = hash;
  await drawn;
  return [(performance.now() - start) / 1000, document.querySelector('main h1').textContent];
}"""
# Today's plan against the going-cold view and open asks it replaced (medians of `n`, ms)
PLAN = """async (n) => {
  const recip = await import('/client/index.js');
  const { openAsks } = await import('/app/model.js');
  const dev = await recip.openDevice();
  const v = dev.views;
  const day = recip.today();
  const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
  let calls = 0;
  // ms per call: each sample repeats `f` for at least 5 ms (the page's clock is coarse)
  const time = (f) => {
    const xs = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      let reps = 0;
      do {
        f(calls++);
        reps += 1;
      } while (performance.now() - t < 5);
      xs.push((performance.now() - t) / reps);
    }
    return median(xs);
  };
  const fresh = () => { v.applyAll([]); v._histories.clear(); v._planAll = null; };
  const first = time(() => { fresh(); v.plan(day); });
  const firstOld = time(() => { v.cold(day); openAsks(v); });
  const who = v.summaries()[0].contact_id;
  const touch = (i) => ({type: 'InteractionLogged', event_id: `bench-${i}-${Math.random()}`,
    device_id: 'bench', seq: i + 1, hlc: 1n << 60n, occurred_at: Date.now(), utc_offset: 0,
    v: 1, contact_ids: [who], channel: 'call', initiated_by: 'me', note: ''});
  v.plan(day);
  const after = time((i) => { v.apply(touch(i)); v.plan(day); });
  const afterOld = time((i) => { v.apply(touch(i)); v.cold(day); openAsks(v); });
  const items = v.plan(day).items.length;
  dev.close();
  return [first, firstOld, after, afterOld, items];
}"""
SYNCED = "() => document.querySelector('#sync-status').textContent.includes('synced just now')"
# whether the device saved its views' summaries at its log's position (ADR 0090)
SAVED = """async () => {
  const db = await new Promise((ok, fail) => {
    const r = indexedDB.open('recip');
    r.onsuccess = () => ok(r.result);
    r.onerror = () => fail(r.error);
  });
  const get = (key) => new Promise((ok) => {
    const q = db.transaction('meta').objectStore('meta').get(key); q.onsuccess = () => ok(q.result);
  });
  const state = await get('state'), snapshot = await get('snapshot');
  db.close();
  return Boolean(snapshot) && snapshot.pos === state.pos;
}"""


def run(mode: Mode) -> dict[str, Any]:
    events, repeats = SIZES[mode], REPEATS[mode]
    params = {"events": events, "repeats": repeats, "generator": workload.generator_name()}
    missing = unavailable()
    if missing is not None:
        return report(
            result_name("webapp", mode), params, [], write=False, skipped={"browser": missing}
        )
    with seeded_server("webapp", events) as (_, system, token, _source):
        app, library, first, stats, contact, *plans = _measure(system.url, token, repeats)
    plan, plan_old, after, after_old = plans
    comparisons = [
        Comparison("cold start to Today ready (app / library views)", app, library),
        Comparison("Today's plan, first computed (plan / cold + open asks)", plan, plan_old),
        Comparison("Today's plan after one event (plan / cold + open asks)", after, after_old),
    ]
    extra = [first, stats, contact]
    return report(result_name("webapp", mode), params, comparisons, extra, write=mode != "smoke")


def _measure(url: str, token: str, repeats: int) -> tuple[Figure, ...]:
    from playwright.sync_api import sync_playwright

    app = Figure("app cold start to Today ready", "s")
    first = Figure("app cold start to Today's first view", "s")
    library = Figure("library cold start to ledger and cold view", "s")
    stats = Figure("Today to Stats drawn", "s")
    contact = Figure("Today to a contact drawn", "s")
    plan = Figure("Today's plan, first computed", "ms")
    plan_old = Figure("going-cold view and open asks, computed", "ms")
    after = Figure("Today's plan after one event", "ms")
    after_old = Figure("going-cold view and open asks after one event", "ms")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"{url}/#enroll={token}")
            page.get_by_role("button", name="Enroll this device").click()
            page.wait_for_function(SYNCED, timeout=600_000)
            page.evaluate("async () => navigator.serviceWorker.ready")
            for _ in range(600):
                if page.evaluate(SAVED):
                    break
                page.wait_for_timeout(100)
            else:
                raise RuntimeError("the device never saved its views")
            for _ in range(repeats):
                page.goto(f"{url}/#/today")
                page.reload()
                first_s, ready_s, items = page.evaluate(FIRST_VIEW)
                if not items:
                    raise RuntimeError("Today showed nothing")
                first.samples.append(first_s)
                app.samples.append(ready_s)
                stats_s, title = page.evaluate(GO, "#/stats")
                if title != "Stats":
                    raise RuntimeError(f"expected Stats, drew {title!r}")
                stats.samples.append(stats_s)
                page.evaluate(GO, "#/contacts")
                href = page.get_by_role("list", name="Contacts").get_by_role("link").first
                target = str(href.get_attribute("href"))
                page.evaluate(GO, "#/today")
                contact_s, _ = page.evaluate(GO, target)
                contact.samples.append(contact_s)
            for _ in range(repeats):
                page.goto(f"{url}/healthz")
                page.reload()
                page.evaluate(LOAD)
                _, (total, rows) = page.evaluate(COLD_START)
                if not rows:
                    raise RuntimeError("the library's cold start showed no rows")
                library.samples.append(total)
            page.goto(f"{url}/#/today")
            page.wait_for_function("() => performance.getEntriesByName('recip:ready').length")
            *timed, items = page.evaluate(PLAN, max(repeats, 5))
            if not items:
                raise RuntimeError("the plan was empty")
            for figure, seconds in zip((plan, plan_old, after, after_old), timed, strict=True):
                figure.samples.append(seconds)
            context.close()
        finally:
            browser.close()
    return app, library, first, stats, contact, plan, plan_old, after, after_old


if __name__ == "__main__":
    run("full")
