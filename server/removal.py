"""An owner's full erase on the server: `recip admin remove-owner` (ADR 0131).

The accounts rows go first, in one transaction, so every token of the owner is
refused from then on (a running server asks the accounts database, or on
PostgreSQL its exchange statement does). Then the owner's data itself:

- SQLite: the owner's log file with its `-wal`, `-shm` and `-journal`, and the
  accounts database is checkpointed and vacuumed, so the deleted rows' text
  (the owner's name, a digest address) is not left in free pages or the WAL;
- PostgreSQL: the owner's schema is dropped (`DROP SCHEMA ... CASCADE`) in the
  same transaction as the accounts rows, and the shared tables vacuumed.

On both, any read-API view mirror of the owner in the data directory goes too.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing, suppress
from pathlib import Path

from .accounts import OWNED_TABLES, Accounts, Owner

_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def find(data: Path, database_url: str | None, ref: str) -> Owner:
    """The owner `ref` names (refused, one line, if none)."""
    from .admin import open_accounts

    with open_accounts(data, database_url) as accounts:
        return accounts.find_owner(ref)


def remove_owner(data: Path, database_url: str | None, ref: str) -> Owner:
    """Erase the owner `ref` names: accounts rows, log, files; returns who it was."""
    owner = _remove_pg(database_url, ref) if database_url else _remove_sqlite(data, ref)
    for mirror in sorted((data / "views").glob(f"*/{owner.owner_id}.db*")):
        mirror.unlink(missing_ok=True)
    return owner


def _remove_sqlite(data: Path, ref: str) -> Owner:
    accounts_db = data / "accounts.db"
    accounts = Accounts(accounts_db)
    try:
        owner = accounts.find_owner(ref)
        accounts.delete_owner(owner.owner_id)
    finally:
        accounts.close()
    for suffix in _SIDE_FILES:
        (data / "owners" / f"{owner.owner_id}.db{suffix}").unlink(missing_ok=True)
    compact(accounts_db)
    return owner


def compact(path: Path) -> None:
    """Rewrite a SQLite database without its free pages, and empty its WAL.

    A deleted row's bytes stay in the file's free pages (and in the WAL) until
    the pages are reused; VACUUM rebuilds the file from the live rows only.
    """
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _remove_pg(url: str, ref: str) -> Owner:
    import psycopg

    from .pg import PgBackend, owner_schema

    backend = PgBackend(url, pool_size=1)
    try:
        owner = backend.accounts.find_owner(ref)
        schema = owner_schema(backend.prefix, owner.owner_id)
        backend.accounts.delete_owner(
            owner.owner_id, (f'DROP SCHEMA IF EXISTS "{schema}" CASCADE',)
        )
        with backend.pool.connection() as conn:
            conn.autocommit = True
            for table in OWNED_TABLES:
                # A concurrent vacuum refuses ours: the rows are deleted anyway.
                with suppress(psycopg.Error):
                    conn.execute(f'VACUUM "{backend.prefix}".{table}')
    finally:
        backend.close()
    return owner
