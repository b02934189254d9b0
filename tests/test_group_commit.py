"""Group commit on SQLite: the exchanges of one owner that arrive together share one
commit (`server.lanes` groups them, `SyncService.sync_group` runs a group), pulls never
wait for the write lock, and grouping never changes what any exchange is answered."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import commands
from core.ids import new_id
from core.log import EventLog
from core.store import PendingCommit, open_store
from server.accounts import OPEN_INVITE, Device
from server.lanes import Lanes
from server.service import ServerConfig, SyncCall, SyncService
from sync import protocol
from sync.protocol import Refusal, SyncRequest
from tests.scale_support import stored_rows

NOW = commands.Now(1_790_000_000_000, 0)


def _wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.001)


# -- lanes ---------------------------------------------------------------------------

K = TypeVar("K")
V = TypeVar("V")


def _on(
    pool: ThreadPoolExecutor, run: Callable[[str, Sequence[K]], list[V]]
) -> Callable[[str, list[K]], Awaitable[list[V]]]:
    """`run` on the pool's threads, as the lanes' async run."""

    async def threaded(key: str, items: list[K]) -> list[V]:
        return await asyncio.get_running_loop().run_in_executor(pool, run, key, items)

    return threaded


def test_items_arriving_during_a_run_share_the_next_one_and_keys_run_apart() -> None:
    runs: list[tuple[str, list[int]]] = []
    gate = threading.Event()

    def run(key: str, items: Sequence[int]) -> list[int]:
        runs.append((key, list(items)))
        if len(runs) == 1:
            gate.wait(30)  # the first run is slow: its key's next items queue behind it
        return [i * 10 for i in items]

    async def main() -> None:
        with ThreadPoolExecutor(2) as pool:
            lanes: Lanes[int, int] = Lanes(_on(pool, run))
            first = asyncio.ensure_future(lanes.submit("a", 0))
            while not runs:
                await asyncio.sleep(0.001)
            rest = [asyncio.ensure_future(lanes.submit("a", i)) for i in range(1, 6)]
            other = await asyncio.wait_for(lanes.submit("b", 7), 10)  # not held up by "a"
            assert other == 70
            await asyncio.sleep(0.01)
            assert len(runs) == 2  # "a" still has one run in flight, the rest wait
            gate.set()
            assert await first == 0
            assert await asyncio.gather(*rest) == [10, 20, 30, 40, 50]
            assert lanes.busy() == 0

    asyncio.run(main())
    assert runs == [("a", [0]), ("b", [7]), ("a", [1, 2, 3, 4, 5])]


def test_a_failed_run_fails_its_group_and_the_next_run_goes_on() -> None:
    calls = 0

    def run(key: str, items: Sequence[str]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("disk I/O error")
        return list(items)

    async def main() -> None:
        with ThreadPoolExecutor(1) as pool:
            lanes: Lanes[str, str] = Lanes(_on(pool, run))
            with pytest.raises(OSError, match="disk"):
                await lanes.submit("k", "a")
            assert await lanes.submit("k", "b") == "b"

    asyncio.run(main())


def test_a_request_that_goes_away_leaves_the_others_of_its_group_answered() -> None:
    gate = threading.Event()

    def run(key: str, items: Sequence[int]) -> list[int]:
        gate.wait(30)
        return [-i for i in items]

    async def main() -> None:
        with ThreadPoolExecutor(1) as pool:
            lanes: Lanes[int, int] = Lanes(_on(pool, run))
            gone = asyncio.ensure_future(lanes.submit("k", 1))
            stays = asyncio.ensure_future(lanes.submit("k", 2))
            await asyncio.sleep(0.01)
            gone.cancel()
            gate.set()
            assert await stays == -2
            assert gone.cancelled()
            assert await lanes.submit("k", 3) == -3  # the lane is not stuck

    asyncio.run(main())


@settings(max_examples=30, deadline=None)
@given(
    items=st.lists(st.tuples(st.sampled_from("abc"), st.integers(-5, 5)), min_size=1, max_size=24),
    threads=st.integers(1, 4),
)
def test_every_item_gets_the_answer_it_would_get_alone(
    items: list[tuple[str, int]], threads: int
) -> None:
    """Whatever groups form, each item is answered by `run` applied to it, once, and a
    key never has two runs at once."""
    seen: list[tuple[str, int]] = []
    running: set[str] = set()
    lock = threading.Lock()

    def run(key: str, batch: Sequence[int]) -> list[int | None]:
        with lock:
            assert key not in running
            running.add(key)
            seen.extend((key, i) for i in batch)
        time.sleep(0.001)
        with lock:
            running.discard(key)
        return [None if i < 0 else i * i for i in batch]

    async def main() -> list[int | None]:
        with ThreadPoolExecutor(threads) as pool:
            lanes: Lanes[int, int | None] = Lanes(_on(pool, run))
            return await asyncio.gather(*(lanes.submit(k, i) for k, i in items))

    assert asyncio.run(main()) == [None if i < 0 else i * i for _, i in items]
    assert sorted(seen) == sorted(items)


# -- the service on SQLite ------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """No URL (SQLite), or a PostgreSQL database of this test's own."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_url")
    return url


