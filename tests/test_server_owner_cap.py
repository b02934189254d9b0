"""At most N owners open on a server (ADR 0073), and the contact listing's cache.

- `OwnerCache` on its own: a state machine over leases and releases checks that a
  leased value is never closed, that at most `capacity` values stay open beyond
  the leased ones, and that each value is closed exactly once; threads hammering
  it check the same under contention.
- A real HTTP server capped at 2 owners serves 5 owners' devices, one after the
  other and then all at once: every sync and read succeeds, every device ends
  with all its owner's events, and each owner's log holds exactly what its
  devices recorded, across the closing and reopening of logs.
- `GET /v1/contacts` answers byte for byte what a fold from scratch gives, and
  folds only when the log moved.
"""

from __future__ import annotations

import itertools
import random
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx
import msgspec
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from starlette.testclient import TestClient

import server.read_api
from core import commands
from core.events import ContactAdded, Event, OpaqueEvent
from core.ids import new_id
from core.log import EventLog
from core.state import State
from core.store import open_store
from projections.contacts import contact_rows
from sample.history import generate
from server.accounts import OPEN_INVITE
from server.app import create_app
from server.owners import Lease, OwnerCache
from server.read_api import ViewSource
from server.run import BackgroundServer, free_port
from server.service import ServerConfig, SyncService
from sync.http import HttpTransport, enroll
from sync.replica import Replica
from tests.conftest import PG_URL

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
NOW = commands.Now(1_790_000_000_000, 0)


# -- the cache on its own ----------------------------------------------------------------


@dataclass(eq=False)
class Value:
    owner: str
    in_use: int = 0
    closed: int = 0


@dataclass
class Ledger:
    """Every value the cache opened, and every misuse seen by `close`."""

    opened: list[Value] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, owner: str) -> Value:
        if owner in self.failing:
            raise OSError(f"cannot open {owner}")
        value = Value(owner)
        with self.lock:
            self.opened.append(value)
        return value

    def close(self, value: Value) -> None:
        if value.in_use:
            self.errors.append(f"{value.owner} closed while in use")
        if value.closed:
            self.errors.append(f"{value.owner} closed twice")
        value.closed += 1

    def cache(self, capacity: int) -> OwnerCache[Value]:
        return OwnerCache(self.open, self.close, capacity)

    def still_open(self) -> list[Value]:
        return [v for v in self.opened if not v.closed]


OWNERS = [f"owner-{i}" for i in range(5)]


class CacheMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger = Ledger()
        self.capacity = 2
        self.cache = self.ledger.cache(self.capacity)
        self.leases: list[Lease[Value]] = []

    @rule(owner=st.sampled_from(OWNERS))
    def lease(self, owner: str) -> None:
        before = {v.owner: v for v in self.ledger.still_open()}
        if owner in self.ledger.failing and owner not in before:
            with pytest.raises(OSError):
                self.cache.lease(owner)
            return
        lease = self.cache.lease(owner)
        assert lease.value.owner == owner and not lease.value.closed
        if owner in before:  # an open owner is reused, never opened twice
            assert lease.value is before[owner]
        lease.value.in_use += 1
        self.leases.append(lease)

    @rule(owner=st.sampled_from(OWNERS))
    def peek(self, owner: str) -> None:
        """A background read: leases an open owner, never opens or reorders one."""
        before = {v.owner: v for v in self.ledger.still_open()}
        order = self.cache.open_owners()
        lease = self.cache.peek(owner)
        assert self.cache.open_owners() == order
        if owner not in before:
            assert lease is None
            return
        assert lease is not None and lease.value is before[owner]
        lease.value.in_use += 1
        self.leases.append(lease)

    @precondition(lambda self: bool(self.leases))
    @rule(k=st.integers(0, 100))
    def release(self, k: int) -> None:
        lease = self.leases.pop(k % len(self.leases))
        lease.value.in_use -= 1
        lease.release()
        lease.release()  # idempotent

    @rule(owner=st.sampled_from(OWNERS), fails=st.booleans())
    def storage(self, owner: str, fails: bool) -> None:
        """The owner's storage starts (or stops) refusing to open."""
        if fails:
            self.ledger.failing.add(owner)
        else:
            self.ledger.failing.discard(owner)

    @invariant()
    def bounded_and_never_closed_under_a_lease(self) -> None:
        assert not self.ledger.errors
        open_values = self.ledger.still_open()
        leased = {lease.value.owner for lease in self.leases}
        assert len(open_values) <= max(self.capacity, len(leased))
        assert len({v.owner for v in open_values}) == len(open_values)
        assert sorted(self.cache.open_owners()) == sorted(v.owner for v in open_values)

    def teardown(self) -> None:
        for lease in self.leases:
            lease.value.in_use -= 1
        self.cache.close()  # leased values stay open until released ...
        assert all(not lease.value.closed for lease in self.leases)
        for lease in self.leases:
            lease.release()
        assert not self.ledger.still_open()  # ... then everything is closed once
        assert not self.ledger.errors


