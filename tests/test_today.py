"""`recip today`: a hand-computed history, a pinned day, every kind of item, limit and order.

The day is 2025-03-01 (`RECIP_NOW`). Every figure below was worked out by hand
from the history in `network` and the rule in `scoring.plan` (urgency 1 = due;
past 1 a ratio r counts 1 + log2 r):

- Eve: asked "a reference letter" on 25 Jan, still open: 35 days / 14 -> 2.321928
- Ada: granted "review my talk" on 3 Feb, nothing given since:
  1 + 26/30 -> 1.900464 (she is one-sided too, 3/3 = 1.0, but owe is more urgent)
- Cole (close, every 30): last spoken 18 Jan, 42 days -> 1.485427
- Ben: asks 2 + 3 against a give of 1 in the last year (an ask of weight 5 from
  Feb 2024 is older than 365 days): excess 4 / 3 -> 1.415037
- Coy (close): last spoken 5 Feb, 24 days: cooling, 24/30 -> 0.8
- Fay: one open ask of 20 Feb (9 days, not yet due), so asks 1 against gives 0: 1/3
- Gus (granted, then given back), Hal (only talks), Wes (warm), Arc (archived,
  owed): nothing.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.home import Home
from core import commands
from core.commands import Now
from core.events import Event
from core.state import State
from scoring.history import History, day_of
from scoring.plan import (
    OCCASION,
    Nudge,
    PlanScorer,
    Today,
    choose,
    follow_ups,
    order,
    plan,
)
from scoring.rules import Occasion, Subject

from .conftest import Recip

NOW = Now(1_740_830_400_000, 0)  # 2025-03-01 12:00 UTC
PINNED = "2025-03-01T12:00:00+00:00"
EXPECTED = [
    ("Eve", "open_ask", 2.321928),
    ("Ada", "owe", 1.900464),
    ("Cole", "cold", 1.485427),
    ("Ben", "one_sided", 1.415037),
    ("Coy", "cold", 0.8),
    ("Fay", "one_sided", 0.333333),
]


def record(home: Home, make: Callable[[State], Event]) -> Event:
    log = home.open_log()
    try:
        (event,) = log.append([make(State(log.events()))])
        return event
    finally:
        log.store.close()


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home")
    home.init("test-device", now_iso="2025-03-01T12:00:00Z")
    return home


@pytest.fixture
def run(home: Home, monkeypatch: pytest.MonkeyPatch) -> Recip:
    monkeypatch.setenv("RECIP_NOW", PINNED)
    return Recip(home.path)


@pytest.fixture
def network(home: Home) -> dict[str, str]:
    return build_network(home)


def build_network(home: Home) -> dict[str, str]:
    """The history of the module docstring, recorded by the home's own device."""
    ids: dict[str, str] = {}
    circles = {"Cole": "close", "Coy": "close", "Wes": "close"}
    for name in ("Ada", "Ben", "Cole", "Coy", "Eve", "Fay", "Gus", "Hal", "Wes", "Arc"):
        added = commands.add_contact(NOW, name, circle=circles.get(name, "none"), when="2024-01-01")
        ids[name] = record(home, lambda s, e=added: e).event_id  # type: ignore[misc]

    def ask(
        who: str, what: str, weight: int, when: str, outcome: str | None = None, on: str = ""
    ) -> str:
        made = record(
            home, lambda s: commands.make_ask(s, NOW, who, what, weight=weight, when=when)
        )
        if outcome:
            record(home, lambda s: commands.resolve_ask(s, NOW, made.event_id, outcome, when=on))
        return made.event_id

    def talk(who: str, when: str) -> None:
        record(home, lambda s: commands.log_interaction(s, NOW, [who], when=when))

    ids["ada_ask"] = ask("Ada", "review my talk", 3, "2025-02-01", "granted", "2025-02-03")
    ask("Ben", "a lift", 2, "2024-06-01", "declined", "2024-06-02")
    ask("Ben", "a loan", 3, "2024-09-01", "declined", "2024-09-05")
    ask("Ben", "help moving", 5, "2024-02-01", "declined", "2024-02-02")  # over a year ago
    record(home, lambda s: commands.make_give(s, NOW, "Ben", "a book", weight=1, when="2024-12-01"))
    talk("Cole", "2025-01-18")
    talk("Coy", "2025-02-05")
    talk("Wes", "2025-02-20")
    ids["eve_ask"] = ask("Eve", "a reference letter", 1, "2025-01-25")
    ids["fay_ask"] = ask("Fay", "a recipe", 1, "2025-02-20")
    ask("Gus", "a ladder", 1, "2025-01-10", "granted", "2025-01-11")
    record(home, lambda s: commands.make_give(s, NOW, "Gus", "cake", weight=1, when="2025-01-20"))
    talk("Hal", "2025-02-28")
    ask("Arc", "a favour", 2, "2025-02-01", "granted", "2025-02-02")
    record(home, lambda s: commands.archive_contact(s, NOW, "Arc"))
    return ids


