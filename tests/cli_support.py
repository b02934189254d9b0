"""Helpers for CLI tests: the log as stored, and refusals that must append nothing."""

from __future__ import annotations

import json
from typing import Any

from cli.home import Home
from core.events import Event, OpaqueEvent
from core.state import State
from tests.conftest import Recip


def stored(recip: Recip) -> list[tuple[int, Event | OpaqueEvent]]:
    """(position, event) pairs exactly as the home's log holds them."""
    log = Home(recip.home).open_log()
    try:
        return list(log.read())
    finally:
        log.store.close()


def position(recip: Recip) -> int:
    """The home's current log position."""
    log = Home(recip.home).open_log()
    try:
        return log.position()
    finally:
        log.store.close()


def state(recip: Recip) -> State:
    """The state folded from the home's log, independently of the CLI."""
    return State(event for _, event in stored(recip))


def refused(recip: Recip, *args: str, match: str) -> str:
    """Run a command that must be refused: exit 1, one `error:` line naming `match`,
    nothing on stdout, and the log exactly as it was. Returns the error line."""
    before = stored(recip)
    result = recip(*args)
    assert result.exit_code == 1, (
        f"recip {' '.join(args)} should be refused, got {result.exit_code}: {result.output}"
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {result.stderr!r}"
    assert lines[0].startswith("error: "), lines[0]
    assert match.lower() in lines[0].lower(), f"{match!r} not in {lines[0]!r}"
    assert result.stdout == ""
    assert stored(recip) == before, "a refused command must append nothing"
    return lines[0]


def recorded(recip: Recip, *args: str) -> Event:
    """Run a recording command: stdout is exactly the new event's id, which is the
    last event of the log (one event appended). Returns that event."""
    before = position(recip)
    out = recip.ok(*args)
    after = stored(recip)
    assert [p for p, _ in after if p > before] == [after[-1][0]], "exactly one event appended"
    event = after[-1][1]
    assert isinstance(event, Event)
    assert out == event.event_id + "\n"
    return event


def json_out(recip: Recip, *args: str) -> Any:
    return json.loads(recip.ok(*args))
