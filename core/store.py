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
import functools
import itertools
import os
import re
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar, cast
from urllib.parse import unquote, urlparse

from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    Notification,
    PersistenceError,
    ProcessRecorder,
    StoredEvent,
    Tracking,
)
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteProcessRecorder,
)

from .errors import StoreError

if TYPE_CHECKING:
    from eventsourcing.postgres import PostgresProcessRecorder

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


#: `recip_meta` name counting the redactions ever made to this log.
REDACTIONS: Final = "redactions"

#: Rows per multi-row INSERT: 800 parameters, under even old SQLite builds' 999.
ROWS_PER_INSERT: Final = 200


@functools.cache
def values_insert(table: str, columns: int, count: int, *, verb: str = "INSERT") -> str:
    """`INSERT INTO table VALUES (?,...),...`: `count` rows of `columns` values.

    One statement for many rows runs SQLite's program once instead of once per
    row; the text is cached per shape, so the statement cache finds it again.
    """
    row = "(" + ",".join("?" * columns) + ")"
    return f"{verb} INTO {table} VALUES " + ",".join([row] * count)


def consecutive(rows: Sequence[Row]) -> bool:
    """Whether the rows are one device's, with seqs ascending by one and none missing."""
    if not rows:
        return True
    device, first = rows[0][0], rows[0][1]
    return all(row[0] == device and row[1] == first + i for i, row in enumerate(rows))


def _continuing(batches: Sequence[Sequence[Row]], held: dict[str, int]) -> list[bool]:
    """Which batches continue their device's stream, in order (`held`: last seqs, updated)."""
    taken = []
    for rows in batches:
        take = not rows or (consecutive(rows) and rows[0][1] == held.get(rows[0][0], 0) + 1)
        if take and rows:
            held[rows[0][0]] = rows[-1][1]
        taken.append(take)
    return taken


@functools.lru_cache(maxsize=64)
def _last_seqs(devices: int) -> str:
    """The last seq held of each of `devices` device streams (missing: none held)."""
    values = ", ".join(["(?)"] * devices)
    return (  # a subquery per device: each is one probe of the primary key's index
        "SELECT d.column1, (SELECT originator_version FROM stored_events "
        "WHERE originator_id = d.column1 ORDER BY originator_version DESC LIMIT 1) "
        f"FROM (VALUES {values}) AS d"
    )


class BatchSQLiteRecorder(SQLiteProcessRecorder):
    """The library's SQLite process recorder, inserting a batch with multi-row INSERTs.

    The library inserts row by row to collect each rowid. A statement of 200 rows
    runs SQLite's program once instead of 200 times (`bench/append.py`; figures in
    docs/benchmarks.md). Within one write transaction SQLite assigns consecutive
    rowids (max + 1 each), so the batch's positions follow from the last one.
    """

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        rows = [
            (str(s.originator_id), s.originator_version, s.topic, s.state) for s in stored_events
        ]
        positions = self.insert_rows(c.sqlite_cursor, rows)
        tracking: Tracking | None = kwargs.get("tracking")
        if tracking is not None:
            self._insert_tracking(c, tracking)
        return positions

    def insert_rows(self, c: sqlite3.Cursor | sqlite3.Connection, rows: Sequence[Row]) -> list[int]:
        """Insert plain rows in the caller's transaction; returns their positions."""
        if not rows:
            return []
        if len(rows) == 1:  # the interactive path: one statement, rowid for free
            return [int(c.execute(self.insert_events_statement, rows[0]).lastrowid or 0)]
        flatten = itertools.chain.from_iterable
        last = 0
        for start in range(0, len(rows), ROWS_PER_INSERT):
            part = rows[start : start + ROWS_PER_INSERT]
            sql = values_insert(self.events_table_name, 4, len(part))
            last = int(c.execute(sql, list(flatten(part))).lastrowid or 0)
        return list(range(last - len(rows) + 1, last + 1))


def log_lock_key(schema: str, table: str = "stored_events") -> str:
    """The SQL expression of the advisory lock that orders one PostgreSQL log's writers."""
    name = f"{schema}.{table}".replace("'", "''")
    return f"hashtextextended('{name}', 0)"


