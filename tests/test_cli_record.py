"""Recording commands: log, ask, resolve, give, intro, note, retract; dates and weights.

"Now" is pinned with `RECIP_NOW` so that "today" and "the future" are deterministic.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from cli.home import Home
from core import commands
from core.events import (
    AskMade,
    AskResolved,
    EventRetracted,
    GiveMade,
    InteractionLogged,
    IntroductionMade,
    NoteAdded,
)
from tests.cli_support import json_out, recorded, refused, state
from tests.conftest import Recip

NOW = "2026-03-10T15:00:00+01:00"
NOW_MS = int(datetime.fromisoformat(NOW).timestamp() * 1000)


@pytest.fixture
def people(recip: Recip, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Ada, Bob and an archived Cy, with now pinned to NOW."""
    monkeypatch.setenv("RECIP_NOW", NOW)
    ids = {name: recorded(recip, "contact", "add", name).event_id for name in ("Ada", "Bob", "Cy")}
    recorded(recip, "contact", "archive", "Cy")
    return ids


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


# -- log ----------------------------------------------------------------------------


def test_log_one_and_many_contacts(recip: Recip, people: dict[str, str]) -> None:
    event = recorded(recip, "log", "Ada")
    assert isinstance(event, InteractionLogged)
    assert event.contact_ids == (people["Ada"],)
    assert (event.channel, event.initiated_by, event.note) == ("other", "me", "")
    assert (event.occurred_at, event.utc_offset) == (NOW_MS, 60)
    event = recorded(
        recip, "log", "ada", people["Bob"], "--channel", "call", "--by", "them",
        "--on", "2026-03-01", "--note", " dinner ",
    )  # fmt: skip
    assert isinstance(event, InteractionLogged)
    assert event.contact_ids == (people["Ada"], people["Bob"])
    assert (event.channel, event.initiated_by, event.note) == ("call", "them", "dinner")
    assert (event.occurred_at, event.utc_offset) == (ms("2026-03-01T12:00:00+01:00"), 60)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("Ghost",), "no contact matches"),
        (("Cy",), "archived"),
        (("Ada", "ada"), "named twice"),
        (("Ada", "--channel", "telepathy"), "--channel"),
        (("Ada", "--by", "us"), "--by"),
        (("Ada", "--on", "2026-03-11"), "in the future"),
        (("Ada", "--on", "10/03/2026"), "cannot read date"),
        ((), "missing argument"),
    ],
)
def test_log_refusals(
    recip: Recip, people: dict[str, str], args: tuple[str, ...], match: str
) -> None:
    refused(recip, "log", *args, match=match)


# -- dates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        ("2026-03-10", (NOW_MS, 60)),  # today means now
        ("2026-03-09", (ms("2026-03-09T12:00:00+01:00"), 60)),  # a past day means its noon
        ("2026-03-02T08:15", (ms("2026-03-02T08:15:00+01:00"), 60)),  # naive: local zone
        ("2026-03-02T08:15:00Z", (ms("2026-03-02T08:15:00+00:00"), 0)),
        ("2026-03-02T08:15:00-05:00", (ms("2026-03-02T08:15:00-05:00"), -300)),
        ("2026-03-10T15:00:30+01:00", (ms("2026-03-10T15:00:30+01:00"), 60)),  # within grace
        ("1900-01-02", (ms("1900-01-02T12:00:00+01:00"), 60)),
    ],
)
def test_on_accepts_dates_and_datetimes(
    recip: Recip, people: dict[str, str], on: str, expected: tuple[int, int]
) -> None:
    event = recorded(recip, "give", "Ada", "advice", "--on", on)
    assert (event.occurred_at, event.utc_offset) == expected


@pytest.mark.parametrize(
    ("on", "match"),
    [
        ("2026-03-11", "in the future"),
        ("2026-03-10T15:05:00+01:00", "in the future"),
        ("2027-01-01T00:00:00Z", "in the future"),
        ("2026-02-30", "cannot read date"),
        ("yesterdy", "cannot read date"),
        ("next friday", "cannot read date"),
        ("2026-13-01T10:00", "cannot read date"),
        ("1899-12-31", "before 1900"),
        ("0001-01-01T00:00:00+14:00", "before 1900"),  # once raised OverflowError
        ("1900-01-01T00:30:00+01:00", "before 1900"),  # 1899 in UTC
        ("9999-12-31T23:59:59-18:00", "in the future"),
        ("2026-01-01T00:00:00+25:00", "cannot read date"),
        ("2026-01-01T00:00:00+19:00", "beyond ±18:00"),  # was stored, then undecodable
        ("2026-01-01T00:00:00-18:01", "beyond ±18:00"),
    ],
)
def test_on_refusals(recip: Recip, people: dict[str, str], on: str, match: str) -> None:
    for command in (
        ("log", "Ada"),
        ("ask", "Ada", "x"),
        ("give", "Ada", "x"),
        ("intro", "Ada", "Bob"),
    ):
        refused(recip, *command, "--on", on, match=match)


