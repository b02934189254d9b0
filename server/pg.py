"""The server on PostgreSQL: accounts and one schema per owner, on one shared pool.

Layout in the database (ADR 0070), for a schema prefix `P` (default `recip`):

- schema `P`: the accounts tables (`owners`, `devices`), as on SQLite;
- schema `P_<owner id hex>`: one owner's event log, the eventsourcing library's
  own tables (`stored_events`, `notification_tracking`) plus `recip_meta`, so that
  owners are isolated in storage, never only by a `WHERE` clause.

Every owner's `PostgresDatastore` borrows connections from the one pool of its
server process instead of opening its own: a worker serving a hundred owners
keeps at most `pool_size` connections, so several workers stay far below
PostgreSQL's `max_connections`.

Every writer of an owner's log takes the log's advisory lock before drawing
notification ids and holds it until it has committed (`ordered_postgres_recorder`,
and `recip_exchanges`, whose text `core.store.pg_exchange_function_sql` gives):
ids (the pull cursor) therefore commit in the order they are issued, and a pull
that reads `notification_id > cursor` can never pass over an id that commits
later (ADR 0120).

The sync exchanges of one owner that arrive together are one statement,
`recip_exchanges`, a function in the owner's schema (ADR 0120, ADR 0136): for
each in turn it checks that the device's token is still current and not revoked,
checks the cursor, stores the pushed batch when it continues the device's stream,
and returns the ack and one page, all in one round trip and one commit. Anything
it does not handle (a retried batch, a gap, a conflict) it declines, untouched,
to `EventLog.ingest_rows`, where those rules live.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlencode, urlparse, urlunparse

import psycopg
from eventsourcing.persistence import PersistenceError
from eventsourcing.postgres import ConnectionPool, PostgresDatastore
from psycopg.rows import tuple_row
from psycopg.types.composite import register_composite

from core.errors import StoreError
from core.store import (
    NOTIFY_CHANNEL,
    Row,
    Store,
    consecutive,
    ordered_postgres_recorder,
    pg_exchange_function_sql,
    pg_head_sql,
)
from sync.protocol import Refusal

from .accounts import Accounts, Executor, InvitePolicy, Owner
from .nudge_store import PG_DDL as NUDGE_DDL

PREFIX_RE: Final = re.compile(r"^[a-z_][a-z0-9_]{0,29}$")

_ACCOUNTS_DDL: Final = (
    "CREATE TABLE IF NOT EXISTS {s}.owners (owner_id TEXT PRIMARY KEY, "
    "name TEXT NOT NULL UNIQUE, enroll_hash TEXT NOT NULL UNIQUE, created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {s}.devices (device_id TEXT PRIMARY KEY, "
    "owner_id TEXT NOT NULL REFERENCES {s}.owners(owner_id), name TEXT NOT NULL, "
    "token_hash TEXT NOT NULL UNIQUE, enrolled_at BIGINT NOT NULL, revoked_at BIGINT)",
    "CREATE INDEX IF NOT EXISTS devices_owner ON {s}.devices(owner_id)",
    "CREATE TABLE IF NOT EXISTS {s}.invites (invite_hash TEXT PRIMARY KEY, "
    "owner_id TEXT NOT NULL REFERENCES {s}.owners(owner_id), created_at BIGINT NOT NULL, "
    "expires_at BIGINT, uses_left BIGINT, revoked_at BIGINT)",
    "CREATE INDEX IF NOT EXISTS invites_owner ON {s}.invites(owner_id)",
    "CREATE TABLE IF NOT EXISTS {s}.e2e_owners (owner_id TEXT PRIMARY KEY "
    "REFERENCES {s}.owners(owner_id), key_id TEXT NOT NULL, enabled_at BIGINT NOT NULL)",
    # The live pokes' NOTIFY, in a transaction of its own that does not wait for
    # its commit to be flushed (it writes nothing): see `PgExchange.run`.
    "CREATE OR REPLACE FUNCTION {s}.recip_poke(p_schema text) RETURNS void "
    "LANGUAGE plpgsql AS $body$ BEGIN "
    "PERFORM set_config('synchronous_commit', 'off', true); "
    f"PERFORM pg_notify('{NOTIFY_CHANNEL}', p_schema); END $body$",
)

#: Version of `recip_exchanges`: an owner schema without this one gets it (re)created.
EXCHANGE_VERSION: Final = 4


#: Connections one server process may hold (all owners together).
POOL_SIZE: Final = 10
#: How long a request waits for a free connection before the server answers 503.
POOL_TIMEOUT_S: Final = 30.0
_CREATE_ATTEMPTS: Final = 8


def _transient(exc: Exception) -> bool:
    """Whether a DDL failure is a concurrent creator's doing (then trying again is safe)."""
    return any(
        text in str(exc) for text in ("already exists", "concurrently updated", "__migration__")
    )


