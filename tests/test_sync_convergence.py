"""Convergence under faults: a hypothesis state machine over the real sync logic.

2-5 devices record random commands against their own state and sync at random
through the real `Replica` and the real `SyncService`, over a wire that loses
requests, loses responses after the server committed, delivers twice, fails with
5xx, and re-delivers stale requests out of order; the server and the devices
restart, and a fully synced device may lose its database. At the end every
device syncs until nothing remains; then every replica holds the same set of
events, each exactly once, nothing anyone recorded is missing, and the views
derived from the events are identical everywhere.

Profiles: the default runs in CI in well under a minute; `HYPOTHESIS_PROFILE=soak`
(the project's soak switch, tests/conftest.py) runs 2,000 longer schedules.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from core import codec, commands
from core.errors import ReciprocityError
from core.ids import new_id
from core.log import EventLog
from core.state import State
from core.store import open_store
from projections import views as pviews
from projections.fold import Fold
from projections.projector import Projector
from projections.query import Views
from server import e2e
from server.accounts import OPEN_INVITE
from server.service import ServerConfig, SyncService
from sync.protocol import Format, Refusal
from sync.replica import Replica, TransientError
from sync.seal import OwnerKey

settings.register_profile(
    "sync-ci",
    max_examples=40,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.register_profile(
    "sync-soak",
    max_examples=2_000,
    stateful_step_count=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
SOAK = os.environ.get("HYPOTHESIS_PROFILE") == "soak"
PROFILE = settings.get_profile("sync-soak" if SOAK else "sync-ci")

FAULTS = ("lose_request", "lose_response", "duplicate", "server_error")


class FaultyWire:
    """An in-process transport to the current server, with scripted faults.

    `faults` is consumed one per exchange; every body delivered is kept so that a
    stale copy can be re-delivered later, out of order.
    """

    def __init__(self, server: Callable[[], SyncService], token: str, fmt: Format) -> None:
        self.server = server
        self.token = token
        self.format: Format = fmt
        self.faults: list[str] = []
        self.sent: list[bytes] = []

    def deliver(self, body: bytes) -> bytes:
        service = self.server()
        device = service.accounts.authenticate(f"Bearer {self.token}")
        self.sent.append(body)
        return service.sync(device, body, self.format, self.format)

    def exchange(self, body: bytes) -> bytes:
        fault = self.faults.pop(0) if self.faults else None
        if fault == "lose_request":
            raise TransientError("request lost")
        if fault == "server_error":
            raise Refusal(503, "unavailable", "injected")
        answer = self.deliver(body)
        if fault == "lose_response":
            raise TransientError("response lost")
        if fault == "duplicate":
            answer = self.deliver(body)
        return answer


class Device:
    """One device: its log file, its replica, its wire."""

    def __init__(
        self,
        path: Path,
        device_id: str,
        wire: FaultyWire,
        owner: str,
        page: int,
        key: OwnerKey | None = None,
    ):
        self.path = path
        self.device_id = device_id
        self.wire = wire
        self.owner = owner
        self.page = page
        self.key = key
        self.open()

    def open(self) -> None:
        self.log = EventLog(open_store(str(self.path)), self.device_id)
        self.replica = Replica(
            self.log,
            self.wire,
            self.owner,
            push_batch=self.page,
            pull_limit=self.page + 1,
            retries=2,
            sleep=lambda _s: None,
            key=self.key,
        )

    def close(self) -> None:
        self.log.store.close()

    def state(self) -> State:
        return State(self.log.events())


def stored_set(log: EventLog) -> tuple[set[tuple[str, int, bytes]], int]:
    """The (device, seq, bytes) of every event held, and how many rows hold them."""
    rows: list[tuple[str, int, bytes]] = []
    after = 0
    while True:
        page = log.store.notifications(after, 1000)
        rows.extend((str(r.originator_id), r.originator_version, r.state) for r in page)
        if len(page) < 1000:
            return set(rows), len(rows)
        after = page[-1].id


def view(state: State) -> Any:
    """Everything a person sees, derived from the events, as comparable data."""
    contacts = state.contacts()  # frozen dataclasses: every resolved field compares
    asks = [
        (a.id, a.contact_id, a.outcome) for a in (state.ask(i) for i in sorted(state.asks)) if a
    ]
    retracted = sorted(i for i in state.by_id if state.is_retracted(i))
    return contacts, asks, retracted


AS_OF = pviews.day_of(date(2024, 2, 1))


def projected(path: Path) -> Any:
    """The real views of a device: its incremental projector, then ledger and cold."""
    with Projector(path) as projector:
        projector.catch_up()
    summaries = asyncio.run(Views(path).summaries())
    return summaries, pviews.ledger(summaries, AS_OF), pviews.cold(summaries, AS_OF, everyone=True)


def folded(events: Any) -> Any:
    """The same views folded from scratch over an event set (the reference)."""
    summaries = pviews.summaries(Fold(events))
    return summaries, pviews.ledger(summaries, AS_OF), pviews.cold(summaries, AS_OF, everyone=True)


class SyncMachine(RuleBasedStateMachine):
    #: The owner key of an end-to-end encrypted owner (`SealedSyncMachine`).
    key: OwnerKey | None = None

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="recip-sync-"))
        self.config = ServerConfig(data=self.root / "server")
        self.service = SyncService(self.config)
        self.devices: list[Device] = []
        self.recorded: set[str] = set()
        self.now_ms = 1_700_000_000_000

    @initialize(
        n=st.integers(2, 5),
        pages=st.lists(st.integers(1, 4), min_size=5, max_size=5),
        json=st.lists(st.booleans(), min_size=5, max_size=5),
    )
    def setup(self, n: int, pages: list[int], json: list[bool]) -> None:
        owner, token = self.service.accounts.add_owner("alice", OPEN_INVITE)
        self.enroll_token = token
        if self.key is not None:
            check = e2e.join_check("first", self.key.key_id, True, lambda _o: True, 0)
            self.service.accounts.enroll(token, "first", "first", check=check)
        for i in range(n):
            device_id = new_id()
            _, device_token = self.service.accounts.enroll(token, device_id, f"device {i}")
            fmt: Format = "json" if json[i] else "msgpack"
            wire = FaultyWire(lambda: self.service, device_token, fmt)
            path = self.root / f"d{i}.db"
            self.devices.append(Device(path, device_id, wire, owner.owner_id, pages[i], self.key))

    def teardown(self) -> None:
        try:
            if self.devices:
                self.converge()
        finally:
            for device in self.devices:
                device.close()
            self.service.close()
            shutil.rmtree(self.root, ignore_errors=True)

    def pick(self, index: int) -> Device:
        return self.devices[index % len(self.devices)]

    def server_set(self, owner_id: str) -> tuple[set[tuple[str, int, bytes]], int]:
        """`stored_set` of the server's log of an owner (opened, if it is sealed)."""
        with self.service.log(owner_id) as log:
            held, rows = stored_set(log)
        if self.key is None:
            return held, rows
        opened = set()
        for device_id, seq, state in held:
            row = self.key.open_row((device_id, seq, "Sealed", state))
            opened.add((row[0], row[1], row[3]))
        return opened, rows

    def server_events(self, owner_id: str) -> list[Any]:
        """The events of the server's log of an owner (opened, if it is sealed)."""
        with self.service.log(owner_id) as log:
            if self.key is None:
                return list(log.events())
            stored = log.store.notifications(0, 1_000_000)
        opened = [
            self.key.open_row((str(r.originator_id), r.originator_version, r.topic, r.state))
            for r in stored
        ]
        return [codec.decode(topic, state) for _d, _s, topic, state in opened]

    # -- recording -------------------------------------------------------------------

    def record(self, device: Device, make: Callable[[State, commands.Now], Any]) -> None:
        self.now_ms += 1_000
        now = commands.Now(self.now_ms, 60)
        try:
            draft = make(device.state(), now)
        except ReciprocityError:
            return  # refused commands append nothing; nothing to check here
        (event,) = device.log.append([draft])
        self.recorded.add(event.event_id)

    @rule(d=st.integers(0, 4), name=st.sampled_from(["Ann", "Bob", "Cy", "Di", "Ed"]))
    def add(self, d: int, name: str) -> None:
        self.record(self.pick(d), lambda s, now: commands.add_contact(now, name))

    @rule(d=st.integers(0, 4), c=st.integers(0, 50), field=st.sampled_from(["name", "circle"]))
    def edit(self, d: int, c: int, field: str) -> None:
        def make(s: State, now: commands.Now) -> Any:
            contact = _nth(s.active_contacts(), c)
            if field == "name":
                return commands.edit_contact(s, now, contact.id, name=f"{contact.name}+")
            circle = "inner" if contact.circle != "inner" else "close"
            return commands.edit_contact(s, now, contact.id, circle=circle)

        self.record(self.pick(d), make)

    @rule(d=st.integers(0, 4), a=st.integers(0, 50), b=st.integers(0, 50))
    def merge(self, d: int, a: int, b: int) -> None:
        def make(s: State, now: commands.Now) -> Any:
            active = s.active_contacts()
            return commands.merge_contacts(s, now, _nth(active, a).id, _nth(active, b).id)

        self.record(self.pick(d), make)

    @rule(d=st.integers(0, 4), c=st.integers(0, 50), archive=st.booleans())
    def archive(self, d: int, c: int, archive: bool) -> None:
        def make(s: State, now: commands.Now) -> Any:
            contact = _nth(s.contacts(), c)
            if archive:
                return commands.archive_contact(s, now, contact.id)
            return commands.restore_contact(s, now, contact.id)

        self.record(self.pick(d), make)

    @rule(d=st.integers(0, 4), c=st.integers(0, 50), kind=st.sampled_from(["log", "ask", "give"]))
    def touch(self, d: int, c: int, kind: str) -> None:
        def make(s: State, now: commands.Now) -> Any:
            contact = _nth(s.active_contacts(), c)
            if kind == "log":
                return commands.log_interaction(s, now, [contact.id], channel="call")
            if kind == "ask":
                return commands.make_ask(s, now, contact.id, "a favour", weight=2)
            return commands.make_give(s, now, contact.id, "advice", kind="advice")

        self.record(self.pick(d), make)

    @rule(d=st.integers(0, 4), a=st.integers(0, 50), b=st.integers(0, 50))
    def intro(self, d: int, a: int, b: int) -> None:
        def make(s: State, now: commands.Now) -> Any:
            active = s.active_contacts()
            return commands.introduce(s, now, _nth(active, a).id, _nth(active, b).id)

        self.record(self.pick(d), make)

    @rule(
        d=st.integers(0, 4), k=st.integers(0, 50), outcome=st.sampled_from(["granted", "declined"])
    )
    def resolve(self, d: int, k: int, outcome: str) -> None:
        def make(s: State, now: commands.Now) -> Any:
            return commands.resolve_ask(s, now, _nth(s.open_asks(), k).id, outcome)

        self.record(self.pick(d), make)

    @rule(d=st.integers(0, 4), k=st.integers(0, 500))
    def retract(self, d: int, k: int) -> None:
        def make(s: State, now: commands.Now) -> Any:
            return commands.retract(s, now, _nth(sorted(s.by_id), k), "mistake")

        self.record(self.pick(d), make)

    # -- syncing under faults ----------------------------------------------------------

    @rule(
        d=st.integers(0, 4),
        faults=st.lists(st.sampled_from(FAULTS), max_size=4),
    )
    def sync(self, d: int, faults: list[str]) -> None:
        device = self.pick(d)
        device.wire.faults = list(faults)
        try:
            summary = device.replica.sync()
        except TransientError:
            return  # gave up after its retries; the next sync resumes
        except Refusal as refusal:
            assert refusal.status == 503, refusal  # only injected server errors
            return
        finally:
            device.wire.faults = []
        assert summary.acked_seq == device.log.last_seq()

    @rule(d=st.integers(0, 4), k=st.integers(0, 1000))
    def replay_stale(self, d: int, k: int) -> None:
        """A request delivered again long after, out of order: a no-op for the log."""
        device = self.pick(d)
        if not device.wire.sent:
            return
        before = self.server_set(device.replica.upstream)
        device.wire.deliver(device.wire.sent[k % len(device.wire.sent)])
        assert self.server_set(device.replica.upstream) == before

    @rule(d=st.integers(0, 4))
    def refresh_views(self, d: int) -> None:
        """The device's projector folds what it holds so far (in its own order)."""
        with Projector(self.pick(d).path) as projector:
            projector.catch_up()

    @rule()
    def restart_server(self) -> None:
        self.service.close()
        self.service = SyncService(self.config)

    @rule(d=st.integers(0, 4))
    def restart_device(self, d: int) -> None:
        device = self.pick(d)
        device.close()
        device.open()

    @precondition(lambda self: bool(self.devices))
    @rule(d=st.integers(0, 4), new_identity=st.booleans())
    def lose_database(self, d: int, new_identity: bool) -> None:
        """A device whose events the server all holds loses its database.

        Either it starts over as a new device (new id, enrolled again), or it keeps
        its identity and syncs before recording anything: both get everything back.
        """
        device = self.pick(d)
        upstream = device.replica.upstream
        with self.service.log(upstream) as server_log:
            server_seq = server_log.last_seq(device.device_id)
        if server_seq != device.log.last_seq():
            return  # it would lose events nobody else has: not a sync fault
        device.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{device.path}{suffix}").unlink(missing_ok=True)
        if new_identity:
            device.device_id = new_id()
            _, device.wire.token = self.service.accounts.enroll(
                self.enroll_token, device.device_id, "reborn"
            )
            device.wire.sent = []
        device.open()
        device.replica.sync()
        held, _ = stored_set(device.log)
        assert held == self.server_set(upstream)[0]

    @invariant()
    def each_event_once(self) -> None:
        for device in self.devices:
            held, rows = stored_set(device.log)
            assert len(held) == rows

    # -- the end -------------------------------------------------------------------------

    def converge(self) -> None:
        for _ in range(2):
            for device in self.devices:
                device.wire.faults = []
                device.replica.sync()
        upstream = self.devices[0].replica.upstream
        expected, rows = self.server_set(upstream)
        assert len(expected) == rows, "the server holds an event twice"
        events = self.server_events(upstream)
        ids = {e.event_id for e in events}
        assert ids == self.recorded, "an event recorded somewhere is missing"
        expected_view = view(State(events))
        expected_projection = folded(events)
        for device in self.devices:
            assert projected(device.path) == expected_projection
            held, rows = stored_set(device.log)
            assert rows == len(held)
            assert held == expected
            assert view(device.state()) == expected_view
            assert device.replica.pending() == 0


