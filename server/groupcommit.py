"""Group commit: requests that arrive together share one transaction.

A durable SQLite commit (an fsync) costs far more than the rows it writes, and
the requests of one owner's devices queue behind each other for the same write
lock anyway. So the first request to arrive becomes the *leader*: it takes every
batch queued by then, commits them in one transaction (`commit`), and hands each
waiting request its own result. Requests that arrive while a commit runs wait
for it, and the first of them leads the next group.

The grouping never changes a result: `commit` answers each item as if it had
been committed alone (a batch it declines is declined alone), and an exception
that fails the transaction fails every request of the group, none of whose
items was stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Slot(Generic[T, R]):
    """One request's item, and its result once its group was committed."""

    __slots__ = ("done", "error", "item", "result")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = False
        self.result: R | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[T, R]):
    """Runs `commit` over the items of every request waiting at once."""

    def __init__(self, commit: Callable[[Sequence[T]], Sequence[R]]) -> None:
        self._commit = commit
        self._ready = threading.Condition()
        self._pending: list[_Slot[T, R]] = []
        self._busy = False

    def submit(self, item: T) -> R:
        """Commit `item` (with whatever else is waiting) and return its own result."""
        slot: _Slot[T, R] = _Slot(item)
        with self._ready:
            self._pending.append(slot)
            while self._busy and not slot.done:
                self._ready.wait()
            if not slot.done:  # lead this group: everything pending now
                self._busy = True
                group, self._pending = self._pending, []
        if not slot.done:
            self._lead(group)
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _lead(self, group: list[_Slot[T, R]]) -> None:
        try:
            results = self._commit([s.item for s in group])
        except BaseException as exc:
            for s in group:
                s.error = exc
        else:
            for s, result in zip(group, results, strict=True):
                s.result = result
        finally:
            with self._ready:
                for s in group:
                    s.done = True
                self._busy = False
                self._ready.notify_all()
