"""Backup of a live server and restore into a fresh one (ADR 0114).

The main test backs a server up while its devices keep recording and syncing,
restores the backup into a fresh server (SQLite or PostgreSQL, from either),
syncs every device against it, and checks that every event is there exactly
once, on the server and on every device of its owner.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import cli
from core import commands
from core.ids import new_id
from core.log import EventLog
from core.store import open_store
from server.accounts import OPEN_INVITE
from server.backup import BackupError, backup, read_manifest, restore
from server.inprocess import LocalTransport
from server.service import ServerConfig, SyncService
from sync.replica import Replica
from tests.conftest import PG_URL, run_recip_process
from tests.test_operations import serve, stop

__all__ = ["serve"]  # the fixture, shared with tests.test_operations

NOW = commands.Now(1_790_000_000_000, 0)


@dataclass
class Device:
    owner_id: str
    log: EventLog
    token: str

    def sync(self, service: SyncService) -> None:
        Replica(self.log, LocalTransport(service, self.token), self.owner_id).sync()

    def ids(self) -> list[str]:
        return [e.event_id for e in self.log.events()]


@pytest.fixture
def urls(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Fresh PostgreSQL prefixes for a test (dropped afterwards)."""
    made: list[str] = []
    yield made
    from server.pg import drop_prefix

    for url in made:
        drop_prefix(url)


def storage(kind: str, tmp_path: Path, name: str, urls: list[str], pg: bool) -> ServerConfig:
    if kind == "postgres":
        if not pg:
            pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
        url = f"{PG_URL}?prefix=t_{uuid.uuid4().hex[:12]}"
        urls.append(url)
        return ServerConfig(data=tmp_path / name, database_url=url)
    return ServerConfig(data=tmp_path / name)


KINDS = [
    ("sqlite", "sqlite"),
    pytest.param("postgres", "postgres", marks=pytest.mark.postgres),
    pytest.param("sqlite", "postgres", marks=pytest.mark.postgres),
    pytest.param("postgres", "sqlite", marks=pytest.mark.postgres),
]


@pytest.mark.parametrize(("source_kind", "target_kind"), KINDS)
def test_a_backup_taken_during_syncs_restores_with_nothing_lost_or_duplicated(
    tmp_path: Path,
    urls: list[str],
    pg_available: bool,
    source_kind: str,
    target_kind: str,
) -> None:
    source_config = storage(source_kind, tmp_path, "source", urls, pg_available)
    target_config = storage(target_kind, tmp_path, "target", urls, pg_available)
    source = SyncService(source_config)
    devices: list[Device] = []
    for owner_name, count in (("alice", 3), ("bob", 1)):
        owner, token = source.accounts.add_owner(owner_name, OPEN_INVITE)
        for i in range(count):
            device_id = new_id()
            _, device_token = source.accounts.enroll(token, device_id, f"{owner_name}-{i}")
            log = EventLog(open_store(str(tmp_path / f"{owner_name}-{i}.db")), device_id)
            devices.append(Device(owner.owner_id, log, device_token))

    rounds_done = threading.Semaphore(0)
    stop = threading.Event()
    failures: list[BaseException] = []

    def sync_loop() -> None:
        try:
            rounds = 0
            while not stop.is_set() or rounds < 6:
                for n, device in enumerate(devices):
                    device.log.append(
                        [commands.add_contact(NOW, f"r{rounds} d{n} c{i}") for i in range(5)]
                    )
                    device.sync(source)
                rounds += 1
                rounds_done.release()
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
            rounds_done.release()

    loop = threading.Thread(target=sync_loop)
    loop.start()
    for _ in range(2):
        rounds_done.acquire()
    dest = tmp_path / "backup"
    manifest = backup(source_config.data, source_config.database_url, dest)
    stop.set()
    loop.join(timeout=300)
    assert not failures, failures
    source.close()

    assert read_manifest(dest) == manifest
    assert len(manifest.owners) == 2 and all(o.head > 0 for o in manifest.owners)
    restore(dest, target_config.data, target_config.database_url)
    target = SyncService(target_config)
    try:
        for _ in range(2):  # the second pass brings everyone the first one pushed
            for device in devices:
                device.sync(target)
        for owner_id in {d.owner_id for d in devices}:
            mine = [d for d in devices if d.owner_id == owner_id]
            recorded = sorted(
                e.event_id for d in mine for e in d.log.events() if e.device_id == d.log.device_id
            )
            with target.log(owner_id) as log:
                on_server = [e.event_id for e in log.events()]
            assert Counter(on_server) == Counter(recorded)  # each exactly once
            for d in mine:
                assert sorted(d.ids()) == recorded
    finally:
        target.close()
        for device in devices:
            device.log.store.close()


