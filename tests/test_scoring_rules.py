"""Built-in rules: incremental equals from-scratch, closed forms, the cadence semantics."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.events import (
    AskMade,
    Event,
    GiveMade,
    InteractionLogged,
    IntroductionMade,
)
from core.state import State
from scoring import (
    ADDED,
    ASK,
    GIVE,
    INTERACTION,
    INTRODUCTION,
    Cadence,
    Decay,
    History,
    Item,
    ParamError,
    Reciprocity,
    Rule,
    local_day,
)
from tests.test_scoring_events import BASE_DAY, BUDGET, Builder, histories

#: Example budgets follow the loaded hypothesis profile (`HYPOTHESIS_PROFILE=soak`: 20x).
CHECKS = settings(max_examples=max(1, BUDGET * 3 // 5))

rule_params = st.one_of(
    st.builds(
        Cadence,
        cadence_days=st.sampled_from([0, 0, 7, 45]),
        cold_at=st.sampled_from([1.0, 0.75, 2.0]),
        count_added=st.booleans(),
    ),
    st.builds(
        Decay,
        half_life_days=st.sampled_from([1.0, 30.0, 90.0, 365.0]),
        threshold=st.sampled_from([0.0, 0.5, 2.0]),
        give_weight=st.sampled_from([0.0, 2.0, 3.5]),
        ask_weight=st.sampled_from([0.0, 0.5]),
    ),
    st.builds(
        Reciprocity,
        half_life_days=st.sampled_from([7.0, 90.0]),
        balance_half_life_days=st.sampled_from([30.0, 365.0]),
        influence=st.sampled_from([0.0, 0.5, 1.0]),
        balance_scale=st.sampled_from([0.5, 3.0]),
    ),
)


@CHECKS
@given(histories(), rule_params, st.lists(st.integers(0, 200), min_size=1, max_size=4))
def test_incremental_equals_from_scratch(events: list[Event], rule: Rule, gaps: list[int]) -> None:
    """Scoring between feeds never changes a scorer: at every instant, one scorer fed
    item by item gives exactly what a fresh scorer fed the same prefix gives."""
    history = History(events)
    for subject in history.subjects_sorted():
        items = history.items[subject.id]
        running = rule.start(subject)
        for k, item in enumerate(items, start=1):
            running.feed(item)
            for gap in gaps:
                day = item.day + gap
                if k < len(items) and items[k].day <= day:
                    continue  # not an instant at which exactly this prefix applies
                fresh = rule.start(subject)
                for earlier in items[:k]:
                    fresh.feed(earlier)
                verdict = running.score(day)
                assert verdict == fresh.score(day)
                assert running.score(day) == verdict  # scoring twice changes nothing
                # Replay trusts built-in verdicts unchecked: they must be well-formed.
                score, cold = verdict
                assert type(cold) is bool
                assert score is None or (type(score) is float and math.isfinite(score))


def _reference_strength(
    items: list[Item], day: int, weights: dict[str, float], half: float
) -> float:
    return math.fsum(
        weights.get(i.kind, 0.0) * i.weight * 0.5 ** ((day - i.day) / half)
        for i in items
        if i.day <= day
    )


@CHECKS
@given(
    histories(),
    st.sampled_from([3.0, 45.0, 90.0, 400.0]),
    st.integers(0, 500),
    st.sampled_from([0.0, 1.0, 3.0]),
)
def test_decay_matches_its_closed_form(
    events: list[Event], half: float, day_offset: int, give: float
) -> None:
    """The incremental strength is the sum of weight * 2^(-age/half-life) over touches."""
    rule = Decay(half_life_days=half, give_weight=give)
    weights = rule.weights()
    history = History(events)
    day = BASE_DAY + day_offset
    for subject in history.subjects_sorted():
        items = [i for i in history.items[subject.id] if i.day <= day]
        scorer = rule.start(subject)
        for item in items:
            scorer.feed(item)
        score, cold = scorer.score(day)
        assert score is not None
        expected = _reference_strength(items, day, weights, half)
        assert score == pytest.approx(expected, rel=1e-9, abs=1e-12)
        assert cold == (score < 1.0)


@CHECKS
@given(histories(), st.integers(0, 500), st.sampled_from([0.25, 1.0]))
def test_reciprocity_matches_its_closed_form(
    events: list[Event], day_offset: int, influence: float
) -> None:
    """Reciprocity = decay strength * (1 + influence * b / (|b| + scale)), b the decayed
    give-minus-ask balance: people one gives to outrank people one only asks of."""
    rule = Reciprocity(influence=influence, balance_half_life_days=200.0)
    history = History(events)
    day = BASE_DAY + day_offset
    signs = {GIVE: 1.0, INTRODUCTION: 1.0, ASK: -1.0}
    for subject in history.subjects_sorted():
        items = [i for i in history.items[subject.id] if i.day <= day]
        scorer = rule.start(subject)
        for item in items:
            scorer.feed(item)
        strength = _reference_strength(items, day, rule.weights(), 90.0)
        balance = _reference_strength(items, day, signs, 200.0)
        expected = strength * (1 + influence * balance / (abs(balance) + 3.0))
        assert scorer.score(day)[0] == pytest.approx(expected, rel=1e-9, abs=1e-12)


def reference_cold(events: list[Event], day: int) -> dict[str, tuple[int, int, bool]]:
    """An independent, naive statement of the going-cold rule (issue 3), straight
    from `State`: for each active contact with a cadence, added on or before `day`,
    (last touch, cadence, cold).

    Last touch is the latest local date, on or before `day`, of a live interaction,
    give, introduction or ask involving the contact or any contact merged into it;
    a contact never touched counts from the day it was added.
    """
    state = State(events)
    touched: dict[str, int] = {}
    for event in state.by_id.values():
        if not state.live(event):
            continue
        if isinstance(event, InteractionLogged | IntroductionMade):
            ids: tuple[str, ...] = tuple(event.contact_ids)
        elif isinstance(event, GiveMade | AskMade):
            ids = (event.contact_id,)
        else:
            continue
        when = local_day(event.occurred_at, event.utc_offset)
        if when > day:
            continue
        for contact_id in ids:
            survivor = state.survivor(contact_id)
            touched[survivor] = max(touched.get(survivor, when), when)
    out = {}
    for contact in state.active_contacts():
        cadence = contact.effective_cadence
        added = local_day(contact.added.occurred_at, contact.added.utc_offset)
        if cadence is None or added > day:
            continue
        since = touched.get(contact.id, added)
        out[contact.id] = (since, cadence, day - since > cadence)
    return out


@CHECKS
@given(histories(), st.integers(-10, 500))
def test_cadence_rule_is_the_going_cold_rule(events: list[Event], day_offset: int) -> None:
    """Replay's cadence rule and a naive statement of the going-cold view agree on
    every contact: same set of contacts, same verdict, score = 1 - days since / cadence."""
    day = BASE_DAY + day_offset
    history = History(events)
    rule = Cadence()
    got: dict[str, tuple[float | None, bool]] = {}
    for subject in history.subjects_sorted():
        if subject.id not in history.active or subject.added_day > day:
            continue
        scorer = rule.start(subject)
        for item in history.items[subject.id]:
            if item.day <= day:
                scorer.feed(item)
        score, cold = scorer.score(day)
        if score is not None:
            got[subject.id] = (score, cold)
    expected = reference_cold(events, day)
    assert set(got) == set(expected)
    for contact_id, (since, cadence, cold) in expected.items():
        assert got[contact_id] == (1.0 - (day - since) / cadence, cold)


def test_cadence_statuses_at_the_boundaries() -> None:
    """Cold only strictly beyond the cadence; a touch resets the clock; notes do not."""
    b = Builder()
    ann = b.contact(0, "Ann", cadence=10)
    events: list[Event] = [ann, b.talk(5, ann), b.note(12, ann)]
    history = History(events)
    subject = history.subjects[ann.event_id]
    scorer = Cadence().start(subject)
    for item in history.items[ann.event_id]:
        scorer.feed(item)
    assert scorer.score(BASE_DAY + 15) == (0.0, False)  # exactly at the cadence: due, not cold
    score, cold = scorer.score(BASE_DAY + 16)
    assert score == pytest.approx(-0.1) and cold
    assert [i.kind for i in history.items[ann.event_id]] == [ADDED, INTERACTION]


def test_contact_without_cadence_gets_no_cadence_score() -> None:
    b = Builder()
    ann = b.contact(0, "Ann", circle="none")
    history = History([ann, b.talk(1, ann)])
    scorer = Cadence().start(history.subjects[ann.event_id])
    for item in history.items[ann.event_id]:
        scorer.feed(item)
    assert scorer.score(BASE_DAY + 999) == (None, False)
    # A cadence given as a parameter applies to every contact, counted from its addition.
    subject = history.subjects[ann.event_id]
    assert Cadence(cadence_days=30).start(subject).score(BASE_DAY + 45) == (-0.5, True)
    assert Cadence(cadence_days=30, count_added=False).start(subject).score(BASE_DAY) == (
        None,
        False,
    )


def test_gives_count_more_than_asks_by_default() -> None:
    b = Builder()
    giver, asker = b.contact(0, "Giver"), b.contact(0, "Asker")
    history = History([giver, asker, b.give(10, giver), b.ask(10, asker)])
    scores: dict[str, float] = {}
    for subject in history.subjects_sorted():
        scorer = Decay().start(subject)
        for item in history.items[subject.id]:
            scorer.feed(item)
        score, _ = scorer.score(BASE_DAY + 40)
        assert score is not None
        scores[subject.name] = score
    assert scores["Giver"] > scores["Asker"]


def test_local_date_decides_the_day() -> None:
    """01:00 in UTC+14 on day 3 is day 3, though it is still day 2 in UTC."""
    b = Builder()
    ann = b.contact(0, "Ann")
    talk = b.talk(3, ann, minute=60, offset=840)
    assert local_day(talk.occurred_at, 0) == BASE_DAY + 2
    assert History([ann, talk]).items[ann.event_id][-1].day == BASE_DAY + 3


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"half_life": "60"}, "has no parameter 'half_life'"),
        ({"half_life_days": "soon"}, "must be a number, got 'soon'"),
        ({"half_life_days": "0"}, "must be at least 1"),
        ({"half_life_days": "nan"}, "must be a finite number"),
        ({"threshold": "-1"}, "must be at least 0"),
    ],
)
def test_bad_parameters_are_refused_by_name(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ParamError, match="rule 'decay'") as info:
        Decay(**params)
    assert message in str(info.value)


def test_parameters_are_converted_to_their_declared_types() -> None:
    rule = Cadence(cadence_days="21", count_added="no", cold_at="1.5")
    assert rule.params == {"cadence_days": 21, "count_added": False, "cold_at": 1.5}
    with pytest.raises(ParamError, match="whole number"):
        Cadence(cadence_days="2.5")
    with pytest.raises(ParamError, match="true or false"):
        Cadence(count_added="maybe")
