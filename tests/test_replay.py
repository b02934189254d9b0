"""The replay engine: set semantics, consistency between modes, failure isolation."""

from __future__ import annotations

from datetime import date
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ValidationError
from core.events import Event, GiveMade
from scoring import (
    Cadence,
    Decay,
    History,
    Item,
    LoadedRule,
    Reciprocity,
    Rule,
    Subject,
    date_of,
    replay,
)
from tests import strategies as sync
from tests.test_scoring_events import BASE_DAY, BUDGET, Builder, histories

#: Example budgets follow the loaded hypothesis profile (`HYPOTHESIS_PROFILE=soak`: 20x).
CHECKS = settings(max_examples=max(1, BUDGET * 2 // 5))

RULES = [
    LoadedRule("cadence", "cadence", Cadence()),
    LoadedRule("decay", "decay", Decay()),
    LoadedRule("fast", "fast=reciprocity", Reciprocity(half_life_days=7.0)),
]


def as_json(report: Any) -> bytes:
    return msgspec.json.encode(report)


def every_mode(events: list[Event], day: int, base: int = BASE_DAY) -> tuple[bytes, bytes, bytes]:
    history = History(events)
    days = list(range(base - 5, base + 820, 37))
    return (
        as_json(replay.at_instant(history, RULES, day)),
        as_json(replay.series(history, RULES, days, "37d")),
        as_json(replay.backtest(history, RULES)),
    )


@CHECKS
@given(histories(), st.randoms(use_true_random=False), st.integers(0, 450))
def test_output_is_independent_of_arrival_order(events: list[Event], rnd: Any, offset: int) -> None:
    """Any arrival order, with events delivered twice, gives byte-identical output:
    retractions before their targets, merges in any order, conflicting outcomes."""
    shuffled = events + rnd.sample(events, k=min(3, len(events)))
    rnd.shuffle(shuffled)
    assert every_mode(shuffled, BASE_DAY + offset) == every_mode(events, BASE_DAY + offset)


@CHECKS
@given(sync.history_and_arrival(), st.integers(-sync.SPAN_DAYS, 0))
def test_output_is_independent_of_sync_arrival_on_multi_device_histories(
    pair: tuple[list[Event], list[Event]], back: int
) -> None:
    """The projections' multi-device histories, received in any sync order."""
    history, arrival = pair
    base = sync.AS_OF - sync.SPAN_DAYS
    assert every_mode(arrival, sync.AS_OF + back, base) == every_mode(
        history, sync.AS_OF + back, base
    )


@CHECKS
@given(histories())
def test_each_step_of_a_series_is_the_instant_view_of_that_day(events: list[Event]) -> None:
    """The incremental series flags exactly whom a fresh one-instant replay flags."""
    history = History(events)
    days = list(range(BASE_DAY - 3, BASE_DAY + 420, 29))
    report = replay.series(history, RULES, days, "29d")
    assert [s.date for s in report.steps] == [date_of(d).isoformat() for d in days]
    for step, day in zip(report.steps, days, strict=True):
        instant = replay.at_instant(history, RULES, day)
        assert step.contacts == len(instant.contacts)
        for rule in RULES:
            cold = [
                c.contact_id
                for c in instant.contacts
                if (cell := c.scores[rule.label]) and cell.cold
            ]
            assert step.flagged[rule.label] == cold


@CHECKS
@given(histories())
def test_backtest_scores_each_ask_from_what_came_before_it(events: list[Event]) -> None:
    history = History(events)
    report = replay.backtest(history, RULES)
    expected_asks = set()
    for contact_id, items in history.items.items():
        for k, item in enumerate(items):
            if item.kind != "ask" or item.ask_id not in history.outcomes:
                continue
            expected_asks.add(item.ask_id)
            row = next(a for a in report.asks if a.ask_id == item.ask_id)
            assert row.contact_id == contact_id
            assert row.outcome == history.outcomes[item.ask_id]
            for rule in RULES:
                fresh = rule.rule.start(history.subjects[contact_id])
                for earlier in items[:k]:
                    fresh.feed(earlier)
                score, cold = fresh.score(item.day)
                cell = row.scores[rule.label]
                assert cell is not None and cell.cold == cold
                assert cell.score == (None if score is None else round(score, replay.PLACES))
    assert {a.ask_id for a in report.asks} == expected_asks
    for result in report.results:
        assert result.scored + result.unscored == len(report.asks)
        assert sum(b.count for b in result.calibration) == result.scored


def small_history() -> tuple[History, dict[str, Any]]:
    b = Builder()
    ann = b.contact(0, "Ann", cadence=30)
    bob = b.contact(0, "Bob", cadence=30)
    cat = b.contact(0, "Cat", cadence=30)
    dup = b.contact(0, "Ann (dup)", cadence=30)
    gone = b.contact(0, "Gone")
    late = b.contact(200, "Late")
    big_give = b.give(40, bob, 5)
    ask = b.ask(60, ann)
    events: list[Event] = [
        ann,
        bob,
        cat,
        dup,
        gone,
        late,
        b.talk(10, ann, bob),
        b.give(20, ann, 2),
        big_give,
        ask,
        b.resolve(61, ask, "granted"),
        b.talk(90, dup),
        b.merge(95, ann, dup),
        b.archive(100, gone),
        b.talk(110, cat),
    ]
    return History(events), {"ann": ann, "bob": bob, "cat": cat, "dup": dup, "big_give": big_give}


def test_listing_follows_the_current_state() -> None:
    """Merged-away and archived contacts are not listed; a contact appears from the
    day it was added; a merged contact's touches count for its survivor."""
    history, _ = small_history()
    report = replay.at_instant(history, RULES, BASE_DAY + 120)
    assert [c.name for c in report.contacts] == ["Ann", "Bob", "Cat"]
    ann = next(c for c in report.contacts if c.name == "Ann")
    cell = ann.scores["cadence"]
    assert cell is not None and cell.score == pytest.approx(1 - 30 / 30) and not cell.cold
    later = replay.at_instant(history, RULES, BASE_DAY + 250)
    assert [c.name for c in later.contacts] == ["Ann", "Bob", "Cat", "Late"]


class Exploding(Rule):
    """Raises when fed a give of weight 5; scores everything else like decay."""

    name = "exploding"

    def start(self, contact: Subject) -> Any:
        inner = Decay().start(contact)

        class Scorer:
            def feed(self, item: Item) -> None:
                if isinstance(item.event, GiveMade) and item.weight == 5:
                    raise ZeroDivisionError("weight five is too much")
                inner.feed(item)

            def score(self, day: int) -> Any:
                return inner.score(day)

        return Scorer()


def test_a_rule_that_raises_names_rule_contact_and_event_and_spares_the_rest() -> None:
    history, ev = small_history()
    rules = [RULES[0], LoadedRule("boom", "tests:Exploding", Exploding())]
    report = replay.at_instant(history, rules, BASE_DAY + 120)
    assert len(report.errors) == 1
    error = report.errors[0]
    assert (error.rule, error.contact_id, error.event_id, error.event_type) == (
        "boom",
        ev["bob"].event_id,
        ev["big_give"].event_id,
        "GiveMade",
    )
    assert error.message == (
        f"rule 'boom' raised on contact {ev['bob'].event_id} (Bob) at event "
        f"{ev['big_give'].event_id} (GiveMade of {date_of(BASE_DAY + 40)}): "
        "ZeroDivisionError: weight five is too much"
    )
    by_name = {c.name: c for c in report.contacts}
    assert by_name["Bob"].scores["boom"] is None
    assert by_name["Bob"].scores["cadence"] is not None
    assert by_name["Ann"].scores["boom"] is not None  # the rule still scores the others
    assert report.agreement[0].compared == 2


class Returns(Rule):
    name = "returns"

    def __init__(self, value: object, **params: Any) -> None:
        super().__init__(**params)
        self.value = value

    def start(self, contact: Subject) -> Any:
        value = self.value

        class Scorer:
            def feed(self, item: Item) -> None:
                pass

            def score(self, day: int) -> Any:
                return value

        return Scorer()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ((float("nan"), False), "expected a finite number"),
        ("warm", "expected a (score, cold) pair"),
        ((1.0, "yes"), "expected True or False"),
        (("1", False), "expected a number or None"),
    ],
)
def test_a_rule_returning_nonsense_is_an_error_on_each_contact(
    value: object, expected: str
) -> None:
    history, _ = small_history()
    report = replay.at_instant(history, [LoadedRule("r", "r", Returns(value))], BASE_DAY + 120)
    assert len(report.errors) == 3
    assert all(expected in e.message and "scoring at" in e.message for e in report.errors)


