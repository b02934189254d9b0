"""The event store adapter: eventsourcing's recorders, SQLite or PostgreSQL.

This module is the only place in `core` that does I/O. It maps Reciprocity's log
onto the library's own model:

- one stream per device: `originator_id` is the device id (text), and
  `originator_version` is the device's gapless sequence number, so that the
  library's primary key `(originator_id, originator_version)` is exactly the sync
  protocol's uniqueness rule;
- the notification id (SQLite rowid, PostgreSQL `notification_id`) is the local
  log position, the order in which this replica learned of events;
- `topic` is the stable event type name and `state` the msgpack event;
- the library's tracking table records how far this replica has pulled from
  elsewhere, in the same transaction as the pulled events.

A small `recip_meta` table beside the library's tables keeps a clock checkpoint
(see `core.log`); it is advisory, never the source of truth.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import unquote, urlparse

from eventsourcing.persistence import (
    IntegrityError,
    Notification,
    PersistenceError,
    ProcessRecorder,
    StoredEvent,
    Tracking,
)
from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore, SQLiteProcessRecorder

from .errors import StoreError

__all__ = [
    "IntegrityError",
    "Notification",
    "Store",
    "StoredEvent",
    "Tracking",
    "open_store",
]

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

#: A stored row as plain values: (device id, seq, topic, state).
Row = tuple[str, int, str, bytes]
T = TypeVar("T")


class BatchSQLiteRecorder(SQLiteProcessRecorder):
    """The library's SQLite process recorder, inserting a batch with one `executemany`.

    The library inserts row by row to collect each rowid; one `executemany` is
    about twice as fast for a batch of 1,000. Within one write transaction SQLite
    assigns consecutive rowids (max + 1 each), so the batch's positions follow
    from the last one.
    """

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        rows = [
            (str(s.originator_id), s.originator_version, s.topic, s.state) for s in stored_events
        ]
        positions = self.insert_rows(c, rows)
        tracking: Tracking | None = kwargs.get("tracking")
        if tracking is not None:
            self._insert_tracking(c, tracking)
        return positions

    def insert_rows(self, c: SQLiteCursor, rows: Sequence[Row]) -> list[int]:
        """Insert plain rows in the caller's transaction; returns their positions."""
        if not rows:
            return []
        if len(rows) == 1:  # the interactive path: one statement, rowid for free
            c.execute(self.insert_events_statement, rows[0])
            return [int(c.lastrowid)]
        c.executemany(self.insert_events_statement, rows)
        c.execute("SELECT last_insert_rowid()")
        last = int(c.fetchone()[0])
        return list(range(last - len(rows) + 1, last + 1))


class Contention(StoreError):
    """Another writer got in first; retrying the write is safe."""


class _Cursor(Protocol):
    def execute(self, statement: Any, params: Any = ...) -> Any: ...
    def fetchone(self) -> Any: ...


@dataclass(frozen=True)
class Location:
    """Where a store lives: a SQLite file path or a PostgreSQL URL (+ schema)."""

    url: str
    schema: str | None = None

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith(("postgresql://", "postgres://"))


