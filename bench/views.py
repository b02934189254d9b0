"""The views on a heavy user's log: CLI reads, a full rebuild, a catch-up.

    python -m bench.views                  # 100,000 events, 5 repeats
    python -m bench.views --events 1000000 # information only
    python -m bench.views --quick          # 20,000 events, 1 repeat

A seeded history (`sample.history`: 2,000 contacts, 10 years, 3 devices) is
written into a fresh home. Measured in the same run:

- `recip ledger`, `recip cold` and `recip contact show REF` (the busiest
  contact), as tables and with `--json`, as subprocesses: wall time including
  process start, with the views already caught up; the baseline is the same
  interpreter importing the CLI and exiting (`python -c "import cli.main"`), the
  floor any command pays;
- a full rebuild of every view (wall), beside a raw SELECT + msgspec decode of
  every row (the least any rebuild must do);
- a catch-up of the next 1,000 events (ingested after a rebuild, wall).

Targets (issue 12): each CLI read < 0.3 s, rebuild < 1.5 s, catch-up < 100 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec

from bench.harness import Comparison, Figure, Mode, report, result_name
from cli.home import Home
from core.events import TYPE_BY_NAME, Event, contacts_of
from core.log import EventLog
from core.store import open_store
from projections.query import Views
from sample.history import generate, write_fast

TAIL = 1000
SEED = 20_260_101
SIZES: dict[str, tuple[int, int]] = {
    "full": (100_000, 5),
    "quick": (20_000, 1),
    "smoke": (2_000, 1),
}


def _fill(home: Home, events: int) -> tuple[list[Event], str]:
    """Write `events` into the home's log; returns the next `TAIL` events and the
    id of the contact most events name."""
    home.init("bench", now_iso="2026-01-01T00:00:00+00:00")
    stream = generate(SEED, contacts=2000, years=10, devices=3, events=events + TAIL)
    head = [e for _, e in zip(range(events), stream, strict=False)]
    store = open_store(str(home.log_path))
    try:
        write_fast(store, head)
    finally:
        store.close()
    busiest = Counter(c for e in head for c in contacts_of(e)).most_common(1)[0][0]
    return list(stream), busiest


def _raw_read(path: str) -> float:
    decoders = {name: msgspec.msgpack.Decoder(cls) for name, cls in TYPE_BY_NAME.items()}
    db = sqlite3.connect(path)
    start = time.perf_counter()
    cursor = db.execute("SELECT rowid, topic, state FROM stored_events ORDER BY rowid")
    while rows := cursor.fetchmany(5000):
        [decoders[t].decode(s) for _, t, s in rows]
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _command(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _catch_up(path: str, tail: list[Event], scratch: Path) -> float:
    """Copy the caught-up log, ingest `tail` into the copy, time its catch-up."""
    copy = scratch / "copy.db"
    for suffix in ("-wal", "-shm", ""):
        (scratch / f"copy.db{suffix}").unlink(missing_ok=True)
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    shutil.copyfile(path, copy)
    store = open_store(str(copy))
    try:
        EventLog(store).ingest(tail)
    finally:
        store.close()
    return _timed(lambda: Views(copy).catch_up_sync())


def views(events: int, repeats: int, *, name: str, write: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Home(Path(tmp) / "home")
        tail, busiest = _fill(home, events)
        path = str(home.log_path)
        recip = [sys.executable, "-m", "cli.main", "--home", str(home.path)]
        raw = Figure("raw SELECT + msgspec decode", "s")
        rebuild = Figure("full rebuild", "s")
        for _ in range(repeats):
            raw.samples.append(_raw_read(path))
            rebuild.samples.append(_timed(lambda: Views(path).rebuild_sync()))
        start = Figure("process start + import cli.main", "s")
        argv = {
            "ledger": ["ledger"],
            "cold": ["cold"],
            "contact show": ["contact", "show", busiest],
            "ledger --json": ["ledger", "--json"],
            "cold --json": ["cold", "--json"],
            "contact show --json": ["contact", "show", busiest, "--json"],
        }
        reads = {what: Figure(f"recip {what}", "s") for what in argv}
        for _ in range(repeats):
            start.samples.append(_command([sys.executable, "-c", "import cli.main"]))
            for what, figure in reads.items():
                figure.samples.append(_command(recip + argv[what]))
        catch_up = Figure(f"catch-up of {len(tail):,} new events", "s")
        for _ in range(repeats):
            catch_up.samples.append(_catch_up(path, tail, Path(tmp)))
        return report(
            name,
            {
                "events": events,
                "contacts": 2000,
                "years": 10,
                "devices": 3,
                "seed": SEED,
                "repeats": repeats,
                "load_average": os.getloadavg()[0],
            },
            [Comparison(f"{r.name} vs process start", r, start) for r in reads.values()]
            + [Comparison("full rebuild vs raw read (time)", rebuild, raw)],
            [start, *reads.values(), raw, rebuild, catch_up],
            write=write,
        )


def run(mode: Mode = "full") -> dict[str, Any]:
    """Entry point for `python -m bench` (the module contract in `bench/__main__.py`)."""
    events, repeats = SIZES[mode]
    return views(events, repeats, name=result_name("views", mode), write=mode != "smoke")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="20,000 events, 1 repeat")
    parser.add_argument("--name", default="views")
    args = parser.parse_args()
    events, repeats = SIZES["quick"] if args.quick else (args.events, args.repeats)
    views(events, repeats, name=args.name, write=not args.quick)


if __name__ == "__main__":
    main()
