"""The view commands of the CLI: ledger, cold, timeline, stats, rebuild, demo."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from cli.home import Home
from core import commands
from core.commands import Now
from core.events import Event
from core.state import State
from projections.views import date_of, day_of

from .conftest import Recip, run_recip_process

LEDGER_KEYS = [
    "contact_id",
    "name",
    "gives",
    "give_weight",
    "asks",
    "ask_weight",
    "granted",
    "declined",
    "withdrawn",
    "unanswered",
    "open",
    "balance",
    "last_give",
    "last_ask",
    "last_touch",
    "one_sided",
    "only_asks",
]
COLD_KEYS = [
    "contact_id",
    "name",
    "circle",
    "cadence_days",
    "last_touch",
    "days_since",
    "status",
    "overdue_days",
]
#: 2025-03-01 12:00 UTC, the "now" of these tests.
NOW = Now(1_740_830_400_000, 0)


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home")
    home.init("test-device", now_iso="2025-03-01T12:00:00Z")
    return home


@pytest.fixture
def run(home: Home) -> Recip:
    return Recip(home.path)


def record(home: Home, make: Callable[[State], Event]) -> Event:
    """Run one core command against the home's current state and append its event."""
    log = home.open_log()
    try:
        state = State(log.events())
        (event,) = log.append([make(state)])
        return event
    finally:
        log.store.close()


@pytest.fixture
def network(home: Home) -> dict[str, str]:
    """Ann (close) and Ben (inner), with gives, asks, an intro and a retraction."""
    ids = {}
    for name, circle in (("Ann", "close"), ("Ben", "inner"), ("Cy", "none")):
        added = commands.add_contact(NOW, name, circle=circle, when="2025-01-01")
        ids[name] = record(home, lambda s, e=added: e).event_id  # type: ignore[misc]
    record(home, lambda s: commands.make_give(s, NOW, "Ann", "advice", weight=2, when="2025-01-10"))
    ask = record(
        home, lambda s: commands.make_ask(s, NOW, "Ann", "a lift", weight=3, when="2025-02-01")
    )
    record(home, lambda s: commands.resolve_ask(s, NOW, ask.event_id, "granted", when="2025-02-02"))
    record(home, lambda s: commands.introduce(s, NOW, "Ann", "Ben", weight=1, when="2025-02-10"))
    slip = record(home, lambda s: commands.log_interaction(s, NOW, ["Ben"], when="2025-02-27"))
    record(home, lambda s: commands.retract(s, NOW, slip.event_id, "wrong person"))
    ids["slip"] = slip.event_id
    return ids


def test_ledger_json_has_exactly_the_documented_keys(run: Recip, network: dict[str, str]) -> None:
    rows = json.loads(run.ok("ledger", "--json", "--as-of", "2025-03-01"))
    assert [r["name"] for r in rows] == ["Ann", "Ben", "Cy"]
    for r in rows:
        assert list(r) == LEDGER_KEYS
    ann = rows[0]
    assert ann["contact_id"] == network["Ann"]
    assert (ann["gives"], ann["give_weight"], ann["asks"], ann["ask_weight"]) == (2, 3, 1, 3)
    assert (ann["granted"], ann["open"], ann["balance"]) == (1, 0, 0)
    assert (ann["last_give"], ann["last_ask"], ann["last_touch"]) == (
        "2025-02-10",
        "2025-02-01",
        "2025-02-10",
    )
    assert ann["one_sided"] is False and ann["only_asks"] is False
    ben = rows[1]
    assert ben["last_touch"] == "2025-02-10"  # the retracted interaction does not count
    assert rows[2]["last_touch"] is None


def test_ledger_of_one_contact(run: Recip, network: dict[str, str]) -> None:
    (row,) = json.loads(run.ok("ledger", "ben", "--json"))
    assert row["name"] == "Ben" and row["give_weight"] == 1
    assert "no contact matches" in run.fails("ledger", "Nobody")
    table = run.ok("ledger")
    assert "Ann" in table and "Ben" in table
    one = run.ok("ledger", "ben")
    assert "(1 contact)" in one and "contacts)" not in one


