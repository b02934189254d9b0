"""A real `recip serve` process on SQLite or on PostgreSQL with several workers.

Shared by the end-to-end tests of the scale work (PostgreSQL workers, the live
stream, the read API): it starts the server through the CLI exactly as a person
would, waits for `/healthz`, and creates owners through `recip admin add-owner`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from server.pg import owner_schema, split_prefix
from server.run import free_port
from tests.conftest import ROOT, run_recip_process


@dataclass
class Served:
    """`recip serve` in a child process; `database_url` None means SQLite in `data`."""

    data: Path
    database_url: str | None = None
    workers: int = 1
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _store_args(self) -> list[str]:
        if self.database_url is None:
            return ["--data", str(self.data)]
        return ["--database-url", self.database_url]

    def start(self) -> Served:
        args = ["serve", "--port", str(self.port), "--data", str(self.data)]
        if self.database_url is not None:
            args += ["--database-url", self.database_url, "--workers", str(self.workers)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli", *args],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"recip serve exited with {self.process.returncode}")
            time.sleep(0.05)
        raise RuntimeError("recip serve did not become healthy")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server and its workers (their own process group, by its id)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)
        self.process = None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.stop(sig)

    def add_owner(self, name: str, scratch: Path) -> str:
        out = run_recip_process(scratch, "admin", "add-owner", name, *self._store_args())
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
