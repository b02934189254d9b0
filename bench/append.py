"""Appending events: our event log beside raw `sqlite3` doing the same writes.

Two paths, each against the same table layout as eventsourcing's SQLite recorder
(a rowid table keyed by `(originator_id, originator_version)`, WAL, default
`synchronous`):

- batched: N events in transactions of 1,000 (the import path);
- one at a time: N events, one transaction each (the interactive path: every
  `recip log` is one durable write, so it is fsync-bound).

Ours goes through `EventLog.append` (stamping seq and HLC, msgspec encoding, a
strict check of every new event, the write). The baseline writes the same rows
(same envelope, same byte lengths), encoded before the clock starts, with
`executemany` (batched) or `execute` (one at a time). Our store writes a batch
as INSERTs of 200 rows; a second batched row compares it with raw sqlite3 doing
that too, so that the gain of the statement shape is not mistaken for the cost of
the rest. Targets: batched >= 0.8x, one at a time >= 0.7x.

    python -m bench.append [--quick] [--events N] [--repeats R]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import Comparison, Figure, Mode, rate, report, result_name
from core import codec
from core import events as ev
from core.clock import Clock, physical_ms
from core.ids import new_ids
from core.log import EventLog
from core.store import ROWS_PER_INSERT, open_store

BATCH = 1_000
CREATE = (
    "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
    "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
)


def drafts(n: int) -> list[ev.Event]:
    """Typical small events: an interaction with one contact and a short note."""
    contact = str(uuid.uuid4())
    return [
        ev.InteractionLogged(
            event_id="",
            device_id="",
            seq=0,
            hlc=0,
            occurred_at=1_700_000_000_000 + i,
            contact_ids=(contact,),
            channel="call",
            note=f"call number {i}",
        )
        for i in range(n)
    ]


def stored_rows(items: Sequence[ev.Event]) -> list[tuple[str, int, str, bytes]]:
    """The rows our log stores for `items`, envelope complete, made ahead of time.

    The baseline must write the same bytes as ours: the full envelope (a device id,
    a UUIDv7 event id, an HLC timestamp) makes each row ~70 bytes longer than a
    draft's, and row size is what SQLite's page writes scale with.
    """
    device = str(uuid.uuid4())
    clock = Clock()
    first = clock.tick_many(len(items))
    event_ids = new_ids(len(items), physical_ms(first))
    stamped = [
        ev.stamp(e, event_id=event_ids[i], device_id=device, seq=i + 1, hlc=first + i)
        for i, e in enumerate(items)
    ]
    return codec.encode_rows(device, stamped)


def ours(path: Path, items: Sequence[ev.Event], batch: int) -> float:
    log = EventLog(open_store(str(path)), str(uuid.uuid4()))

    def work() -> None:
        for i in range(0, len(items), batch):
            log.append(items[i : i + batch])

    try:
        return rate(len(items), work)
    finally:
        log.store.close()


def raw(path: Path, items: Sequence[ev.Event], batch: int, *, multirow: bool = False) -> float:
    """The same rows, encoded beforehand, written with plain sqlite3.

    `executemany` by default: how one writes a batch with sqlite3. With `multirow`,
    INSERTs of 200 rows each, as our store writes: the stronger baseline.
    """
    rows = stored_rows(items)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(CREATE)
    insert = "INSERT INTO stored_events VALUES (?,?,?,?)"

    def write(chunk: Sequence[tuple[str, int, str, bytes]]) -> None:
        if len(chunk) == 1:
            conn.execute(insert, chunk[0])
        elif not multirow:
            conn.executemany(insert, chunk)
        else:
            for j in range(0, len(chunk), ROWS_PER_INSERT):
                part = chunk[j : j + ROWS_PER_INSERT]
                values = ",".join(["(?,?,?,?)"] * len(part))
                conn.execute(
                    f"INSERT INTO stored_events VALUES {values}",
                    [value for row in part for value in row],
                )

    def work() -> None:
        for i in range(0, len(rows), batch):
            conn.execute("BEGIN")
            write(rows[i : i + batch])
            conn.execute("COMMIT")

    try:
        return rate(len(rows), work)
    finally:
        conn.close()


def measure(events: int, single: int, repeats: int) -> list[Comparison]:
    comparisons = []
    for label, n, batch, target, multirow in (
        (f"batched x{BATCH} ({events:,} events)", events, BATCH, 0.8, False),
        (f"batched, vs multi-row INSERTs ({events:,})", events, BATCH, None, True),
        (f"one per transaction ({single:,} events)", single, 1, 0.7, False),
    ):
        items = drafts(n)
        base_name = "raw sqlite3, multi-row" if multirow else "raw sqlite3"
        mine, base = Figure("ours", "ev/s"), Figure(base_name, "ev/s")
        for r in range(repeats):
            with tempfile.TemporaryDirectory() as tmp:
                ours_db, raw_db = Path(tmp) / "ours.db", Path(tmp) / "raw.db"
                # alternate the order so neither side always runs on a warmer disk
                if r % 2 == 0:
                    mine.samples.append(ours(ours_db, items, batch))
                    base.samples.append(raw(raw_db, items, batch, multirow=multirow))
                else:
                    base.samples.append(raw(raw_db, items, batch, multirow=multirow))
                    mine.samples.append(ours(ours_db, items, batch))
        comparisons.append(Comparison(label, mine, base, target))
    return comparisons


#: (batched events, one-per-transaction events, repeats) per mode of `python -m bench`.
SIZES: dict[str, tuple[int, int, int]] = {
    "full": (100_000, 20_000, 3),
    "quick": (10_000, 1_000, 3),
    "smoke": (1_000, 20, 1),
}


def run(mode: Mode = "full") -> dict[str, Any]:
    """Entry point for `python -m bench` (the module contract in `bench/__main__.py`)."""
    events, single, repeats = SIZES[mode]
    return main_with(
        events, single, repeats, name=result_name("append", mode), write=mode != "smoke"
    )


def main_with(
    events: int, single: int, repeats: int, *, name: str = "append", write: bool = True
) -> dict[str, Any]:
    comparisons = measure(events, single, repeats)
    return report(
        name,
        {"events": events, "single": single, "repeats": repeats, "batch": BATCH},
        comparisons,
        write=write,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--single", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.events is None and args.single is None:
        run("quick" if args.quick else "full")
    else:
        main_with(args.events or 100_000, args.single or 20_000, args.repeats)


if __name__ == "__main__":
    main()
