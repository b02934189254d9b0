"""`EventLog.ingest_rows` (the sync path) against a reference model, and `ingest` with it.

The model is the ingest contract written as plainly as possible: a batch is
refused whole on two rows claiming one `(device, seq)` with different bytes, on
a row held with different bytes, or on a seq that does not follow the device's
stream; otherwise the rows not yet held are appended, in the order the batch
first offered them, each device's seqs ascending. Random batches of a small
universe (two devices, seqs 0..6 but mostly 1..3, two contents per seq) hit duplicates,
re-sends, conflicts and gaps often.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import codec
from core import events as ev
from core.errors import CodecError, ConflictError, SequenceGapError
from core.log import EventLog, row_of
from core.store import Location, Row, Store, Tracking, open_store

from .conftest import PG_URL

settings.register_profile("soak", max_examples=2_000)

DEVICES = ("d-one", "d-two")
Key = tuple[str, int]


def event(device_id: str, seq: int, text: str = "a") -> ev.NoteAdded:
    """A foreign event whose bytes depend only on (device, seq, text)."""
    return ev.NoteAdded(
        event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{device_id}/{seq}/{text}")),
        device_id=device_id,
        seq=seq,
        hlc=(1_700_000_000_000 + seq) << 16,
        occurred_at=0,
        contact_id="c",
        text=text,
    )


rows_strategy = st.lists(
    st.builds(
        lambda d, s, t: row_of(event(d, s, t)),
        st.sampled_from(DEVICES),
        st.one_of(st.integers(1, 3), st.integers(0, 6)),  # mostly gapless, sometimes not
        st.sampled_from("aaab"),  # mostly the same content: re-sends outnumber conflicts
    ),
    max_size=10,
)


class Model:
    """The ingest contract, in memory."""

    def __init__(self) -> None:
        self.log: list[Row] = []

    def held(self) -> dict[Key, Row]:
        return {(r[0], r[1]): r for r in self.log}

    def ingest(self, batch: Sequence[Row]) -> list[Row] | type[Exception]:
        """The new rows in log order, or the error the batch is refused with."""
        offered: dict[Key, Row] = {}
        for row in batch:
            seen = offered.setdefault((row[0], row[1]), row)
            if seen[2:] != row[2:]:
                return ConflictError
        held = self.held()
        new: list[Key] = []
        for device_id in dict.fromkeys(r[0] for r in batch):
            seqs = sorted(s for d, s in offered if d == device_id)
            if seqs[0] < 1:
                return SequenceGapError
            expected = 1 + max((s for d, s in held if d == device_id), default=0)
            for seq in seqs:
                known = held.get((device_id, seq))
                if known is not None:
                    if known[2:] != offered[(device_id, seq)][2:]:
                        return ConflictError
                    continue
                if seq != expected:
                    return SequenceGapError
                new.append((device_id, seq))
                expected += 1
        # Batch order of first appearance, each device's slots filled in seq order.
        first = {key: i for i, key in reversed(list(enumerate((r[0], r[1]) for r in batch)))}
        slots = sorted(new, key=first.__getitem__)
        pending = {d: sorted(s for e, s in new if e == d) for d in DEVICES}
        ordered = [offered[(d, pending[d].pop(0))] for d, _ in slots]
        self.log.extend(ordered)
        return ordered


@pytest.fixture
def sqlite_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="recip-ingest-rows-") as tmp:
        yield Path(tmp)


def stored(log: EventLog) -> list[Row]:
    return [
        (str(n.originator_id), n.originator_version, n.topic, n.state)
        for n in log.store.notifications(0, 10_000)
    ]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(rows_strategy, min_size=1, max_size=6))
def test_ingest_rows_follows_the_model(sqlite_dir: Path, batches: list[list[Row]]) -> None:
    store = open_store(str(sqlite_dir / f"{uuid.uuid4().hex}.db"))
    try:
        log, model, recorded = EventLog(store, "me"), Model(), 0
        for cursor, batch in enumerate(batches, start=1):
            expected = model.ingest(batch)
            before = stored(log)
            if isinstance(expected, list):
                assert log.ingest_rows(batch, tracking=Tracking("up", cursor)) == expected
                recorded = cursor
            else:
                with pytest.raises(expected):
                    log.ingest_rows(batch, tracking=Tracking("up", cursor))
                assert stored(log) == before  # all or nothing, tracking included
            assert stored(log) == model.log
            assert log.tracking("up") == recorded  # written with the events, or not at all
    finally:
        store.close()


def outcome(
    call: Callable[[EventLog, Any], list[Row]], log: EventLog, batch: Any
) -> list[Row] | type[Exception]:
    """What a call returned, or the type of the refusal it raised."""
    try:
        return call(log, batch)
    except (ConflictError, SequenceGapError) as exc:
        return type(exc)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(rows_strategy, min_size=1, max_size=5))
def test_ingest_and_ingest_rows_agree(sqlite_dir: Path, batches: list[list[Row]]) -> None:
    """Events through `ingest`, their rows through `ingest_rows`: same answers, same logs."""
    by_events = open_store(str(sqlite_dir / f"{uuid.uuid4().hex}-e.db"))
    by_rows = open_store(str(sqlite_dir / f"{uuid.uuid4().hex}-r.db"))
    try:
        one, two = EventLog(by_events), EventLog(by_rows)
        for batch in batches:
            events = [codec.decode(r[2], r[3]) for r in batch]
            got_events = outcome(lambda log, b: [row_of(e) for e in log.ingest(b)], one, events)
            got_rows = outcome(lambda log, b: log.ingest_rows(b), two, batch)
            assert got_events == got_rows
            assert stored(one) == stored(two)
    finally:
        by_events.close()
        by_rows.close()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows_strategy)
def test_the_clock_passes_every_ingested_timestamp(sqlite_dir: Path, batch: list[Row]) -> None:
    store = open_store(str(sqlite_dir / f"{uuid.uuid4().hex}.db"))
    try:
        log = EventLog(store, "me")
        try:
            new = log.ingest_rows(batch)
        except (ConflictError, SequenceGapError):
            return
        for row in new:
            assert log.clock.last >= codec.decode(row[2], row[3]).hlc
    finally:
        store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = open_store(str(tmp_path / "log.db"))
    else:
        s = open_store(Location(PG_URL, schema=request.getfixturevalue("pg_schema")))
    yield s
    s.close()


def test_rows_with_tracking_are_stored_together_or_not_at_all(store: Store) -> None:
    log = EventLog(store, "me")
    first = [row_of(event("d-one", 1)), row_of(event("d-two", 1)), row_of(event("d-one", 2))]
    assert log.ingest_rows(first, tracking=Tracking("up", 3)) == first
    assert (log.tracking("up"), log.position()) == (3, 3)
    assert log.ingest_rows(first, tracking=Tracking("up", 4)) == []  # idempotent
    assert log.tracking("up") == 4
    impostor = row_of(event("d-one", 2, "b"))
    with pytest.raises(ConflictError, match="d-one seq 2"):
        log.ingest_rows([row_of(event("d-two", 2)), impostor], tracking=Tracking("up", 9))
    with pytest.raises(SequenceGapError) as gap:
        log.ingest_rows([row_of(event("d-one", 5))], tracking=Tracking("up", 9))
    assert gap.value.expected_seq == 3
    assert (log.tracking("up"), log.position()) == (4, 3)
    assert [e for _, e in log.read()] == [event("d-one", 1), event("d-two", 1), event("d-one", 2)]


def test_own_rows_coming_back_move_the_next_seq_past_them(store: Store) -> None:
    """A device that lost its database gets its own events back, then appends after them."""
    log = EventLog(store, "d-one")
    log.ingest_rows([row_of(event("d-one", 1)), row_of(event("d-one", 2))])
    (appended,) = log.append([ev.stamp(event("x", 0), event_id="")])
    assert appended.seq == 3
    assert appended.hlc > event("d-one", 2).hlc


def test_rows_without_a_readable_timestamp_are_refused_before_anything_is_stored(
    store: Store,
) -> None:
    log = EventLog(store, "me")
    good = row_of(event("d-one", 1))
    with pytest.raises(CodecError, match="d-two seq 1"):
        log.ingest_rows([good, ("d-two", 1, "NoteAdded", b"\xc1 not msgpack")])
    assert log.position() == 0
    assert log.ingest_rows([good]) == [good]
