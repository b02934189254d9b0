"""What one CLI command works on: the home, its log, the state folded once, and now.

Every command that reads or records opens a `Session`: the log is read and folded
into a `State` exactly once, a recording command validates against that state,
appends one event, and closes the store. `recording` turns a draft builder into
such a command. Nothing else in the CLI touches the log.

**Injected time.** The CLI takes "now" from `Now.system()`, unless the environment
variable `RECIP_NOW` holds an ISO datetime (`2026-03-01T09:30:00+01:00`; without an
offset it is in the machine's local time zone). It is read only here, in the CLI
layer, so that tests about "today" and "future dates" are deterministic; `core`
never looks at the environment. The hybrid logical clock (recorded time) is not
affected: it always follows the machine's clock, so that it stays monotonic.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, Final

import click

from core.commands import Now
from core.errors import ValidationError
from core.events import Event
from core.limits import MAX_OFFSET
from core.log import EventLog
from core.state import State

from .home import DeviceConfig, Home

NOW_ENV: Final = "RECIP_NOW"


def current_now() -> Now:
    """Now, from `$RECIP_NOW` if set (tests), else the system clock."""
    text = os.environ.get(NOW_ENV, "").strip()
    if not text:
        return Now.system()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"cannot read ${NOW_ENV} {text!r}: use an ISO datetime") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    offset = moment.utcoffset() or timedelta(0)
    if abs(offset) > timedelta(minutes=MAX_OFFSET):
        raise ValidationError(f"${NOW_ENV} {text!r} has a UTC offset beyond ±18:00")
    return Now(int(moment.timestamp() * 1000), int(offset.total_seconds() // 60))


def home_of(ctx: click.Context) -> Home:
    """The `Home` the group located from `--home` / `$RECIP_HOME`."""
    home = ctx.find_object(Home)
    if home is None:  # pragma: no cover - the group always sets it
        raise click.UsageError("no home directory")
    return home


@dataclass
class Session:
    """One command's view of a device: identity, log, folded state, and now."""

    home: Home
    device: DeviceConfig
    log: EventLog
    state: State
    now: Now

    def record(self, draft: Event) -> Event:
        """Append one validated draft; returns it as stored (device, seq, hlc stamped)."""
        (stored,) = self.record_all([draft])
        return stored

    def record_all(self, drafts: list[Event]) -> list[Event]:
        """Append several drafts in one transaction (all or none)."""
        stored = self.log.append(drafts)
        for event in stored:
            self.state.apply(event)
        return stored


@contextmanager
def open_session(
    ctx: click.Context, *, fold: bool = True, restoring: bool = False
) -> Iterator[Session]:
    """Open the home's log and fold it once; the store is closed on the way out.

    With `fold=False` the state is left empty, for commands that stream the log
    themselves (`recip events`) and would otherwise read it twice. `restoring`
    opens a log that lost this device's events (`Home.open_log`).
    """
    now = current_now()
    home = home_of(ctx)
    device = home.device()
    log = home.open_log(restoring=restoring)
    try:
        state = home.state(log) if fold else State()
        yield Session(home=home, device=device, log=log, state=state, now=now)
    finally:
        home.close_log(log)


def recording(build: Callable[..., Event]) -> Callable[..., None]:
    """Wrap a draft builder into a click callback that appends and prints the id.

    `build(session, **options)` validates against `session.state` and returns the
    draft; nothing is written unless it returns.
    """

    @wraps(build)
    def callback(**options: Any) -> None:
        ctx = click.get_current_context()
        with open_session(ctx) as session:
            stored = session.record(build(session, **options))
        click.echo(stored.event_id)

    return callback


def refresh_views(home: Home) -> None:
    """Bring the views up to date (now, not at the next read) after a forget.

    Views of redacted events are rebuilt and their old pages scrubbed
    (`Projector.catch_up`), so no file of the home keeps a forgotten text.
    """
    from projections.query import Views

    Views(home.log_path).catch_up_sync()