def _nth(items: list[Any], k: int) -> Any:
    if not items:
        raise ReciprocityError("nothing to pick")
    return items[k % len(items)]


TestConvergence = SyncMachine.TestCase
TestConvergence.settings = PROFILE


class SealedSyncMachine(SyncMachine):
    """The same faults for an end-to-end encrypted owner (ADR 0135): the server holds
    only sealed events, the devices open them, and everything above still holds."""

    key = OwnerKey(bytes(range(32)))


TestSealedConvergence = SealedSyncMachine.TestCase
TestSealedConvergence.settings = PROFILE


def test_random_order_delivery_is_idempotent() -> None:
    """Every stale request of a finished sync, re-delivered shuffled, changes nothing."""
    machine = SyncMachine()
    try:
        machine.setup(n=3, pages=[2, 3, 1, 4, 2], json=[False, True, False, False, False])
        for d in range(3):
            for name in ("Ann", "Bob", "Cy"):
                machine.add(d, name)
            machine.merge(d, 0, 1)
        for d in range(3):
            machine.sync(d, [])
        before = machine.server_set(machine.devices[0].replica.upstream)
        rng = random.Random(7)
        for device in machine.devices:
            stale = list(device.wire.sent)
            rng.shuffle(stale)
            for body in stale:
                device.wire.deliver(body)
        after = machine.server_set(machine.devices[0].replica.upstream)
        assert after == before
    finally:
        machine.teardown()