def ordered_postgres_recorder(datastore: Any) -> PostgresProcessRecorder:
    """The library's PostgreSQL process recorder, ordered by an advisory lock.

    Pulls read `notification_id > cursor`, so ids must become visible in the
    order they are issued: a reader must never pass over an id that commits
    later. The library gets that by `LOCK TABLE ... IN EXCLUSIVE MODE` for every
    insert, which also conflicts with vacuum, analyze and index builds on the
    table. A transaction-scoped advisory lock on the log gives writers the same
    order (taken before the ids are drawn, released only once the transaction
    has committed) and conflicts with nothing else. Every writer of a log must
    take it: the server's one-statement exchange (`server.pg`) takes the same.
    """
    recorder = _ordered_recorder_class()(datastore)
    key = log_lock_key(datastore.schema, recorder.events_table_name)
    recorder.lock_table_statements = [
        recorder.lock_table_statements[0],  # SET LOCAL lock_timeout, as the library does
        _sql(f"SELECT pg_advisory_xact_lock({key})"),
    ]
    return cast("PostgresProcessRecorder", recorder)


@functools.cache
def _ordered_recorder_class() -> Any:
    """The recorder's class, imported on first use: `recip` on SQLite never loads psycopg."""
    from eventsourcing.postgres import PostgresProcessRecorder

    return PostgresProcessRecorder


def _sql(statement: str) -> Any:
    from psycopg.sql import SQL

    return SQL(statement)


_CATCH_UP = (
    "SELECT rowid, originator_id, originator_version, topic, state "
    "FROM stored_events WHERE rowid > ? ORDER BY rowid"
)

_LAST_SEQ = "SELECT MAX(originator_version) FROM stored_events WHERE originator_id = ?"

#: Prepared statements each SQLite connection keeps (sqlite3's own default is 128).
STATEMENT_CACHE: Final = 64


class StatementCachingPool(SQLiteConnectionPool):
    """The library's SQLite connection pool, with a real prepared-statement cache.

    The library connects with `cached_statements=True`, which sqlite3 reads as a
    cache of *one* statement, so an append (BEGIN, a catch-up SELECT, an INSERT)
    prepared every statement anew, a noticeable share of a durable one-event
    append (docs/benchmarks.md). Everything else is as the library does it: autocommit mode
    with explicit BEGINs, WAL for files, `sqlite3.Row` rows (its selects use them).
    """

    def _create_connection(self) -> SQLiteConnection:
        return SQLiteConnection(sqlite_conn=self.create_sqlite_connection(), max_age=self.max_age)

    def create_sqlite_connection(self) -> sqlite3.Connection:
        """A connection configured as the pool's are, but not managed by it."""
        try:
            conn = sqlite3.connect(
                database=self.db_name,
                uri=True,
                check_same_thread=False,
                isolation_level=None,
                cached_statements=STATEMENT_CACHE,
                timeout=self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT,
            )
        except (sqlite3.Error, TypeError) as exc:
            raise InterfaceError(exc) from exc
        if not self.is_sqlite_memory_mode and not self.is_journal_mode_wal:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            self.is_journal_mode_wal = str(mode).lower() == "wal"
        conn.row_factory = sqlite3.Row
        return conn


