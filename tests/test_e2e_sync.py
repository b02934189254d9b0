"""End to end: a real `recip serve` process, device homes driven through the real CLI.

Three devices work offline on the same contacts (concurrent edits, merges,
archives, asks, gives), sync through the server, and must then print identical
views. The server is killed with SIGKILL in the middle of a push and restarted:
every acknowledged event survives and syncing completes. Revocation and tokens
are checked against the live server.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from cli.home import Home
from cli.main import cli
from core import commands
from server.run import free_port
from sync.protocol import Format
from sync.remote import load as load_remote
from sync.replica import Replica
from tests.conftest import ROOT, run_recip_process

OPEN = ("--uses", "unlimited", "--expires", "never")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@dataclass
class LiveServer:
    data: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    #: More `recip serve` options (a PostgreSQL URL).
    options: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cli",
                "serve",
                "--port",
                f"{self.port}",
                "--data",
                f"{self.data}",
                *self.options,
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"recip serve exited with {self.process.returncode}")
            time.sleep(0.05)
        raise RuntimeError("recip serve did not become healthy")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)
        self.process = None

    def add_owner(self, name: str, scratch: Path) -> str:
        out = run_recip_process(
            scratch, "admin", "add-owner", name, *OPEN, "--data", str(self.data)
        )
        return out.stdout.strip().splitlines()[-1]

    def owner_log(self, owner_id: str) -> list[tuple[str, int]]:
        """(device, seq) of every row in the owner's file, read straight from SQLite."""
        db = sqlite3.connect(self.data / "owners" / f"{owner_id}.db")
        try:
            rows = db.execute("SELECT originator_id, originator_version FROM stored_events")
            return [(str(d), int(s)) for d, s in rows]
        finally:
            db.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path / "server", free_port())
    live.start()
    yield live
    live.kill(signal.SIGTERM)


def recip(home: Path, *args: str, check: bool = True) -> str:
    """The real `recip` command, run in this process (the server is a real process).

    Device commands run in process to keep the suite fast; `recip sync` as a
    separate process is exercised by the SIGKILL test, `recip serve` by all.
    """
    result = CliRunner().invoke(cli, ["--home", str(home), *args])
    if check:
        assert result.exit_code == 0, f"recip {' '.join(args)}: {result.output}"
        return result.stdout
    assert result.exit_code == 1, result.output
    return result.stderr


def device(tmp_path: Path, server: LiveServer, token: str, name: str) -> Path:
    home = tmp_path / name
    recip(home, "init", "--device-name", name)
    recip(home, "remote", "add", server.url, "--token", token, "--device-name", name)
    return home


def sync(home: Path) -> dict[str, int]:
    summary: dict[str, int] = json.loads(recip(home, "sync", "--json"))
    assert set(summary) >= {"pushed", "pulled", "cursor"}
    return summary


def views(home: Path) -> list[str]:
    """Every view the CLI prints as JSON."""
    return [
        recip(home, "contact", "list", "--all", "--json"),
        recip(home, "ledger", "--json"),
        recip(home, "cold", "--all", "--json"),
    ]


def test_three_devices_work_offline_and_converge(tmp_path: Path, server: LiveServer) -> None:
    token = server.add_owner("alice", tmp_path / "admin")
    laptop, phone, tablet = (device(tmp_path, server, token, n) for n in ("lap", "phone", "tab"))

    ann = recip(laptop, "contact", "add", "Ann", "--circle", "close").strip()
    bob = recip(laptop, "contact", "add", "Bob").strip()
    assert sync(laptop)["pushed"] == 2
    for home in (phone, tablet):
        assert sync(home)["pulled"] == 2

    # Offline, concurrently, on the same contacts.
    recip(laptop, "contact", "edit", ann, "--name", "Ann Laptop")
    recip(laptop, "log", ann, "--channel", "call")
    recip(phone, "contact", "edit", ann, "--name", "Ann Phone", "--circle", "inner")
    recip(phone, "contact", "merge", ann, bob)
    recip(phone, "give", ann, "an intro to a recruiter", "--kind", "referral")
    recip(tablet, "contact", "merge", bob, ann)
    recip(tablet, "ask", bob, "a reference letter")
    recip(tablet, "contact", "add", "Cy")
    recip(tablet, "contact", "archive", "Cy")

    for home in (laptop, phone, tablet, laptop, phone):
        sync(home)
    assert sync(tablet) == {"pushed": 0, "pulled": 0, "cursor": 11}

    first = views(laptop)
    assert json.loads(first[0]), "contact list is empty"
    assert views(phone) == first
    assert views(tablet) == first
    events = [recip(h, "events", "--json") for h in (laptop, phone, tablet)]
    as_sets = [sorted(json.dumps(_local_free(e)) for e in _events(out)) for out in events]
    assert as_sets[0] == as_sets[1] == as_sets[2]
    assert len(as_sets[0]) == 11

    devices = json.loads(recip(laptop, "remote", "devices", "--json"))
    assert sorted(d["name"] for d in devices) == ["lap", "phone", "tab"]
    assert sum(d["last_seq"] for d in devices) == 11


