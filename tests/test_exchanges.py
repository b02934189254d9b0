"""Exchanges on the event loop (ADR 0136): one owner's concurrent syncs share commits,
a busy writer never blocks the loop, and a failed commit stores nothing."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from core import commands
from core.errors import StoreError
from core.ids import new_id
from core.log import EventLog
from core.store import PendingCommit, open_store
from server.accounts import OPEN_INVITE
from server.app import create_app
from server.service import ServerConfig, SyncService
from sync import protocol
from sync.protocol import SyncRequest, SyncResponse
from tests.scale_support import stored_rows

NOW = commands.Now(1_790_000_000_000, 0)
MSGPACK = {"Content-Type": protocol.MSGPACK, "Accept": protocol.MSGPACK}


class Phone:
    """A device with its own log, talking to the app in process."""

    def __init__(self, service: SyncService, invite: str, home: Path) -> None:
        self.device_id = new_id()
        _, self.token = service.accounts.enroll(invite, self.device_id, self.device_id[:8])
        self.log = EventLog(open_store(str(home / f"{self.device_id}.db")), self.device_id)
        self.cursor = 0
        self.pulled = 0

    def body(self, count: int) -> bytes:
        before = self.log.last_seq()
        if count:
            self.log.append([commands.add_contact(NOW, f"n{i}") for i in range(count)])
        rows = self.log.store.stream(self.device_id, gt=before)
        events = [protocol.stored_to_wire(r.topic, r.state, "msgpack") for r in rows]
        request = SyncRequest(
            device_id=self.device_id,
            events=events,
            cursor=self.cursor,
            held_seq=self.log.last_seq(),
        )
        return protocol.encode(request, "msgpack")

    async def sync(self, client: httpx.AsyncClient, count: int) -> httpx.Response:
        headers = {**MSGPACK, "Authorization": f"Bearer {self.token}"}
        answer = await client.post("/v1/sync", content=self.body(count), headers=headers)
        if answer.status_code == 200:
            reply, events = protocol.decode_response(answer.content, "msgpack")
            self.cursor = reply.cursor
            self.pulled += len(events)
        return answer


def _setup(
    tmp_path: Path, devices: int, database_url: str | None = None
) -> tuple[SyncService, Any, list[Phone], str]:
    service = SyncService(ServerConfig(data=tmp_path / "server", database_url=database_url))
    owner, invite = service.accounts.add_owner("alice", OPEN_INVITE)
    phones = [Phone(service, invite, tmp_path) for _ in range(devices)]
    return service, create_app(service.config, service=service), phones, owner.owner_id


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def _six_rounds(client: httpx.AsyncClient, phones: list[Phone]) -> None:
    """Every phone pushes 2 events at once, six times; then all pull what is left."""
    for _ in range(6):
        answers = await asyncio.gather(*(p.sync(client, 2) for p in phones))
        assert [a.status_code for a in answers] == [200] * len(phones)
    for phone in phones:
        while (await phone.sync(client, 0)).status_code == 200 and phone.cursor < 60:
            pass


def test_concurrent_syncs_of_one_owner_share_commits_and_all_converge(tmp_path: Path) -> None:
    service, app, phones, owner_id = _setup(tmp_path, 5)
    commits: list[int] = []

    async def main() -> None:
        async with _client(app) as client:
            for phone in phones:  # the first exchange opens the owner (on a thread)
                assert (await phone.sync(client, 0)).status_code == 200
            with service.owner(owner_id) as owner:
                begin_next = owner.log.store.begin_next

                def counted(batches: Sequence[Any], *, wait: bool) -> PendingCommit | None:
                    commits.append(len(batches))
                    return begin_next(batches, wait=wait)

                owner.log.store.begin_next = counted  # type: ignore[method-assign]
                await _six_rounds(client, phones)

    asyncio.run(main())
    assert sum(commits) == 30 and len(commits) < 30  # every push committed, some together
    with service.log(owner_id) as log:
        held = [(e.device_id, e.seq) for e in log.events()]
    assert sorted(held) == sorted((p.device_id, s) for p in phones for s in range(1, 13))
    for phone in phones:
        assert phone.cursor == 60 and phone.pulled == 48  # the others' events, once each
        phone.log.store.close()
    service.close()


@pytest.mark.postgres
def test_concurrent_syncs_on_postgresql_share_transactions_and_all_converge(
    tmp_path: Path, pg_url: str
) -> None:
    """On PostgreSQL one owner's concurrent exchanges go as one statement per group."""
    service, app, phones, owner_id = _setup(tmp_path, 5, pg_url)
    with service.owner(owner_id):  # its schema made, as `recip` makes it with the owner
        pass

    async def main() -> None:
        async with _client(app) as client:
            await _six_rounds(client, phones)

    asyncio.run(main())
    rows = stored_rows(pg_url, owner_id)
    assert sorted((d, v) for d, v, _ in rows) == sorted(
        (p.device_id, s) for p in phones for s in range(1, 13)
    )
    assert len({xmin for _, _, xmin in rows}) < 30  # some pushes shared a transaction
    for phone in phones:
        assert phone.cursor == 60 and phone.pulled == 48  # the others' events, once each
        phone.log.store.close()
    service.close()


