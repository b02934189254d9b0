"""`recip events`: the raw log, every envelope field exactly as stored."""

from __future__ import annotations

import json
import re

import msgspec
import pytest

from cli.home import Home
from cli.rawlog import STREAM_CHUNK
from core import commands
from core.codec import from_json, to_json
from core.events import OpaqueEvent
from core.state import State
from tests.cli_support import recorded, refused, stored
from tests.conftest import Recip

ENVELOPE = ("type", "event_id", "device_id", "seq", "hlc", "occurred_at", "utc_offset", "v")


def history(recip: Recip) -> None:
    """One event of every type."""
    ada = recorded(recip, "contact", "add", "Ada", "--email", "a@x.org").event_id
    recorded(recip, "contact", "add", "Bob")
    recorded(recip, "contact", "add", "Bobby")
    recorded(recip, "contact", "edit", "Ada", "--tag", "math", "--every", "9")
    recorded(recip, "contact", "archive", "Bob")
    recorded(recip, "contact", "restore", "Bob")
    recorded(recip, "contact", "merge", "Bob", "Bobby")
    recorded(recip, "log", "Ada", "Bob", "--channel", "meeting", "--note", "lunch")
    ask = recorded(recip, "ask", "Ada", "proofread", "--weight", "2").event_id
    recorded(recip, "resolve", ask, "granted")
    recorded(recip, "give", "Bob", "a book", "--kind", "gift")
    recorded(recip, "intro", "Ada", "Bob")
    recorded(recip, "note", ada, "tea")
    recorded(recip, "retract", ask, "--reason", "never happened")


def test_json_is_every_stored_event_with_its_position(recip: Recip) -> None:
    history(recip)
    out = json.loads(recip.ok("events", "--json"))
    held = stored(recip)
    assert len(out) == len(held) == 14
    assert len({e["type"] for e in out}) == 12  # every event type
    for item, (position, event) in zip(out, held, strict=True):
        assert item.pop("position") == position
        assert list(item)[: len(ENVELOPE)] == list(ENVELOPE)
        assert item == json.loads(to_json(event))
        assert from_json(json.dumps(item)) == event  # exactly as stored, nothing lost


def test_jsonl_matches_json(recip: Recip) -> None:
    history(recip)
    array = json.loads(recip.ok("events", "--json"))
    lines = recip.ok("events", "--jsonl").splitlines()
    assert [json.loads(line) for line in lines] == array


def test_empty_log(recip: Recip) -> None:
    assert json.loads(recip.ok("events", "--json")) == []
    assert recip.ok("events", "--jsonl") == ""
    assert "the log is empty" in recip.ok("events")


def test_json_and_jsonl_together_refused(recip: Recip) -> None:
    refused(recip, "events", "--json", "--jsonl", match="not both")


def test_table_shows_envelope_and_summary(recip: Recip) -> None:
    history(recip)
    table = recip.ok("events")
    device = json.loads((recip.home / "device.json").read_text())
    for position, event in stored(recip):
        assert not isinstance(event, OpaqueEvent)
        row = next(line for line in table.splitlines() if event.event_id in line)
        cells = re.split(r"\s{2,}", row.strip())
        assert cells[0] == str(position)
        assert event.device_id == device["device_id"]
        assert cells[3] == device["name"] and cells[4] == str(event.seq)
    assert "merged Bobby into Bob" in table
    assert "meeting with Ada, Bob: lunch" in table


def test_streams_more_than_one_chunk(recip: Recip) -> None:
    count = STREAM_CHUNK * 2 + 17
    log = Home(recip.home).open_log()
    now = commands.Now.system()
    log.append([commands.add_contact(now, f"P{i}") for i in range(count)])
    log.store.close()
    out = json.loads(recip.ok("events", "--json"))
    assert [e["position"] for e in out] == list(range(1, count + 1))
    assert [e["seq"] for e in out] == list(range(1, count + 1))
    assert len(recip.ok("events", "--jsonl").splitlines()) == count


def test_out_of_range_times_from_a_peer_are_shown_not_fatal(recip: Recip) -> None:
    """Envelope times are plain integers; a peer may send any. The table shows them."""
    ada = recorded(recip, "contact", "add", "Ada").event_id
    odd = commands.add_note(
        State(e for _, e in stored(recip)), commands.Now.system(), ada, "from the far future"
    )
    odd = msgspec.structs.replace(
        odd, device_id="peer", seq=1, hlc=2**63 - 1, occurred_at=10**18, utc_offset=-1080
    )
    log = Home(recip.home).open_log()
    log.ingest([odd])
    log.store.close()
    table = recip.ok("events")
    assert f"{10**18} ms" in table and "from the far future" in table
    assert json.loads(recip.ok("events", "--json"))[1]["occurred_at"] == 10**18


@pytest.fixture
def foreign(recip: Recip) -> OpaqueEvent:
    """An event of a type this build does not know, synced from another device."""
    fields = {
        "event_id": "01900000-0000-7000-8000-000000000001",
        "device_id": "other-device",
        "seq": 1,
        "hlc": 5 << 16,
        "occurred_at": 1_700_000_000_000,
        "utc_offset": 120,
        "v": 3,
        "mood": "cheerful",
    }
    envelope = {k: v for k, v in fields.items() if k != "mood"}
    event = OpaqueEvent(type="MoodLogged", raw=msgspec.msgpack.encode(fields), **envelope)  # type: ignore[arg-type]
    log = Home(recip.home).open_log()
    log.ingest([event])
    log.store.close()
    return event


def test_unknown_event_types_are_shown_whole(recip: Recip, foreign: OpaqueEvent) -> None:
    (item,) = json.loads(recip.ok("events", "--json"))
    assert item["type"] == "MoodLogged" and item["mood"] == "cheerful"
    assert (item["device_id"], item["seq"], item["v"], item["position"]) == (
        "other-device",
        1,
        3,
        1,
    )
    table = recip.ok("events")
    assert "MoodLogged" in table and "unknown event type" in table and "…r-device" in table
    # Unknown events do not disturb recording or reading.
    recorded(recip, "contact", "add", "Ada")
    assert [e["type"] for e in json.loads(recip.ok("events", "--json"))] == [
        "MoodLogged",
        "ContactAdded",
    ]