def owner_schema(prefix: str, owner_id: str) -> str:
    """The schema of one owner's log: derived from the owner's random id only."""
    return f"{prefix}_{owner_id.replace('-', '').lower()}"


def redact(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


def _connection_kwargs(url: str) -> dict[str, Any]:
    parsed = urlparse(url)
    return {
        "dbname": (parsed.path or "/").lstrip("/") or "postgres",
        "host": parsed.hostname or "127.0.0.1",
        "port": parsed.port or 5432,
        "user": unquote(parsed.username or "postgres"),
        "password": unquote(parsed.password or ""),
    }


def split_prefix(url: str, default: str = "recip") -> tuple[str, str]:
    """A database URL without its `?prefix=NAME` option, and that prefix.

    The prefix names this server's schemas, so that several servers (or test
    runs) can share one database without seeing each other.
    """
    parsed = urlparse(url)
    query = parse_qsl(parsed.query)
    prefix = next((v for k, v in query if k == "prefix"), default)
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    if not PREFIX_RE.match(prefix):
        raise StoreError(f"invalid schema prefix {prefix!r}: lower-case letters, digits, _")
    return urlunparse(parsed._replace(query=rest)), prefix


class _SharedPoolDatastore(PostgresDatastore):
    """One owner's schema, borrowing the server process's shared pool.

    The library's datastore owns a pool per instance; ours is handed the shared
    one and never closes it (the `PgBackend` does, once, at shutdown).
    """

    def __init__(self, pool: ConnectionPool[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pool = pool

    @contextmanager
    def get_connection(self) -> Iterator[Any]:
        """A pooled connection speaking *this* owner's composite types.

        Every owner's schema has its own `stored_event_text` type (same name,
        different oid) and psycopg keeps one adapter per name on a connection: a
        connection last used for another owner would send that owner's type.
        So this owner's adapters are registered again at every checkout.
        """
        with super().get_connection() as conn:
            for info in self.psycopg_type_adapters.values():
                register_composite(info, conn)
            yield conn

    def close(self) -> None:
        """The shared pool outlives every owner's datastore."""


class _Rows:
    """The rows of one statement, with the sqlite3 cursor's `fetchone`/`fetchall`."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows


def _run(conn: Any, sql: str, params: Sequence[Any]) -> _Rows:
    cur = conn.cursor(row_factory=tuple_row)
    cur.execute(sql.replace("?", "%s"), tuple(params))
    return _Rows(cur.fetchall() if cur.description is not None else [])


@contextmanager
def _errors() -> Iterator[None]:
    """psycopg's errors as `Accounts` expects them (duplicates as sqlite3's)."""
    import sqlite3

    try:
        yield
    except psycopg.IntegrityError as exc:
        raise sqlite3.IntegrityError(str(exc)) from exc
    except psycopg.Error as exc:
        raise Refusal(503, "unavailable", f"accounts database unavailable: {exc}") from exc


class _InTransaction:
    """Statements of one accounts transaction, on the connection that holds it."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Rows:
        """One statement; a duplicate raises sqlite3's error, as `Accounts` catches it."""
        import sqlite3

        try:
            return _run(self._conn, sql, params)
        except psycopg.IntegrityError as exc:
            raise sqlite3.IntegrityError(str(exc)) from exc


class _PooledConnection:
    """The tiny part of `sqlite3.Connection` that `Accounts` uses, over the pool.

    `Accounts` runs single autocommitted statements with `?` placeholders and
    catches `sqlite3.IntegrityError` for duplicates; this adapter keeps exactly
    those semantics on PostgreSQL, so the accounts rules exist once. The pool's
    connections put the accounts schema first on their `search_path`.
    """

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self._pool = pool

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Rows:
        with _errors(), self._pool.connection() as conn:
            return _run(conn, sql, params)

    @contextmanager
    def transaction(self) -> Iterator[_InTransaction]:
        """Statements on one connection, committed together (or rolled back on error)."""
        with _errors(), self._pool.connection() as conn, conn.transaction():
            yield _InTransaction(conn)

    def close(self) -> None:
        """The pool belongs to the backend."""


class PgAccounts(Accounts):
    """The accounts database in a PostgreSQL schema (same rules as on SQLite)."""

    def __init__(self, pool: ConnectionPool[Any], schema: str) -> None:
        for attempt in range(_CREATE_ATTEMPTS):
            try:
                with pool.connection() as conn, conn.transaction():
                    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                    for ddl in _ACCOUNTS_DDL:
                        conn.execute(ddl.format(s=f'"{schema}"'))
                    for ddl in NUDGE_DDL:  # the nudges' own tables (ADR 0101)
                        conn.execute(ddl.format(s=f'"{schema}"'))
                break
            except psycopg.Error as exc:
                # Workers starting at once race on the same DDL; all of it is idempotent.
                if attempt == _CREATE_ATTEMPTS - 1 or not _transient(exc):
                    raise
                time.sleep(0.05 * (attempt + 1))
        self._db = _PooledConnection(pool)  # type: ignore[assignment]
        # Each statement is atomic on its own; there is no connection to guard.
        self._lock = nullcontext()  # type: ignore[assignment]

    def _read_all(self, sql: str, params: tuple[object, ...]) -> list[Any]:
        return self._db.execute(sql, params).fetchall()

    def close(self) -> None:
        """The pool belongs to the backend."""

    def _transaction(self) -> AbstractContextManager[Executor]:
        pooled: _PooledConnection = self._db  # type: ignore[assignment]
        return pooled.transaction()


class PgPageReader:
    """Pages of an owner's log on PostgreSQL, as the tuples `SyncService` sends."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def page(self, after: int, limit: int) -> list[tuple[int, str, int, str, bytes]]:
        try:
            rows = self._store.notifications(after, limit)
        except PersistenceError as exc:
            raise Refusal(503, "unavailable", f"storage busy, retry: {exc}") from None
        return [(r.id, str(r.originator_id), r.originator_version, r.topic, r.state) for r in rows]

    def close(self) -> None:
        """Nothing of its own to close."""


@dataclass(frozen=True, slots=True)
class Exchanged:
    """What `recip_exchanges` answered one call: the ack and one page (as `PageReader`'s)."""

    acked: int
    rows: list[tuple[int, str, int, str, bytes]]


@dataclass(frozen=True, slots=True)
class PgCall:
    """One device's exchange as the statement takes it: a batch (consecutive) and a page."""

    device_id: str
    token_hash: str
    rows: Sequence[Row]
    cursor: int
    limit: int


#: What one exchange of a group came to: answered, refused, or declined (None).
Outcome = Exchanged | Refusal | None


class PgExchange:
    """Sync exchanges on one owner's log in one round trip (a prepared statement)."""

    def __init__(self, pool: ConnectionPool[Any], schema: str, accounts: str) -> None:
        self._pool = pool
        self._schema = schema
        self._call = (
            f'SELECT * FROM "{schema}".recip_exchanges_v{EXCHANGE_VERSION}'
            "(%b::text[], %b::text[], %b::integer[], %b::text[], %b::bytea[], %b::bigint[], "
            "%b::bigint[], %b::integer[])"
        )
        self._poke = f'SELECT "{accounts}".recip_poke(%s)'

    def run(self, calls: Sequence[PgCall]) -> list[Outcome]:
        """Push each call's batch and read its page, in order, in one transaction.

        Declined (None): the batch does not simply continue the device's stream,
        so the caller stores it through `EventLog.ingest_rows` (nothing of it was
        stored here); every call is declined if the owner's schema (or this
        version's function) is not there yet. A failure of the statement refuses
        them all (503): nothing was stored.

        A push also pokes the live streams' listeners (ADR 0071), pipelined behind
        the exchange in the same round trip but as a transaction of its own: a
        NOTIFY takes a database-wide lock from its commit until that commit is
        flushed, so inside the exchange it would serialize the durable commits of
        every owner, where PostgreSQL otherwise flushes concurrent commits together.
        """
        outcomes: list[Outcome] = [None] * len(calls)
        sent = [i for i, call in enumerate(calls) if consecutive(call.rows)]
        if not sent:
            return outcomes
        params = (
            [calls[i].device_id for i in sent],
            [calls[i].token_hash for i in sent],
            [len(calls[i].rows) for i in sent],
            [row[2] for i in sent for row in calls[i].rows],
            [row[3] for i in sent for row in calls[i].rows],
            [calls[i].rows[0][1] if calls[i].rows else 0 for i in sent],
            [calls[i].cursor for i in sent],
            [calls[i].limit for i in sent],
        )
        pushes = any(calls[i].rows for i in sent)
        try:
            with self._pool.connection() as conn:
                cur = conn.cursor(row_factory=tuple_row)
                if pushes:
                    with conn.pipeline():
                        cur.execute(self._call, params, prepare=True, binary=True)
                        conn.execute(self._poke, (self._schema,), prepare=True)
                else:
                    cur.execute(self._call, params, prepare=True, binary=True)
                answers = cur.fetchall()
        except (psycopg.errors.UndefinedFunction, psycopg.errors.InvalidSchemaName):
            return outcomes  # the owner's schema (or this version's function) is not there yet
        except psycopg.Error as exc:
            busy = Refusal(503, "unavailable", f"storage busy, retry: {exc}")
            return [busy] * len(calls)
        for index, answer in zip(sent, answers, strict=True):
            outcomes[index] = _outcome(answer, calls[index].cursor)
        return outcomes


def _outcome(answer: tuple[Any, ...], cursor: int) -> Outcome:
    """One row of `recip_exchanges` as what the exchange came to."""
    status, acked, head, ids, origins, versions, topics, states = answer
    if status == "unauthorized":
        return Refusal(401, "unauthorized", "invalid device token")
    if status == "cursor_ahead":
        return Refusal(
            409,
            "cursor_ahead",
            f"cursor {cursor} is beyond the end of this server's log "
            f"({head}): the server was restored or replaced; pull from 0",
        )
    if status == "declined":
        return None
    page = list(zip(ids, origins, versions, topics, states, strict=True)) if ids else []
    return Exchanged(int(acked), page)


class PgBackend:
    """A server process's PostgreSQL: one pool, the accounts, the owners' stores."""

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        self.url, self.prefix = split_prefix(url)
        self._kwargs = _connection_kwargs(self.url)
        base = PostgresDatastore(**self._kwargs, schema=self.prefix)
        library_setup: Callable[[Any], None] = base.after_connect_func()
        base.close()
        accounts_first = f'SET search_path TO "{self.prefix}", public'

        def configure(conn: Any) -> None:
            # Autocommit etc. as the library sets them; the accounts tables found
            # unqualified (everything else names its schema), one round trip each.
            library_setup(conn)
            conn.execute(accounts_first)

        self.pool: ConnectionPool[Any] = ConnectionPool(
            connection_class=psycopg.Connection,
            kwargs={**self._kwargs, "row_factory": psycopg.rows.dict_row},
            min_size=1,
            max_size=max(1, pool_size),
            open=False,
            configure=configure,
            timeout=POOL_TIMEOUT_S,
            name=f"recip-{self.prefix}",
        )
        try:
            self.pool.open(wait=True, timeout=10)
            self.accounts = PgAccounts(self.pool, self.prefix)
        except (psycopg.Error, PersistenceError) as exc:
            self.pool.close()
            raise StoreError(f"cannot open PostgreSQL at {redact(self.url)}: {exc}") from exc

    def owner_store(self, owner_id: str, *, create: bool = True) -> Store:
        """The owner's event store in its own schema (created if needed)."""
        schema = owner_schema(self.prefix, owner_id)
        datastore = _SharedPoolDatastore(
            self.pool,
            **self._kwargs,
            schema=schema,
            originator_id_type="text",
            lock_timeout=30,
        )
        recorder = ordered_postgres_recorder(datastore)
        for attempt in range(_CREATE_ATTEMPTS):
            try:
                if create and not self._exists(schema):
                    with datastore.transaction(commit=True) as c:
                        c.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                    recorder.create_table()
                    store = Store(recorder, datastore, postgres=True)
                    self._create_exchange(schema)
                    return store
                datastore.register_type_adapters()  # what create_table ends with
                return Store(recorder, datastore, postgres=True)
            except (PersistenceError, StoreError, psycopg.Error) as exc:
                # Two workers creating the same owner's schema at once: PostgreSQL's
                # IF NOT EXISTS is not atomic against a concurrent creator, the loser
                # sees a duplicate; every statement is idempotent, so try again.
                if attempt == _CREATE_ATTEMPTS - 1 or not _transient(exc):
                    raise StoreError(f"cannot open the log of owner {owner_id}: {exc}") from exc
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def head(self, owner_id: str) -> int | None:
        """The highest position of the owner's log (None if it has no tables yet)."""
        statement = pg_head_sql(owner_schema(self.prefix, owner_id))
        try:
            with self.pool.connection() as conn:
                row = conn.execute(statement).fetchone()
        except psycopg.errors.UndefinedTable:
            return None
        except psycopg.Error as exc:
            raise Refusal(503, "unavailable", f"storage busy, retry: {exc}") from None
        return int(row["head"] or 0) if row else 0

    def _exists(self, schema: str) -> bool:
        """Whether the owner's tables and function are there (then no DDL is needed).

        The exchange function is created last, so its presence means all are.
        """
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT to_regproc(%s) IS NOT NULL AS present",
                (f'"{schema}".recip_exchanges_v{EXCHANGE_VERSION}',),
            ).fetchone()
        return bool(row and row["present"])

    def _create_exchange(self, schema: str) -> None:
        """(Re)create the owner's exchange function (idempotent)."""
        ddl = pg_exchange_function_sql(
            schema, self.prefix, version=EXCHANGE_VERSION, lock_timeout_s=int(POOL_TIMEOUT_S)
        )
        with self.pool.connection() as conn:
            conn.execute(ddl)

    def exchange(self, owner_id: str) -> PgExchange:
        """The one-statement exchange on an owner's log (`owner_store` creates it)."""
        return PgExchange(self.pool, owner_schema(self.prefix, owner_id), self.prefix)

    def owner_schemas(self) -> list[str]:
        """Every owner schema of this prefix (for tests and administration)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s ORDER BY nspname",
                (self.prefix.replace("_", r"\_") + r"\_%",),
            ).fetchall()
        return [str(r["nspname"]) for r in rows]

    def close(self) -> None:
        self.pool.close()


def drop_prefix(url: str) -> None:
    """Drop every schema of a prefix (tests; `recip` never calls this)."""
    bare, prefix = split_prefix(url)
    with psycopg.connect(bare, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = %s OR nspname LIKE %s",
            (prefix, prefix.replace("_", r"\_") + r"\_%"),
        ).fetchall()
        for (name,) in rows:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def add_owner(url: str, name: str, invite: InvitePolicy | None = None) -> tuple[Owner, str]:
    """Create an owner and its schema at once (workers then only open it)."""
    backend = PgBackend(url, pool_size=1)
    try:
        owner, token = backend.accounts.add_owner(name, invite)
        backend.owner_store(owner.owner_id).close()
    finally:
        backend.close()
    return owner, token
