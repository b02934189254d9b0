"""The hybrid logical clock: monotonic, causal, bounded, totally ordered."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from core import clock
from core.clock import Clock

walls = st.lists(st.integers(min_value=0, max_value=2**40), min_size=1, max_size=50)


class FakeWall:
    """A wall clock that returns scripted values (it may jump backwards)."""

    def __init__(self, values: list[int]) -> None:
        self.values = values
        self.i = 0

    def __call__(self) -> int:
        value = self.values[min(self.i, len(self.values) - 1)]
        self.i += 1
        return value


@given(walls)
def test_tick_is_strictly_monotonic_whatever_the_wall_does(values: list[int]) -> None:
    c = Clock(FakeWall(values))
    stamps = [c.tick() for _ in values]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)


@given(walls)
def test_tick_stays_close_to_wall_time(values: list[int]) -> None:
    c = Clock(FakeWall(values))
    for wall in values:
        stamp = c.tick()
        assert clock.physical_ms(stamp) >= wall


@given(st.integers(min_value=0, max_value=2**40), st.integers(min_value=0, max_value=2**56))
def test_receive_then_tick_exceeds_remote_within_drift(wall: int, remote: int) -> None:
    c = Clock(lambda: wall)
    c.receive(remote)
    after = c.tick()
    ceiling = clock.pack(wall + clock.MAX_DRIFT_MS, clock.LOGICAL_MASK)
    if remote <= ceiling:
        assert after > remote  # causality: a later local event orders after what we saw
    else:
        # a far-future remote clock does not drag ours beyond the drift bound
        assert clock.physical_ms(after) <= wall + clock.MAX_DRIFT_MS + 1


@given(st.lists(st.integers(min_value=0, max_value=2**50), max_size=30))
def test_receive_never_moves_backwards(remotes: list[int]) -> None:
    c = Clock(lambda: 1_000)
    last = c.last
    for remote in remotes:
        now = c.receive(remote)
        assert now >= last
        last = now


@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=50), st.uuids().map(str)),
        min_size=1,
        max_size=30,
    ),
    st.randoms(),
)
def test_hlc_and_event_id_order_any_set_totally_and_deterministically(
    stamps: list[tuple[int, str]], rnd: object
) -> None:
    shuffled = list(stamps)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert sorted(shuffled) == sorted(stamps)
    distinct = sorted(set(stamps))
    assert all(a < b for a, b in itertools.pairwise(distinct))


@given(st.integers(min_value=0, max_value=2**47), st.integers(min_value=0, max_value=65535))
def test_pack_round_trip(ms: int, logical: int) -> None:
    value = clock.pack(ms, logical)
    assert clock.physical_ms(value) == ms
    assert clock.logical(value) == logical


def test_logical_overflow_carries_into_physical() -> None:
    c = Clock(lambda: 10, last=clock.pack(10, clock.LOGICAL_MASK))
    nxt = c.tick()
    assert clock.physical_ms(nxt) == 11 and clock.logical(nxt) == 0


@given(walls, st.integers(min_value=1, max_value=70_000))
def test_tick_many_reserves_consecutive_unique_stamps(values: list[int], count: int) -> None:
    c = Clock(FakeWall(values))
    before = c.tick()
    first = c.tick_many(count)
    after = c.tick()
    assert before < first
    assert first + count - 1 == c.last or after > first + count - 1
    assert after > first + count - 1
    assert clock.logical(first) + count - 1 <= clock.LOGICAL_MASK or count > clock.LOGICAL_MASK