class Store:
    """One event log's storage: a process recorder plus a tiny metadata table."""

    def __init__(self, recorder: ProcessRecorder, datastore: Any, *, postgres: bool) -> None:
        self.recorder: ProcessRecorder
        self.recorder = recorder
        self._datastore = datastore
        self._postgres = postgres
        self._placeholder = "%s" if postgres else "?"
        schema = getattr(datastore, "schema", None)
        self._meta = f'"{schema}".recip_meta' if postgres else "recip_meta"
        self._events = f'"{schema}".stored_events' if postgres else "stored_events"
        with self._transaction(commit=True) as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self._meta} "
                "(name TEXT PRIMARY KEY, position BIGINT NOT NULL, value BIGINT NOT NULL)"
            )

    @property
    def is_postgres(self) -> bool:
        return self._postgres

    @contextlib.contextmanager
    def _transaction(self, *, commit: bool) -> Iterator[_Cursor]:
        try:
            with self._datastore.transaction(commit=commit) as c:
                yield cast(_Cursor, c)
        except PersistenceError as exc:
            raise StoreError(f"event store failure: {exc}") from exc

    # -- writing -------------------------------------------------------------

    def insert(
        self, stored: Sequence[StoredEvent], tracking: Tracking | None = None
    ) -> Sequence[int] | None:
        """Insert events (and a tracking record) in one transaction.

        Raises the library's `IntegrityError` if any `(stream, version)` exists:
        the whole batch is rolled back, the log is as it was.
        """
        if not stored and tracking is None:
            return []
        if not stored:
            assert tracking is not None
            self.recorder.insert_tracking(tracking)
            return []
        return self.recorder.insert_events(stored, tracking=tracking)

    def insert_rows(self, rows: Sequence[Row], tracking: Tracking | None = None) -> Sequence[int]:
        """`insert` for plain rows: no event objects on SQLite, one `executemany`.

        Same contract as `insert`: one transaction, the library's `IntegrityError`
        if any `(stream, version)` exists, and then nothing is stored.
        """
        recorder = self.recorder
        if not isinstance(recorder, BatchSQLiteRecorder):
            return self.insert([StoredEvent(*row) for row in rows], tracking) or []
        if not rows and tracking is None:
            return []
        with self._datastore.transaction(commit=True) as c:
            positions = recorder.insert_rows(c, rows)
            if tracking is not None:
                recorder._insert_tracking(c, tracking)
        return positions

    def append_after(
        self, after: int, build: Callable[[Sequence[Notification]], tuple[T, Sequence[Row]]]
    ) -> tuple[T, Sequence[int]]:
        """Read what was written after `after`, build rows from it, insert them.

        On SQLite the read and the insert share one transaction, so a writer in
        another process cannot slip in between (SQLite refuses to commit on a stale
        snapshot instead, and the caller retries). `build` sees every row written
        since `after` — usually none — and returns (its result, rows to insert).
        """
        if isinstance(self.recorder, BatchSQLiteRecorder):
            try:
                with self._datastore.transaction(commit=True) as c:
                    c.execute(
                        "SELECT rowid, originator_id, originator_version, topic, state "
                        "FROM stored_events WHERE rowid > ? ORDER BY rowid",
                        (after,),
                    )
                    seen = [
                        Notification(
                            id=r[0],
                            originator_id=r[1],
                            originator_version=r[2],
                            topic=r[3],
                            state=r[4],
                        )
                        for r in c.fetchall()
                    ]
                    result, rows = build(seen)
                    positions = self.recorder.insert_rows(c, rows)
            except PersistenceError as exc:
                if isinstance(exc, IntegrityError):
                    raise
                raise Contention(str(exc)) from exc
            return result, positions
        seen_all: list[Notification] = []
        while True:
            page = self.notifications(after, 2000)
            seen_all.extend(page)
            if len(page) < 2000:
                break
            after = page[-1].id
        result, rows = build(seen_all)
        stored = [StoredEvent(*row) for row in rows]
        return result, self.recorder.insert_events(stored) or []

    # -- reading -------------------------------------------------------------

    def notifications(self, after: int, limit: int) -> Sequence[Notification]:
        """Events at log positions greater than `after`, in log order."""
        return self.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )

    def stream(
        self, device_id: str, *, gt: int | None = None, lte: int | None = None
    ) -> Sequence[StoredEvent]:
        """One device's events by sequence number."""
        return self.recorder.select_events(device_id, gt=gt, lte=lte)

    def last_in_stream(self, device_id: str) -> StoredEvent | None:
        """The event with the highest sequence number of a device, if any."""
        rows = self.recorder.select_events(device_id, desc=True, limit=1)
        return rows[0] if rows else None

    def max_position(self) -> int:
        """The highest log position (0 for an empty log)."""
        return self.recorder.max_notification_id() or 0

    def tracking(self, name: str) -> int:
        """How far this log has pulled from the upstream called `name` (0 if never)."""
        return self.recorder.max_tracking_id(name) or 0

    def streams(self) -> dict[str, int]:
        """Every device stream in this log with its highest sequence number."""
        with self._transaction(commit=False) as c:
            c.execute(
                f"SELECT originator_id, MAX(originator_version) FROM {self._events} "
                "GROUP BY originator_id"
            )
            rows = cast(Any, c).fetchall()
        return {str(_col(r, 0)): int(_col(r, 1)) for r in rows}

    # -- metadata --------------------------------------------------------------

    def get_meta(self, name: str) -> tuple[int, int] | None:
        p = self._placeholder
        with self._transaction(commit=False) as c:
            c.execute(f"SELECT position, value FROM {self._meta} WHERE name = {p}", (name,))
            row = c.fetchone()
        if row is None:
            return None
        return int(_col(row, 0)), int(_col(row, 1))

    def put_meta(self, name: str, position: int, value: int) -> None:
        p = self._placeholder
        with self._transaction(commit=True) as c:
            c.execute(
                f"INSERT INTO {self._meta} (name, position, value) VALUES ({p}, {p}, {p}) "
                "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
                "value = excluded.value",
                (name, position, value),
            )

    def close(self) -> None:
        self._datastore.close()


