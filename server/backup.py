"""Backups of a live server, and restoring one into empty storage (ADR 0114).

A backup is a directory in one format whatever the server ran on:

- `owners/<owner id>.db`: each owner's event log as a SQLite event store, every
  event at its server position (the SQLite rowid), so that devices' cursors
  stay meaningful after a restore;
- `accounts.db`: owners, devices (token hashes only) and invites;
- `manifest.json`: the format, when, from what, and each owner's head.

From SQLite, each file is copied with SQLite's online backup API (a consistent
copy of a file while the server writes to it); the owners' logs are copied
before the accounts, so every device in the backup finds its owner and an
owner's log is never newer than its accounts. From PostgreSQL, everything is
read in one REPEATABLE READ transaction: one snapshot of the whole server.

A restored server holds a prefix of what the devices may have seen. Devices
recover by themselves: a cursor beyond the restored head is answered
`cursor_ahead` (the device pulls from 0), and a device whose last events are
missing is told its acknowledged sequence and pushes them again.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, Final

import msgspec

from core.errors import ReciprocityError
from core.store import (
    SQLITE_ALL_ROWS,
    SQLITE_INSERT_AT,
    open_store,
    pg_events_table,
    pg_insert_at_sql,
    pg_page_sql,
    pg_reset_positions_sql,
    sqlite_head,
)

FORMAT: Final = 1
#: Events copied per statement from PostgreSQL.
PAGE: Final = 5_000
_ACCOUNT_TABLES: Final = ("owners", "devices", "invites")


class BackupError(ReciprocityError):
    """A backup or restore that cannot be done (nothing was changed)."""


class OwnerEntry(msgspec.Struct, frozen=True):
    owner_id: str
    head: int


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    format: int
    created_at: str
    source: str
    owners: list[OwnerEntry]


def _empty_dest(dest: Path) -> None:
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty: back up into a new directory")
    (dest / "owners").mkdir(parents=True, exist_ok=True)


def _copy_sqlite(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy while writers go on.

    One step (all pages at once): a backup in several steps starts again whenever
    another connection writes between two steps, and might never end on a busy
    server, while one step reads one WAL snapshot and never blocks the writers.
    The source is opened read-write although only read: a WAL database opened
    read-only cannot start without its shared-memory file, which a copy lacks.
    """
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.execute("PRAGMA busy_timeout=30000")
        src.backup(dst)