def _service(tmp_path: Path, database_url: str | None = None) -> tuple[SyncService, str]:
    config = ServerConfig(data=tmp_path / "server", database_url=database_url)
    service = SyncService(config)
    _, token = service.accounts.add_owner("alice", OPEN_INVITE)
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


def _call(log: EventLog, token: str, count: int, **fields: object) -> SyncCall:
    """A sync call pushing `count` new events of the device (or none)."""
    assert log.device_id is not None
    before = log.last_seq()
    if count:
        log.append([commands.add_contact(NOW, f"n{i}") for i in range(count)])
    rows = log.store.stream(log.device_id, gt=before)
    events = [protocol.stored_to_wire(r.topic, r.state, "msgpack") for r in rows]
    request = SyncRequest(device_id=log.device_id, events=events, **fields)  # type: ignore[arg-type]
    return (f"Bearer {token}", protocol.encode(request, "msgpack"), "msgpack", "msgpack")


def _resend(log: EventLog, token: str, after: int) -> SyncCall:
    """A sync call pushing the device's events after seq `after`, whatever is stored."""
    assert log.device_id is not None
    rows = log.store.stream(log.device_id, gt=after)
    events = [protocol.stored_to_wire(r.topic, r.state, "msgpack") for r in rows]
    request = SyncRequest(device_id=log.device_id, events=events)
    return (f"Bearer {token}", protocol.encode(request, "msgpack"), "msgpack", "msgpack")


def _enrolled(service: SyncService, token: str, home: Path) -> tuple[EventLog, str]:
    device_id = new_id()
    _, device_token = service.accounts.enroll(token, device_id, device_id[:8])
    return EventLog(open_store(str(home / f"{device_id}.db")), device_id), device_token


def test_a_group_of_pushes_shares_one_commit_and_each_is_acknowledged(tmp_path: Path) -> None:
    service, token = _service(tmp_path)
    fleet = [_enrolled(service, token, tmp_path) for _ in range(5)]
    owner_id = service.authenticate(f"Bearer {fleet[0][1]}").owner_id
    commits: list[int] = []
    with service.owner(owner_id) as owner:
        begin_next = owner.log.store.begin_next

        def counted(
            batches: Sequence[Sequence[tuple[str, int, str, bytes]]], *, wait: bool
        ) -> PendingCommit | None:
            commits.append(len(batches))
            return begin_next(batches, wait=wait)

        owner.log.store.begin_next = counted  # type: ignore[method-assign]
        for round_ in range(4):
            answers = service.sync_group(owner_id, [_call(log, t, 3) for log, t in fleet])
            acks = [protocol.decode_response(a, "msgpack")[0].acked_seq for a in answers]  # type: ignore[arg-type]
            assert acks == [3 * (round_ + 1)] * 5
    assert commits == [5, 5, 5, 5]  # one commit per group, every push in it
    with service.log(owner_id) as log:
        held = [(e.device_id, e.seq) for e in log.events()]
    assert sorted(held) == sorted((log.device_id, s) for log, _ in fleet for s in range(1, 13))
    for log, _ in fleet:  # each device's events in seq order in the log
        assert [s for d, s in held if d == log.device_id] == list(range(1, 13))
        log.store.close()
    service.close()


@pytest.mark.postgres
def test_a_group_on_postgresql_is_one_transaction_in_call_order(
    tmp_path: Path, pg_url: str
) -> None:
    """Each group's pushes share one transaction (one commit: one xmin), stored in the
    order of the group's calls, and each call's page sees the calls before it."""
    service, token = _service(tmp_path, pg_url)
    fleet = [_enrolled(service, token, tmp_path) for _ in range(4)]
    owner_id = service.authenticate(f"Bearer {fleet[0][1]}").owner_id
    with service.owner(owner_id):  # its schema made, as `recip` makes it with the owner
        pass
    for round_ in range(3):
        answers = service.sync_group(owner_id, [_call(log, t, 2) for log, t in fleet])
        decoded = [protocol.decode_response(a, "msgpack") for a in answers]  # type: ignore[arg-type]
        assert [r.acked_seq for r, _ in decoded] == [2 * (round_ + 1)] * 4
        # Call i's page holds everything stored before this round and this round's
        # calls up to its own: the earlier rounds' 8 each, then 2 per call so far.
        cursors = [r.cursor for r, _ in decoded]
        assert cursors == [8 * round_ + 2 * (i + 1) for i in range(4)]
    rows = stored_rows(pg_url, owner_id)
    assert len({xmin for _, _, xmin in rows}) == 3  # one transaction per group
    order = [(d, v) for d, v, _ in rows]
    expected = [(log.device_id, 2 * r + s) for r in range(3) for log, _ in fleet for s in (1, 2)]
    assert order == expected
    for log, _ in fleet:
        log.store.close()
    service.close()


