"""A real `recip serve` process on SQLite or on PostgreSQL with several workers.

Shared by the end-to-end tests of the server (PostgreSQL workers, the live
stream, the read API): it starts the server through the CLI exactly as a person
would (`server.process.ServeProcess`) and creates owners through
`recip admin add-owner`.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from server.pg import drop_prefix, owner_schema, split_prefix
from server.process import ServeProcess
from tests.conftest import PG_URL, run_recip_process

OPEN = ("--uses", "unlimited", "--expires", "never")


@dataclass
class Served:
    """`recip serve` in a child process; `database_url` None means SQLite in `data`."""

    data: Path
    database_url: str | None = None
    workers: int = 1
    server: ServeProcess = field(init=False)

    def __post_init__(self) -> None:
        args = ["--data", str(self.data)]
        if self.database_url is not None:
            args += ["--database-url", self.database_url, "--workers", str(self.workers)]
        self.server = ServeProcess(args)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> Served:
        self.server.start()
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.server.stop(sig)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.server.stop(sig)

    def _store_args(self) -> list[str]:
        if self.database_url is None:
            return ["--data", str(self.data)]
        return ["--database-url", self.database_url]

    def add_owner(self, name: str, scratch: Path) -> str:
        out = run_recip_process(scratch, "admin", "add-owner", name, *OPEN, *self._store_args())
        return out.stdout.strip().splitlines()[-1]

    def owner_log(self, owner_id: str) -> list[tuple[str, int]]:
        """(device, seq) of every event the owner's log holds."""
        assert self.database_url is not None, "SQLite logs are read by tests/test_e2e_sync"
        bare, prefix = split_prefix(self.database_url)
        schema = owner_schema(prefix, owner_id)
        with psycopg.connect(bare) as conn:
            rows = conn.execute(
                f'SELECT originator_id, originator_version FROM "{schema}".stored_events'
            ).fetchall()
        return [(str(d), int(s)) for d, s in rows]


def served_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """The body of a fixture parametrised "sqlite" / "postgres-2-workers"."""
    if request.param == "sqlite":
        served = Served(tmp_path / "server").start()
        yield served
        served.stop()
        return
    if not request.getfixturevalue("pg_available"):
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    url = f"{PG_URL}?prefix=t_{uuid.uuid4().hex[:12]}"
    served = Served(tmp_path / "server", database_url=url, workers=2).start()
    yield served
    served.stop()
    drop_prefix(url)


def stored_rows(url: str, owner_id: str) -> list[tuple[str, int, str]]:
    """An owner's log on PostgreSQL in log order: device, seq and the writing transaction."""
    bare, prefix = split_prefix(url)
    with psycopg.connect(bare) as conn:
        rows = conn.execute(
            "SELECT originator_id, originator_version, xmin::text FROM "
            f'"{owner_schema(prefix, owner_id)}".stored_events ORDER BY notification_id'
        ).fetchall()
    return [(str(d), int(v), str(x)) for d, v, x in rows]