TestOwnerCache = CacheMachine.TestCase


def test_leases_from_many_threads_never_see_a_closed_value() -> None:
    ledger = Ledger()
    cache = ledger.cache(2)
    problems: list[str] = []

    def work(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(300):
            with cache.lease(rng.choice(OWNERS)) as value:
                value.in_use += 1  # several threads may share a value: count, don't set
                if value.closed:
                    problems.append(f"{value.owner} handed out closed")
                value.in_use -= 1

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not problems and not ledger.errors
    assert len(ledger.still_open()) <= 2
    cache.close()
    assert not ledger.still_open()
    assert all(v.closed == 1 for v in ledger.opened)
    assert len(ledger.opened) > len(OWNERS)  # owners were closed and reopened
    with pytest.raises(Exception, match="shutting down"):
        cache.lease(OWNERS[0])


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        OwnerCache(Ledger().open, Ledger().close, 0)


# -- a server capped at two owners -------------------------------------------------------


@dataclass
class Person:
    owner_id: str
    token: str
    laptop: Replica
    phone: Replica
    names: list[str] = field(default_factory=list)

    def record(self, *names: str) -> None:
        self.laptop.log.append([commands.add_contact(NOW, n) for n in names])
        self.names.extend(names)


def contact_names(log: EventLog) -> list[str]:
    return sorted(e.name for e in log.events() if isinstance(e, ContactAdded))


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[tuple[BackgroundServer, list[Person]]]:
    config = ServerConfig(data=tmp_path / "server", max_open_owners=2)
    server = BackgroundServer(config.data, config=config)
    url = server.start()
    people = []
    for i in range(5):
        _, token = server.service.accounts.add_owner(f"person {i}", OPEN_INVITE)
        replicas = []
        for name in ("laptop", "phone"):
            device_id = new_id()
            reply = enroll(url, token, device_id, name)
            log = EventLog(open_store(str(tmp_path / f"{i}-{name}.db")), device_id)
            replicas.append(Replica(log, HttpTransport(url, reply.device_token), reply.owner_id))
        laptop, phone = replicas
        people.append(Person(laptop.upstream, reply.device_token, laptop, phone))
    yield server, people
    for person in people:
        for replica in (person.laptop, person.phone):
            replica.transport.close()  # type: ignore[attr-defined]
            replica.log.store.close()
    server.stop()


def check_everyone(service: SyncService, people: list[Person]) -> None:
    for person in people:
        assert contact_names(person.phone.log) == sorted(person.names)
        with service.log(person.owner_id) as log:
            assert contact_names(log) == sorted(person.names)
            assert log.last_seq(person.laptop.log.device_id) == len(person.names)


def test_more_owners_than_the_cap_sync_and_read_correctly(
    capped: tuple[BackgroundServer, list[Person]],
) -> None:
    server, people = capped
    for round_ in range(3):  # each round reopens every owner closed by the previous one
        for i, person in enumerate(people):
            person.record(f"friend {round_}.{i}", f"colleague {round_}.{i}")
            assert person.laptop.sync().acked_seq == len(person.names)
            person.phone.sync()
            assert len(server.service.open_owners()) <= 2
        assert server.service.open_owners() == [people[-2].owner_id, people[-1].owner_id]
    check_everyone(server.service, people)
    # A stream's head poll reads a closed owner's head without reopening it.
    first = people[0]
    assert server.service.position(first.owner_id) == first.phone.log.position()
    assert server.service.open_owners() == [people[-2].owner_id, people[-1].owner_id]
    for person in people:  # reads reopen closed logs too, and see only their owner's
        listing = httpx.get(
            f"{server.url}/v1/contacts", headers={"Authorization": f"Bearer {person.token}"}
        )
        assert listing.status_code == 200
        assert sorted(c["name"] for c in listing.json()) == sorted(person.names)
    assert len(server.service.open_owners()) <= 2


def test_concurrent_owners_beyond_the_cap_see_no_error(
    capped: tuple[BackgroundServer, list[Person]],
) -> None:
    server, people = capped
    failures: list[BaseException] = []

    def use(person: Person, index: int) -> None:
        auth = {"Authorization": f"Bearer {person.token}"}
        try:
            with httpx.Client(base_url=server.url, headers=auth, timeout=60) as http:
                for round_ in range(6):
                    person.record(f"p{index} r{round_}")
                    person.laptop.sync()
                    person.phone.sync()
                    for path in ("/v1/contacts", "/v1/ledger", "/v1/stats", "/v1/devices"):
                        answer = http.get(path)
                        assert answer.status_code == 200, (path, answer.text)
                    listed = {c["name"] for c in http.get("/v1/contacts").json()}
                    assert set(person.names) <= listed
        except BaseException as exc:  # reported below, with the thread's owner
            failures.append(exc)

    threads = [threading.Thread(target=use, args=(p, i)) for i, p in enumerate(people)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    for person in people:
        person.phone.sync()  # the last laptop push may have come after its phone's pull
    check_everyone(server.service, people)
    assert len(server.service.open_owners()) <= 2


def test_max_open_owners_reaches_the_service_from_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import server.asgi
    from cli.main import cli

    seen: list[ServerConfig] = []

    def fake_serve(
        config: ServerConfig, host: str, port: int, workers: int = 1, log_config: object = None
    ) -> None:
        seen.append(config)

    monkeypatch.setattr(server.asgi, "serve", fake_serve)
    port = str(free_port())
    args = ["serve", "--data", str(tmp_path), "--port", port, "--max-open-owners", "3"]
    CliRunner().invoke(cli, args, catch_exceptions=False)
    assert seen and seen[0].max_open_owners == 3
    refused = CliRunner().invoke(cli, [*args[:-1], "0"])
    assert refused.exit_code == 1 and "--max-open-owners" in refused.stderr
    assert len(seen) == 1


# -- the contact listing -----------------------------------------------------------------


def expected_listing(events: Sequence[Event | OpaqueEvent], *, include_all: bool) -> bytes:
    """What the endpoint answered before the cache: a fold from scratch, encoded."""
    return msgspec.json.encode(contact_rows(State(events), include_all=include_all))


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 10_000),
    contacts=st.integers(2, 10),
    cuts=st.lists(st.floats(0, 1), max_size=4),
    order=st.randoms(use_true_random=False),
)
def test_cached_listing_equals_a_fold_from_scratch(
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    contacts: int,
    cuts: list[float],
    order: random.Random,
) -> None:
    """Pushes in pieces to two owners, read in between, with only one owner open."""
    service = SyncService(ServerConfig(data=tmp_path_factory.mktemp("srv"), max_open_owners=1))
    source = ViewSource(service)
    try:
        histories = {}
        for name in ("a", "b"):
            owner, _ = service.accounts.add_owner(f"{name} {uuid.uuid4()}", OPEN_INVITE)
            events = list(
                generate(seed, contacts=contacts, years=0.5, devices=2, end=date(2026, 1, 1))
            )
            bounds = sorted({0, len(events), *(int(c * len(events)) for c in cuts)})
            histories[owner.owner_id] = (events, list(itertools.pairwise(bounds)))
        steps = [(o, i) for o, (_, pieces) in histories.items() for i in range(len(pieces))]
        steps.sort(key=lambda step: (step[1], order.random()))
        for owner_id, i in steps:
            events, pieces = histories[owner_id]
            start, end = pieces[i]
            with service.log(owner_id) as log:
                log.ingest(events[start:end])
            for include_all in (False, True, False):
                with source.reading(owner_id) as reading:
                    rows = reading.views.contacts(reading.log, include_all=include_all)
                assert msgspec.json.encode(rows) == expected_listing(
                    events[:end], include_all=include_all
                )
            assert len(service.open_owners()) == len(source.open_owners()) == 1
    finally:
        source.close()
        service.close()


