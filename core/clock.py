"""Hybrid logical clock (HLC) timestamps.

An HLC timestamp stays within the clock skew of wall time, yet never goes
backwards and always exceeds every timestamp the device has seen. That makes it
a sound "recorded at" for ordering concurrent edits last-writer-wins across
devices whose wall clocks disagree.

A timestamp is one integer: the physical part (Unix milliseconds) in the high
bits and a 16-bit logical counter in the low bits, so that comparing two
timestamps is comparing two integers. Ties between equal timestamps from two
devices are broken by the caller on the event id (see `core.state`).

`receive` refuses to jump further ahead of the local wall clock than
`max_drift_ms`: a device whose clock is a year fast must not drag every other
device's clock (and so every future edit) a year ahead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from .errors import ClockError

LOGICAL_BITS: Final = 16
LOGICAL_MASK: Final = (1 << LOGICAL_BITS) - 1
#: Default bound on how far ahead of wall time a received timestamp may pull us.
MAX_DRIFT_MS: Final = 5 * 60 * 1000


def pack(physical_ms: int, logical: int) -> int:
    """Combine a physical time in ms and a logical counter into one timestamp."""
    if not 0 <= logical <= LOGICAL_MASK:
        raise ClockError(f"logical counter {logical} out of range")
    return (physical_ms << LOGICAL_BITS) | logical


def physical_ms(hlc: int) -> int:
    """The wall-time part of a timestamp, in Unix milliseconds."""
    return hlc >> LOGICAL_BITS


def logical(hlc: int) -> int:
    """The logical counter of a timestamp."""
    return hlc & LOGICAL_MASK


def wall_ms() -> int:
    """The system wall clock in Unix milliseconds."""
    return time.time_ns() // 1_000_000


class Clock:
    """One device's hybrid logical clock.

    `now` is injectable so that tests can drive skewed or frozen clocks.
    """

    def __init__(
        self,
        now: Callable[[], int] = wall_ms,
        *,
        last: int = 0,
        max_drift_ms: int = MAX_DRIFT_MS,
    ) -> None:
        self._now = now
        self._last = last
        self._max_drift_ms = max_drift_ms

    @property
    def last(self) -> int:
        """The latest timestamp issued or observed."""
        return self._last

    def tick(self) -> int:
        """A new timestamp for a local event, greater than every one before."""
        wall = self._now()
        if wall > physical_ms(self._last):
            self._last = pack(wall, 0)
        else:
            self._last = self._advance(self._last)
        return self._last

    def tick_many(self, count: int) -> int:
        """Reserve `count` consecutive timestamps; returns the first.

        A batch recorded at one instant shares the wall time and counts up the
        logical part, so stamping a batch reads the wall clock once.
        """
        if count < 1:
            raise ClockError("tick_many needs a positive count")
        first = self.tick()
        if logical(first) + count - 1 > LOGICAL_MASK:
            # would overflow the logical counter: move to the next millisecond
            first = pack(physical_ms(first) + 1, 0)
        self._last = first + count - 1
        return first

    def receive(self, remote: int) -> int:
        """Observe a timestamp from another device; returns the new clock value.

        A remote timestamp more than `max_drift_ms` ahead of the local wall clock
        is observed only up to that bound (the event itself is still stored).
        """
        ceiling = pack(self._now() + self._max_drift_ms, LOGICAL_MASK)
        bounded = min(remote, ceiling)
        if bounded > self._last:
            self._last = bounded
        return self._last

    def observe(self, seen: int) -> None:
        """Raise the floor to a timestamp already in the log (no drift bound).

        Used when opening a log: our own earlier events are authoritative even if
        the wall clock has since moved backwards.
        """
        if seen > self._last:
            self._last = seen

    @staticmethod
    def _advance(hlc: int) -> int:
        if logical(hlc) < LOGICAL_MASK:
            return hlc + 1
        return pack(physical_ms(hlc) + 1, 0)
