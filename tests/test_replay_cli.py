"""`recip replay` end to end on a real device home."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import msgspec
import pytest

from cli.home import Home
from core.events import Event
from scoring import History, date_of, load_rules, replay
from scoring.source import read_log
from tests.conftest import Recip, run_recip_process
from tests.test_scoring_events import BASE_DAY, Builder

AS_OF = date_of(BASE_DAY + 120).isoformat()

RAISING_RULE = """
from scoring import Rule, GIVE
from scoring.builtin import DecayScorer


class Fussy(DecayScorer):
    def feed(self, item):
        if item.kind == GIVE and item.weight == 5:
            raise ValueError("cannot take a give that big")
        super().feed(item)


class Picky(Rule):
    name = "picky"

    def start(self, contact):
        return Fussy({"interaction": 1.0, "give": 1.0}, 30.0, 0.5)
"""


def history_events() -> tuple[list[Event], dict[str, Event]]:
    b = Builder()
    ann = b.contact(0, "Ann", cadence=30)
    bob = b.contact(0, "Bob", cadence=14)
    cat = b.contact(0, "Cat", circle="none")
    big = b.give(40, bob, 5)
    ask1 = b.ask(50, ann)
    ask2 = b.ask(70, bob)
    ask3 = b.ask(80, cat)
    events: list[Event] = [
        ann,
        bob,
        cat,
        b.talk(10, ann, bob),
        big,
        ask1,
        b.resolve(52, ask1, "granted"),
        ask2,
        b.resolve(75, ask2, "declined"),
        ask3,
        b.resolve(81, ask3, "granted"),
        b.talk(100, cat),
    ]
    return events, {"ann": ann, "bob": bob, "big": big}


@pytest.fixture
def home(tmp_path: Path) -> Recip:
    """A home whose log holds `history_events()` (recorded by this device)."""
    place = Home(tmp_path / "home")
    place.init("test-device", now_iso="2026-01-01T00:00:00Z")
    log = place.open_log()
    events, _ = history_events()
    log.append(events)
    log.store.close()
    return Recip(place.path)


def fingerprint(home: Path) -> dict[str, str]:
    """Hashes of the device file and the database file.

    (A read-only reader of a WAL database leaves SQLite's `-shm` coordination file
    and an empty `-wal` behind; neither holds log content.)
    """
    return {
        name: hashlib.sha256((home / name).read_bytes()).hexdigest()
        for name in ("device.json", "log.db")
    }


def test_instant_json_is_the_engine_report_and_byte_identical(home: Recip) -> None:
    before = fingerprint(home.home)
    args = ("replay", "--rule", "cadence", "--rule", "decay", "--as-of", AS_OF, "--json")
    first = home.ok(*args)
    assert home.ok(*args) == first
    assert fingerprint(home.home) == before  # replay never writes
    report = json.loads(first)
    assert report["as_of"] == AS_OF
    assert [c["name"] for c in report["contacts"]] == ["Ann", "Bob", "Cat"]
    rules, _ = load_rules(["cadence", "decay"])
    expected = replay.at_instant(History(read_log(home.home / "log.db")), rules, BASE_DAY + 120)
    assert report == json.loads(msgspec.json.encode(expected))
    assert report["cold_counts"] == {"cadence": 2, "decay": 0}


def test_terminal_output_shows_flagged_contacts_and_agreement(home: Recip) -> None:
    out = home.ok("replay", "--rule", "cadence", "--rule", "decay", "--as-of", AS_OF)
    assert f"Replay as of {AS_OF}: 3 contacts; cold: cadence 2, decay 0" in out
    assert "Ann" in out and "Bob" in out and "Cat" not in out.split("Agreement")[0]
    assert "Agreement" in out and "cadence / decay" in out
    assert "Ann: cold only under cadence" in out
    everyone = home.ok("replay", "--rule", "cadence", "--as-of", AS_OF, "--all")
    assert "Cat" in everyone


def test_custom_rule_file_with_params_and_a_raise(home: Recip, tmp_path: Path) -> None:
    rule_file = tmp_path / "rules" / "picky.py"
    rule_file.parent.mkdir()
    rule_file.write_text(textwrap.dedent(RAISING_RULE))
    _, ev = history_events()
    result = home(
        "replay",
        "--rule",
        f"{rule_file}:Picky",
        "--rule",
        "slow=decay",
        "--param",
        "slow.half_life_days=365",
        "--as-of",
        AS_OF,
        "--json",
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    by_name = {c["name"]: c["scores"] for c in report["contacts"]}
    assert by_name["Bob"]["picky"] is None
    assert by_name["Bob"]["slow"]["score"] > 0
    assert by_name["Ann"]["picky"] is not None
    assert report["rules"][1]["params"]["half_life_days"] == 365.0
    assert result.stderr.strip() == (
        f"error: rule 'picky' raised on contact {ev['bob'].event_id} (Bob) at event "
        f"{ev['big'].event_id} (GiveMade of {date_of(BASE_DAY + 40)}): "
        "ValueError: cannot take a give that big"
    )


def test_a_rule_that_does_not_load_leaves_the_others(home: Recip, tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("from scoring import Rule\nclass Broken(Rule:\n")
    result = home(
        "replay", "--rule", f"{broken}:Broken", "--rule", "cadence", "--as-of", AS_OF, "--json"
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout)["cold_counts"] == {"cadence": 2}
    assert f"error: rule '{broken}:Broken' failed to load: SyntaxError" in result.stderr


def test_a_bad_parameter_fails_its_rule_only(home: Recip) -> None:
    result = home(
        "replay",
        "--rule",
        "cadence",
        "--rule",
        "decay",
        "--param",
        "decay.threshold=high",
        "--as-of",
        AS_OF,
    )
    assert result.exit_code == 1
    assert "cold: cadence 2" in result.stdout
    assert (
        "error: rule 'decay' (decay) cannot be configured: rule 'decay': parameter "
        in result.stderr
    )
    assert "'threshold' must be a number, got 'high'" in result.stderr


def test_when_no_rule_loads_nothing_is_printed(home: Recip) -> None:
    result = home("replay", "--rule", "nosuch", "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "no built-in rule 'nosuch'" in result.stderr


def test_series(home: Recip) -> None:
    start, end = date_of(BASE_DAY).isoformat(), date_of(BASE_DAY + 150).isoformat()
    report = json.loads(
        home.ok(
            "replay", "--rule", "cadence", "--from", start, "--to", end, "--every", "30d", "--json"
        )
    )
    assert [s["date"] for s in report["steps"]] == [
        date_of(BASE_DAY + d).isoformat() for d in range(0, 151, 30)
    ]
    _, ev = history_events()
    bob = ev["bob"].event_id
    assert [bob in s["flagged"]["cadence"] for s in report["steps"]] == [
        False,
        True,
        True,
        True,
        True,
        True,
    ]
    text = home.ok("replay", "--rule", "cadence", "--from", start, "--to", end, "--every", "1m")
    assert f"Replay from {start} to" in text and "every 1m" in text
    assert "Who warned first" not in text  # one rule: nothing to compare
    both = home.ok("replay", "--rule", "cadence", "--rule", "decay", "--from", start, "--to", end)
    assert "Who warned first" in both


def test_backtest(home: Recip) -> None:
    report = json.loads(
        home.ok("replay", "--rule", "cadence", "--rule", "decay", "--backtest", "--json")
    )
    assert [a["outcome"] for a in report["asks"]] == ["granted", "declined", "granted"]
    cadence = report["results"][0]
    # Cat has no cadence: its ask is unscored under cadence, scored under decay.
    assert (cadence["scored"], cadence["unscored"], cadence["granted"]) == (2, 1, 1)
    assert report["results"][1]["scored"] == 3
    text = home.ok("replay", "--rule", "cadence", "--rule", "decay", "--backtest")
    assert "Backtest over 3 resolved asks" in text and "Calibration: decay" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--rule", "cadence", "--as-of", "yesterday"), "--as-of must be a date YYYY-MM-DD"),
        (("--rule", "cadence", "--as-of", "2024-01-01", "--backtest"), "choose one of"),
        (("--rule", "cadence", "--to", "2024-01-01"), "--to and --every need --from"),
        (
            ("--rule", "cadence", "--from", "2024-01-01", "--every", "fortnightly"),
            "--every must look like",
        ),
        (
            ("--rule", "cadence", "--param", "decay.threshold=1"),
            "names rule 'decay', which no --rule gives",
        ),
        ((), "name at least one rule"),
    ],
)
def test_refusals(home: Recip, args: tuple[str, ...], message: str) -> None:
    assert message in home.fails("replay", *args)


def test_uninitialised_home_is_refused(bare_recip: Recip) -> None:
    assert "run 'recip init' first" in bare_recip.fails("replay", "--rule", "cadence")


def test_list_rules_documents_parameters(home: Recip) -> None:
    out = home.ok("replay", "--list-rules")
    for line in ("cadence:", "decay.half_life_days = 90.0", "reciprocity.influence = 0.5"):
        assert line in out


def test_as_a_real_process(home: Recip) -> None:
    args = ("replay", "--rule", "reciprocity", "--as-of", AS_OF, "--json")
    result = run_recip_process(home.home, *args)
    assert result.stdout == home.ok(*args)


def two_device_history() -> tuple[list[Event], list[Event]]:
    """Two devices' streams: B retracts one of A's touches, merges a duplicate A made,
    and resolves A's ask differently from A (the later HLC wins)."""
    a, b = Builder("dev-a"), Builder("dev-b")
    ann = a.contact(0, "Ann", cadence=30)
    dup = a.contact(1, "Ann again", cadence=30)
    bob = a.contact(2, "Bob", cadence=20)
    wrong = a.talk(50, bob)
    ask = a.ask(60, ann)
    stream_a: list[Event] = [ann, dup, bob, a.talk(10, ann), wrong, ask, a.talk(70, dup)]
    stream_a.append(a.resolve(61, ask, "declined", hlc=100))
    stream_b: list[Event] = [
        b.retract(55, wrong),
        b.merge(80, ann, dup),
        b.resolve(62, ask, "granted", hlc=200),
        b.give(90, bob, 3),
    ]
    return stream_a, stream_b