def test_a_busy_writer_never_blocks_the_loop_and_the_push_lands_once_free(
    tmp_path: Path,
) -> None:
    service, app, (laptop, phone), owner_id = _setup(tmp_path, 2)

    async def main() -> None:
        async with _client(app) as client:
            assert (await laptop.sync(client, 1)).status_code == 200
            other = sqlite3.connect(service.path(owner_id), isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            push = asyncio.ensure_future(laptop.sync(client, 2))
            await asyncio.sleep(0.3)
            assert not push.done()  # it waits, on a thread
            pull = await asyncio.wait_for(phone.sync(client, 0), 5)  # the loop answers
            assert pull.status_code == 200 and phone.pulled == 1
            other.execute("ROLLBACK")
            other.close()
            answer = await asyncio.wait_for(push, 30)
            reply: SyncResponse = protocol.decode(answer.content, SyncResponse, "msgpack")
            assert reply.acked_seq == 3

    asyncio.run(main())
    with service.log(owner_id) as log:
        assert [e.seq for e in log.events()] == [1, 2, 3]
    for device in (laptop, phone):
        device.log.store.close()
    service.close()


def test_a_failed_commit_answers_503_stores_nothing_and_the_next_sync_goes_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, app, (laptop,), owner_id = _setup(tmp_path, 1)
    real = PendingCommit.commit

    def failing(self: PendingCommit) -> None:
        self.rollback()
        raise StoreError("disk I/O error")

    async def main() -> None:
        async with _client(app) as client:
            assert (await laptop.sync(client, 1)).status_code == 200
            monkeypatch.setattr(PendingCommit, "commit", failing)
            failed = await laptop.sync(client, 2)
            assert failed.status_code == 503 and failed.json()["error"] == "unavailable"
            monkeypatch.setattr(PendingCommit, "commit", real)
            laptop.log.store.close()  # resend from the log, as the device would
            laptop.log = EventLog(
                open_store(str(tmp_path / f"{laptop.device_id}.db")), laptop.device_id
            )
            headers = {**MSGPACK, "Authorization": f"Bearer {laptop.token}"}
            rows = laptop.log.store.stream(laptop.device_id, gt=1)
            events = [protocol.stored_to_wire(r.topic, r.state, "msgpack") for r in rows]
            body = protocol.encode(
                SyncRequest(device_id=laptop.device_id, events=events), "msgpack"
            )
            retry = await client.post("/v1/sync", content=body, headers=headers)
            assert retry.status_code == 200
            assert protocol.decode(retry.content, SyncResponse, "msgpack").acked_seq == 3

    asyncio.run(main())
    with service.log(owner_id) as log:
        assert [e.seq for e in log.events()] == [1, 2, 3]
    laptop.log.store.close()
    service.close()


def test_a_commit_and_a_rollback_of_one_transaction_act_once(tmp_path: Path) -> None:
    """Whichever comes first wins: a rolled-back transaction reports nothing stored."""
    store = open_store(str(tmp_path / "log.db"))
    row = ("dev", 1, "ContactAdded", b"x")
    pending = store.begin_next([[row]], wait=True)
    assert pending is not None and pending.positions == [[1]]
    pending.rollback()
    pending.commit()  # too late: nothing happens
    assert pending.positions == [None]
    again = store.begin_next([[row]], wait=False)  # the writer was released
    assert again is not None and again.positions == [[1]]
    again.commit()
    again.rollback()  # too late: the commit stands
    assert store.max_position() == 1
    store.close()