class CachingSQLiteDatastore(SQLiteDatastore):
    """`SQLiteDatastore` whose pool is a `StatementCachingPool`."""

    def __init__(self, db_name: str, *, lock_timeout: int, originator_id_type: str = "text"):
        super().__init__(
            db_name,
            lock_timeout=lock_timeout,
            originator_id_type=cast(Any, originator_id_type),
        )
        self.pool.close()  # the library's pool: no connection was opened yet
        self.pool = StatementCachingPool(db_name=db_name, lock_timeout=lock_timeout)


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
        self._forgotten = f'"{schema}".recip_forgotten' if postgres else "recip_forgotten"
        self._writer_lock = threading.Lock()
        self._append_conn: sqlite3.Connection | None = None
        #: The writer of `begin_next(wait=False)`: never waits for the lock.
        self._eager_conn: sqlite3.Connection | None = None
        with self._transaction(commit=True) as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self._meta} "
                "(name TEXT PRIMARY KEY, position BIGINT NOT NULL, value BIGINT NOT NULL)"
            )
            c.execute(f"CREATE TABLE IF NOT EXISTS {self._forgotten} (id TEXT PRIMARY KEY)")

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
            positions = recorder.insert_rows(c.sqlite_cursor, rows)
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
            return self._append_after_sqlite(after, build)
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

    def _append_after_sqlite(
        self, after: int, build: Callable[[Sequence[Notification]], tuple[T, Sequence[Row]]]
    ) -> tuple[T, Sequence[int]]:
        """`append_after` on SQLite: one transaction on the appending connection.

        Every interactive command is one of these, and each is a durable commit
        whose fsync leaves the process asleep; the Python run after waking is
        slow (cold caches), so the library's pool hand-off and its layers of
        context managers are a large share of it (docs/benchmarks.md). Appends therefore
        keep one connection of their own (made by the pool, so configured alike),
        serialised by a lock; SQLite's own locking orders it against every other
        connection and process, exactly as it orders the pool's connections.
        """
        pool = self._datastore.pool
        if pool.is_sqlite_memory_mode:  # a second connection would be another database
            connection = pool.get_connection(is_writer=True)
            try:
                return self._append_on(connection._sqlite_conn, after, build)
            finally:
                pool.put_connection(connection)
        with self._writer_lock:
            return self._append_on(self._writer(), after, build)

    def _append_on(
        self,
        conn: sqlite3.Connection,
        after: int,
        build: Callable[[Sequence[Notification]], tuple[T, Sequence[Row]]],
    ) -> tuple[T, Sequence[int]]:
        """The append transaction itself, on a connection the caller holds."""
        with _committing(conn, "BEGIN"):
            seen = [
                Notification(
                    id=r[0],
                    originator_id=r[1],
                    originator_version=r[2],
                    topic=r[3],
                    state=r[4],
                )
                for r in conn.execute(_CATCH_UP, (after,))
            ]
            result, rows = build(seen)
            positions = cast(BatchSQLiteRecorder, self.recorder).insert_rows(conn, rows)
        return result, positions

    def begin_next(self, batches: Sequence[Sequence[Row]], *, wait: bool) -> PendingCommit | None:
        """Insert each batch that continues its device's stream, in one open transaction.

        Every batch holds one device's rows with consecutive seqs. A batch whose
        first seq is its device's next (counting the batches before it) is
        inserted; any other (a retry of events already held, a gap, a second
        batch of one device that collides with the first) is left out and
        answered `None`, for `EventLog.ingest_rows` to judge. The batches share
        one transaction, one lookup of their devices' last seqs, one multi-row
        insert and one durable commit (SQLite only): that is what lets the
        concurrent exchanges of one owner share a commit.

        The transaction stays open, the writer held, until the returned
        `PendingCommit` commits or rolls back, on this thread or another: the
        server inserts on its event loop and commits (an fsync) on a thread.
        With `wait=False` it returns None at once, having done nothing, when the
        writer is busy (another thread's or another process's transaction).

        A log that forgot someone declines every batch: late events about the
        forgotten must be redacted on their way in (ADR 0130), which only the
        general path does.
        """
        recorder = self.recorder
        if not isinstance(recorder, BatchSQLiteRecorder):
            raise StoreError("begin_next is for SQLite logs")
        if self._datastore.pool.is_sqlite_memory_mode:  # a second connection: another database
            return PendingCommit(None, None, [None] * len(batches))
        if not self._writer_lock.acquire(blocking=wait):
            return None
        try:
            conn = self._writer() if wait else self._eager_writer()
            if not _begin_immediate(conn, wait):
                self._writer_lock.release()
                return None
        except BaseException:
            self._writer_lock.release()
            raise
        pending = PendingCommit(conn, self._writer_lock, [None] * len(batches))
        try:
            if conn.execute(f"SELECT 1 FROM {self._forgotten} LIMIT 1").fetchone():
                return pending
            devices = sorted({rows[0][0] for rows in batches if rows})
            held = {d: seq or 0 for d, seq in conn.execute(_last_seqs(len(devices)), devices)}
            taken = _continuing(batches, held)
            chosen = [b for b, take in zip(batches, taken, strict=True) if take]
            positions = iter(recorder.insert_rows(conn, [row for b in chosen for row in b]))
        except BaseException as exc:
            pending.rollback()
            if isinstance(exc, sqlite3.IntegrityError):
                raise IntegrityError(exc) from exc
            if isinstance(exc, sqlite3.Error):
                raise Contention(str(exc)) from exc
            raise
        pending.positions = [
            [next(positions) for _ in b] if take else None
            for b, take in zip(batches, taken, strict=True)
        ]
        return pending

    def _writer(self) -> sqlite3.Connection:
        """The appending connection, opened on first use (callers hold the lock)."""
        if self._append_conn is None:
            pool = self._datastore.pool
            assert isinstance(pool, StatementCachingPool)
            self._append_conn = pool.create_sqlite_connection()
        return self._append_conn

    def _eager_writer(self) -> sqlite3.Connection:
        """A second appending connection that never waits for the write lock.

        Its busy timeout is 0 for good: setting it on the waiting writer and back
        around every `BEGIN` cost three statements per group on the event loop.
        """
        if self._eager_conn is None:
            pool = self._datastore.pool
            assert isinstance(pool, StatementCachingPool)
            conn = pool.create_sqlite_connection()
            conn.execute("PRAGMA busy_timeout = 0")
            self._eager_conn = conn
        return self._eager_conn

    def _close_writers(self) -> None:
        """Close both appending connections (callers hold the lock)."""
        for conn in (self._append_conn, self._eager_conn):
            if conn is not None:
                conn.close()
        self._append_conn = self._eager_conn = None

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

    # -- redaction (forgetting a person, ADR 0130) ---------------------------------

    def forgotten(self) -> set[str]:
        """The ids (contacts, their asks, events about them) this log has forgotten."""
        with self._transaction(commit=False) as c:
            c.execute(f"SELECT id FROM {self._forgotten}")
            return {str(_col(r, 0)) for r in cast(Any, c).fetchall()}

    def redact(self, rows: Sequence[Row], ids: Sequence[str]) -> None:
        """Rewrite stored events in place with their redacted bytes; remember `ids`.

        The one exception to the log's immutability: each row keeps its stream,
        seq and topic, only `state` changes. One transaction, which also counts
        the redaction (`REDACTIONS` meta) so that derived data (views) built from
        the old bytes can tell it is stale. Then the freed pages are scrubbed:
        `compact`.
        """
        p = self._placeholder
        with self._transaction(commit=True) as c:
            for device_id, seq, topic, state in rows:
                c.execute(
                    f"UPDATE {self._events} SET state = {p} "
                    f"WHERE originator_id = {p} AND originator_version = {p} AND topic = {p}",
                    (state, device_id, seq, topic),
                )
            self._remember(c, ids)
            c.execute(
                f"INSERT INTO {self._meta} (name, position, value) VALUES ({p}, 0, 1) "
                f"ON CONFLICT (name) DO UPDATE SET value = {self._meta}.value + 1",
                (REDACTIONS,),
            )
        self.compact()

    def remember_forgotten(self, ids: Sequence[str]) -> None:
        """Add ids to the forgotten set (no rewrite: their rows are stored redacted)."""
        with self._transaction(commit=True) as c:
            self._remember(c, ids)

    def _remember(self, c: _Cursor, ids: Sequence[str]) -> None:
        p = self._placeholder
        for forgotten_id in ids:
            c.execute(
                f"INSERT INTO {self._forgotten} (id) VALUES ({p}) ON CONFLICT (id) DO NOTHING",
                (forgotten_id,),
            )

    def compact(self) -> None:
        """Leave no copy of rewritten bytes in free pages or the WAL (SQLite).

        VACUUM rebuilds the file from live rows only, and a truncating checkpoint
        empties the WAL that held the old pages. On PostgreSQL the old row
        versions are dead tuples until the server's (auto)vacuum reclaims them.
        """
        if self._postgres or self._datastore.pool.is_sqlite_memory_mode:
            return
        with self._writer_lock:
            self._close_writers()
            conn = cast(StatementCachingPool, self._datastore.pool).create_sqlite_connection()
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.execute("VACUUM")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                raise StoreError(f"could not compact the event store: {exc}") from exc
            finally:
                conn.close()

    def close(self) -> None:
        with self._writer_lock:
            self._close_writers()
        self._datastore.close()


