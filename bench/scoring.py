"""Scoring replay: a ten-year, 1,000,000-event history under three rules.

Figures (issue 6):

- one instant: `cadence`, `decay` and `reciprocity` scored at the last day of the
  history, in events/s per rule (events x rules / seconds); target >= 250,000;
- monthly over ten years: the same three rules at every month's end, as a multiple
  of the one-instant time; target <= 3x;
- preparation (resolving the event set with `core.state` and grouping each
  contact's items once, shared by every rule), reported on its own.

The same-run baseline is the engine driving a rule that does nothing: the cost of
walking every item once, which no rule can beat. Ours / baseline is the share of
that lower bound a real rule reaches.

History: `sample.history.generate`, seeded as in `bench/replay.py` (2,000
contacts, ten years, three devices), held in memory: this benchmark isolates the
scoring; `bench/replay.py` times the same work from a stored log.

    python -m bench.scoring [--quick] [--events N] [--repeats R]
    python -m bench scoring [--quick|--smoke]
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.harness import Comparison, Figure, Mode, report, result_name
from core import events as ev
from sample.history import generate
from scoring import (
    History,
    Item,
    LoadedRule,
    Rule,
    Subject,
    date_of,
    load_rules,
    replay,
)
from scoring.source import read_log

#: The same seed and shape as `bench/replay.py` (`sample.history`).
SEED = 20_260_101


def history_span(history: History) -> tuple[int, int]:
    """The first and last day on which any contact has an item."""
    firsts = [days[0] for days in history.days.values() if days]
    lasts = [days[-1] for days in history.days.values() if days]
    return (min(firsts, default=0), max(lasts, default=0))


class Nothing(Rule):
    """The baseline: a rule whose scorer does no work at all."""

    name = "nothing"

    def start(self, contact: Subject) -> _Idle:
        return _Idle()


class _Idle:
    __slots__ = ()

    def feed(self, item: Item) -> None:
        pass

    def score(self, day: int) -> tuple[float | None, bool]:
        return (0.0, False)


RULES = ("cadence", "decay", "reciprocity")


def score_log(path: str, every: str | None = None) -> tuple[float, int]:
    """What `recip replay` does on the log at `path`, timed: read it (read-only),
    prepare, and score the three rules at the last day (or at every step of
    `every` over the whole history). Returns (seconds, events read).

    Used by `bench/replay.py` to time replay from a stored log in a child process.
    """
    start = time.perf_counter()
    count = 0

    def counted() -> Iterator[ev.Event | ev.OpaqueEvent]:
        nonlocal count
        for event in read_log(Path(path)):
            count += 1
            yield event

    history = History(counted())
    rules, failed = load_rules(RULES)
    assert not failed
    first, last = history_span(history)
    if every is None:
        replay.at_instant(history, rules, last)
    else:
        steps = replay.step_days(date_of(first), date_of(last), every)
        replay.series(history, rules, steps, every)
    return time.perf_counter() - start, count


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    """Seconds one call takes (after a collection: garbage is not billed), and its result."""
    gc.collect()
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


#: Events and repeats per mode of `python -m bench` (the contract in `bench/__main__.py`).
SIZES: dict[str, tuple[int, int]] = {
    "full": (1_000_000, 3),
    "quick": (100_000, 1),
    "smoke": (3_000, 1),
}


def run(mode: Mode = "full") -> dict[str, Any]:
    """Entry point for `python -m bench`."""
    events, repeats = SIZES[mode]
    return scoring(events, repeats, name=result_name("scoring", mode), write=mode != "smoke")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100,000 events, 1 repeat")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.quick:
        run("quick")
    else:
        scoring(args.events, args.repeats, name="scoring", write=True)


def scoring(n_events: int, repeats: int, *, name: str, write: bool) -> dict[str, Any]:
    """Generate `n_events` in memory, measure `repeats` times, report as `name`."""
    events = list(generate(SEED, contacts=2000, years=10, devices=3, events=n_events))
    n = len(events)
    rules, failed = load_rules(RULES)
    assert not failed
    baseline_rules = [LoadedRule(f"nothing{i}", "nothing", Nothing()) for i in range(3)]

    prepare = Figure("prepare: resolve set + group (events/s)", "ev/s")
    instant = Figure("one instant, 3 rules (events/s per rule)", "ev/s")
    idle = Figure("one instant, 3 no-op rules (events/s per rule)", "ev/s")
    monthly = Figure("monthly over 10 years, 3 rules (s)", "s")
    monthly_ratio = Figure("monthly / one instant, scoring (x)", "x")
    monthly_ratio_all = Figure("monthly / one instant, with prepare (x)", "x")
    end_to_end = Figure("prepare + one instant, 3 rules (events/s per rule)", "ev/s")
    first_day, last_day = history_span(History(events))
    days = replay.step_days(date_of(first_day), date_of(last_day), "1m")
    for _ in range(repeats):
        t_prepare, history = timed(History, events)
        t_instant, _ = timed(replay.at_instant, history, rules, last_day)
        t_idle, _ = timed(replay.at_instant, history, baseline_rules, last_day)
        t_monthly, _ = timed(replay.series, history, rules, days, "1m")
        del history
        prepare.samples.append(n / t_prepare)
        instant.samples.append(n * len(rules) / t_instant)
        idle.samples.append(n * len(rules) / t_idle)
        monthly.samples.append(t_monthly)
        monthly_ratio.samples.append(t_monthly / t_instant)
        monthly_ratio_all.samples.append((t_prepare + t_monthly) / (t_prepare + t_instant))
        end_to_end.samples.append(n * len(rules) / (t_prepare + t_instant))
    return report(
        name,
        {"events": n, "rules": [r.label for r in rules], "steps": len(days), "repeats": repeats},
        [Comparison("one instant, 3 rules vs no-op rules", instant, idle)],
        [instant, end_to_end, prepare, monthly, monthly_ratio, monthly_ratio_all],
        write=write,
    )


if __name__ == "__main__":
    main()
