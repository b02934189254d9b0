"""Replay's `cadence` rule agrees with the going-cold view on every contact.

The view (`projections.views`, issue 3) and the rule (`scoring`) are
separate code stating one rule; these properties hold them together, over both
this suite's histories and the projections' multi-device ones (`tests.strategies`:
opposite-direction merges, merge chains, conflicting outcomes, retractions of
retractions), at any day, and at every step of a monthly series.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from core.events import Event
from projections import views
from scoring import Cadence, History, LoadedRule, replay
from tests import strategies as sync
from tests.test_scoring_events import BASE_DAY, BUDGET, histories

#: Example budgets follow the loaded hypothesis profile (`HYPOTHESIS_PROFILE=soak`: 20x).
CHECKS = settings(max_examples=max(1, BUDGET * 3 // 5))
CADENCE = [LoadedRule("cadence", "cadence", Cadence())]


def view_rows(events: list[Event], day: int) -> dict[str, views.ColdRow]:
    """The going-cold view as of `day`, every contact with a cadence, by contact id."""
    return {row.contact_id: row for row in views.compute(events, day).cold}


def assert_agree(events: list[Event], day: int) -> None:
    rows = view_rows(events, day)
    report = replay.at_instant(History(events), CADENCE, day)
    ours = {
        c.contact_id: cell
        for c in report.contacts
        if (cell := c.scores["cadence"]) is not None and cell.score is not None
    }
    assert set(ours) == set(rows)
    for contact_id, row in rows.items():
        cell = ours[contact_id]
        assert cell.cold == (row.status == "cold")
        assert cell.score == round(1 - row.days_since / row.cadence_days, replay.PLACES)


@CHECKS
@given(histories(), st.integers(-10, 450))
def test_cadence_rule_agrees_with_the_going_cold_view(events: list[Event], offset: int) -> None:
    assert_agree(events, BASE_DAY + offset)


@CHECKS
@given(sync.histories(), st.integers(-sync.SPAN_DAYS - 5, 0))
def test_agreement_on_multi_device_histories(events: list[Event], back: int) -> None:
    assert_agree(events, sync.AS_OF + back)


@CHECKS
@given(histories())
def test_a_monthly_cadence_series_flags_whom_the_view_calls_cold(events: list[Event]) -> None:
    days = list(range(BASE_DAY - 5, BASE_DAY + 430, 30))
    report = replay.series(History(events), CADENCE, days, "30d")
    for step, day in zip(report.steps, days, strict=True):
        cold = sorted(cid for cid, row in view_rows(events, day).items() if row.status == "cold")
        assert step.flagged["cadence"] == cold