class PendingCommit:
    """A write transaction whose rows are inserted, the log's writer held until it ends.

    `positions` answers each batch of `Store.begin_next` (None: left out). Call
    exactly one of `commit` (durable; a failure rolls back and raises
    `Contention`: nothing was stored) and `rollback`; either releases the writer.
    """

    def __init__(
        self,
        conn: sqlite3.Connection | None,
        lock: threading.Lock | None,
        positions: list[list[int] | None],
    ) -> None:
        self._conn = conn
        self._lock = lock
        self.positions = positions
        #: Makes `commit` and `rollback` exclusive when called from two threads.
        self._taking = threading.Lock()

    def _take(self) -> sqlite3.Connection | None:
        with self._taking:
            conn, self._conn = self._conn, None
        return conn

    def commit(self) -> None:
        conn = self._take()
        if conn is None:
            return
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.rollback()
            raise Contention(str(exc)) from exc
        finally:
            self._release()

    def rollback(self) -> None:
        conn = self._take()
        if conn is not None:
            self.positions = [None] * len(self.positions)  # nothing of it was stored
        try:
            if conn is not None and conn.in_transaction:
                conn.rollback()
        finally:
            self._release()

    def _release(self) -> None:
        with self._taking:
            lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()


def _begin_immediate(conn: sqlite3.Connection, wait: bool) -> bool:
    """`BEGIN IMMEDIATE` on `conn`; without `wait` (on a connection whose busy
    timeout is 0), False at once if another holds the lock."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        primary = exc.sqlite_errorcode & 0xFF  # SQLITE_BUSY_* are extended codes of BUSY
        if not wait and primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return False
        raise Contention(str(exc)) from exc
    except sqlite3.Error as exc:
        raise Contention(str(exc)) from exc
    return True


@contextlib.contextmanager
def _committing(conn: sqlite3.Connection, begin: str) -> Iterator[None]:
    """One SQLite write transaction: committed if the block returns, else rolled back.

    A duplicate `(stream, version)` raises the library's `IntegrityError`; any
    other SQLite error (busy, I/O) raises `Contention`: nothing was stored.
    """
    try:
        conn.execute(begin)
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
    except sqlite3.IntegrityError as exc:
        raise IntegrityError(exc) from exc
    except sqlite3.Error as exc:
        raise Contention(str(exc)) from exc


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
    datastore = CachingSQLiteDatastore(path, originator_id_type="text", lock_timeout=30)
    recorder = BatchSQLiteRecorder(datastore)
    recorder.create_table()
    return Store(recorder, datastore, postgres=False)


def _open_postgres(loc: Location, *, create: bool) -> Store:
    try:
        from eventsourcing.postgres import PostgresDatastore
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
    recorder = ordered_postgres_recorder(datastore)
    recorder.create_table()
    return Store(recorder, datastore, postgres=True)


def _redact(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


# -- the log's rows, read directly (the views, replay) --------------------------------------

#: A stored event as readers of the log see it: (position, topic, state).
Stored = tuple[int, str, bytes]
#: Rows fetched at a time by `rows_after`, and positions per `rows_at` query.
READ_PAGE: Final = 5000
_IN_LIST: Final = 500


def open_file(path: str | os.PathLike[str], *, read_only: bool = False) -> sqlite3.Connection:
    """A plain connection to a SQLite log file, for readers of its rows.

    Read-only (`mode=ro`: a write fails rather than happens) for replay; else in
    autocommit mode with WAL, for callers that run their own transactions on
    tables beside the log (the views).
    """
    try:
        if read_only:
            if not os.path.isfile(path):
                raise StoreError(f"no event log at {path}")
            uri = f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro"
            return sqlite3.connect(uri, uri=True, check_same_thread=False)
        db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        return db
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the event log at {path}: {exc}") from exc


def head(db: sqlite3.Connection) -> int:
    """The log's highest position (0 when it has no table or no row)."""
    try:
        row = db.execute("SELECT MAX(rowid) FROM stored_events").fetchone()
    except sqlite3.OperationalError:  # no such table: nothing was ever stored
        return 0
    return int(row[0] or 0)


