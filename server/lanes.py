"""Lanes: work queued per key on the event loop, run a group at a time per key.

A durable commit (an fsync) costs far more than the rows it writes, so the sync
exchanges of one owner's devices that arrive together should share one. The
grouping happens here, on the event loop, where it needs no lock: the first
item of a key starts a run of `run(key, items)`; items of that key arriving
while it runs queue, and the next run takes all of them at once. Each key has
at most one run in flight (ADR 0136).

`run` answers every item of its group, in order; if it raises, every item of
the group fails with that exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Lane(Generic[T, R]):
    """One key's queue: items waiting for the next run, and the task running them."""

    __slots__ = ("task", "waiting")

    def __init__(self) -> None:
        self.waiting: list[tuple[T, asyncio.Future[R]]] = []
        #: Held here: the event loop keeps only weak references to tasks.
        self.task: asyncio.Task[None] | None = None


class Lanes(Generic[T, R]):
    """`await lanes.submit(key, item)`: the item's answer from a grouped `run`."""

    def __init__(self, run: Callable[[str, list[T]], Awaitable[Sequence[R]]]) -> None:
        self._run = run
        self._lanes: dict[str, _Lane[T, R]] = {}

    async def submit(self, key: str, item: T) -> R:
        """Queue `item` on its key's lane and wait for its answer."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        lane.waiting.append((item, future))
        if lane.task is None:
            lane.task = loop.create_task(self._drain(key, lane))
        return await future

    def busy(self) -> int:
        """Keys with a run in flight or items waiting (for tests and metrics)."""
        return len(self._lanes)

    async def _drain(self, key: str, lane: _Lane[T, R]) -> None:
        """Run the key's waiting items, a group at a time, until none wait.

        A group is taken when the task gets its turn, not when it is created:
        items that arrived in the meantime (the same read of the sockets) join it.
        """
        group: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while lane.waiting:
                group, lane.waiting = lane.waiting, []
                try:
                    answers = await self._run(key, [item for item, _ in group])
                except Exception as exc:  # the group's failure: each of its items fails
                    _settle(group, (), exc)
                else:
                    _settle(group, answers, None)
                group = []
        finally:  # cancelled (the server is stopping): nothing may wait forever
            for _, future in group + lane.waiting:
                future.cancel()
            lane.task = None
            del self._lanes[key]


def _settle(
    group: list[tuple[T, asyncio.Future[R]]], answers: Sequence[R], error: Exception | None
) -> None:
    """Hand each item of a run its answer (or the run's error)."""
    if error is None and len(answers) != len(group):
        error = RuntimeError(f"{len(answers)} answers for a group of {len(group)}")
    for index, (_, future) in enumerate(group):
        if future.done():  # its request was cancelled (the client went away)
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(answers[index])