def test_cold_view_as_of_and_all(run: Recip, network: dict[str, str]) -> None:
    rows = json.loads(run.ok("cold", "--as-of", "2025-03-01", "--json", "--all"))
    for r in rows:
        assert list(r) == COLD_KEYS
    assert [(r["name"], r["status"], r["days_since"], r["overdue_days"]) for r in rows] == [
        ("Ben", "cold", 19, 5),  # inner: 14 days
        ("Ann", "warm", 19, 0),  # close: 30 days
    ]
    urgent = json.loads(run.ok("cold", "--as-of", "2025-03-01", "--json"))
    assert [r["name"] for r in urgent] == ["Ben"]
    # As of 2025-01-20, Ben had never been touched: counted from when he was added.
    early = json.loads(run.ok("cold", "--as-of", "2025-01-20", "--json", "--all"))
    ben = next(r for r in early if r["name"] == "Ben")
    assert (ben["last_touch"], ben["days_since"], ben["status"]) == (None, 19, "cold")
    assert "cannot read date" in run.fails("cold", "--as-of", "yesterday")
    assert "Going cold" in run.ok("cold", "--as-of", "2025-03-01")


def test_timeline_marks_retractions(run: Recip, network: dict[str, str]) -> None:
    entries = json.loads(run.ok("timeline", "Ben", "--json"))
    types = [e["type"] for e in entries]
    assert types == ["ContactAdded", "IntroductionMade", "InteractionLogged", "EventRetracted"]
    slip = entries[2]
    assert slip["event_id"] == network["slip"] and slip["retracted"] is True
    assert slip["date"] == "2025-02-27" and slip["device_id"]
    assert entries[0]["recorded_at"].endswith("+00:00")
    table = run.ok("timeline", "Ben")
    assert "retracted" in table and "Timeline of Ben" in table


def test_stats(run: Recip, network: dict[str, str]) -> None:
    stats = json.loads(run.ok("stats", "--json", "--as-of", "2025-03-01"))
    assert stats["contacts"] == 3
    assert stats["circles"] == {"inner": 1, "close": 1, "wider": 0, "distant": 0, "none": 1}
    assert (stats["cold"], stats["cooling"], stats["warm"]) == (1, 0, 1)
    assert (stats["gives"], stats["asks"], stats["open_asks"]) == (3, 1, 0)
    assert stats["most_one_sided"] == []
    assert "Active contacts" in run.ok("stats")


def test_rebuild(run: Recip, network: dict[str, str]) -> None:
    before = run.ok("ledger", "--json")
    assert "rebuilt the views from 9 events" in run.ok("rebuild")
    assert run.ok("ledger", "--json") == before


def test_views_need_an_initialised_home(tmp_path: Path) -> None:
    bare = Recip(tmp_path / "nowhere")
    assert "recip init" in bare.fails("ledger")


def test_demo_fills_a_fresh_home_once(tmp_path: Path) -> None:
    run = Recip(tmp_path / "demo")
    out = run.ok("demo", "--contacts", "40", "--years", "2")
    assert "about 40 contacts" in out
    rows = json.loads(run.ok("ledger", "--json"))
    assert 30 <= len(rows) <= 42
    today = date_of(day_of(Now.system().local_date()))
    assert max(r["last_touch"] or "" for r in rows) <= (today or "")
    assert json.loads(run.ok("cold", "--json", "--all"))
    assert "already holds events" in run.fails("demo")


def test_ledger_as_a_real_process(home: Home, network: dict[str, str]) -> None:
    done = run_recip_process(home.path, "ledger", "--json")
    assert [r["name"] for r in json.loads(done.stdout)] == ["Ann", "Ben", "Cy"]


def test_today_follows_recip_now(
    run: Recip, network: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECIP_NOW", "2025-03-01T12:00:00+00:00")
    pinned = run.ok("cold", "--as-of", "2025-03-01", "--json", "--all")
    assert run.ok("cold", "--json", "--all") == pinned
    assert json.loads(run.ok("stats", "--json"))["as_of"] == "2025-03-01"


def test_archived_and_merged_contacts(run: Recip, home: Home, network: dict[str, str]) -> None:
    record(home, lambda s: commands.archive_contact(s, NOW, "Cy"))
    assert "archived" in run.fails("ledger", "Cy")
    assert [r["name"] for r in json.loads(run.ok("ledger", "--json"))] == ["Ann", "Ben"]
    types = [e["type"] for e in json.loads(run.ok("timeline", "Cy", "--json"))]
    assert types == ["ContactAdded", "ContactArchived"]
    record(home, lambda s: commands.merge_contacts(s, NOW, "Ann", "Ben"))
    (ann,) = json.loads(run.ok("ledger", "--json"))
    assert (ann["name"], ann["gives"], ann["give_weight"]) == ("Ann", 2, 3)  # intro counts once
    (same,) = json.loads(run.ok("ledger", network["Ben"], "--json"))  # absorbed -> survivor
    assert same == ann
    entries = json.loads(run.ok("timeline", "Ann", "--json"))
    assert entries[-1]["type"] == "ContactsMerged"
    assert network["slip"] in {e["event_id"] for e in entries}  # Ben's history is Ann's now