def redactions(db: sqlite3.Connection) -> int:
    """How many times the log was redacted (`Store.redact`; 0 if never)."""
    try:
        row = db.execute("SELECT value FROM recip_meta WHERE name = ?", (REDACTIONS,)).fetchone()
    except sqlite3.OperationalError:  # no such table: nothing was ever stored
        return 0
    return 0 if row is None else int(row[0])


def scrub(db: sqlite3.Connection) -> None:
    """Rewrite the file from live rows and empty the WAL: no free page keeps old bytes."""
    db.execute("VACUUM")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def rows_after(db: sqlite3.Connection, after: int = 0) -> Iterator[list[Stored]]:
    """Pages of the rows after a position, in log order."""
    if head(db) <= after:
        return
    cursor = db.execute(
        "SELECT rowid, topic, state FROM stored_events WHERE rowid > ? ORDER BY rowid", (after,)
    )
    while rows := cursor.fetchmany(READ_PAGE):
        yield rows


def rows_at(db: sqlite3.Connection, positions: Iterable[int]) -> list[Stored]:
    """The rows at the given positions, in log order (absent ones left out)."""
    wanted = sorted(set(positions))
    out: list[Stored] = []
    for start in range(0, len(wanted), _IN_LIST):
        chunk = wanted[start : start + _IN_LIST]
        out.extend(
            db.execute(
                "SELECT rowid, topic, state FROM stored_events "
                f"WHERE rowid IN ({','.join('?' * len(chunk))}) ORDER BY rowid",
                chunk,
            )
        )
    return out


