"""At most N owners' resources open at once, closed least recently used (ADR 0073).

The server opens per-owner resources (an event store and its page reader, a
worker's view mirror) on a request's demand. Keeping every owner's open forever
made memory grow with the number of owners ever served; `OwnerCache` keeps at
most `capacity` of them and closes the least recently used beyond that.

A request uses a resource only through a `Lease`, and a leased resource is never
closed: the requests of the server run in a thread pool, so an owner's store can
be in the middle of a transaction on one thread while another thread's request
makes room. An owner past the capacity is closed when its last lease ends, and
the next request reopens it from disk. So the capacity is a soft bound: while
more than `capacity` owners are leased at once, all of them stay open.

Closing a resource and reopening it is invisible to correctness: everything of
value is on disk, committed, because nothing leased it (no transaction open).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from types import TracebackType
from typing import Final, Generic, TypeVar

V = TypeVar("V")

#: Owners whose resources a server process keeps open by default (ADR 0073: at 32,
#: a hundred owners syncing at once spent their time closing and reopening logs).
MAX_OPEN_OWNERS: Final = 128


class _Entry(Generic[V]):
    """One owner's slot: its value once opened, and how many leases hold it."""

    __slots__ = ("leases", "opening", "value")

    def __init__(self) -> None:
        self.leases = 0
        self.value: V | None = None
        #: Held while the value is being opened, so that it is opened once.
        self.opening = threading.Lock()


class Lease(Generic[V]):
    """The right to use one owner's open resource until `release` (or the `with` ends)."""

    def __init__(self, cache: OwnerCache[V], owner_id: str, entry: _Entry[V], value: V) -> None:
        self._cache = cache
        self._owner_id = owner_id
        self._entry: _Entry[V] | None = entry
        self.value = value

    def release(self) -> None:
        """Give the resource back (idempotent); it may be closed from now on."""
        entry, self._entry = self._entry, None
        if entry is not None:
            self._cache._release(self._owner_id, entry)

    def __enter__(self) -> V:
        return self.value

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class OwnerCache(Generic[V]):
    """Per-owner values: at most `capacity` open, more only while leased.

    `open(owner_id)` makes a value, `close(value)` disposes of it; both run outside
    the cache's lock (opening a store can take a while and must not hold up other
    owners' requests), and `close` only ever sees a value nobody leases.
    """

    def __init__(self, open: Callable[[str], V], close: Callable[[V], None], capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self._open = open
        self._close = close
        self.capacity = capacity
        self._entries: OrderedDict[str, _Entry[V]] = OrderedDict()
        self._lock = threading.Lock()
        self._closed = False

    def lease(self, owner_id: str) -> Lease[V]:
        """The owner's value, opened if needed, held until the lease is released."""
        with self._lock:
            if self._closed:
                from sync.protocol import Refusal  # lazily: `recip` imports the default

                raise Refusal(503, "unavailable", "the server is shutting down, retry")
            entry = self._entries.get(owner_id)
            if entry is None:
                entry = self._entries[owner_id] = _Entry()
            else:
                self._entries.move_to_end(owner_id)
            entry.leases += 1
        try:
            with entry.opening:
                value = entry.value
                if value is None:
                    value = entry.value = self._open(owner_id)
        except BaseException:
            self._release(owner_id, entry)
            raise
        lease = Lease(self, owner_id, entry, value)
        self._close_all(self._take_excess())
        return lease

    def peek(self, owner_id: str, *, use: bool = False) -> Lease[V] | None:
        """A lease on the owner's value if it is open now, else None (nothing opened).

        For background reads (a stream's head poll) that must neither reopen a
        closed owner nor count as its use: the owner keeps its place in the
        order. `use=True` counts it as used (for requests that must not open).
        """
        with self._lock:
            entry = self._entries.get(owner_id)
            if entry is None or entry.value is None or self._closed:
                return None
            entry.leases += 1
            if use:
                self._entries.move_to_end(owner_id)
            return Lease(self, owner_id, entry, entry.value)

    def open_owners(self) -> list[str]:
        """Owners with an open (or opening) value, least recently used first."""
        with self._lock:
            return list(self._entries)

    def close(self) -> None:
        """Close every value now unleased; the leased ones close when released.

        No lease is granted afterwards (the server is stopping).
        """
        with self._lock:
            self._closed = True
            idle = [(k, e) for k, e in self._entries.items() if not e.leases]
            for owner_id, _ in idle:
                del self._entries[owner_id]
        self._close_all([e.value for _, e in idle if e.value is not None])

    def _release(self, owner_id: str, entry: _Entry[V]) -> None:
        with self._lock:
            entry.leases -= 1
            closing: list[V] = []
            if not entry.leases and (entry.value is None or self._closed):
                # Never opened (its open failed), or the cache is closed: drop it now.
                if self._entries.get(owner_id) is entry:
                    del self._entries[owner_id]
                if entry.value is not None:
                    closing.append(entry.value)
            closing += self._take_excess_locked()
        self._close_all(closing)

    def _take_excess(self) -> list[V]:
        with self._lock:
            return self._take_excess_locked()

    def _take_excess_locked(self) -> list[V]:
        """Remove least recently used unleased entries beyond the capacity (lock held)."""
        excess = len(self._entries) - self.capacity
        taken: list[V] = []
        if excess <= 0:
            return taken
        for owner_id, entry in list(self._entries.items()):
            if excess <= 0:
                break
            if entry.leases:
                continue
            del self._entries[owner_id]
            excess -= 1
            if entry.value is not None:
                taken.append(entry.value)
        return taken

    def _close_all(self, values: list[V]) -> None:
        """Close values no one can lease any more (removed from the cache, unleased)."""
        for value in values:
            try:
                self._close(value)
            except Exception:  # one owner's failing close must not keep the others open
                import logging

                logging.getLogger("recip.server.owners").exception(
                    "cannot close an owner's resources"
                )