@pytest.mark.parametrize(
    "args",
    [("--as-of", AS_OF), ("--backtest",), ("--from", date_of(BASE_DAY).isoformat(), "--to", AS_OF)],
)
def test_same_set_in_another_arrival_order_gives_the_same_bytes(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    stream_a, stream_b = two_device_history()
    outputs = []
    for name, batches in (
        ("first", [stream_a, stream_b]),
        ("second", [stream_b[:2], stream_a[:3], stream_b[2:], stream_a[3:]]),
    ):
        place = Home(tmp_path / name)
        place.init(name, now_iso="2026-01-01T00:00:00Z")
        log = place.open_log()
        for batch in batches:
            log.ingest(batch)
        log.store.close()
        outputs.append(
            Recip(place.path).ok(
                "replay", "--rule", "cadence", "--rule", "reciprocity", *args, "--json"
            )
        )
    assert outputs[0] == outputs[1]
    report = json.loads(outputs[0])
    if "--backtest" in args:
        assert [a["outcome"] for a in report["asks"]] == ["granted"]
    elif "--as-of" in args:
        assert [c["name"] for c in report["contacts"]] == ["Ann", "Bob"]


def test_today_follows_recip_now(home: Recip, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECIP_NOW", f"{AS_OF}T09:00:00+02:00")
    report = json.loads(home.ok("replay", "--rule", "cadence", "--json"))
    assert report["as_of"] == AS_OF
    start = date_of(BASE_DAY + 60).isoformat()
    series = json.loads(home.ok("replay", "--rule", "cadence", "--from", start, "--json"))
    assert series["end"] == AS_OF  # steps of 30 days from day 60 end on day 120, today
