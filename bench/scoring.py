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

History: until `projections/sample.py` (the shared realistic generator) lands,
`stand_in_history` makes a seeded one of the same shape: 2,000 contacts across
circles, ten years, interactions at each circle's rhythm with noise and quiet
spells, gives, introductions, asks with outcomes (more often granted by warm
contacts), a few merges and retractions.

    python -m bench.scoring [--quick] [--events N] [--repeats R]
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from bench.harness import Comparison, Figure, report
from core import events as ev
from projections.scoring import (
    History,
    Item,
    LoadedRule,
    Rule,
    Subject,
    date_of,
    day_of,
    load_rules,
    replay,
)
from projections.scoring.source import read_log

DAY_MS = 86_400_000
START = date(2016, 1, 1)
YEARS = 10
#: circle -> (share of contacts, mean days between touches)
CIRCLES = {
    "inner": (0.05, 2.0),
    "close": (0.15, 4.0),
    "wider": (0.40, 8.0),
    "distant": (0.40, 12.0),
}


def stand_in_history(n_events: int, seed: int = 7) -> list[ev.Event]:
    """A seeded, realistic-looking history of about `n_events` events."""
    rnd = random.Random(seed)
    start_ms = day_of(START) * DAY_MS
    span = YEARS * 365
    seq = 0
    out: list[ev.Event] = []

    def envelope(day: float) -> dict[str, Any]:
        nonlocal seq
        seq += 1
        at = start_ms + int(day * DAY_MS)
        return {
            "event_id": f"{seq:012d}",
            "device_id": "bench",
            "seq": seq,
            "hlc": at << 16,
            "occurred_at": at,
            "utc_offset": 60,
        }

    contacts: list[str] = []
    i = 0
    while len(out) < n_events:
        i += 1
        circle = rnd.choices(list(CIRCLES), [s for s, _ in CIRCLES.values()])[0]
        added_day = rnd.uniform(0, span * 0.3)
        added = ev.ContactAdded(**envelope(added_day), name=f"Contact {i}", circle=circle)
        out.append(added)
        contacts.append(added.event_id)
        gap = CIRCLES[circle][1]
        day = added_day
        while True:
            day += rnd.expovariate(1 / gap)
            if rnd.random() < 0.004:
                day += rnd.uniform(60, 400)  # a quiet spell: the contact goes cold
            if day >= span:
                break
            roll = rnd.random()
            if roll < 0.80:
                other = (rnd.choice(contacts),) if rnd.random() < 0.05 else ()
                ids = tuple(dict.fromkeys((added.event_id, *other)))
                out.append(ev.InteractionLogged(**envelope(day), contact_ids=ids, channel="call"))
            elif roll < 0.87:
                out.append(
                    ev.GiveMade(
                        **envelope(day),
                        contact_id=added.event_id,
                        what="help",
                        weight=rnd.randint(1, 3),
                    )
                )
            elif roll < 0.88 and len(contacts) > 1:
                other_id = rnd.choice(contacts[:-1])
                out.append(
                    ev.IntroductionMade(**envelope(day), contact_ids=(added.event_id, other_id))
                )
            else:
                ask = ev.AskMade(
                    **envelope(day),
                    contact_id=added.event_id,
                    what="a favour",
                    weight=rnd.randint(1, 3),
                )
                out.append(ask)
                if rnd.random() < 0.9:
                    warm = 0.75 if gap <= 4 else 0.45
                    outcome = (
                        "granted"
                        if rnd.random() < warm
                        else rnd.choice(["declined", "unanswered", "withdrawn"])
                    )
                    out.append(
                        ev.AskResolved(
                            **envelope(day + rnd.uniform(0, 10)),
                            ask_id=ask.event_id,
                            outcome=outcome,
                        )
                    )
    touches = [e for e in out if isinstance(e, ev.InteractionLogged)]
    for victim in rnd.sample(touches, k=min(len(touches), n_events // 1000)):
        out.append(ev.EventRetracted(**envelope(span), target_id=victim.event_id, reason="twice"))
    for _ in range(len(contacts) // 100):
        a, b = rnd.sample(contacts, 2)
        out.append(ev.ContactsMerged(**envelope(span), survivor_id=a, absorbed_id=b))
    return out


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
    last = max((days[-1] for days in history.days.values() if days), default=0)
    if every is None:
        replay.at_instant(history, rules, last)
    else:
        first = min((days[0] for days in history.days.values() if days), default=0)
        steps = replay.step_days(date_of(first), date_of(last), every)
        replay.series(history, rules, steps, every)
    return time.perf_counter() - start, count


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    """Seconds one call takes (after a collection: garbage is not billed), and its result."""
    gc.collect()
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100,000 events, 1 repeat")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n_events = 100_000 if args.quick else args.events
    repeats = 1 if args.quick else args.repeats

    events = stand_in_history(n_events)
    n = len(events)
    rules, failed = load_rules(["cadence", "decay", "reciprocity"])
    assert not failed
    baseline_rules = [LoadedRule(f"nothing{i}", "nothing", Nothing()) for i in range(3)]

    prepare = Figure("prepare: resolve set + group (events/s)", "ev/s")
    instant = Figure("one instant, 3 rules (events/s per rule)", "ev/s")
    idle = Figure("one instant, 3 no-op rules (events/s per rule)", "ev/s")
    monthly = Figure("monthly over 10 years, 3 rules (s)", "s")
    monthly_ratio = Figure("monthly / one instant, scoring (x)", "x")
    monthly_ratio_all = Figure("monthly / one instant, with prepare (x)", "x")
    end_to_end = Figure("prepare + one instant, 3 rules (events/s per rule)", "ev/s")
    last_day = day_of(date(START.year + YEARS, 1, 1))
    days = replay.step_days(START, date(START.year + YEARS, 1, 1), "1m")
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
    report(
        "scoring",
        {"events": n, "rules": [r.label for r in rules], "steps": len(days), "repeats": repeats},
        [Comparison("one instant, 3 rules vs no-op rules", instant, idle)],
        [instant, end_to_end, prepare, monthly, monthly_ratio, monthly_ratio_all],
        write=not args.quick,
    )


if __name__ == "__main__":
    main()
