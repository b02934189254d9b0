"""Reading a device's event log for replay, strictly read-only.

Replay must never write to the log it reads. Opening the log through `EventLog`
would create tables if missing and may store a clock checkpoint, so replay opens
the SQLite file itself with `mode=ro`: any write would fail rather than happen.
Rows are read in log order from the eventsourcing table (`stored_events`, whose
`topic` is the event type and `state` the msgpack event, see `core.store`) and
decoded by `core.codec`, exactly as the log decodes them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from core import codec
from core.errors import StoreError
from core.events import Event, OpaqueEvent

PAGE: Final = 5000


def read_log(path: Path) -> Iterator[Event | OpaqueEvent]:
    """Every event of the SQLite log at `path`, in log order, without writing to it."""
    if not path.is_file():
        raise StoreError(f"no event log at {path}")
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the event log at {path} read-only: {exc}") from exc
    try:
        cursor = connection.execute("SELECT topic, state FROM stored_events ORDER BY rowid")
        while rows := cursor.fetchmany(PAGE):
            for topic, state in rows:
                yield codec.decode(topic, state)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the event log at {path}: {exc}") from exc
    finally:
        connection.close()
