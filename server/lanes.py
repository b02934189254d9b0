"""Lanes: work queued per key on the event loop, run a group at a time per key.

A durable commit (an fsync) costs far more than the rows it writes, so the sync
exchanges of one owner's devices that arrive together should share one. The
grouping happens here, on the event loop, where it needs no lock: the first
item of a key starts a run of `run(key, items)` in the executor; items of that
key arriving meanwhile queue, and the next run takes all of them at once. Each
key has at most one run in flight, and the executor's few threads are all the
threads that run exchanges: under load, dozens of threads each waiting for its
own group to commit spent the process's time handing the GIL around (ADR 0136).

`run` answers every item of its group, in order; if it raises, every item of
the group fails with that exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Lane(Generic[T, R]):
    """One key's queue: items waiting for the next run, and whether one is running."""

    __slots__ = ("running", "waiting")

    def __init__(self) -> None:
        self.waiting: list[tuple[T, asyncio.Future[R]]] = []
        self.running = False


class Lanes(Generic[T, R]):
    """`await lanes.submit(key, item)`: the item's answer from a grouped `run`."""

    def __init__(self, run: Callable[[str, Sequence[T]], Sequence[R]], executor: Executor) -> None:
        self._run = run
        self._executor = executor
        self._lanes: dict[str, _Lane[T, R]] = {}

    async def submit(self, key: str, item: T) -> R:
        """Queue `item` on its key's lane and wait for its answer."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        lane.waiting.append((item, future))
        if not lane.running:
            self._start(key, lane)
        return await future

    def busy(self) -> int:
        """Keys with a run in flight or items waiting (for tests and metrics)."""
        return len(self._lanes)

    def _start(self, key: str, lane: _Lane[T, R]) -> None:
        group, lane.waiting = lane.waiting, []
        lane.running = True
        items = [item for item, _ in group]
        loop = asyncio.get_running_loop()
        try:
            done = loop.run_in_executor(self._executor, self._run, key, items)
        except RuntimeError as exc:  # the executor is shut down: the server is stopping
            done = loop.create_future()
            done.set_exception(exc)
        done.add_done_callback(lambda f: self._finish(key, lane, group, f))

    def _finish(
        self,
        key: str,
        lane: _Lane[T, R],
        group: list[tuple[T, asyncio.Future[R]]],
        done: asyncio.Future[Sequence[R]],
    ) -> None:
        lane.running = False
        error = done.exception() if not done.cancelled() else asyncio.CancelledError()
        answers: Sequence[R] = ()
        if error is None:
            answers = done.result()
            if len(answers) != len(group):
                error = RuntimeError(f"{len(answers)} answers for a group of {len(group)}")
        for index, (_, future) in enumerate(group):
            if future.done():  # its request was cancelled (the client went away)
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(answers[index])
        if lane.waiting:
            self._start(key, lane)
        else:
            del self._lanes[key]