def test_every_kind_in_order_with_hand_computed_urgencies(
    run: Recip, network: dict[str, str]
) -> None:
    out = json.loads(run.ok("today", "--json", "--limit", "20"))
    assert out["as_of"] == "2025-03-01"
    assert out["candidates"] == len(EXPECTED)
    got = [(i["name"], i["kind"], i["urgency"]) for i in out["items"]]
    assert got == EXPECTED
    items = {i["name"]: i for i in out["items"]}
    assert items["Cole"]["why"] == "42 days since you were last in touch, every 30"
    assert items["Cole"]["todo"] == "reach out"
    assert items["Coy"]["todo"] == "reach out soon"
    assert items["Ada"]["why"] == (
        "granted “review my talk” on 3 Feb 2025; nothing given back since"
    )
    assert items["Ada"]["ask_id"] == network["ada_ask"]
    assert items["Ada"]["todo"] == "offer something back"
    assert items["Eve"]["why"] == "asked “a reference letter” 35 days ago, still open"
    assert items["Eve"]["due"] == "2025-02-08"
    assert items["Eve"]["ask_id"] == network["eve_ask"]
    assert "resolve" in items["Eve"]["todo"]
    assert items["Ben"]["why"] == "asked weight 5 against given 1 over the last year"
    assert items["Ben"]["todo"] == "give something before asking again"


def test_default_limit_is_five_and_limit_takes_the_most_urgent(
    run: Recip, network: dict[str, str]
) -> None:
    five = json.loads(run.ok("today", "--json"))
    assert [i["name"] for i in five["items"]] == [n for n, _, _ in EXPECTED[:5]]
    two = json.loads(run.ok("today", "--json", "--limit", "2"))
    assert [i["name"] for i in two["items"]] == ["Eve", "Ada"]
    text = run.ok("today", "--limit", "2")
    assert text.splitlines()[0] == "Today, 2025-03-01 (2 of 6):"
    assert "1. Eve: asked “a reference letter” 35 days ago, still open" in text


def test_as_of_moves_the_day(run: Recip, network: dict[str, str]) -> None:
    """On 10 Feb Eve's ask (25 Jan) has waited 16 days; Ada's grant is 7 days old;
    Cole's last talk 23 days ago (cooling, 23/30)."""
    out = json.loads(run.ok("today", "--json", "--as-of", "2025-02-10", "--limit", "20"))
    got = {i["name"]: (i["kind"], i["urgency"]) for i in out["items"]}
    assert got["Eve"] == ("open_ask", 1.192645)  # 1 + log2(16/14)
    assert got["Ada"] == ("owe", 1.302563)  # 1 + log2(1 + 7/30)
    assert got["Cole"] == ("cold", round(23 / 30, 6))
    assert "Coy" not in got  # talked 5 days before


def test_nothing_pressing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECIP_NOW", PINNED)
    run = Recip(tmp_path / "h")
    run.ok("init", "--device-name", "d")
    assert "Nothing pressing on 2025-03-01" in run.ok("today")
    assert json.loads(run.ok("today", "--json"))["items"] == []


def test_bad_options_are_refused(run: Recip, network: dict[str, str]) -> None:
    assert "cannot read date" in run.fails("today", "--as-of", "yesterday")
    assert "--limit" in run.fails("today", "--limit", "0")
    assert "--to" in run.fails("today", "--mail")


def _history(home: Home) -> History:
    log = home.open_log()
    try:
        return History(log.events())
    finally:
        log.store.close()


def test_per_kind_caps_the_mix(home: Home, network: dict[str, str]) -> None:
    history = _history(home)
    day = day_of(date(2025, 3, 1))
    capped = plan(history, day, limit=5, rule=Today(per_kind=1))
    assert [(n.name, n.kind) for n in capped.items] == [
        ("Eve", "open_ask"),
        ("Ada", "owe"),
        ("Cole", "cold"),
        ("Ben", "one_sided"),
    ]
    weighted = plan(history, day, limit=1, rule=Today(cold_weight=2.0))
    assert [(n.name, n.urgency) for n in weighted.items] == [("Cole", round(2 * 1.485427, 6))]


def test_follow_ups_list_every_open_ask(home: Home, network: dict[str, str]) -> None:
    day = day_of(date(2025, 3, 1))
    got = [(f.name, f.what, f.asked, f.due) for f in follow_ups(_history(home), day)]
    assert got == [
        ("Eve", "a reference letter", "2025-01-25", "2025-02-08"),
        ("Fay", "a recipe", "2025-02-20", "2025-03-06"),
    ]


