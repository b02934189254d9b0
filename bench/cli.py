"""CLI overhead: `recip` commands beside the bare core work they must do, same run.

A command is open the log, fold it once into `State`, then print or append. The
baseline does exactly that work with the bare store and codec: rows paged from
the store, decoded, folded (no `EventLog` read path, no click, no output
formatting; for the note, the fold reads through `EventLog`, as appending
needs). Ours runs the real click command in process with stdout sent to
/dev/null. Both are timed in CPU seconds (see `timed`). A ratio near 1.0 says
the CLI adds little; a command that read the log twice would show about 0.5.

- `contact list --json`: fold + list active contacts + JSON;
- `events --json`: stream every event as JSON (baseline: read + `to_json` each);
- `note CONTACT TEXT`: fold + validate + append one event (one durable write).

    python -m bench.cli [--quick] [--events N] [--repeats R]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.harness import Comparison, Figure, Mode, report, result_name
from cli.home import Home
from cli.main import cli
from core import commands
from core.codec import decode, to_json
from core.events import Event, OpaqueEvent
from core.log import PAGE, EventLog
from core.state import State
from core.store import open_store

CONTACT_SHARE = 20  # one contact per 20 events


def build_home(path: Path, events: int) -> tuple[Home, str]:
    """A home whose log holds `events` typical events; returns it and one contact id."""
    home = Home(path)
    home.init("bench", now_iso="2026-01-01T00:00:00+00:00")
    log = home.open_log()
    now = commands.Now(1_790_000_000_000, 0)
    contacts = [commands.add_contact(now, f"Person {i}") for i in range(events // CONTACT_SHARE)]
    log.append(contacts)
    state = State(contacts)
    ids = [c.event_id for c in contacts]
    rest: list[Event] = []
    for i in range(events - len(contacts)):
        ref = ids[i % len(ids)]
        kind = i % 3
        if kind == 0:
            rest.append(commands.log_interaction(state, now, [ref], channel="call", note="hi"))
        elif kind == 1:
            rest.append(commands.make_give(state, now, ref, "advice", kind="advice"))
        else:
            rest.append(commands.add_note(state, now, ref, f"note {i}"))
    for i in range(0, len(rest), 1000):
        log.append(rest[i : i + 1000])
    log.store.close()
    return home, ids[0]


def timed(fn: Callable[[], Any]) -> float:
    """CPU seconds of this process: on a shared, loaded machine wall time swings by
    2x between runs, and both sides do the same I/O (one read of the log, at most
    one durable write), so CPU time is the fair measure of what the CLI adds."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def run_cli(home: Home, *args: str) -> None:
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        cli.main(["--home", str(home.path), *args], prog_name="recip", standalone_mode=False)


def raw_events(home: Home) -> Iterator[Event | OpaqueEvent]:
    """Every stored event, paged straight from the store (no `EventLog`)."""
    store = open_store(str(home.log_path))
    try:
        after = 0
        while rows := store.notifications(after, PAGE):
            for row in rows:
                yield decode(row.topic, row.state)
            after = rows[-1].id
    finally:
        store.close()


def base_list(home: Home) -> None:
    state = State(raw_events(home))
    sorted(state.active_contacts(), key=lambda c: (c.name.casefold(), c.id))


def base_events(home: Home) -> None:
    with open(os.devnull, "wb") as sink:
        for event in raw_events(home):
            sink.write(to_json(event))


def base_note(home: Home, contact: str) -> None:
    log = EventLog(open_store(str(home.log_path)), home.device().device_id)
    try:
        state = State(log.events())  # reading through the log is its clock's catch-up
        log.append([commands.add_note(state, commands.Now.system(), contact, "bench")])
    finally:
        log.store.close()


def measure(events: int, repeats: int) -> list[Comparison]:
    with tempfile.TemporaryDirectory() as tmp:
        home, contact = build_home(Path(tmp) / "home", events)
        cases: list[tuple[str, Callable[[], Any], Callable[[], Any], float]] = [
            (
                "contact list --json",
                lambda: run_cli(home, "contact", "list", "--json"),
                lambda: base_list(home),
                0.8,
            ),
            (
                "events --json",
                lambda: run_cli(home, "events", "--json"),
                lambda: base_events(home),
                0.8,
            ),
            (
                "note (fold + one append)",
                lambda: run_cli(home, "note", contact, "bench"),
                lambda: base_note(home, contact),
                0.8,
            ),
        ]
        comparisons = []
        for label, ours, baseline, target in cases:
            mine = Figure("ours", "ev/s")
            base = Figure("core only", "ev/s")
            for r in range(repeats):
                # alternate the order so neither side always runs warmer
                pair = [(mine, ours), (base, baseline)]
                for figure, fn in pair if r % 2 == 0 else pair[::-1]:
                    figure.samples.append(events / timed(fn))
            comparisons.append(Comparison(f"{label} ({events:,} events)", mine, base, target))
    return comparisons


#: (events, repeats) per mode of `python -m bench`.
SIZES: dict[str, tuple[int, int]] = {"full": (100_000, 5), "quick": (10_000, 3), "smoke": (500, 1)}


def run(mode: Mode = "full") -> dict[str, Any]:
    """Entry point for `python -m bench` (the module contract in `bench/__main__.py`)."""
    events, repeats = SIZES[mode]
    return main_with(events, repeats, name=result_name("cli", mode), write=mode != "smoke")


def main_with(
    events: int, repeats: int, *, name: str = "cli", write: bool = True
) -> dict[str, Any]:
    return report(
        name, {"events": events, "repeats": repeats}, measure(events, repeats), write=write
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    events = args.events or (10_000 if args.quick else 100_000)
    repeats = args.repeats or (3 if args.quick else 5)
    main_with(events, repeats)


if __name__ == "__main__":
    main()
