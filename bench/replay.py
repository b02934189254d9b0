"""Rebuild every view from a 1,000,000-event log, beside the raw read lower bound.

    python -m bench.replay                 # 1,000,000 events, 3 repeats
    python -m bench.replay --quick         # 20,000 events, 1 repeat (smoke test)
    python -m bench.replay --events 200000 --repeats 5

Steps, all in the same run:

1. generate a seeded history (`sample.history`, 2,000 contacts, 10 years,
   3 devices) into a fresh SQLite log (in a child process, so that generation
   does not count towards the measured memory);
2. baseline: a plain `sqlite3` SELECT of every stored row, decoded with msgspec
   into the event Structs (the least any rebuild must do);
3. ours: `Projector.rebuild()`: read, fold, compute and write every view table
   and the incremental index, in one transaction (the first, on a fresh log, is
   also reported on its own, beside the raw read of the same repeat);
4. an incremental catch-up of the last 1,000 events on the full log (reported,
   no baseline);
5. scoring (issue 6, `bench.scoring.score_log`): `recip replay`'s work on the same
   log, read-only: read, prepare, and score `cadence`, `decay` and `reciprocity`
   at the last day (events/s per rule = events x 3 / seconds, beside the raw read;
   target >= 250,000), and at every month over the ten years (target <= 3x the
   one-instant run).

Each measurement runs in a fresh child process, which reports its own wall and
CPU time and peak RSS (`resource.getrusage`), so one measurement's memory never
inflates another's. The 1,000,000-event figures are information only (issue 12
withdrew their target; `bench/views.py` measures a heavy user's 100,000).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sqlite3
import tempfile
import time
from collections.abc import Callable
from typing import Any

import msgspec

from bench.harness import Comparison, Figure, Mode, report, result_name
from bench.scoring import RULES, score_log
from core.events import TYPE_BY_NAME
from core.store import open_store
from projections.projector import Projector
from sample.history import generate, write_fast

TAIL = 1000
SEED = 20_260_101


def _fill(path: str, events: int) -> None:
    store = open_store(path)
    try:
        head = generate(SEED, contacts=2000, years=10, devices=3, events=events + TAIL)
        batch = [e for _, e in zip(range(events), head, strict=False)]
        write_fast(store, batch)
        del batch
        tail = list(head)
        with open(path + ".tail", "wb") as f:
            f.write(msgspec.msgpack.encode([(type(e).__name__, e) for e in tail]))
    finally:
        store.close()


def _peak_mb() -> float:
    """Peak RSS of this process plus that of its largest child: an upper bound."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


#: (wall seconds, CPU seconds, events) of one measured run.
Measured = tuple[float, float, int]


def _baseline(path: str) -> Measured:
    """Plain SELECT of every row, msgspec-decoded into the event Structs."""
    decoders = {name: msgspec.msgpack.Decoder(cls) for name, cls in TYPE_BY_NAME.items()}
    db = sqlite3.connect(path)
    start, cpu = time.perf_counter(), time.process_time()
    count = 0
    cursor = db.execute("SELECT rowid, topic, state FROM stored_events ORDER BY rowid")
    while rows := cursor.fetchmany(5000):
        events = [decoders[t].decode(s) for _, t, s in rows]
        count += len(events)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    db.close()
    return elapsed, cpu, count


def _rebuild(path: str) -> Measured:
    with Projector(path) as projector:
        start, cpu = time.perf_counter(), _cpu()
        count = projector.rebuild()
        return time.perf_counter() - start, _cpu() - cpu, count


def _catch_up(path: str) -> Measured:
    from core.events import AnyEvent
    from core.log import EventLog

    with open(path + ".tail", "rb") as f:
        pairs = msgspec.msgpack.decode(f.read(), type=list[tuple[str, AnyEvent]])
    store = open_store(path)
    EventLog(store).ingest([e for _, e in pairs])
    store.close()
    with Projector(path) as projector:
        start, cpu = time.perf_counter(), time.process_time()
        count = projector.catch_up()
        return time.perf_counter() - start, time.process_time() - cpu, count


def _score_instant(path: str) -> Measured:
    cpu = time.process_time()
    seconds, count = score_log(path)
    return seconds, time.process_time() - cpu, count


def _score_monthly(path: str) -> Measured:
    cpu = time.process_time()
    seconds, count = score_log(path, "1m")
    return seconds, time.process_time() - cpu, count


def _child(fn: Callable[[str], Measured], path: str, out: Any) -> None:
    seconds, cpu, count = fn(path)
    out.send((seconds, cpu, count, _peak_mb()))


