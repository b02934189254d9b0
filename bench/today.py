"""The plan for today on a ten-year history, against one replay instant of `cadence`.

Figures (issue 17):

- `recip today`'s work after preparation: the `today` rule's plan (every active
  contact's nudges, ranked, a handful chosen) at the last day of the history, in
  events/s (events / seconds);
- the same-run baseline: `recip replay --rule cadence` at the same instant, the
  simplest rule over the same prepared history (ours / baseline: how much a plan
  costs beyond the going-cold rule it contains);
- the calendar feed's body (plan, follow-ups, occasions, iCalendar) from the same
  history, in seconds.

History: `sample.history.generate` with the seed and shape of `bench/scoring.py`,
held in memory (preparation is `bench/scoring.py`'s figure).

    python -m bench today [--quick|--smoke]
"""

from __future__ import annotations

from typing import Any

from bench.harness import Comparison, Figure, Mode, report, result_name
from bench.scoring import SEED, history_span, timed
from sample.history import generate
from scoring import History, load_rules, replay
from scoring.plan import outlook, plan

#: Events and repeats per mode (the contract in `bench/__main__.py`).
SIZES: dict[str, tuple[int, int]] = {
    "full": (1_000_000, 3),
    "quick": (100_000, 3),
    "smoke": (3_000, 1),
}


def run(mode: Mode = "full") -> dict[str, Any]:
    """Entry point for `python -m bench`."""
    from server import ics

    n_events, repeats = SIZES[mode]
    events = list(generate(SEED, contacts=2000, years=10, devices=3, events=n_events))
    n = len(events)
    history = History(events)
    del events
    _, last = history_span(history)
    rules, failed = load_rules(["cadence"])
    assert not failed

    def feed() -> bytes:
        return ics.feed(
            outlook(history, last, overdue_days=ics.FOLLOW_UP_DAYS),
            owner="bench",
            now_ms=0,
        )

    ours = Figure("today: plan at the last day (events/s)", "ev/s")
    baseline = Figure("replay --rule cadence at the last day (events/s)", "ev/s")
    feed_s = Figure("calendar feed body (s)", "s")
    for _ in range(repeats):
        t_plan, _ = timed(plan, history, last)
        t_cadence, _ = timed(replay.at_instant, history, rules, last)
        t_feed, _ = timed(feed)
        ours.samples.append(n / t_plan)
        baseline.samples.append(n / t_cadence)
        feed_s.samples.append(t_feed)
    return report(
        result_name("today", mode),
        {"events": n, "contacts": len(history.subjects), "repeats": repeats},
        [Comparison("today plan vs cadence instant", ours, baseline)],
        [ours, baseline, feed_s],
        write=mode != "smoke",
    )
