"""Contract tests of the event log, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import codec
from core import events as ev
from core.clock import Clock
from core.errors import CodecError, ConflictError, SequenceGapError, StoreError
from core.log import EventLog
from core.store import Location, Store, Tracking, open_store

from .conftest import PG_URL
from .event_strategies import kept_event


def note(text: str = "hello") -> ev.NoteAdded:
    return ev.NoteAdded(
        event_id="",
        device_id="",
        seq=0,
        hlc=0,
        occurred_at=1_700_000_000_000,
        contact_id="c",
        text=text,
    )


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = open_store(str(tmp_path / "log.db"))
    else:
        schema = request.getfixturevalue("pg_schema")
        s = open_store(Location(PG_URL, schema=schema))
    yield s
    s.close()


def device() -> str:
    return str(uuid.uuid4())


def foreign(device_id: str, seq: int, text: str = "x") -> ev.NoteAdded:
    return ev.NoteAdded(
        event_id=str(uuid.uuid4()),
        device_id=device_id,
        seq=seq,
        hlc=seq << 16,
        occurred_at=0,
        contact_id="c",
        text=text,
    )


def test_append_assigns_gapless_seq_and_increasing_hlc(store: Store) -> None:
    log = EventLog(store, device())
    first = log.append([note("a"), note("b")])
    second = log.append([note("c")])
    events = first + second
    assert [e.seq for e in events] == [1, 2, 3]
    assert [e.hlc for e in events] == sorted({e.hlc for e in events})
    assert all(e.device_id == log.device_id and e.event_id for e in events)
    assert [e for _, e in log.read()] == events
    assert log.last_seq() == 3


def test_reopen_continues_the_sequence_and_never_goes_back_in_time(store: Store) -> None:
    me = device()
    first = EventLog(store, me, clock=Clock(lambda: 5_000_000_000_000)).append([note()])[0]
    # the wall clock has moved far backwards since
    reopened = EventLog(store, me, clock=Clock(lambda: 1_000))
    again = reopened.append([note()])[0]
    assert again.seq == 2
    assert again.hlc > first.hlc


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(kept_event, min_size=1, max_size=8))
def test_every_event_round_trips_through_the_store_byte_exactly(
    store: Store, events: list[ev.Event]
) -> None:
    dev = device()
    stamped = [ev.stamp(e, device_id=dev, seq=i + 1) for i, e in enumerate(events)]
    log = EventLog(store)
    start = log.position()
    log.ingest(stamped)
    back = [e for _, e in log.read(start)]
    assert back == stamped
    rows = store.stream(dev)
    assert [r.state for r in rows] == [codec.encode(e) for e in stamped]
    assert [r.topic for r in rows] == [ev.type_name(e) for e in stamped]


def test_ingest_is_idempotent(store: Store) -> None:
    log = EventLog(store)
    batch = [foreign("d1", 1), foreign("d1", 2), foreign("d2", 1)]
    assert log.ingest(batch) == batch
    position = log.position()
    assert log.ingest(batch) == []
    assert log.ingest(list(reversed(batch))) == []
    assert log.position() == position


def test_conflicting_content_is_refused_and_nothing_is_stored(store: Store) -> None:
    log = EventLog(store)
    held = foreign("d1", 1, "original")
    log.ingest([held])
    position = log.position()
    impostor = ev.stamp(held, text="rewritten")  # same (device, seq), other content
    with pytest.raises(ConflictError, match="d1 seq 1"):
        log.ingest([foreign("d2", 1), impostor])
    assert log.position() == position
    assert [e for _, e in log.read()] == [held]


def test_gap_is_refused_with_the_expected_seq(store: Store) -> None:
    log = EventLog(store)
    log.ingest([foreign("d1", 1)])
    position = log.position()
    with pytest.raises(SequenceGapError) as info:
        log.ingest([foreign("d1", 3), foreign("d2", 1)])
    assert info.value.expected_seq == 2
    assert log.position() == position


def test_tracking_is_written_with_the_events_or_not_at_all(store: Store) -> None:
    log = EventLog(store, device())
    log.ingest([foreign("d1", 1)], tracking=Tracking("server", 10))
    assert log.tracking("server") == 10
    with pytest.raises(SequenceGapError):
        log.ingest([foreign("d1", 5)], tracking=Tracking("server", 20))
    assert log.tracking("server") == 10
    log.ingest([], tracking=Tracking("server", 30))
    assert log.tracking("server") == 30


def test_own_and_remote_events_interleave_in_log_order(store: Store) -> None:
    log = EventLog(store, device())
    mine = log.append([note()])
    theirs = log.ingest([foreign("d9", 1)])
    more = log.append([note()])
    assert [e for _, e in log.read()] == [*mine, *theirs, *more]
    assert [e for _, e in log.read(after=1)] == [*theirs, *more]
    assert log.stream(log.device_id or "", after_seq=1) == more


def test_receiving_a_remote_timestamp_orders_later_local_events_after_it(store: Store) -> None:
    log = EventLog(store, device(), clock=Clock(lambda: 1_000))
    remote = ev.stamp(foreign("d1", 1), hlc=(1_000 + 60_000) << 16)  # a minute ahead
    log.ingest([remote])
    assert log.append([note()])[0].hlc > remote.hlc
    reopened = EventLog(store, log.device_id, clock=Clock(lambda: 1_000))
    assert reopened.append([note()])[0].hlc > remote.hlc


def test_concurrent_writers_never_share_a_seq(store: Store) -> None:
    me = device()
    logs = [EventLog(store, me), EventLog(store, me)]  # two processes, one device

    def write(log: EventLog) -> None:
        for _ in range(15):
            log.append([note()])

    threads = [threading.Thread(target=write, args=(log,)) for log in logs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = [e.seq for e in EventLog(store).stream(me)]
    assert seqs == list(range(1, 31))


def test_about_follows_merges_asks_and_retractions(store: Store) -> None:
    log = EventLog(store, device())

    def draft(cls: type[ev.Event], **fields: object) -> ev.Event:
        return cls(event_id="", device_id="", seq=0, hlc=0, occurred_at=1, **fields)  # type: ignore[arg-type]

    ann, bob, cat = log.append([draft(ev.ContactAdded, name=n) for n in ("Ann", "Bob", "Cat")])
    ask, merge, other = log.append(
        [
            draft(ev.AskMade, contact_id=bob.event_id, what="a lift"),
            draft(ev.ContactsMerged, survivor_id=ann.event_id, absorbed_id=bob.event_id),
            draft(ev.NoteAdded, contact_id=cat.event_id, text="unrelated"),
        ]
    )
    resolved, retracted = log.append(
        [
            draft(ev.AskResolved, ask_id=ask.event_id, outcome="granted"),
            draft(ev.EventRetracted, target_id=ask.event_id, reason="typo"),
        ]
    )
    about = {e.event_id for e in log.about(ann.event_id)}
    assert about == {
        ann.event_id,
        bob.event_id,
        ask.event_id,
        merge.event_id,
        resolved.event_id,
        retracted.event_id,
    }
    assert other.event_id not in about


def test_append_refuses_an_event_that_could_not_be_read_back(store: Store) -> None:
    """Constraints are checked on decode; append decodes first so none slips in."""
    log = EventLog(store, device())
    position = log.position()
    bad = ev.AskMade(
        event_id="",
        device_id="",
        seq=0,
        hlc=0,
        occurred_at=0,
        contact_id="c",
        what="x",
        weight=9,
    )
    with pytest.raises(CodecError, match="AskMade"):
        log.append([note("fine"), bad])
    assert log.position() == position
    assert log.append([note("next")])[0].seq == 1


@pytest.mark.parametrize("bad", ["", "x" * 65])
def test_a_log_refuses_an_invalid_device_id(store: Store, bad: str) -> None:
    with pytest.raises(StoreError, match="device id"):
        EventLog(store, bad)


def test_writers_on_separate_connections_never_share_a_seq(tmp_path: Path) -> None:
    """Two stores on one file (as two processes have), appending and ingesting at once."""
    path = str(tmp_path / "log.db")
    stores = [open_store(path) for _ in range(3)]
    me, other = device(), device()
    logs = [EventLog(stores[0], me), EventLog(stores[1], me)]
    ingester = EventLog(stores[2], device())
    errors: list[BaseException] = []

    def write(log: EventLog) -> None:
        try:
            for i in range(20):
                log.append([note()] if i % 2 else [note(), note()])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def ingest() -> None:
        try:
            for seq in range(1, 21):
                ingester.ingest([foreign(other, seq)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(log,)) for log in logs]
    threads.append(threading.Thread(target=ingest))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        reader = EventLog(stores[0])
        assert [e.seq for e in reader.stream(me)] == list(range(1, 61))
        assert [e.seq for e in reader.stream(other)] == list(range(1, 21))
        positions = [p for p, _ in reader.read()]
        assert positions == sorted(positions) and len(positions) == 80
    finally:
        for s in stores:
            s.close()


def test_an_append_after_another_writer_forgot_is_stored_redacted(tmp_path: Path) -> None:
    """A log that saw no forget skips reading the forgotten ids on append; a forget
    another writer stores must still reach its next append."""
    path = str(tmp_path / "log.db")
    mine = EventLog(open_store(path), device())
    other = EventLog(open_store(path), device())
    mine.append([note("first")])  # now known to have forgotten no one
    other.append(
        [
            ev.ContactForgotten(
                event_id="", device_id="", seq=0, hlc=0, occurred_at=0, contact_ids=("c",)
            )
        ]
    )
    (late,) = mine.append([note("canary after the forget")])
    stored = {e.event_id: e for _, e in EventLog(open_store(path)).read()}
    held = stored[late.event_id]
    assert isinstance(held, ev.NoteAdded) and "canary" not in held.text