def _head(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return sqlite_head(conn)


def _write_manifest(dest: Path, source: str, owners: list[OwnerEntry]) -> Manifest:
    manifest = Manifest(
        format=FORMAT,
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        source=source,
        owners=owners,
    )
    (dest / "manifest.json").write_bytes(msgspec.json.format(msgspec.json.encode(manifest)))
    return manifest


def read_manifest(source: Path) -> Manifest:
    try:
        manifest = msgspec.json.decode((source / "manifest.json").read_bytes(), type=Manifest)
    except (OSError, msgspec.DecodeError) as exc:
        raise BackupError(f"{source} is not a Reciprocity backup: {exc}") from None
    if manifest.format != FORMAT:
        raise BackupError(f"{source}: backup format {manifest.format} is not {FORMAT}")
    return manifest


def backup(data: Path, database_url: str | None, dest: Path) -> Manifest:
    """Copy a (running) server's storage into the new directory `dest`."""
    _empty_dest(dest)
    if database_url:
        return _backup_pg(database_url, dest)
    accounts = data / "accounts.db"
    if not accounts.is_file():
        raise BackupError(f"no server data in {data} (no accounts.db)")
    heads: dict[str, int] = {}
    for path in sorted((data / "owners").glob("*.db")):
        target = dest / "owners" / path.name
        _copy_sqlite(path, target)
        heads[path.stem] = _head(target)
    _copy_sqlite(accounts, dest / "accounts.db")
    with closing(sqlite3.connect(dest / "accounts.db")) as conn:
        ids = [r[0] for r in conn.execute("SELECT owner_id FROM owners ORDER BY owner_id")]
    # An owner whose log did not exist yet when the logs were copied has none in
    # the backup: after a restore its devices push their events again.
    return _write_manifest(dest, "sqlite", [OwnerEntry(i, heads.get(i, 0)) for i in ids])


def restore(source: Path, data: Path, database_url: str | None) -> Manifest:
    """Restore a backup into empty storage (refused if it holds any owner)."""
    manifest = read_manifest(source)
    if database_url:
        _restore_pg(source, manifest, database_url)
        return manifest
    if (data / "accounts.db").exists() or any((data / "owners").glob("*.db")):
        raise BackupError(f"{data} already holds a server: restore into an empty directory")
    (data / "owners").mkdir(parents=True, exist_ok=True)
    for entry in manifest.owners:
        _copy_sqlite(
            source / "owners" / f"{entry.owner_id}.db", data / "owners" / f"{entry.owner_id}.db"
        )
    _copy_sqlite(source / "accounts.db", data / "accounts.db")
    return manifest


# -- PostgreSQL -------------------------------------------------------------------


def _backup_pg(url: str, dest: Path) -> Manifest:
    import psycopg

    from .accounts import Accounts
    from .pg import owner_schema, split_prefix

    bare, prefix = split_prefix(url)
    Accounts(dest / "accounts.db").close()  # the accounts schema, empty
    owners: list[OwnerEntry] = []
    with psycopg.connect(bare) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        with closing(sqlite3.connect(dest / "accounts.db")) as out, out:
            for table in _ACCOUNT_TABLES:
                rows = conn.execute(f'SELECT * FROM "{prefix}".{table}').fetchall()
                if rows:
                    marks = ", ".join("?" * len(rows[0]))
                    out.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        ids = [r[0] for r in conn.execute(f'SELECT owner_id FROM "{prefix}".owners').fetchall()]
        for owner_id in ids:
            schema = owner_schema(prefix, owner_id)
            present = conn.execute(
                "SELECT to_regclass(%s) IS NOT NULL", (pg_events_table(schema),)
            ).fetchone()
            target = dest / "owners" / f"{owner_id}.db"
            open_store(str(target)).close()
            head = _copy_pg_log(conn, schema, target) if present and present[0] else 0
            owners.append(OwnerEntry(owner_id, head))
    return _write_manifest(dest, "postgresql", owners)


def _pages(conn: Any, schema: str) -> Iterator[list[tuple[Any, ...]]]:
    after = 0
    while True:
        rows = conn.execute(pg_page_sql(schema), (after, PAGE)).fetchall()
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def _copy_pg_log(conn: Any, schema: str, target: Path) -> int:
    head = 0
    with closing(sqlite3.connect(target)) as out, out:
        for rows in _pages(conn, schema):
            out.executemany(
                SQLITE_INSERT_AT,
                [(r[0], str(r[1]), r[2], r[3], bytes(r[4])) for r in rows],
            )
            head = int(rows[-1][0])
        meta = conn.execute(f'SELECT name, position, value FROM "{schema}".recip_meta').fetchall()
        out.executemany("INSERT OR REPLACE INTO recip_meta VALUES (?, ?, ?)", meta)
    return head


def _restore_pg(source: Path, manifest: Manifest, url: str) -> None:
    from .pg import PgBackend, owner_schema

    backend = PgBackend(url, pool_size=1)
    try:
        if backend.accounts.owners():
            raise BackupError("the database already holds a server: restore into an empty one")
        prefix = backend.prefix
        with (
            backend.pool.connection() as conn,
            conn.transaction(),
            closing(sqlite3.connect(source / "accounts.db")) as accounts,
        ):
            for table in _ACCOUNT_TABLES:
                rows = accounts.execute(f"SELECT * FROM {table}").fetchall()
                if rows:
                    marks = ", ".join(["%s"] * len(rows[0]))
                    conn.cursor().executemany(
                        f'INSERT INTO "{prefix}".{table} VALUES ({marks})', rows
                    )
        for entry in manifest.owners:
            backend.owner_store(entry.owner_id).close()
            schema = owner_schema(prefix, entry.owner_id)
            _load_pg_log(backend, schema, source / "owners" / f"{entry.owner_id}.db")
    finally:
        backend.close()


def _load_pg_log(backend: Any, schema: str, path: Path) -> None:
    with closing(sqlite3.connect(path)) as src:
        cursor = src.execute(SQLITE_ALL_ROWS)
        meta = src.execute("SELECT name, position, value FROM recip_meta").fetchall()
        with backend.pool.connection() as conn, conn.transaction():
            while rows := cursor.fetchmany(PAGE):
                conn.cursor().executemany(pg_insert_at_sql(schema), rows)
            conn.execute(pg_reset_positions_sql(schema))
            conn.cursor().executemany(
                f'INSERT INTO "{schema}".recip_meta VALUES (%s, %s, %s) '
                "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
                "value = excluded.value",
                meta,
            )


__all__ = ["BackupError", "Manifest", "backup", "read_manifest", "restore"]