def measure(fn: Callable[[str], Measured], path: str) -> tuple[float, float, int, float]:
    """Run `fn(path)` in a fresh process: (wall s, CPU s, events, peak RSS MB)."""
    ctx = mp.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(fn, path, send))
    process.start()
    send.close()  # only the child holds the sending end: its death ends recv() with EOF
    try:
        result: tuple[float, float, int, float] = receive.recv()
    except EOFError:
        process.join()
        code = process.exitcode
        raise RuntimeError(f"{fn.__name__} failed in its child process (exit {code})") from None
    process.join()
    return result


#: Events and repeats per mode of `python -m bench` (ADR 0040).
SIZES: dict[str, tuple[int, int]] = {
    "full": (1_000_000, 3),
    "quick": (20_000, 1),
    "smoke": (2_000, 1),
}


def run(mode: Mode = "full") -> dict[str, Any]:
    """Entry point for `python -m bench` (the module contract in `bench/__main__.py`)."""
    events, repeats = SIZES[mode]
    return replay(events, repeats, name=result_name("replay", mode), write=mode != "smoke")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20,000 events, 1 repeat")
    parser.add_argument("--dir", help="where to put the log (default: a temp dir)")
    args = parser.parse_args()
    events, repeats = (20_000, 1) if args.quick else (args.events, args.repeats)
    replay(events, repeats, directory=args.dir, name="replay", write=not args.quick)


def replay(
    events: int, repeats: int, *, name: str, write: bool, directory: str | None = None
) -> dict[str, Any]:
    """Generate a log of `events`, measure `repeats` times, report as `name`."""
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        path = os.path.join(tmp, "log.db")
        start = time.perf_counter()
        ctx = mp.get_context("spawn")
        filler = ctx.Process(target=_fill, args=(path, events))
        filler.start()
        filler.join()
        if filler.exitcode != 0:
            raise SystemExit("generating the log failed")
        generated = time.perf_counter() - start
        size_mb = os.path.getsize(path) / 1e6
        ours = Figure("rebuild", "ev/s")
        base = Figure("raw SELECT + msgspec decode", "ev/s")
        ours_cpu = Figure("rebuild (CPU time)", "ev/s")
        base_cpu = Figure("raw SELECT + msgspec decode (CPU time)", "ev/s")
        memory = Figure("rebuild peak RSS", "MB")
        base_memory = Figure("baseline peak RSS", "MB")
        seconds = Figure("rebuild time", "s")
        scoring = Figure("replay, 3 rules at one instant (per rule)", "ev/s")
        scoring_memory = Figure("replay one instant peak RSS", "MB")
        monthly = Figure("replay, 3 rules monthly over 10 years", "s")
        monthly_ratio = Figure("replay monthly / one instant", "x")
        first = Figure("first rebuild of the fresh log", "ev/s")
        first_base = Figure("raw read, same repeat", "ev/s")
        for repeat in range(repeats):
            b_s, b_cpu, b_n, b_mb = measure(_baseline, path)
            o_s, o_cpu, o_n, o_mb = measure(_rebuild, path)
            assert b_n == o_n, (b_n, o_n)
            if repeat == 0:  # the fresh log's first rebuild
                first.samples.append(o_n / o_s)
                first_base.samples.append(b_n / b_s)
            base.samples.append(b_n / b_s)
            ours.samples.append(o_n / o_s)
            base_cpu.samples.append(b_n / b_cpu)
            ours_cpu.samples.append(o_n / o_cpu)
            memory.samples.append(o_mb)
            base_memory.samples.append(b_mb)
            seconds.samples.append(o_s)
            i_s, _, i_n, i_mb = measure(_score_instant, path)
            m_s, _, m_n, _ = measure(_score_monthly, path)
            assert i_n == m_n == b_n, (i_n, m_n, b_n)
            scoring.samples.append(len(RULES) * i_n / i_s)
            scoring_memory.samples.append(i_mb)
            monthly.samples.append(m_s)
            monthly_ratio.samples.append(m_s / i_s)
        c_s, _, c_n, c_mb = measure(_catch_up, path)
        catch_up = Figure(f"incremental catch-up of {c_n:,} events", "ms", [c_s * 1000])
        catch_up_memory = Figure("catch-up peak RSS", "MB", [c_mb])
        return report(
            name,
            {
                "events": events,
                "contacts": 2000,
                "years": 10,
                "devices": 3,
                "seed": SEED,
                "repeats": repeats,
                "log_mb": round(size_mb, 1),
                "generate_s": round(generated, 1),
            },
            [
                Comparison("rebuild all views vs raw read", ours, base),
                Comparison("first rebuild vs raw read", first, first_base),
                Comparison("same, CPU time of all processes", ours_cpu, base_cpu),
                Comparison("replay 3 rules, one instant, per rule vs raw read", scoring, base),
            ],
            [
                seconds,
                memory,
                base_memory,
                catch_up,
                catch_up_memory,
                scoring,
                scoring_memory,
                monthly,
                monthly_ratio,
            ],
            write=write,
        )


if __name__ == "__main__":
    main()