# -- The log's tables as the server reads and copies them ----------------------
# The server's hot pull path, its head probes, backups and the PostgreSQL
# exchange function read or write the library's tables without a recorder. Their
# statements live here so that no other module knows the table layout.

#: The PostgreSQL channel each insert transaction notifies (payload: the schema).
NOTIFY_CHANNEL: Final = "stored_events"

#: A page of a SQLite log after a position: (position, device, seq, topic, state).
SQLITE_PAGE: Final = (
    "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
    "WHERE rowid > ? ORDER BY rowid LIMIT ?"
)
#: A SQLite log's highest position (NULL when empty).
SQLITE_HEAD: Final = "SELECT MAX(rowid) FROM stored_events"
#: The highest seq a SQLite log holds for one device (NULL if none).
SQLITE_LAST_SEQ: Final = _LAST_SEQ
#: Every row of a SQLite log, in log order, as `SQLITE_PAGE` returns them.
SQLITE_ALL_ROWS: Final = (
    "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
    "ORDER BY rowid"
)
#: Insert one row at a given position: (position, device, seq, topic, state).
SQLITE_INSERT_AT: Final = (
    "INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state)"
    " VALUES (?, ?, ?, ?, ?)"
)


def sqlite_head(db: sqlite3.Connection) -> int:
    """A SQLite log's highest position (0 when empty); errors (no table) propagate."""
    return int(db.execute(SQLITE_HEAD).fetchone()[0] or 0)


def sqlite_last_seq(db: sqlite3.Connection, device_id: str) -> int:
    """The highest seq a SQLite log holds for a device (0 if none); errors propagate."""
    return int(db.execute(SQLITE_LAST_SEQ, (device_id,)).fetchone()[0] or 0)


def pg_events_table(schema: str) -> str:
    """The quoted name of a PostgreSQL log's events table."""
    return f'"{schema}".stored_events'


def pg_head_sql(schema: str) -> str:
    """A PostgreSQL log's highest position, as column `head` (NULL when empty)."""
    return f"SELECT MAX(notification_id) AS head FROM {pg_events_table(schema)}"


def pg_page_sql(schema: str) -> str:
    """A page after a position (`%s`, `%s` = after, limit), rows as `SQLITE_PAGE`'s."""
    return (
        "SELECT notification_id, originator_id, originator_version, topic, state "
        f"FROM {pg_events_table(schema)} WHERE notification_id > %s "
        "ORDER BY notification_id LIMIT %s"
    )


def pg_insert_at_sql(schema: str) -> str:
    """Insert one row at a given position (`%s` x 5, as `SQLITE_INSERT_AT`)."""
    return (
        f"INSERT INTO {pg_events_table(schema)} (notification_id, originator_id, "
        "originator_version, topic, state) VALUES (%s, %s, %s, %s, %s)"
    )


def pg_reset_positions_sql(schema: str) -> str:
    """Move the position sequence past the highest row (after `pg_insert_at_sql`)."""
    table = pg_events_table(schema)
    return (
        f"SELECT setval(pg_get_serial_sequence('{table}', 'notification_id'), "
        f"GREATEST((SELECT MAX(notification_id) FROM {table}), 1))"
    )


