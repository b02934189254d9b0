"""A command reads the log once: the fold is the cost of every command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import core.codec
from cli.home import Home
from core import commands
from tests.conftest import Recip

EVENTS = 3000


@pytest.fixture
def big(recip: Recip) -> Recip:
    log = Home(recip.home).open_log()
    now = commands.Now.system()
    log.append([commands.add_contact(now, f"P{i}") for i in range(EVENTS - 1)])
    log.append([commands.add_contact(now, "Ada")])
    log.store.close()
    return recip


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts events decoded from storage (every read of the log goes through it)."""
    count = [0]
    original: Callable[..., Any] = core.codec.decode

    def counting(topic: str, state: bytes) -> Any:
        count[0] += 1
        return original(topic, state)

    monkeypatch.setattr(core.codec, "decode", counting)
    return count


@pytest.mark.parametrize(
    "args",
    [
        ("contact", "list", "--json"),
        ("contact", "show", "Ada", "--json"),
        ("note", "Ada", "hello"),
        ("log", "Ada"),
        ("events", "--json"),
        ("events",),
    ],
    ids=" ".join,
)
def test_command_reads_the_log_once(big: Recip, decodes: list[int], args: tuple[str, ...]) -> None:
    big.ok(*args)
    # One full read, plus at most the clock's catch-up since its last checkpoint
    # (every 1,000 events); a second full read would exceed this.
    assert EVENTS <= decodes[0] < EVENTS + 1000 + 2


@pytest.mark.parametrize("read_first", ["all", "from-the-middle", "nothing"])
def test_append_after_reading_stamps_past_everything(recip: Recip, read_first: str) -> None:
    """Reading is the clock's catch-up; whatever was read (or not), an append
    still stamps past every event in the log, with the next gapless seq."""
    from core.clock import Clock
    from core.log import EventLog
    from core.store import open_store

    home = Home(recip.home)
    me = home.device().device_id
    # Another device's events, recorded with a clock a minute ahead of ours.
    other = EventLog(open_store(str(home.log_path)), "other", clock=Clock(lambda: 2_000_060_000))
    theirs = other.append([commands.add_contact(commands.Now.system(), f"O{i}") for i in range(5)])
    other.store.close()
    mine = EventLog(open_store(str(home.log_path)), me, clock=Clock(lambda: 2_000_000_000))
    first = mine.append([commands.add_contact(commands.Now.system(), "A")])[0]
    mine.store.close()

    log = EventLog(open_store(str(home.log_path)), me, clock=Clock(lambda: 2_000_000_000))
    if read_first == "all":
        list(log.read())
    elif read_first == "from-the-middle":
        list(log.read(after=3))
    stamped = log.append([commands.add_contact(commands.Now.system(), "B")])[0]
    log.store.close()
    assert stamped.seq == first.seq + 1
    assert stamped.hlc > max(e.hlc for e in [*theirs, first])