def test_each_call_of_a_mixed_group_is_answered_as_it_would_be_alone(
    tmp_path: Path, database_url: str | None
) -> None:
    """A retry, a gap, a revoked device, an unknown token, a cursor beyond the log, a
    pull and plain pushes in one group: each gets its own answer; the refused store
    nothing, the others are stored once (on PostgreSQL the group is one statement,
    its declined calls then take the general path)."""
    service, token = _service(tmp_path, database_url)
    devices = [_enrolled(service, token, tmp_path) for _ in range(6)]
    (a, ta), (b, tb), (c, tc), (d, td), (e, te), (f, tf) = devices
    owner_id = service.authenticate(f"Bearer {ta}").owner_id
    first = service.sync_group(owner_id, [_call(a, ta, 2), _call(b, tb, 2), _call(c, tc, 1)])
    assert all(isinstance(x, bytes) for x in first)
    assert c.device_id is not None and d.device_id is not None
    service.accounts.revoke(owner_id, c.device_id)
    d.append([commands.add_contact(NOW, "x"), commands.add_contact(NOW, "y")])
    gap = _resend(d, td, after=1)  # d skips seq 1: its first push starts at 2
    retry = _resend(a, ta, after=0)  # a sends its two stored events again
    calls: list[SyncCall] = [
        retry,
        _call(b, tb, 2),
        _call(c, tc, 1),  # revoked
        gap,
        ("Bearer recip-device-nope", b"", "msgpack", "msgpack"),
        _call(e, te, 0, cursor=10_000),  # beyond the log
        _call(f, tf, 0),  # a pull
    ]
    answers = service.sync_group(owner_id, calls)
    assert len(answers) == len(calls)

    def ack(x: bytes | Refusal) -> int:
        assert isinstance(x, bytes), x
        return protocol.decode_response(x, "msgpack")[0].acked_seq

    def code(x: bytes | Refusal) -> str:
        assert isinstance(x, Refusal), x
        return x.code

    assert ack(answers[0]) == 2 and ack(answers[1]) == 4
    assert [code(x) for x in answers[2:6]] == [
        "revoked",
        "sequence_gap",
        "unauthorized",
        "cursor_ahead",
    ]
    pull, pulled = protocol.decode_response(answers[6], "msgpack")  # type: ignore[arg-type]
    assert pull.acked_seq == 0 and len(pulled) == 7  # 2 + 2 + 1 + 2: the stored ones
    with service.log(owner_id) as log:
        held = sorted((ev.device_id, ev.seq) for ev in log.events())
    assert held == sorted(
        [(a.device_id, 1), (a.device_id, 2), (c.device_id, 1)]
        + [(b.device_id, s) for s in range(1, 5)]
    )
    for log, _ in devices:
        log.store.close()
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
    time.sleep(0.2)
    assert not pushed and push.is_alive()  # the push waits for the lock
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


# -- grouping never changes an answer (both backends) ----------------------------------

#: What a device does in a group: push n new events (0: a pull), resend what the
#: server holds (a retry), push with its next event left out (a gap), or pull from
#: beyond the log.
ACTIONS = st.one_of(
    st.tuples(st.just("push"), st.integers(0, 3)),
    st.tuples(st.sampled_from(["retry", "gap", "ahead"]), st.just(0)),
)


