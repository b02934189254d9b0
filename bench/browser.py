"""The browser as a device: first sync, cold start and a new event, in headless Chromium.

One device's history of N events (100,000 at full size, from `bench.workload`)
is pushed to a real `recip serve`; then, in the same run:

- **first sync**: a fresh browser device (the client of `web/client`, in
  Chromium, JSON over `/v1/sync`, every page stored in IndexedDB with its cursor)
  pulls the whole history; baseline: a fresh CLI device's first sync of the same
  history (`sync.replica.Replica` over HTTP, the code `recip sync` runs). Events/s,
  ratio browser / CLI;
- **cold start to first view**: the page is reloaded and timed from navigation
  start until the ledger and the going-cold view are shown, from the summaries
  the device saved (`openDevice`'s `onFirstView`: the log unchanged since):
  target under 1 s; and until every view is ready (the log read from IndexedDB
  and folded);
- **a new event reflected**: `device.record` (one durable IndexedDB
  transaction) until the ledger and the cold view show it: target under 50 ms;
- **the log's layout** (ADR 0090): N events written to and read back from
  IndexedDB in chunks of 1,000 (as `web/client/store.js` keeps them) beside one
  record per event, in bare IndexedDB.

    python -m bench browser [--quick]
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import workload
from bench.harness import Comparison, Figure, Mode, report, result_name
from bench.sync import ReciprocitySync
from cli.home import Home

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SIZES = {"full": 100_000, "quick": 10_000, "smoke": 300}
REPEATS = {"full": 3, "quick": 2, "smoke": 1}

LOAD = "async () => { window.recip = await import('/client/index.js'); }"
FIRST_SYNC = """async (token) => {
  const dev = window.dev = await window.recip.openDevice();
  await dev.enroll(token, 'bench-browser');
  const start = performance.now();
  const summary = await dev.sync();
  const seconds = (performance.now() - start) / 1000;
  return [seconds, summary.pulled, dev.views.ledger().length];
}"""
COLD_START = """async () => {
  const recip = window.recip = await import('/client/index.js');
  let first = null;
  const dev = window.dev = await recip.openDevice({onFirstView: (views) => {
    const rows = views.ledger().length + views.cold().length;
    first = [performance.now() / 1000, rows];
  }});
  const rows = dev.views.ledger().length + dev.views.cold().length;
  const now = performance.now() / 1000;
  return [first, [now, rows]];
}"""
SAVED = "async () => (await window.dev.store.snapshot(1)) !== null"
LAYOUT = """async (n) => {
  const { CHUNK } = await import('/client/store.js');
  const event = (i) => ({type: 'InteractionLogged', event_id: 'e' + i, device_id: 'd', seq: i,
    hlc: BigInt(1767225600000 + i) << 16n, occurred_at: 1767225600000, utc_offset: 60, v: 1,
    contact_ids: ['c' + (i % 500)], channel: 'call', initiated_by: 'me', note: 'coffee'});
  const events = Array.from({length: n}, (_, i) => event(i + 1));
  const done = (r) => new Promise((ok, no) => {
    r.onsuccess = () => ok(r.result); r.onerror = no; });
  const commit = (tx) => new Promise((ok) => { tx.oncomplete = ok; });
  const open = (name) => { const r = indexedDB.open(name, 1);
    r.onupgradeneeded = () => r.result.createObjectStore('s'); return done(r); };
  const time = async (name, write) => {
    const db = await open(name + Math.random());
    let start = performance.now();
    const tx = db.transaction('s', 'readwrite');
    write(tx.objectStore('s'));
    await commit(tx);
    const wrote = performance.now() - start;
    start = performance.now();
    const rows = await done(db.transaction('s').objectStore('s').getAll());
    const read = performance.now() - start;
    db.close();
    return [n / wrote * 1000, n / read * 1000, rows.length];
  };
  const single = await time('single', (s) => events.forEach((e) => s.put({event: e}, e.seq)));
  const chunked = await time('chunked', (s) => {
    for (let i = 0; i < n; i += CHUNK) {
      s.put({first: i + 1, events: events.slice(i, i + CHUNK)}, i + 1);
    }
  });
  return [single, chunked];
}"""
NEW_EVENT = """async () => {
  const dev = window.dev;
  const contact = dev.views.ledger()[0].contact_id;
  const start = performance.now();
  const event = await dev.record('GiveMade', {contact_id: contact, what: 'bench', weight: 5});
  const row = dev.views.ledger().find((r) => r.contact_id === contact);
  dev.views.cold();
  const ms = performance.now() - start;
  return [ms, row.last_give === window.recip.dateOf(Math.floor(
    (event.occurred_at + event.utc_offset * 60000) / 86400000))];
}"""


def unavailable() -> str | None:
    """Why the browser cannot be benchmarked here (None: it can)."""
    if shutil.which(CHROMIUM) is None:
        return f"{CHROMIUM} is not installed"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


def prelude(
    name: str, mode: Mode, repeats: dict[str, int]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A browser benchmark's params, and its report already if the browser is missing."""
    params = {
        "events": SIZES[mode],
        "repeats": repeats[mode],
        "generator": workload.generator_name(),
    }
    missing = unavailable()
    if missing is None:
        return params, None
    skipped = report(result_name(name, mode), params, [], write=False, skipped={"browser": missing})
    return params, skipped