def pg_exchange_function_sql(
    schema: str, accounts: str, *, version: int, lock_timeout_s: int
) -> str:
    """The DDL of an owner's one-statement exchange (`server.pg.PgExchange`).

    `recip_exchanges_v<version>(devices, tokens, counts, topics, states, firsts,
    cursors, limits)` runs the exchanges of several devices of the owner one
    after the other, in one transaction (one commit, one round trip). The arrays
    hold one element per exchange, except `topics` and `states`: every batch's in
    turn, `counts` saying how many each. For each exchange it checks the device's
    token in the `accounts` schema, refuses a cursor beyond the head, appends the
    batch if its first seq is the device's next and the owner has forgotten no
    one (under the log's writer lock, `log_lock_key`; otherwise it declines and
    the caller takes the general path, ADR 0130), and returns one row: the
    status, the acknowledged seq, the head and a page after the cursor. An
    exchange sees the ones before it, as if they had come one after another.
    """
    return _EXCHANGE_DDL.format(
        s=f'"{schema}"',
        accounts=f'"{accounts}"',
        version=version,
        key=log_lock_key(schema),
        lock_timeout=lock_timeout_s,
    )


_EXCHANGE_DDL: Final = """
CREATE OR REPLACE FUNCTION {s}.recip_exchanges_v{version}(
    p_devices text[], p_tokens text[], p_counts integer[], p_topics text[],
    p_states bytea[], p_firsts bigint[], p_cursors bigint[], p_limits integer[])
RETURNS TABLE (status text, acked bigint, head bigint, ids bigint[], origins text[],
    versions bigint[], topics text[], states bytea[])
LANGUAGE plpgsql AS $body$
DECLARE
    taken integer := 0;
    n integer;
    held bigint;
    locked boolean := false;
    forgets boolean := false;
BEGIN
    FOR i IN 1 .. coalesce(cardinality(p_devices), 0) LOOP
        n := p_counts[i];
        acked := NULL; ids := NULL; origins := NULL; versions := NULL;
        topics := NULL; states := NULL;
        SELECT COALESCE(MAX(notification_id), 0) INTO head FROM {s}.stored_events;
        PERFORM 1 FROM {accounts}.devices
            WHERE device_id = p_devices[i] AND token_hash = p_tokens[i] AND revoked_at IS NULL;
        IF NOT FOUND THEN
            status := 'unauthorized';
        ELSIF p_cursors[i] > head THEN
            status := 'cursor_ahead';
        ELSE
            status := 'ok';
            IF n > 0 THEN
                IF NOT locked THEN
                    PERFORM set_config('lock_timeout', '{lock_timeout}s', true);
                    PERFORM pg_advisory_xact_lock({key});
                    -- An owner who forgot someone: the general path, which stores
                    -- late events about them redacted (ADR 0130). Read under the
                    -- writer lock, so a forget remembered since is seen.
                    PERFORM 1 FROM {s}.recip_forgotten LIMIT 1;
                    forgets := FOUND;
                    locked := true;
                END IF;
                SELECT COALESCE(MAX(originator_version), 0) INTO held
                    FROM {s}.stored_events WHERE originator_id = p_devices[i];
                IF forgets OR p_firsts[i] <> held + 1 THEN
                    status := 'declined';
                ELSE
                    INSERT INTO {s}.stored_events
                        (originator_id, originator_version, topic, state)
                        SELECT p_devices[i], p_firsts[i] + k - 1, t, b
                        FROM unnest(p_topics[taken + 1 : taken + n],
                                    p_states[taken + 1 : taken + n])
                            WITH ORDINALITY AS batch(t, b, k);
                    acked := p_firsts[i] + n - 1;
                END IF;
            ELSE
                SELECT COALESCE(MAX(originator_version), 0) INTO acked
                    FROM {s}.stored_events WHERE originator_id = p_devices[i];
            END IF;
            IF status = 'ok' THEN
                SELECT array_agg(notification_id), array_agg(originator_id),
                       array_agg(originator_version), array_agg(topic), array_agg(state)
                    INTO ids, origins, versions, topics, states
                    FROM (SELECT * FROM {s}.stored_events
                          WHERE notification_id > p_cursors[i]
                          ORDER BY notification_id LIMIT p_limits[i]) AS page;
            END IF;
        END IF;
        taken := taken + n;
        RETURN NEXT;
    END LOOP;
END
$body$
"""