class _Twin:
    """One owner with the same devices on two services: one grouped, one not."""

    def __init__(self, services: tuple[SyncService, SyncService], home: Path) -> None:
        self.services = services
        self.owners: list[str] = []
        invites = []
        for service in services:
            owner, invite = service.accounts.add_owner(f"o{new_id()}", OPEN_INVITE)
            with service.owner(owner.owner_id):  # its schema made, as `recip` does
                pass
            self.owners.append(owner.owner_id)
            invites.append(invite)
        self.logs: list[EventLog] = []
        self.tokens: list[tuple[str, str]] = []
        for _ in range(3):
            device_id = new_id()
            self.logs.append(EventLog(open_store(str(home / f"{device_id}.db")), device_id))
            pair = [
                s.accounts.enroll(i, device_id, "d")[1]
                for s, i in zip(services, invites, strict=True)
            ]
            self.tokens.append((pair[0], pair[1]))
        self.acked = [0, 0, 0]

    def bodies(self, actions: list[tuple[int, str, int]]) -> list[bytes]:
        """Each action's request body, as its device would send it then."""
        planned = list(self.acked)
        out = []
        for device, kind, count in actions:
            log = self.logs[device]
            assert log.device_id is not None
            if kind in ("push", "gap"):
                log.append([commands.add_contact(NOW, f"n{i}") for i in range(max(count, 2))])
            after = {"push": planned[device], "gap": planned[device] + 1, "retry": 0}.get(kind)
            rows = [] if after is None else log.store.stream(log.device_id, gt=after)
            if kind == "push":
                planned[device] = log.last_seq()
            events = [protocol.stored_to_wire(r.topic, r.state, "msgpack") for r in rows]
            cursor = 10_000 if kind == "ahead" else 0
            request = SyncRequest(device_id=log.device_id, events=events, cursor=cursor, limit=5)
            out.append(protocol.encode(request, "msgpack"))
        return out

    def stored(self, which: int) -> list[list[int]]:
        """Each device's seqs as the `which` service's log holds them, in log order."""
        with self.services[which].log(self.owners[which]) as log:
            events = [(e.device_id, e.seq) for e in log.events()]
        return [[s for d, s in events if d == device.device_id] for device in self.logs]

    def held(self, which: int) -> list[int]:
        """Each device's last seq held by the `which` service (its seqs run 1..N)."""
        stored = self.stored(which)
        assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in stored)
        return [len(seqs) for seqs in stored]


def _outcome(answer: bytes | Refusal) -> tuple[str, int]:
    if isinstance(answer, Refusal):
        return (answer.code, 0)
    return ("ok", protocol.decode_response(answer, "msgpack")[0].acked_seq)


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_grouping_never_changes_what_is_stored_and_answers_as_some_order_would(
    tmp_path: Path, database_url: str | None
) -> None:
    """Random groups of pushes, retries, gaps and pulls of one owner's devices, run as
    groups on one service and one by one (in submission order) on another.

    Both logs end up holding the same events, each device's in order. Each call is
    answered as some order of its group would answer it: the calls of a group are
    concurrent, and a group stores the batches that continue their streams before
    it judges the others, so a batch refused for a gap one by one may find the gap
    filled by a later call of its group (then it is a retry, acknowledged), and an
    ack may count a later call's events of the same device. So: what one by one
    accepts, the group accepts, with an ack at least as high and no higher than
    what the log then holds; a cursor beyond the log is refused either way.
    """
    other = None
    if database_url is not None:
        from server.pg import split_prefix

        bare, prefix = split_prefix(database_url)
        other = f"{bare}?prefix={prefix}_alone"
    grouped = SyncService(ServerConfig(data=tmp_path / "grouped", database_url=database_url))
    alone = SyncService(ServerConfig(data=tmp_path / "alone", database_url=other))

    @settings(max_examples=15, deadline=None)
    @given(st.lists(st.lists(st.tuples(st.integers(0, 2), ACTIONS), max_size=6), max_size=4))
    def check(groups: list[list[tuple[int, tuple[str, int]]]]) -> None:
        twin = _Twin((grouped, alone), tmp_path)
        for group in groups:
            actions = [(device, kind, count) for device, (kind, count) in group]
            bodies = twin.bodies(actions)
            calls: list[list[SyncCall]] = [
                [
                    (f"Bearer {twin.tokens[d][w]}", b, "msgpack", "msgpack")
                    for (d, _, _), b in zip(actions, bodies, strict=True)
                ]
                for w in (0, 1)
            ]
            together = [_outcome(a) for a in grouped.sync_group(twin.owners[0], calls[0])]
            one_by_one = [
                _outcome(alone.sync_group(twin.owners[1], [call])[0]) for call in calls[1]
            ]
            held = twin.held(0)
            for (device, _, _), (code, ack), (alone_code, alone_ack) in zip(
                actions, together, one_by_one, strict=True
            ):
                if alone_code == "ok":
                    assert code == "ok" and alone_ack <= ack <= held[device]
                    twin.acked[device] = max(twin.acked[device], alone_ack)
                elif alone_code == "sequence_gap":
                    assert code in ("sequence_gap", "ok")
                else:
                    assert code == alone_code
        assert twin.stored(0) == twin.stored(1)
        assert twin.held(0) == twin.acked
        for log in twin.logs:
            log.store.close()

    try:
        check()
    finally:
        grouped.close()
        alone.close()
        if other is not None:
            from server.pg import drop_prefix

            drop_prefix(other)
