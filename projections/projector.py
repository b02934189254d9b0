"""The persisted views of one log database: when to catch up, when to rebuild.

Every write (catch-up or rebuild) runs in one `BEGIN IMMEDIATE` transaction that
also moves `view_meta.position`, so after a crash the views are exactly as of
their position. A read whose views are current takes no write lock: it only
compares the position with the log's head.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final

from core import store
from core.errors import StoreError
from core.events import Event, OpaqueEvent

from . import index, schema
from .catch_up import catch_up
from .rebuild import Progress, rebuild

#: Catch-up of more new events than this (and than the log already had) rebuilds.
REBUILD_ABOVE: Final = 50_000

__all__ = ["Progress", "Projector"]


class Projector:
    """Owns the view tables of one log database (synchronous; writes)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.db = store.open_file(self.path)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Projector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def position(self) -> int | None:
        """The log position the views reflect (None if never built)."""
        return schema.meta(self.db, "position")

    def current(self) -> bool:
        """Whether the views are of this schema and hold every event of the log."""
        if schema.meta(self.db, "schema") != schema.SCHEMA or self._redacted():
            return False
        return store.head(self.db) <= (schema.meta(self.db, "position") or 0)

    def _redacted(self) -> bool:
        """Whether the log was redacted since the views were built (ADR 0130)."""
        return (schema.meta(self.db, "redactions") or 0) != store.redactions(self.db)

    def catch_up(self, progress: Progress | None = None) -> int:
        """Bring the views up to the end of the log; returns the events folded in.

        Builds them from scratch when they are missing, of another schema, far
        behind (a rebuild is then cheaper), or when an event claims another's id.
        """
        if self.current():
            return 0
        if self._redacted():
            # Views of forgotten texts: rebuilt, then no old page may keep them.
            with self._write():
                rebuilt = rebuild(self.db, progress)
            store.scrub(self.db)
            return rebuilt
        with self._write():
            if schema.meta(self.db, "schema") != schema.SCHEMA:
                return rebuild(self.db, progress)
            position = schema.meta(self.db, "position") or 0
            head = store.head(self.db)
            if head <= position:
                return 0
            if head - position > REBUILD_ABOVE and head - position > position:
                return rebuild(self.db, progress)
            done = catch_up(self.db, position)
            return rebuild(self.db, progress) if done is None else done

    def rebuild(self, progress: Progress | None = None) -> int:
        """Drop every view table and build them again from the whole log."""
        with self._write():
            return rebuild(self.db, progress)

    def scan(self, after: int = 0) -> Iterator[list[tuple[int, Event | OpaqueEvent]]]:
        """Pages of (position, event) after a position, in log order."""
        for rows in store.rows_after(self.db, after):
            yield index.decode(rows)

    def fetch(self, positions: Iterable[int]) -> list[tuple[int, Event | OpaqueEvent]]:
        """The events at the given log positions."""
        return index.fetch(self.db, positions)

    def _write(self) -> _Transaction:
        return _Transaction(self.db)


def scrub_views(path: str | Path) -> None:
    """Rebuild a log file's views if a redaction made them stale (none: nothing)."""
    with Projector(path) as projector:
        if projector.position() is not None:
            projector.catch_up()


class _Transaction:
    """`BEGIN IMMEDIATE` ... `COMMIT`, rolled back on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot lock the views for writing: {exc}") from exc

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