@pytest.mark.parametrize("now", ["next tuesday", "2026-03-10T10:00:00+19:00"])
def test_bad_recip_now_is_refused(recip: Recip, monkeypatch: pytest.MonkeyPatch, now: str) -> None:
    monkeypatch.setenv("RECIP_NOW", now)
    refused(recip, "contact", "add", "Ada", match="RECIP_NOW")


# -- schema limits: refused with a clear message, never stored ---------------------------
# (msgspec checks constraints on decode only: an over-long tag used to be stored and
# then made the whole log unreadable.)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("contact", "add", "Ada", "--tag", "t" * 501), "tag is longer than 500"),
        (("contact", "add", "Ada", "--phone", "1" * 501), "phone is longer than 500"),
        (("contact", "add", "Ada", "--email", "a@" + "x" * 499), "email is longer than 500"),
        (("contact", "add", "n" * 501), "name is longer than 500"),
        (("contact", "edit", "Ada", "--tag", "t" * 501), "tag is longer than 500"),
        (("log", "Ada", "--note", "n" * 20_001), "note is longer than 20000"),
        (("note", "Ada", "n" * 20_001), "note text is longer than 20000"),
        (("ask", "Ada", "w" * 2001), "what is longer than 2000"),
        (("give", "Ada", "w" * 2001), "what is longer than 2000"),
        (("intro", "Ada", "Bob", "--note", "n" * 20_001), "note is longer than 20000"),
        (("retract", "0", "--reason", "r" * 2001), "reason is longer than 2000"),
    ],
    ids=lambda v: v[:2] if isinstance(v, tuple) else v[:20],
)
def test_schema_limits_refused(
    recip: Recip, people: dict[str, str], args: tuple[str, ...], match: str
) -> None:
    if args[0] == "retract":
        args = ("retract", people["Ada"], *args[2:])
    refused(recip, *args, match=match)
    json_out(recip, "events", "--json")  # the log still reads


def test_schema_limits_accepted_at_the_boundary(recip: Recip, people: dict[str, str]) -> None:
    recorded(recip, "contact", "add", "n" * 500, "--tag", "t" * 500)
    recorded(recip, "log", "Ada", "--note", "n" * 20_000)
    recorded(recip, "note", "Ada", "n" * 20_000)
    assert len(json_out(recip, "events", "--json")) == 7


def test_interaction_with_too_many_contacts_refused(recip: Recip, people: dict[str, str]) -> None:
    log = Home(recip.home).open_log()
    now = commands.Now.system()
    added = log.append([commands.add_contact(now, f"P{i}") for i in range(101)])
    log.store.close()
    refused(recip, "log", *(e.event_id for e in added), match="at most 100 contacts")
    recorded(recip, "log", *(e.event_id for e in added[:100]))


# -- ask and resolve ------------------------------------------------------------------------


def test_ask_and_resolve(recip: Recip, people: dict[str, str]) -> None:
    made = recorded(recip, "ask", "Ada", " review my paper ", "--weight", "4", "--on", "2026-03-05")
    assert isinstance(made, AskMade)
    assert (made.contact_id, made.what, made.weight) == (people["Ada"], "review my paper", 4)
    assert state(recip).open_asks()[0].id == made.event_id
    resolved = recorded(
        recip, "resolve", made.event_id[:-6], "granted", "--note", "done", "--on", "2026-03-07"
    )
    assert isinstance(resolved, AskResolved)
    assert (resolved.ask_id, resolved.outcome, resolved.note) == (made.event_id, "granted", "done")
    assert state(recip).open_asks() == []


def test_ask_default_weight(recip: Recip, people: dict[str, str]) -> None:
    made = recorded(recip, "ask", "Bob", "a lift")
    assert isinstance(made, AskMade) and made.weight == 1


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("Ada", "x", "--weight", "0"), "weight must be 1-5"),
        (("Ada", "x", "--weight", "6"), "weight must be 1-5"),
        (("Ada", "x", "--weight", "-1"), "weight must be 1-5"),
        (("Ada", "x", "--weight", "two"), "--weight"),
        (("Ada", "  "), "what must not be empty"),
        (("Ghost", "x"), "no contact matches"),
        (("Cy", "x"), "archived"),
    ],
)
def test_ask_refusals(
    recip: Recip, people: dict[str, str], args: tuple[str, ...], match: str
) -> None:
    refused(recip, "ask", *args, match=match)


def test_resolve_refusals(recip: Recip, people: dict[str, str]) -> None:
    refused(recip, "resolve", "0000", "granted", match="no ask matches")
    made = recorded(recip, "ask", "Ada", "x", "--on", "2026-03-05").event_id
    refused(recip, "resolve", made, "maybe", match="OUTCOME")
    refused(recip, "resolve", made, "granted", "--on", "2026-03-04", match="before it was made")
    refused(recip, "resolve", made, "granted", "--on", "2026-03-11", match="in the future")
    note = recorded(recip, "note", "Ada", "not an ask").event_id
    refused(recip, "resolve", note, "granted", match="no ask matches")
    recorded(recip, "resolve", made, "declined")
    refused(recip, "resolve", made, "granted", match="already resolved (declined)")
    gone = recorded(recip, "ask", "Bob", "y").event_id
    recorded(recip, "retract", gone, "--reason", "never asked")
    refused(recip, "resolve", gone, "granted", match="retracted")