class Unstartable(Rule):
    name = "unstartable"

    def start(self, contact: Subject) -> Any:
        raise KeyError(contact.name)


def test_a_rule_failing_to_start_is_reported_per_contact() -> None:
    history, _ = small_history()
    report = replay.series(
        history, [RULES[1], LoadedRule("u", "u", Unstartable())], [BASE_DAY + 100], "1d"
    )
    assert len(report.errors) == 3
    assert report.errors[0].message.startswith("rule 'u' failed on contact ")
    assert "starting: KeyError" in report.errors[0].message
    assert report.steps[0].flagged["u"] == []


def test_identical_rules_agree_fully_and_opposite_rules_disagree() -> None:
    history, _ = small_history()

    class Negated(Decay):
        def start(self, contact: Subject) -> Any:
            inner = super().start(contact)

            class Scorer:
                feed = inner.feed

                def score(self, day: int) -> Any:
                    score, _ = inner.score(day)
                    assert score is not None
                    return (-score, score > 1.0)

            return Scorer()

    rules = [RULES[1], LoadedRule("same", "same", Decay()), LoadedRule("neg", "neg", Negated())]
    report = replay.at_instant(history, rules, BASE_DAY + 130)
    same, neg = report.agreement[0], report.agreement[1]
    assert same.rules == ("decay", "same") and (same.spearman, same.kendall) == (1.0, 1.0)
    assert same.verdicts_differ == []
    assert neg.rules == ("decay", "neg") and (neg.spearman, neg.kendall) == (-1.0, -1.0)