def _col(row: Any, index: int) -> Any:
    """A column by position from a sqlite3.Row or a psycopg dict row."""
    if isinstance(row, dict):
        return list(row.values())[index]
    return row[index]


def open_store(location: str | Location, *, create: bool = True) -> Store:
    """Open (and create if needed) the event store at a path or PostgreSQL URL."""
    loc = location if isinstance(location, Location) else Location(str(location))
    try:
        if loc.is_postgres:
            return _open_postgres(loc, create=create)
        return _open_sqlite(loc.url, create=create)
    except (PersistenceError, sqlite3.Error) as exc:
        # sqlite3 raises its own errors (e.g. "file is not a database") while the
        # library opens a connection, outside its error translation.
        raise StoreError(f"cannot open the event store at {_redact(loc.url)}: {exc}") from exc


def _open_sqlite(path: str, *, create: bool) -> Store:
    if path != ":memory:" and not path.startswith("file:"):
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            if not create:
                raise StoreError(f"no event store at {path}")
            os.makedirs(parent, exist_ok=True)
    datastore = SQLiteDatastore(path, originator_id_type="text", lock_timeout=30)
    recorder = BatchSQLiteRecorder(datastore)
    recorder.create_table()
    return Store(recorder, datastore, postgres=False)


def _open_postgres(loc: Location, *, create: bool) -> Store:
    try:
        from eventsourcing.postgres import PostgresDatastore, PostgresProcessRecorder
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise StoreError(
            "PostgreSQL support needs the 'postgres' extra: pip install 'reciprocity[postgres]'"
        ) from exc
    parsed = urlparse(loc.url)
    schema = loc.schema or "public"
    if not _SCHEMA_RE.match(schema):
        raise StoreError(f"invalid PostgreSQL schema name {schema!r}")
    datastore = PostgresDatastore(
        dbname=(parsed.path or "/").lstrip("/") or "postgres",
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 5432,
        user=unquote(parsed.username or os.environ.get("USER", "postgres")),
        password=unquote(parsed.password or ""),
        schema=schema,
        originator_id_type="text",
        pool_size=2,
        max_overflow=8,
        lock_timeout=30,
    )
    if create:
        with datastore.transaction(commit=True) as c:
            c.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    recorder = PostgresProcessRecorder(datastore)
    recorder.create_table()
    return Store(recorder, datastore, postgres=True)


def _redact(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url