def test_repeated_listing_of_an_unchanged_log_does_no_fold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folds: list[int] = []

    class CountingState(State):
        def __init__(self, *args: object, **kwargs: object) -> None:
            folds.append(1)
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(server.read_api, "State", CountingState)
    config = ServerConfig(data=tmp_path / "server")
    service = SyncService(config)
    token = service.accounts.add_owner("alice", OPEN_INVITE)[1]
    device_id = new_id()
    owner, device_token = service.accounts.enroll(token, device_id, "laptop")
    laptop = EventLog(open_store(str(tmp_path / "laptop.db")), device_id)
    from server.inprocess import LocalTransport

    replica = Replica(laptop, LocalTransport(service, device_token), owner.owner_id)
    auth = {"Authorization": f"Bearer {device_token}"}
    try:
        with TestClient(create_app(config, service=service)) as client:

            def listing(include_all: bool) -> bytes:
                answer = client.get("/v1/contacts", params={"all": str(include_all)}, headers=auth)
                assert answer.status_code == 200, answer.text
                content: bytes = answer.content
                return content

            laptop.append([commands.add_contact(NOW, n) for n in ("Ann", "bob", "Cy")])
            replica.sync()
            first = listing(False)
            assert listing(False) == first and len(folds) == 1
            assert listing(True) == expected_listing(list(laptop.events()), include_all=True)
            assert len(folds) == 1  # both listings come from one fold

            state = State(laptop.events())
            ann = next(c for c in state.contacts() if c.name == "Ann")
            laptop.append([commands.archive_contact(state, NOW, ann.id)])
            replica.sync()
            events = list(laptop.events())
            assert listing(False) == expected_listing(events, include_all=False) != first
            assert listing(True) == expected_listing(events, include_all=True)
            assert len(folds) == 2  # the log moved: one more fold, then cached again
    finally:
        laptop.store.close()
        service.close()