def test_occasions_plug_in_through_the_subject() -> None:
    """A subject's occasions (its contact's birthday and occasions, `yearly`) give an
    `occasion` nudge within 7 days: 1 a week ahead, 2 on the day (3 days ahead: 1 + 4/7)."""
    day = day_of(date(2025, 3, 1))
    subject = Subject(
        "c1",
        "Ida",
        "none",
        None,
        day - 100,
        occasions=(
            Occasion("birthday", 3, 4),
            Occasion("anniversary", 3, 9),
            Occasion("leap day", 2, 29),
        ),
    )
    scorer = PlanScorer(subject, Today().typed())
    (nudge,) = scorer.nudges(day)
    assert (nudge.kind, nudge.urgency, nudge.due) == (OCCASION, 1.571429, "2025-03-04")
    assert nudge.why == "birthday in 3 days, on Tue 04 Mar"
    on_the_day = scorer.nudges(day + 3)[0]
    assert on_the_day.urgency == 2.0 and on_the_day.why == "birthday today"
    # 29 Feb falls on 28 Feb in 2026 (not a leap year): 364 days after 1 Mar 2025
    leap = PlanScorer(subject, Today(occasion_days=0).typed())
    assert [n.due for n in leap.nudges(day + 364)] == ["2026-02-28"]


def test_days_no_year_has_are_left_out_of_the_occasions() -> None:
    """The wire's date pattern admits month 13 or 30 February (`recip` never writes
    them): such a date is no occasion, and every other date of the contact still is."""
    from core.events import Occasion as Dated
    from core.state import Details
    from scoring.history import yearly

    odd = Details(
        birthday="--13-01",
        occasions=(
            Dated(label="feb 30", date="--02-30"),
            Dated(label="zero", date="2001-00-10"),
            Dated(label="leap", date="--02-29"),
            Dated(label="day 0", date="--03-00"),
        ),
    )
    assert yearly(odd) == (Occasion("leap", 2, 29),)
    assert yearly(Details(birthday="1990-12-31")) == (Occasion("birthday", 12, 31),)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1), offset=st.integers(-400, 60), limit=st.integers(1, 8))
def test_the_plan_is_a_function_of_the_event_set_and_the_day(
    events_of_network: list[Event], seed: int, offset: int, limit: int
) -> None:
    """Any arrival order gives the same plan; a plan is at most `limit` long, one item
    per contact, in plan order, and a shorter limit gives a prefix (with no cap)."""
    day = day_of(date(2025, 3, 1)) + offset
    shuffled = list(events_of_network)
    random.Random(seed).shuffle(shuffled)
    rule = Today(per_kind=0)
    a = plan(History(events_of_network), day, limit=limit, rule=rule)
    b = plan(History(shuffled), day, limit=limit, rule=rule)
    assert a == b
    assert len(a.items) <= limit
    assert len({n.contact_id for n in a.items}) == len(a.items)
    assert a.items == sorted(a.items, key=order)
    longer = plan(History(shuffled), day, limit=limit + 3, rule=rule)
    assert longer.items[:limit] == a.items
    assert choose(longer.items, limit, 0) == a.items


@pytest.fixture
def events_of_network(home: Home, network: dict[str, str]) -> list[Event]:
    log = home.open_log()
    try:
        return list(log.events())  # type: ignore[arg-type]
    finally:
        log.store.close()


def _nudge(contact: str, kind: str, urgency: float) -> Nudge:
    return Nudge(kind=kind, contact_id=contact, name=contact, urgency=urgency, why="", todo="")


def test_choose_takes_a_contacts_next_nudge_when_its_first_kind_is_full() -> None:
    ranked = sorted(
        [
            _nudge("A", "open_ask", 3.0),
            _nudge("B", "open_ask", 2.5),
            _nudge("B", "owe", 2.0),
            _nudge("A", "owe", 1.5),
            _nudge("C", "cold", 1.0),
        ],
        key=order,
    )
    picked = [(n.contact_id, n.kind) for n in choose(ranked, 5, 1)]
    assert picked == [("A", "open_ask"), ("B", "owe"), ("C", "cold")]
    uncapped = [(n.contact_id, n.kind) for n in choose(ranked, 2, 0)]
    assert uncapped == [("A", "open_ask"), ("B", "open_ask")]


def test_replay_compares_plans(run: Recip, network: dict[str, str]) -> None:
    out = run.ok(
        "replay", "--rule", "today", "--rule", "cold=today", "--param", "cold.cold_weight=3",
        "--plan", "2", "--as-of", "2025-03-01", "--json",
    )  # fmt: skip
    result = json.loads(out)
    assert [i["name"] for i in result["plans"]["today"]["items"]] == ["Eve", "Ada"]
    assert [i["name"] for i in result["plans"]["cold"]["items"]] == ["Cole", "Coy"]
    assert result["differ"] == ["Ada (owe)", "Cole (cold)", "Coy (cold)", "Eve (open_ask)"]
    assert "makes no plan" in run.fails("replay", "--rule", "decay", "--plan", "3")