@pytest.mark.parametrize(
    ("start", "end", "every", "expected"),
    [
        (
            "2024-01-31",
            "2024-05-01",
            "1m",
            ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"],
        ),
        ("2024-01-01", "2024-01-20", "1w", ["2024-01-01", "2024-01-08", "2024-01-15"]),
        ("2024-01-01", "2024-01-01", "30d", ["2024-01-01"]),
        (
            "2020-02-29",
            "2023-03-01",
            "1y",
            ["2020-02-29", "2021-02-28", "2022-02-28", "2023-02-28"],
        ),
    ],
)
def test_steps(start: str, end: str, every: str, expected: list[str]) -> None:
    days = replay.step_days(date.fromisoformat(start), date.fromisoformat(end), every)
    assert [date_of(d).isoformat() for d in days] == expected


@pytest.mark.parametrize(
    ("start", "end", "every", "expected"),
    [
        ("2024-01-01", "2023-01-01", "1m", "is after --to"),
        ("2024-01-01", "2024-02-01", "month", "must look like 30d"),
        ("2024-01-01", "2024-02-01", "0d", "must look like 30d"),
        ("1900-01-01", "2024-02-01", "1d", "more than 20000 steps"),
    ],
)
def test_bad_steps_are_refused(start: str, end: str, every: str, expected: str) -> None:
    with pytest.raises(ValidationError, match=expected):
        replay.step_days(date.fromisoformat(start), date.fromisoformat(end), every)


def test_leads_count_onsets_and_how_far_ahead_the_other_rule_was() -> None:
    """Rule a flags days 10-40, rule b days 30-40 and 60: b has two onsets; at the
    first, a had been flagging for 20 days; at the second, a was not flagging."""
    days = [0, 10, 20, 30, 40, 50, 60]
    a = [False, True, True, True, True, False, False]
    b = [False, False, False, True, True, False, True]
    points = {"c": [(1, d) for d in days]}
    results: dict[str, dict[str, list[bool] | None]] = {"a": {"c": a}, "b": {"c": b}}
    got = {(x.first, x.then): x for x in replay.leads(results, points, ["a", "b"])}
    assert got["a", "b"] == replay.Lead(
        "a", "b", onsets=2, already=1, earlier=1, median_lead_days=20.0
    )
    assert got["b", "a"] == replay.Lead(
        "b", "a", onsets=1, already=0, earlier=0, median_lead_days=None
    )


@CHECKS
@given(histories())
def test_a_rule_never_warns_before_its_own_copy(events: list[Event]) -> None:
    history = History(events)
    rules = [RULES[0], LoadedRule("copy", "copy=cadence", Cadence()), RULES[1]]
    report = replay.series(history, rules, list(range(BASE_DAY, BASE_DAY + 420, 20)), "20d")
    for lead in report.leads:
        assert lead.earlier <= lead.already <= lead.onsets
        if {lead.first, lead.then} == {"cadence", "copy"}:
            assert (lead.already, lead.earlier) == (lead.onsets, 0)
