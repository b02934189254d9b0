"""The one-statement exchange on PostgreSQL: ordering, declines, auth, scale-out.

Two `SyncService`s with their own pools are two workers in all that matters for
the database (separate sessions, truly concurrent transactions); the last test
runs two real `recip serve` processes on different ports over one database.
Needs the PostgreSQL server at 127.0.0.1:5432.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import msgspec
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import commands
from core.ids import new_id
from core.log import EventLog
from core.store import log_lock_key, open_store
from server.accounts import OPEN_INVITE, Device
from server.pg import EXCHANGE_VERSION, add_owner, owner_schema, split_prefix
from server.service import ServerConfig, SyncService
from sync import protocol
from sync.http import HttpTransport
from sync.protocol import EnrollRequest, EnrollResponse, SyncRequest
from sync.replica import Replica
from tests.scale_support import Served

pytestmark = [pytest.mark.postgres, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
NOW = commands.Now(1_790_000_000_000, 0)


@pytest.fixture
def two(tmp_path: Path, pg_url: str) -> Iterator[list[SyncService]]:
    services = [
        SyncService(ServerConfig(data=tmp_path / f"w{i}", database_url=pg_url, pool_size=6))
        for i in range(2)
    ]
    yield services
    for s in services:
        s.close()


def _log_order(url: str, owner_id: str) -> list[tuple[str, int]]:
    bare, prefix = split_prefix(url)
    with psycopg.connect(bare) as conn:
        rows = conn.execute(
            f'SELECT originator_id, originator_version FROM "{owner_schema(prefix, owner_id)}"'
            ".stored_events ORDER BY notification_id"
        ).fetchall()
    return [(str(d), int(s)) for d, s in rows]


class Writer:
    """A device with its own log, pushing through a given worker."""

    def __init__(self, service: SyncService, token: str, home: Path) -> None:
        device_id = new_id()
        _, device_token = service.accounts.enroll(token, device_id, device_id[:8])
        self.log = EventLog(open_store(str(home / f"{device_id}.db")), device_id)
        self.device = service.authenticate(f"Bearer {device_token}")
        self.token = device_token

    def push_slowly(self, url: str, owner_id: str, count: int) -> int:
        """Record `count` events and insert them as a slow writer would, by hand.

        The rows are inserted under the log's ordering lock, as every writer
        takes it, but the transaction then stays open a while before it commits:
        the window in which a writer that skipped the lock (or a reader that
        ignored it) would let a pull pass over ids committed later.
        """
        assert self.log.device_id is not None
        self.log.append([commands.add_contact(NOW, f"s{i}") for i in range(count)])
        rows = self.log.store.stream(self.log.device_id, gt=self.log.last_seq() - count)
        bare, prefix = split_prefix(url)
        schema = owner_schema(prefix, owner_id)
        with psycopg.connect(bare) as conn, conn.transaction():
            conn.execute(f"SELECT pg_advisory_xact_lock({log_lock_key(schema)})")
            for r in rows:
                conn.execute(
                    f'INSERT INTO "{schema}".stored_events '
                    "(originator_id, originator_version, topic, state) VALUES (%s, %s, %s, %s)",
                    (r.originator_id, r.originator_version, r.topic, r.state),
                )
            conn.execute("SELECT pg_sleep(0.03)")
        return self.log.last_seq()

    def push(self, service: SyncService, count: int, resend: int) -> int:
        """Record `count` events and push them with the last `resend` held ones again.

        Re-sent events make the batch start below the device's next seq, which
        the exchange statement declines: such a push goes the general way
        (`EventLog.ingest_rows` and the library's recorder) and must be ordered
        against the statement's inserts all the same.
        """
        assert self.log.device_id is not None
        self.log.append([commands.add_contact(NOW, f"n{i}") for i in range(count)])
        last = self.log.last_seq()
        rows = self.log.store.stream(self.log.device_id, gt=max(0, last - count - resend))
        events = [protocol.stored_to_wire(r.topic, r.state, "msgpack") for r in rows]
        body = protocol.encode(
            SyncRequest(device_id=self.log.device_id, events=events, limit=0), "msgpack"
        )
        answer = service.sync(self.device, body, "msgpack", "msgpack")
        return protocol.decode_response(answer, "msgpack")[0].acked_seq


def _tail(
    services: list[SyncService], reader: Device, done: threading.Event, seen: list[tuple[str, int]]
) -> None:
    """Pull by cursor in small pages, alternating workers, until the writers are done."""
    cursor, turn = 0, 0
    while True:
        finished = done.is_set()
        request = SyncRequest(device_id=reader.device_id, cursor=cursor, limit=3)
        answer = services[turn % 2].sync(
            reader, protocol.encode(request, "msgpack"), "msgpack", "msgpack"
        )
        reply, events = protocol.decode_response(answer, "msgpack")
        seen.extend((e.device_id, e.seq) for e in events)
        cursor, turn = reply.cursor, turn + 1
        if finished and not reply.more:
            return


#: Per writer, its pushes: (events, how many held events it sends again, or -1: by hand
#: in a slow transaction).
plans = st.lists(
    st.lists(st.tuples(st.integers(1, 6), st.sampled_from([0, 0, 2, -1])), min_size=1, max_size=6),
    min_size=2,
    max_size=4,
)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plans=plans)
def test_concurrent_writers_on_two_workers_never_let_a_reader_skip_an_event(
    two: list[SyncService], pg_url: str, tmp_path: Path, plans: list[list[tuple[int, int]]]
) -> None:
    """Whatever the writers do at once, on either worker and by either write path,
    a reader tailing `notification_id > cursor` sees exactly the log, in its order:
    no event ever commits behind a cursor that has passed its id."""
    a = two[0]
    owner, token = a.accounts.add_owner(f"owner {new_id()}", OPEN_INVITE)
    with a.log(owner.owner_id):  # the owner's schema, as its first enrollment creates it
        pass
    writers = [Writer(two[i % 2], token, tmp_path) for i in range(len(plans))]
    reader = Writer(a, token, tmp_path).device
    done = threading.Event()
    seen: list[tuple[str, int]] = []
    tailer = threading.Thread(target=_tail, args=(two, reader, done, seen))
    tailer.start()

    def write(index: int) -> list[int]:
        writer = writers[index]
        return [
            writer.push_slowly(pg_url, owner.owner_id, count)
            if resend < 0
            else writer.push(two[(index + n) % 2], count, resend)
            for n, (count, resend) in enumerate(plans[index])
        ]

    try:
        with ThreadPoolExecutor(len(writers)) as pool:
            acks = list(pool.map(write, range(len(writers))))
    finally:
        done.set()
        tailer.join(timeout=120)
    for plan, acked in zip(plans, acks, strict=True):
        totals = [sum(count for count, _ in plan[: n + 1]) for n in range(len(plan))]
        assert acked == totals  # each push acknowledged exactly what the device holds
    stored = _log_order(pg_url, owner.owner_id)
    assert len(stored) == sum(count for plan in plans for count, _ in plan)
    assert seen == stored  # the reader passed every event once, in log order
    for writer in writers:
        writer.log.store.close()


def test_a_retried_batch_is_declined_by_the_statement_and_stored_once(
    two: list[SyncService], pg_url: str, tmp_path: Path
) -> None:
    a, b = two
    owner, token = a.accounts.add_owner("alice", OPEN_INVITE)
    writer = Writer(a, token, tmp_path)
    assert writer.push(a, 3, 0) == 3
    assert writer.push(b, 2, 3) == 5  # three held again: the general path
    assert writer.push(a, 0, 5) == 5  # all held: nothing new, acknowledged
    assert _log_order(pg_url, owner.owner_id) == [(writer.device.device_id, s) for s in range(1, 6)]
    writer.log.store.close()


def test_a_gap_is_refused_with_the_expected_seq(two: list[SyncService], tmp_path: Path) -> None:
    a, _ = two
    _, token = a.accounts.add_owner("alice", OPEN_INVITE)
    writer = Writer(a, token, tmp_path)
    assert writer.log.device_id is not None
    writer.log.append([commands.add_contact(NOW, f"n{i}") for i in range(3)])
    rows = writer.log.store.stream(writer.log.device_id, gt=1)  # seqs 2 and 3 only
    body = protocol.encode(
        SyncRequest(
            device_id=writer.log.device_id,
            events=[protocol.stored_to_wire(r.topic, r.state, "msgpack") for r in rows],
        ),
        "msgpack",
    )
    with pytest.raises(protocol.Refusal) as refused:
        a.sync(writer.device, body, "msgpack", "msgpack")
    assert (refused.value.code, refused.value.expected_seq) == ("sequence_gap", 1)
    writer.log.store.close()


def test_a_cached_authentication_still_sees_revocation_and_re_enrollment_at_once(
    two: list[SyncService], tmp_path: Path
) -> None:
    a, b = two
    owner, token = a.accounts.add_owner("alice", OPEN_INVITE)
    laptop = Writer(a, token, tmp_path)
    phone = Writer(a, token, tmp_path)
    assert laptop.push(a, 1, 0) == 1
    assert a.session(f"Bearer {laptop.token}") is not None  # cached from now on
    b.accounts.revoke(owner.owner_id, laptop.device.device_id)  # through the other worker
    with pytest.raises(protocol.Refusal) as refused:
        laptop.push(a, 1, 0)
    assert (refused.value.status, refused.value.code) == (403, "revoked")
    assert a.session(f"Bearer {laptop.token}") is None
    assert phone.push(a, 1, 0) == 1
    assert phone.log.device_id is not None
    # re-enrolled with its current token (ADR 0113): a fresh token, the old one ends
    b.accounts.enroll(token, phone.log.device_id, "phone", phone.token)
    with pytest.raises(protocol.Refusal) as refused:
        phone.push(a, 1, 0)
    assert (refused.value.status, refused.value.code) == (401, "unauthorized")
    for writer in (laptop, phone):
        writer.log.store.close()


def test_an_exchange_with_a_cursor_beyond_the_log_is_refused(
    two: list[SyncService], tmp_path: Path
) -> None:
    a, _ = two
    _, token = a.accounts.add_owner("alice", OPEN_INVITE)
    writer = Writer(a, token, tmp_path)
    body = protocol.encode(SyncRequest(device_id=writer.device.device_id, cursor=5), "json")
    with pytest.raises(protocol.Refusal) as refused:
        a.sync(writer.device, body, "json", "json")
    assert refused.value.code == "cursor_ahead"
    writer.log.store.close()


def test_a_schema_of_an_older_release_gets_this_exchange_function_on_its_next_sync(
    two: list[SyncService], pg_url: str, tmp_path: Path
) -> None:
    """An owner schema without this version's function (made by an older release)
    is served by the general path once, which creates the function; then the
    statement serves it again."""
    a, b = two
    owner, token = a.accounts.add_owner("alice", OPEN_INVITE)
    writer = Writer(a, token, tmp_path)
    assert writer.push(a, 2, 0) == 2  # the schema and its function made
    bare, prefix = split_prefix(pg_url)
    function = f'"{owner_schema(prefix, owner.owner_id)}".recip_exchanges_v{EXCHANGE_VERSION}'
    with psycopg.connect(bare, autocommit=True) as conn:
        conn.execute(f"DROP FUNCTION {function}")
    assert writer.push(b, 2, 0) == 4  # b never opened the owner: general path
    with psycopg.connect(bare) as conn:
        row = conn.execute("SELECT to_regproc(%s) IS NOT NULL", (function,)).fetchone()
    assert row == (True,)
    assert writer.push(b, 2, 0) == 6
    assert _log_order(pg_url, owner.owner_id) == [(writer.device.device_id, s) for s in range(1, 7)]
    writer.log.store.close()


# -- scale-out: two `recip serve` processes, one database --------------------------------


def _enroll(url: str, token: str) -> tuple[str, str]:
    device_id = new_id()
    body = msgspec.json.encode(EnrollRequest(token=token, device_id=device_id, device_name="d"))
    answer = httpx.post(
        f"{url}/v1/enroll", content=body, headers={"Content-Type": protocol.JSON}, timeout=30
    )
    answer.raise_for_status()
    return device_id, msgspec.json.decode(answer.content, type=EnrollResponse).device_token


def test_two_servers_on_one_database_serve_the_same_owners_and_devices_converge(
    tmp_path: Path, pg_url: str
) -> None:
    """As two hosts behind a load balancer: every device alternates between the two
    servers, writing while it goes; all devices of an owner end with the same log."""
    servers = [Served(tmp_path / f"s{i}", database_url=pg_url).start() for i in range(2)]
    try:
        owners = [add_owner(pg_url, name, OPEN_INVITE) for name in ("alice", "bob")]
        fleets: list[tuple[str, list[tuple[EventLog, str]]]] = []
        for n, (owner, token) in enumerate(owners):
            fleet = []
            for i in range(3):
                device_id, device_token = _enroll(servers[i % 2].url, token)
                log = EventLog(open_store(str(tmp_path / f"o{n}d{i}.db")), device_id)
                fleet.append((log, device_token))
            fleets.append((owner.owner_id, fleet))

        def work(owner_id: str, index: int, log: EventLog, device_token: str) -> None:
            for round_ in range(6):
                log.append([commands.add_contact(NOW, f"{index}.{round_}.{k}") for k in range(3)])
                with HttpTransport(servers[(index + round_) % 2].url, device_token) as transport:
                    Replica(log, transport, "server").sync()

        with ThreadPoolExecutor(6) as pool:
            jobs = [
                pool.submit(work, owner_id, i, log, tok)
                for owner_id, fleet in fleets
                for i, (log, tok) in enumerate(fleet)
            ]
            for job in jobs:
                job.result()
        for owner_id, fleet in fleets:  # a last round, each through the other server
            for i, (log, tok) in enumerate(fleet):
                with HttpTransport(servers[(i + 1) % 2].url, tok) as transport:
                    Replica(log, transport, "server").sync()
            stored = set(_log_order(pg_url, owner_id))
            assert len(stored) == 3 * 6 * 3
            for log, _ in fleet:
                assert {(e.device_id, e.seq) for e in log.events()} == stored
                log.store.close()
    finally:
        for served in servers:
            served.stop()
