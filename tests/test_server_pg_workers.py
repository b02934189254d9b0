"""The sync server on PostgreSQL, as several workers see it.

Two `SyncService`s over the same database, each with its own connection pool,
are two workers in all that matters (uvicorn's workers share nothing else); the
last test runs the real thing: `recip serve --workers 2` and devices through the
CLI. Needs the PostgreSQL server at 127.0.0.1:5432.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from core import commands
from core.ids import new_id
from core.log import EventLog
from core.store import open_store
from server.accounts import OPEN_INVITE
from server.inprocess import LocalTransport
from server.pg import owner_schema, split_prefix
from server.service import ServerConfig, SyncService
from sync import protocol
from sync.protocol import SyncRequest
from sync.replica import Replica
from tests import test_e2e_sync as e2e
from tests.scale_support import Served

pytestmark = [pytest.mark.postgres, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
NOW = commands.Now(1_790_000_000_000, 0)


def workers(tmp_path: Path, url: str, n: int = 2) -> list[SyncService]:
    return [
        SyncService(ServerConfig(data=tmp_path / f"w{i}", database_url=url, pool_size=4))
        for i in range(n)
    ]


@pytest.fixture
def two(tmp_path: Path, pg_url: str) -> Iterator[list[SyncService]]:
    services = workers(tmp_path, pg_url)
    yield services
    for s in services:
        s.close()


def device(service: SyncService, token: str, tmp_path: Path, name: str) -> tuple[EventLog, str]:
    device_id = new_id()
    _, device_token = service.accounts.enroll(token, device_id, name)
    return EventLog(open_store(str(tmp_path / f"{name}.db")), device_id), device_token


def record(log: EventLog, n: int, tag: str) -> None:
    log.append([commands.add_contact(NOW, f"{tag} {i}") for i in range(n)])


def push_body(log: EventLog, fmt: protocol.Format = "msgpack") -> bytes:
    assert log.device_id is not None
    rows = log.store.stream(log.device_id)
    events = [protocol.stored_to_wire(r.topic, r.state, fmt) for r in rows]
    return protocol.encode(SyncRequest(device_id=log.device_id, events=events), fmt)


def held(url: str, owner_id: str) -> list[tuple[str, int]]:
    bare, prefix = split_prefix(url)
    with psycopg.connect(bare) as conn:
        rows = conn.execute(
            f'SELECT originator_id, originator_version FROM "{owner_schema(prefix, owner_id)}"'
            ".stored_events ORDER BY notification_id"
        ).fetchall()
    return [(str(d), int(s)) for d, s in rows]


def test_owners_get_their_own_schema_and_accounts_are_shared(
    two: list[SyncService], pg_url: str, tmp_path: Path
) -> None:
    a, b = two
    owner, token = a.accounts.add_owner("alice", OPEN_INVITE)
    other, _ = b.accounts.add_owner("bob", OPEN_INVITE)
    log, device_token = device(b, token, tmp_path, "laptop")  # enrolled through worker b
    assert a.accounts.authenticate(f"Bearer {device_token}").owner_id == owner.owner_id
    record(log, 3, "p")
    Replica(log, LocalTransport(a, device_token), owner.owner_id).sync()
    assert len(held(pg_url, owner.owner_id)) == 3
    assert a.pg is not None
    schemas = a.pg.owner_schemas()
    assert owner_schema(a.pg.prefix, owner.owner_id) in schemas
    assert owner_schema(a.pg.prefix, other.owner_id) not in schemas  # bob has no device yet
    b.accounts.revoke(owner.owner_id, "laptop")
    with pytest.raises(protocol.Refusal) as refused:
        a.accounts.authenticate(f"Bearer {device_token}")
    assert refused.value.status == 403


def test_the_same_batch_through_two_workers_at_once_is_stored_once(
    two: list[SyncService], pg_url: str, tmp_path: Path
) -> None:
    a, b = two
    owner, token = a.accounts.add_owner("alice", OPEN_INVITE)
    for round_ in range(8):
        log, device_token = device(a, token, tmp_path, f"d{round_}")
        record(log, 50, f"r{round_}")
        body = push_body(log)
        dev = a.accounts.authenticate(f"Bearer {device_token}")
        barrier = threading.Barrier(4)

        def push(
            service: SyncService,
            body: bytes = body,
            dev: object = dev,
            barrier: threading.Barrier = barrier,
        ) -> int:
            barrier.wait()
            answer = service.sync(dev, body, "msgpack", "msgpack")  # type: ignore[arg-type]
            return protocol.decode_response(answer, "msgpack")[0].acked_seq

        with ThreadPoolExecutor(4) as pool:
            acks = list(pool.map(push, [a, b, a, b]))
        assert acks == [50, 50, 50, 50]
        log.store.close()
    rows = held(pg_url, owner.owner_id)
    assert len(rows) == len(set(rows)) == 8 * 50


def test_interleaved_pushes_through_two_workers_never_skip_an_id_in_a_pull(
    two: list[SyncService], pg_url: str, tmp_path: Path
) -> None:
    """Writers on both workers, a reader tailing by cursor the whole time: the ids
    it saw pass are exactly the ids stored, none committed behind its cursor."""
    a, b = two
    owner, token = a.accounts.add_owner("alice", OPEN_INVITE)
    writers = [device(s, token, tmp_path, f"w{i}") for i, s in enumerate((a, b, a, b))]
    reader_log, reader_token = device(a, token, tmp_path, "reader")
    reader_dev = a.accounts.authenticate(f"Bearer {reader_token}")
    done = threading.Event()
    seen: list[int] = []

    def tail() -> None:
        cursor = 0
        service = b
        while True:
            finished = done.is_set()
            request = SyncRequest(device_id=reader_dev.device_id, cursor=cursor, limit=7)
            answer = service.sync(reader_dev, protocol.encode(request, "json"), "json", "json")
            reply, events = protocol.decode_response(answer, "json")
            seen.extend(e.seq for e in events)
            cursor = reply.cursor
            service = a if service is b else b  # alternate workers between pages
            if finished and not reply.more:
                return

    def write(index: int) -> None:
        log, device_token = writers[index]
        service = (a, b)[index % 2]
        for _ in range(15):
            record(log, 4, f"w{index}")
            Replica(log, LocalTransport(service, device_token), owner.owner_id).sync()

    tailer = threading.Thread(target=tail)
    tailer.start()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(4)))
    done.set()
    tailer.join(timeout=120)
    stored = held(pg_url, owner.owner_id)
    assert len(stored) == 4 * 15 * 4
    assert len(seen) == len(stored)  # every event passed the reader exactly once
    for log, _ in writers:
        log.store.close()
    reader_log.store.close()


def test_a_read_after_a_push_reflects_it_on_every_worker(
    two: list[SyncService], tmp_path: Path
) -> None:
    a, b = two
    owner, token = a.accounts.add_owner("alice", OPEN_INVITE)
    laptop, laptop_token = device(a, token, tmp_path, "laptop")
    phone, phone_token = device(b, token, tmp_path, "phone")
    for i in range(5):
        record(laptop, 1, f"n{i}")
        pusher, puller = (a, b) if i % 2 else (b, a)
        Replica(laptop, LocalTransport(pusher, laptop_token), owner.owner_id).sync()
        summary = Replica(phone, LocalTransport(puller, phone_token), owner.owner_id).sync()
        assert summary.pulled == 1
    assert {e.event_id for e in phone.events()} == {e.event_id for e in laptop.events()}


# -- end to end: `recip serve --workers 2` on PostgreSQL, devices through the CLI ----------


@pytest.fixture
def pg_server(tmp_path: Path, pg_url: str) -> Iterator[Served]:
    served = Served(tmp_path / "server", database_url=pg_url, workers=2).start()
    yield served
    served.stop()


def test_e2e_three_devices_converge_through_two_workers(tmp_path: Path, pg_server: Served) -> None:
    """The sync suite's end-to-end scenario, unchanged, on PostgreSQL with 2 workers
    (each CLI call opens a new connection, so consecutive calls hit either worker)."""
    e2e.test_three_devices_work_offline_and_converge(tmp_path, pg_server)  # type: ignore[arg-type]


def test_e2e_revocation_and_tokens_through_two_workers(tmp_path: Path, pg_server: Served) -> None:
    e2e.test_revoked_device_is_refused_and_tokens_checked(tmp_path, pg_server)  # type: ignore[arg-type]


def test_owners_sharing_one_pooled_connection_each_write_their_own_schema(
    tmp_path: Path, pg_url: str
) -> None:
    """One connection serves owner after owner: each insert must use its own owner's
    composite types (same name in every schema, different oids)."""
    (service,) = [SyncService(ServerConfig(data=tmp_path / "w", database_url=pg_url, pool_size=1))]
    try:
        owners = [service.accounts.add_owner(name, OPEN_INVITE) for name in ("alice", "bob", "cy")]
        devices = [device(service, token, tmp_path, owner.name) for owner, token in owners]
        for round_ in range(3):
            for (owner, _), (log, device_token) in zip(owners, devices, strict=True):
                record(log, 2, f"{owner.name} {round_}")
                Replica(log, LocalTransport(service, device_token), owner.owner_id).sync()
        for (owner, _), (log, _) in zip(owners, devices, strict=True):
            assert held(pg_url, owner.owner_id) == [(log.device_id, s) for s in range(1, 7)]
            log.store.close()
    finally:
        service.close()


def test_e2e_sigkill_of_every_worker_during_a_push_loses_no_acknowledged_event(
    tmp_path: Path, pg_server: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sync suite's durability scenario, on PostgreSQL: the server and both
    workers are killed with SIGKILL in the middle of a 30,000-event push."""
    monkeypatch.setattr(e2e, "_count", lambda server, owner: len(server.owner_log(owner)))
    e2e.test_sigkill_during_push_loses_no_acknowledged_event(tmp_path, pg_server)  # type: ignore[arg-type]