@pytest.mark.postgres
def test_mirrors_beyond_the_cap_are_reopened_and_caught_up(tmp_path: Path) -> None:
    """On PostgreSQL, with one owner open per worker: mirrors close and reopen."""
    from server.pg import drop_prefix
    from tests.conftest import _postgres_up

    if not _postgres_up():
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    url = f"{PG_URL}?prefix=t_{uuid.uuid4().hex[:12]}"
    service = SyncService(
        ServerConfig(data=tmp_path, database_url=url, pool_size=2, max_open_owners=1)
    )
    source = ViewSource(service)
    try:
        owners = [service.accounts.add_owner(f"o{i}", OPEN_INVITE)[0].owner_id for i in range(3)]
        events = {o: list(generate(i, contacts=4, years=0.3)) for i, o in enumerate(owners)}
        for half in (0, 1):
            for owner_id in owners:
                held = events[owner_id]
                cut = slice(0, len(held) // 2) if half == 0 else slice(len(held) // 2, None)
                with service.log(owner_id) as log:
                    log.ingest(held[cut])
                with source.reading(owner_id) as reading:
                    mirrored = [e.event_id for e in reading.log.events()]
                    rows = reading.views.contacts(reading.log, include_all=True)
                upto = held[: len(held) // 2] if half == 0 else held
                assert mirrored == [e.event_id for e in upto]
                assert msgspec.json.encode(rows) == expected_listing(upto, include_all=True)
                assert source.open_owners() == [owner_id] == service.open_owners()
        for owner_id in owners[:-1]:  # heads of closed owners, read without opening them
            assert service.position(owner_id) == len(events[owner_id])
        assert service.open_owners() == [owners[-1]]
        fresh = service.accounts.add_owner("fresh", OPEN_INVITE)[0].owner_id
        assert service.position(fresh) == 0  # no schema yet: opened (created) as usual
        assert service.open_owners() == [fresh]
    finally:
        source.close()
        service.close()
        drop_prefix(url)


def test_serve_raises_the_soft_open_files_limit_never_lowers_it() -> None:
    resource = pytest.importorskip("resource")
    from server.asgi import open_files_limit

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
        wanted = 2048 if hard == resource.RLIM_INFINITY else min(2048, hard)
        assert open_files_limit(2048) == wanted
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (wanted, hard)
        assert open_files_limit(300) == wanted  # already higher: left alone
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == wanted
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
