"""End-to-end encryption's cost to a new device: a first sync, sealed beside plain.

One device's history of N events (10,000 at full size, from `bench.workload`) is
pushed to two real `recip serve`s: in plain text to one, sealed to an end-to-end
encrypted owner on the other (ADR 0135). In the same run, fresh devices pull
each whole history; a device of the encrypted owner opens every event before it
stores it:

- **browser**: the client of `web/client` in Chromium (WebCrypto AES-GCM, then
  IndexedDB), enrolled with the recovery phrase; events/s, ratio sealed / plain;
- **CLI**: `sync.replica.Replica` over HTTP (`cryptography`), the code
  `recip sync` runs; events/s, ratio sealed / plain.

    python -m bench sealed [--quick]
"""

from __future__ import annotations

import shutil
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench import workload
from bench.browser import ARGS, CHROMIUM, LOAD, unavailable
from bench.harness import Comparison, Figure, Mode, report, result_name
from bench.sync import ReciprocitySync
from cli.home import Home
from sync.http import HttpTransport, enroll
from sync.phrase import to_phrase
from sync.replica import Replica
from sync.seal import OwnerKey

SIZES = {"full": 10_000, "quick": 3_000, "smoke": 200}
REPEATS = {"full": 3, "quick": 2, "smoke": 1}
FIRST_SYNC = """async ({token, phrase}) => {
  const dev = await window.recip.openDevice();
  await dev.enroll(token, 'bench-browser', phrase);
  const start = performance.now();
  const summary = await dev.sync();
  const seconds = (performance.now() - start) / 1000;
  const rows = dev.views.ledger().length;
  dev.close();
  return [seconds, summary.pulled, rows];
}"""


def _cli_device(url: str, token: str, home: Path, key: OwnerKey | None, e2e: bool) -> Replica:
    """Enroll a device home (with the owner key, if any) and its replica."""
    device = Home(home).device()
    key_id = None if key is None else key.key_id
    reply = enroll(url, token, device.device_id, device.name, key_id=key_id, e2e=e2e)
    transport = HttpTransport(url, reply.device_token)
    return Replica(Home(home).open_log(), transport, upstream=url, key=key)


def run(mode: Mode) -> dict[str, Any]:
    events, repeats = SIZES[mode], REPEATS[mode]
    params = {"events": events, "repeats": repeats, "generator": workload.generator_name()}
    missing = unavailable()
    with tempfile.TemporaryDirectory(prefix="recip-bench-sealed-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        [source] = workload.build_devices(work / "template", 1, events)
        key = OwnerKey.generate()
        owners: dict[str, tuple[str, str, OwnerKey | None]] = {}
        for kind, owner_key in (("plain", None), ("sealed", key)):
            system = stack.enter_context(ReciprocitySync(work / f"server-{kind}"))
            token = system.add_owner(kind)
            home = work / f"source-{kind}"
            shutil.copytree(source.home, home)
            _cli_device(system.url, token, home, owner_key, e2e=owner_key is not None).sync()
            owners[kind] = (system.url, token, owner_key)
        cli = {kind: Figure(f"CLI first sync, {kind}", "ev/s") for kind in owners}
        for r in range(repeats):
            for kind, (url, token, owner_key) in owners.items():
                fresh = Home(work / f"cli-{kind}-{r}")
                fresh.init(f"cli-{r}", now_iso="2026-01-01T00:00:00Z")
                replica = _cli_device(url, token, fresh.path, owner_key, e2e=False)
                start = time.perf_counter()
                pulled = replica.sync().pulled
                cli[kind].samples.append(pulled / (time.perf_counter() - start))
                if pulled != source.events:
                    raise RuntimeError(f"the CLI pulled {pulled} of {source.events} events")
        comparisons = [Comparison("CLI first sync: sealed / plain", cli["sealed"], cli["plain"])]
        if missing is None:
            browser = _browser(owners, source.events, repeats)
            comparisons.insert(
                0,
                Comparison(
                    "browser first sync: sealed / plain", browser["sealed"], browser["plain"]
                ),
            )
    return report(
        result_name("sealed", mode),
        params,
        comparisons,
        write=mode != "smoke",
        skipped={} if missing is None else {"browser": missing},
    )


def _browser(
    owners: dict[str, tuple[str, str, OwnerKey | None]], events: int, repeats: int
) -> dict[str, Figure]:
    from playwright.sync_api import sync_playwright

    figures = {kind: Figure(f"browser first sync, {kind}", "ev/s") for kind in owners}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for _ in range(repeats):
                for kind, (url, token, owner_key) in owners.items():
                    context = browser.new_context()
                    page = context.new_page()
                    page.goto(f"{url}/healthz")
                    page.evaluate(LOAD)
                    phrase = "" if owner_key is None else to_phrase(owner_key.key)
                    seconds, pulled, rows = page.evaluate(
                        FIRST_SYNC, {"token": token, "phrase": phrase}
                    )
                    if pulled != events or not rows:
                        raise RuntimeError(f"the browser pulled {pulled} of {events} events")
                    figures[kind].samples.append(events / seconds)
                    context.close()
        finally:
            browser.close()
    return figures