def test_a_push_through_any_worker_wakes_every_workers_listener(
    two: list[SyncService], tmp_path: Path
) -> None:
    """The library's recorder NOTIFYs in every insert: each worker's LISTEN hears it.

    (The channel is database-wide: other writers to the same database wake the
    listeners too, which costs a head read, never a wrong poke.)"""
    from server.stream import _Listener

    a, b = two
    owner, token = a.accounts.add_owner("alice", OPEN_INVITE)
    log, device_token = device(a, token, tmp_path, "laptop")
    heard = [threading.Event(), threading.Event()]
    listeners = [
        _Listener(s.config.database_url or "", h.set) for s, h in zip(two, heard, strict=True)
    ]
    for listener in listeners:
        listener.start()
    try:
        record(log, 1, "x")  # no stream watches yet: nobody listens, nobody wakes
        Replica(log, LocalTransport(b, device_token), owner.owner_id).sync()
        assert not any(h.wait(1.5) for h in heard)
        for listener in listeners:
            listener.wanted.set()  # a stream opened on each worker
        for h in heard:  # each listener wakes once when it (re)connects
            assert h.wait(30)
            h.clear()
        record(log, 2, "y")
        Replica(log, LocalTransport(b, device_token), owner.owner_id).sync()
        assert all(h.wait(30) for h in heard)
    finally:
        for listener in listeners:
            listener.stop()
        log.store.close()