@contextmanager
def seeded_server(
    name: str, events: int
) -> Iterator[tuple[Path, ReciprocitySync, str, workload.DeviceHome]]:
    """A running `recip serve` holding one device's history of `events` events:
    (scratch folder, server, an open enrollment token, that device)."""
    with tempfile.TemporaryDirectory(prefix=f"recip-bench-{name}-") as tmp:
        work = Path(tmp)
        [source] = workload.build_devices(work / "template", 1, events)
        with ReciprocitySync(work / "server") as system:
            token = system.add_owner("bench")
            system.sync(system.enroll(source.home, token))
            yield work, system, token, source


def run(mode: Mode) -> dict[str, Any]:
    events, repeats = SIZES[mode], REPEATS[mode]
    params = {"events": events, "repeats": repeats, "generator": workload.generator_name()}
    missing = unavailable()
    if missing is not None:
        return report(
            result_name("browser", mode), params, [], write=False, skipped={"browser": missing}
        )
    with seeded_server("browser", events) as (work, system, token, source):
        cli = Figure("CLI first sync", "ev/s")
        for r in range(repeats):
            home = Home(work / f"cli-{r}")
            home.init(f"cli-{r}", now_iso="2026-01-01T00:00:00Z")
            device = system.enroll(home.path, token)
            start = time.perf_counter()
            _, pulled = system.sync(device)
            cli.samples.append(pulled / (time.perf_counter() - start))
            if pulled != source.events:
                raise RuntimeError(f"the CLI pulled {pulled} of {source.events} events")
        figures = _browser(system.url, token, source.events, repeats)
    first, cold, split, new, layout = figures
    comparisons = [
        Comparison("first sync of the history (browser / CLI)", first, cli),
        *layout,
    ]
    return report(
        result_name("browser", mode),
        params,
        comparisons,
        [cold, split, new],
        write=mode != "smoke",
    )


def _browser(
    url: str, token: str, events: int, repeats: int
) -> tuple[Figure, Figure, Figure, Figure, list[Comparison]]:
    from playwright.sync_api import sync_playwright

    first = Figure("browser first sync", "ev/s")
    cold = Figure("browser cold start to first view", "s")
    split = Figure("browser cold start to every view (log folded)", "s")
    new = Figure("browser new event reflected in views", "ms")
    layout = {
        name: Figure(name, "ev/s")
        for name in (
            "IDB write, chunks",
            "IDB write, a record each",
            "IDB read, chunks",
            "IDB read, a record each",
        )
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for _ in range(repeats):
                context = browser.new_context()
                page = context.new_page()
                page.goto(f"{url}/healthz")
                page.evaluate(LOAD)
                seconds, pulled, rows = page.evaluate(FIRST_SYNC, token)
                if pulled != events or not rows:
                    raise RuntimeError(f"the browser pulled {pulled} of {events} events")
                first.samples.append(events / seconds)
                context.close()
            # the last device (its IndexedDB) stays for the cold starts
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"{url}/healthz")
            page.evaluate(LOAD)
            page.evaluate(FIRST_SYNC, token)
            for _ in range(repeats):
                _saved(page)
                page.reload()
                first_view, every_view = page.evaluate(COLD_START)
                if first_view is None or first_view[1] != every_view[1] or not every_view[1]:
                    raise RuntimeError(f"first view {first_view} is not the full one {every_view}")
                cold.samples.append(first_view[0])
                split.samples.append(every_view[0])
            for _ in range(max(5, repeats)):
                ms, shown = page.evaluate(NEW_EVENT)
                if not shown:
                    raise RuntimeError("the new event is not in the ledger")
                new.samples.append(ms)
            for _ in range(repeats):
                single, chunked = page.evaluate(LAYOUT, events)
                if single[2] != events or chunked[2] * 1000 < events:
                    raise RuntimeError("the layout benchmark lost rows")
                layout["IDB write, a record each"].samples.append(single[0])
                layout["IDB read, a record each"].samples.append(single[1])
                layout["IDB write, chunks"].samples.append(chunked[0])
                layout["IDB read, chunks"].samples.append(chunked[1])
            context.close()
        finally:
            browser.close()
    comparisons = [
        Comparison(
            f"IndexedDB {what}: chunks / a record per event",
            layout[f"IDB {what}, chunks"],
            layout[f"IDB {what}, a record each"],
        )
        for what in ("write", "read")
    ]
    return first, cold, split, new, comparisons


def _saved(page: Any, timeout_s: float = 120.0) -> None:
    """Wait until the device saved its summaries (a few seconds after its last change)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(SAVED):
        if time.monotonic() > deadline:
            raise RuntimeError("the device never saved its summaries")
        time.sleep(0.2)


if __name__ == "__main__":
    run("full")