def test_resolve_ambiguous_ask_prefix_lists_candidates(
    recip: Recip, people: dict[str, str]
) -> None:
    first = recorded(recip, "ask", "Ada", "x").event_id
    second = recorded(recip, "ask", "Bob", "y").event_id
    common = next(i for i in range(36) if first[i] != second[i])
    line = refused(recip, "resolve", first[:common], "granted", match="matches 2 asks")
    assert first in line and second in line


def test_resolve_after_retracted_resolution_reopens(recip: Recip, people: dict[str, str]) -> None:
    made = recorded(recip, "ask", "Ada", "x").event_id
    wrong = recorded(recip, "resolve", made, "granted").event_id
    recorded(recip, "retract", wrong, "--reason", "it was declined")
    fixed = recorded(recip, "resolve", made, "declined")
    assert isinstance(fixed, AskResolved)
    ask = state(recip).ask(made)
    assert ask is not None and ask.outcome == "declined"


# -- give, intro, note ----------------------------------------------------------------------


def test_give(recip: Recip, people: dict[str, str]) -> None:
    event = recorded(recip, "give", "Bob", "intro to a VC", "--kind", "referral", "--weight", "5")
    assert isinstance(event, GiveMade)
    assert (event.contact_id, event.what, event.kind, event.weight) == (
        people["Bob"],
        "intro to a VC",
        "referral",
        5,
    )
    default = recorded(recip, "give", "Bob", "coffee")
    assert isinstance(default, GiveMade) and (default.kind, default.weight) == ("other", 1)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("Bob", "x", "--kind", "bribe"), "--kind"),
        (("Bob", "x", "--weight", "9"), "weight must be 1-5"),
        (("Bob", ""), "what must not be empty"),
        (("Ghost", "x"), "no contact matches"),
        (("Cy", "x"), "archived"),
    ],
)
def test_give_refusals(
    recip: Recip, people: dict[str, str], args: tuple[str, ...], match: str
) -> None:
    refused(recip, "give", *args, match=match)


def test_intro(recip: Recip, people: dict[str, str]) -> None:
    event = recorded(recip, "intro", "Ada", "Bob", "--note", "both love engines", "--weight", "2")
    assert isinstance(event, IntroductionMade)
    assert event.contact_ids == (people["Ada"], people["Bob"])
    assert (event.note, event.weight) == ("both love engines", 2)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("Ada", "ada"), "two different contacts"),
        (("Ada", "Ghost"), "no contact matches"),
        (("Ada", "Cy"), "archived"),
        (("Ada", "Bob", "--weight", "0"), "weight must be 1-5"),
        (("Ada",), "missing argument"),
    ],
)
def test_intro_refusals(
    recip: Recip, people: dict[str, str], args: tuple[str, ...], match: str
) -> None:
    refused(recip, "intro", *args, match=match)


def test_note(recip: Recip, people: dict[str, str]) -> None:
    event = recorded(recip, "note", "Ada", "  prefers mornings ")
    assert isinstance(event, NoteAdded)
    assert (event.contact_id, event.text) == (people["Ada"], "prefers mornings")
    refused(recip, "note", "Ada", "   ", match="must not be empty")
    refused(recip, "note", "Ghost", "x", match="no contact matches")
    refused(recip, "note", "Cy", "x", match="archived")


# -- retract ------------------------------------------------------------------------------


def test_retract(recip: Recip, people: dict[str, str]) -> None:
    give = recorded(recip, "give", "Ada", "wrong person").event_id
    event = recorded(recip, "retract", give[:30], "--reason", "meant Bob")
    assert isinstance(event, EventRetracted)
    assert (event.target_id, event.reason) == (give, "meant Bob")
    assert state(recip).is_retracted(give)
    refused(recip, "retract", give, "--reason", "again", match="already retracted")
    refused(recip, "retract", event.event_id, "--reason", "undo", match="cannot be retracted")
    refused(recip, "retract", "ffffffff", "--reason", "x", match="no event matches")
    refused(recip, "retract", people["Ada"], "--reason", "  ", match="reason must not be empty")
    refused(recip, "retract", people["Ada"], match="--reason")


def test_retracted_events_are_marked_in_the_log_table(recip: Recip, people: dict[str, str]) -> None:
    give = recorded(recip, "give", "Ada", "wrong person").event_id
    recorded(recip, "retract", give, "--reason", "meant Bob")
    table = recip.ok("events")
    line = next(line for line in table.splitlines() if give in line and "GiveMade" in line)
    assert "(retracted)" in line


def test_contact_list_json_unaffected_by_interactions(recip: Recip, people: dict[str, str]) -> None:
    before = json_out(recip, "contact", "list", "--json")
    recorded(recip, "log", "Ada", "Bob")
    recorded(recip, "give", "Ada", "x")
    assert json_out(recip, "contact", "list", "--json") == before