def test_restore_refuses_storage_that_holds_a_server(tmp_path: Path) -> None:
    service = SyncService(ServerConfig(data=tmp_path / "a"))
    service.accounts.add_owner("alice")
    service.close()
    backup(tmp_path / "a", None, tmp_path / "b")
    with pytest.raises(BackupError, match="already holds a server"):
        restore(tmp_path / "b", tmp_path / "a", None)
    with pytest.raises(BackupError, match="not empty"):
        backup(tmp_path / "a", None, tmp_path / "b")
    with pytest.raises(BackupError, match="not a Reciprocity backup"):
        restore(tmp_path / "a", tmp_path / "c", None)
    with pytest.raises(BackupError, match="no server data"):
        backup(tmp_path / "nothing", None, tmp_path / "d")


def test_the_backup_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ("--data", str(tmp_path / "server"))
    assert runner.invoke(cli, ["admin", "add-owner", "alice", *data]).exit_code == 0
    done = runner.invoke(cli, ["admin", "backup", str(tmp_path / "b"), *data])
    assert done.exit_code == 0 and "1 owner(s)" in done.stdout
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["source"] == "sqlite"
    again = runner.invoke(cli, ["admin", "backup", str(tmp_path / "b"), *data])
    assert again.exit_code == 1 and "not empty" in again.stderr
    back = runner.invoke(
        cli, ["admin", "restore", str(tmp_path / "b"), "--data", str(tmp_path / "new")]
    )
    assert back.exit_code == 0, back.output
    with sqlite3.connect(tmp_path / "new" / "accounts.db") as conn:
        assert conn.execute("SELECT name FROM owners").fetchall() == [("alice",)]


def listing(home: Path) -> str:
    return run_recip_process(home, "contact", "list", "--json").stdout


def test_recip_admin_backup_of_a_running_recip_serve(serve: Any, tmp_path: Path) -> None:
    """The commands, as processes: back up a live `recip serve` while devices sync,
    restore into new storage, serve it at the same address, and sync again."""
    data = tmp_path / "server"
    served = serve("--data", str(data))
    added = run_recip_process(
        tmp_path / "a", "admin", "add-owner", "ada", "--uses", "2", "--data", str(data)
    )
    token = added.stdout.strip().splitlines()[-1]
    homes = [tmp_path / "laptop", tmp_path / "phone"]
    for home in homes:
        run_recip_process(home, "init", "--device-name", home.name)
        run_recip_process(home, "remote", "add", served.url, "--token", token)

    def work(rounds: range) -> None:
        for r in rounds:
            for home in homes:
                run_recip_process(home, "contact", "add", f"{home.name} {r}")
                run_recip_process(home, "sync")

    work(range(2))
    during = threading.Thread(target=work, args=(range(2, 5),))
    during.start()
    run_recip_process(tmp_path / "a", "admin", "backup", str(tmp_path / "b"), "--data", str(data))
    during.join(timeout=300)
    stop(served)
    run_recip_process(
        tmp_path / "a", "admin", "restore", str(tmp_path / "b"), "--data", str(tmp_path / "new")
    )
    again = serve("--data", str(tmp_path / "new"), port=served.port)
    for _ in range(2):
        for home in homes:
            run_recip_process(home, "sync")
    listings = [
        sorted(
            c["name"] for c in json.loads(run_recip_process(h, "contact", "list", "--json").stdout)
        )
        for h in homes
    ]
    expected = sorted(f"{h.name} {r}" for h in homes for r in range(5))  # none lost, none twice
    assert listings == [expected, expected]
    stop(again)
