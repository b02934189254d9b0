"""Read-only SQLite connections to one file, reused from a free list.

Reads on the request path (an owner's pages, a token's device) must not queue
behind one shared connection: a thread holding a shared connection's lock also
needs the GIL back after every statement, so under load each read waited for
every other thread's turn (issue 20). Each read takes an idle connection (or
opens one), runs, and puts it back; in WAL mode it sees every commit made
before it began, by this process or any other, and never waits for a writer.
The file holds only as many connections as it had reads at once.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any


class ReadOnly:
    """`read(sql, params)` on a read-only connection to `path` (sqlite3 errors propagate)."""

    def __init__(self, path: Path) -> None:
        self._uri = f"{path.resolve().as_uri()}?mode=ro"
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def read(self, sql: str, params: tuple[object, ...]) -> list[Any]:
        """Every row of one statement; a connection that failed is closed, not reused."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        try:
            if conn is None:
                conn = sqlite3.connect(self._uri, uri=True, check_same_thread=False)
            rows = conn.execute(sql, params).fetchall()
        except sqlite3.Error:
            if conn is not None:
                conn.close()
            raise
        with self._lock:
            self._idle.append(conn)
        return rows

    def close(self) -> None:
        """Close the idle connections (call once no read is running)."""
        with self._lock:
            for conn in self._idle:
                conn.close()
            self._idle.clear()
