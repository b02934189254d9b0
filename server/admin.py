"""The accounts of a server's storage, opened for `recip admin` (no HTTP, no logs open).

The same rules as the running server's, on SQLite (`DATA/accounts.db`) or on
PostgreSQL; safe to use while the server runs (each change is one transaction).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .accounts import Accounts


def where(data: Path, database_url: str | None) -> str:
    """The storage, named for a person (a database password never shown)."""
    if database_url:
        from .pg import redact

        return f"PostgreSQL {redact(database_url)}"
    return str(data)


@contextmanager
def open_accounts(data: Path, database_url: str | None) -> Iterator[Accounts]:
    """The accounts of the server whose storage is `data` or `database_url`."""
    if database_url:
        from .pg import PgBackend

        backend = PgBackend(database_url, pool_size=1)
        try:
            yield backend.accounts
        finally:
            backend.close()
        return
    accounts = Accounts(data / "accounts.db")
    try:
        yield accounts
    finally:
        accounts.close()
