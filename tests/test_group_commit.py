"""Group commit on SQLite: pushes that arrive together share one commit, pulls never
wait for the write lock, and grouping never changes what any push is answered."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import commands
from core.ids import new_id
from core.log import EventLog
from core.store import open_store
from server.accounts import Device
from server.groupcommit import GroupCommit
from server.service import ServerConfig, SyncService
from sync import protocol
from sync.protocol import SyncRequest

NOW = commands.Now(1_790_000_000_000, 0)


def _wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.001)


def test_requests_waiting_during_a_commit_share_the_next_one() -> None:
    groups: list[list[int]] = []
    gate = threading.Event()

    def commit(items: Sequence[int]) -> list[int]:
        groups.append(list(items))
        if len(groups) == 1:
            gate.wait(30)  # the first commit is slow: the others queue behind it
        return [i * 10 for i in items]

    group = GroupCommit(commit)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(group.submit, 0)
        _wait_for(lambda: groups, "the first commit")
        rest = [pool.submit(group.submit, i) for i in range(1, 8)]
        _wait_for(lambda: len(group._pending) == 7, "the others to queue")
        gate.set()
        assert first.result() == 0
        assert [f.result() for f in rest] == [i * 10 for i in range(1, 8)]
    assert groups[0] == [0]
    assert sorted(groups[1]) == list(range(1, 8)) and len(groups) == 2


def test_a_failed_commit_fails_every_request_of_its_group_and_the_next_group_goes_on() -> None:
    calls = 0

    def commit(items: Sequence[str]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("disk I/O error")
        return list(items)

    group = GroupCommit(commit)
    with pytest.raises(OSError, match="disk"):
        group.submit("a")
    assert group.submit("b") == "b"


@settings(max_examples=30, deadline=None)
@given(items=st.lists(st.integers(-5, 5), min_size=1, max_size=24), threads=st.integers(1, 8))
def test_every_request_gets_the_answer_it_would_get_alone(items: list[int], threads: int) -> None:
    """Whatever groups form, each item is answered by the commit function applied to
    it (a declined item, here a negative one, is declined alone) and seen once."""
    committed: list[int] = []
    lock = threading.Lock()

    def commit(batch: Sequence[int]) -> list[int | None]:
        with lock:
            committed.extend(batch)
        return [None if i < 0 else i * i for i in batch]

    group: GroupCommit[int, int | None] = GroupCommit(commit)
    with ThreadPoolExecutor(threads) as pool:
        answers = list(pool.map(group.submit, items))
    assert answers == [None if i < 0 else i * i for i in items]
    assert sorted(committed) == sorted(items)


# -- the service on SQLite ------------------------------------------------------------


def _service(tmp_path: Path) -> tuple[SyncService, str]:
    service = SyncService(ServerConfig(data=tmp_path / "server"))
    _, token = service.accounts.add_owner("alice")
    return service, token


def _device(service: SyncService, token: str, home: Path) -> tuple[EventLog, Device]:
    device_id = new_id()
    _, device_token = service.accounts.enroll(token, device_id, device_id[:8])
    log = EventLog(open_store(str(home / f"{device_id}.db")), device_id)
    return log, service.authenticate(f"Bearer {device_token}")


def _push(service: SyncService, log: EventLog, device: Device, count: int) -> int:
    assert log.device_id is not None
    before = log.last_seq()
    log.append([commands.add_contact(NOW, f"n{i}") for i in range(count)])
    rows = log.store.stream(log.device_id, gt=before)
    events = [protocol.stored_to_wire(r.topic, r.state, "msgpack") for r in rows]
    body = protocol.encode(SyncRequest(device_id=log.device_id, events=events), "msgpack")
    return protocol.decode_response(service.sync(device, body, "msgpack", "msgpack"), "msgpack")[
        0
    ].acked_seq


def test_concurrent_pushes_of_one_owner_are_all_stored_in_fewer_commits(tmp_path: Path) -> None:
    service, token = _service(tmp_path)
    fleet = [_device(service, token, tmp_path) for _ in range(5)]
    commits: list[int] = []
    with service.owner(fleet[0][1].owner_id) as owner:
        assert owner.commits is not None
        insert_next = owner.log.store.insert_next

        def counted(batches: Sequence[Sequence[tuple[str, int, str, bytes]]]) -> object:
            commits.append(len(batches))
            time.sleep(0.002)  # a commit takes a while: pushes arriving meanwhile queue
            return insert_next(batches)

        owner.commits._commit = counted  # type: ignore[assignment]
        with ThreadPoolExecutor(5) as pool:
            acks = list(
                pool.map(lambda d: [_push(service, d[0], d[1], 3) for _ in range(8)], fleet)
            )
    assert acks == [[3 * (n + 1) for n in range(8)]] * 5
    assert sum(commits) == 5 * 8  # every push went through the group commit
    with service.log(fleet[0][1].owner_id) as log:
        held = [(e.device_id, e.seq) for e in log.events()]
    assert sorted(held) == sorted((d.device_id, s) for _, d in fleet for s in range(1, 25))
    for log_, device in fleet:  # each device's events in seq order in the log
        assert [s for d, s in held if d == device.device_id] == list(range(1, 25))
        log_.store.close()
    service.close()


def test_a_pull_answers_while_a_push_waits_for_the_write_lock(tmp_path: Path) -> None:
    """Another process holds the owner's write lock, and a push of this server waits
    for it: a pull of another device still answers at once, from what is committed."""
    service, token = _service(tmp_path)
    (laptop, laptop_dev), (phone, phone_dev) = (_device(service, token, tmp_path) for _ in "ab")
    assert _push(service, laptop, laptop_dev, 4) == 4
    writer = sqlite3.connect(service.path(laptop_dev.owner_id), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # the write lock, held by someone else
    pushed: list[int] = []
    push = threading.Thread(target=lambda: pushed.append(_push(service, laptop, laptop_dev, 2)))
    push.start()
    with service.owner(laptop_dev.owner_id) as owner:
        commits = owner.commits
        assert commits is not None
        _wait_for(lambda: commits._busy, "the push to wait for the lock")
    answers: list[bytes] = []
    body = protocol.encode(SyncRequest(device_id=phone_dev.device_id), "msgpack")
    pull = threading.Thread(
        target=lambda: answers.append(service.sync(phone_dev, body, "msgpack", "msgpack"))
    )
    pull.start()
    pull.join(20)  # a pull that waited for the lock would wait out the 30 s busy timeout
    try:
        assert answers, "the pull waited for the write lock"
        reply, events = protocol.decode_response(answers[0], "msgpack")
        assert [e.seq for e in events] == [1, 2, 3, 4] and reply.acked_seq == 0
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        pull.join()
        push.join()
    assert pushed == [6]  # the push went through once the lock was free
    for log in (laptop, phone):
        log.store.close()
    service.close()


def test_a_retried_push_takes_the_general_path_and_is_acknowledged(tmp_path: Path) -> None:
    service, token = _service(tmp_path)
    laptop, dev = _device(service, token, tmp_path)
    assert _push(service, laptop, dev, 3) == 3
    assert laptop.device_id is not None
    rows = laptop.store.stream(laptop.device_id)  # all three again, plus nothing new
    events = [protocol.stored_to_wire(r.topic, r.state, "json") for r in rows]
    body = protocol.encode(SyncRequest(device_id=laptop.device_id, events=events), "json")
    reply, _ = protocol.decode_response(service.sync(dev, body, "json", "json"), "json")
    assert reply.acked_seq == 3
    with service.log(dev.owner_id) as log:
        assert len(list(log.events())) == 3
    laptop.store.close()
    service.close()
