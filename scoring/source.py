"""Reading a device's event log for replay, strictly read-only.

Replay must never write to the log it reads. Opening the log through `EventLog`
would create tables if missing and may store a clock checkpoint, so replay reads
the SQLite file through a read-only connection (`core.store.open_file`): any
write would fail rather than happen. Events are decoded by `core.codec`,
exactly as the log decodes them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from core import codec
from core.errors import StoreError
from core.events import Event, OpaqueEvent
from core.store import open_file, rows_after


def read_log(path: Path) -> Iterator[Event | OpaqueEvent]:
    """Every event of the SQLite log at `path`, in log order, without writing to it."""
    connection = open_file(path, read_only=True)
    try:
        for rows in rows_after(connection):
            for _, topic, state in rows:
                yield codec.decode(topic, state)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the event log at {path}: {exc}") from exc
    finally:
        connection.close()