def _events(output: str) -> list[dict[str, object]]:
    data = json.loads(output)
    return data if isinstance(data, list) else data["events"]


def _local_free(event: dict[str, object]) -> dict[str, object]:
    """An event without what is local to one replica (its position in that log)."""
    return {k: v for k, v in event.items() if k != "position"}


def test_revoked_device_is_refused_and_tokens_checked(tmp_path: Path, server: LiveServer) -> None:
    token = server.add_owner("alice", tmp_path / "admin")
    laptop = device(tmp_path, server, token, "laptop")
    phone = device(tmp_path, server, token, "phone")
    recip(phone, "contact", "add", "Dee")
    sync(phone)
    recip(laptop, "remote", "revoke", "phone")
    recip(phone, "contact", "add", "Eve")
    error = recip(phone, "sync", check=False)
    assert "revoked" in error
    assert sync(laptop)["pulled"] == 1  # Dee, not Eve

    other = server.add_owner("bob", tmp_path / "admin")
    assert other != token
    body = {"device_id": load_remote(laptop).device_id, "events": [], "cursor": 0}
    for bad in (None, "Bearer nope", f"Bearer {token}", "Bearer"):
        headers = {} if bad is None else {"Authorization": bad}
        answer = httpx.post(f"{server.url}/v1/sync", json=body, headers=headers)
        assert answer.status_code == 401, (bad, answer.text)


def test_sigkill_during_push_loses_no_acknowledged_event(
    tmp_path: Path, server: LiveServer
) -> None:
    token = server.add_owner("alice", tmp_path / "admin")
    laptop = device(tmp_path, server, token, "laptop")
    phone = device(tmp_path, server, token, "phone")
    home = Home(laptop)
    log = home.open_log()
    now = commands.Now.system()
    total = 30_000
    for start in range(0, total, 5_000):
        log.append([commands.add_contact(now, f"person {start + i}") for i in range(5_000)])
    log.store.close()
    owner = load_remote(laptop).owner_id

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    pushing = subprocess.Popen(
        [sys.executable, "-m", "cli", "--home", str(laptop), "sync", "--json"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _count(server, owner):
        time.sleep(0.02)
    server.kill(signal.SIGKILL)
    held_at_kill = set(server.owner_log(owner))
    assert 0 < len(held_at_kill) < total, "the kill should land in the middle of the push"
    server.start()  # while the device is still retrying with backoff
    after_restart = set(server.owner_log(owner))
    assert held_at_kill <= after_restart
    pushing.wait(timeout=120)
    # It resumed on its own (its retries outlasted the restart), or gave up cleanly.
    assert pushing.returncode == 0 or b"cannot reach" in pushing.stderr.read()  # type: ignore[union-attr]

    log = home.open_log()
    acked = Replica(log, _Unused(), owner).acked()
    log.store.close()
    device_id = load_remote(laptop).device_id
    assert {(device_id, s) for s in range(1, acked + 1)} <= set(server.owner_log(owner))

    sync(laptop)
    final = server.owner_log(owner)
    assert len(final) == len(set(final)) == total
    assert sync(phone)["pulled"] == total
    assert json.loads(recip(phone, "contact", "list", "--json")) == json.loads(
        recip(laptop, "contact", "list", "--json")
    )


def _count(server: LiveServer, owner: str) -> int:
    path = server.data / "owners" / f"{owner}.db"
    if not path.exists():
        return 0
    try:
        return len(server.owner_log(owner))
    except sqlite3.OperationalError:
        return 0


class _Unused:
    """A transport for reading a replica's durable state only."""

    format: Format = "msgpack"

    def exchange(self, body: bytes) -> bytes:  # pragma: no cover - never called
        raise AssertionError("no exchange expected")
