"""Where a group's durable commit runs: on the event loop while commits are quick.

A commit hands its fsync to the disk and waits. On a thread it leaves the event
loop free meanwhile, but in CPython the thread needs the GIL back to return,
and the hand-offs between it and the loop (each SQLite call and socket write
of the loop releases the GIL) cost the loop more than a fast disk's commit: on
a disk that commits in a few tenths of a millisecond, committing on the loop
served more exchanges, with bigger groups (issue 20, docs/benchmarks.md). A slow
disk would stall every request behind each commit instead, so the choice
follows the disk: commits run on the loop while the moving average of their
duration stays under `LOOP_BUDGET_S`, else on the commit threads. Only commits
run on the loop are timed (a thread's time includes its wait for the GIL), so
while commits go to threads, every `PROBE_EVERY`-th one runs on the loop to time
the disk again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final, Generic, TypeVar

#: Commits averaging less than this run on the event loop.
LOOP_BUDGET_S: Final = 0.0005
#: While commits run on threads, one in this many runs on the loop, timed.
PROBE_EVERY: Final = 64
#: Weight of the latest timed commit in the moving average.
WEIGHT: Final = 0.125

G = TypeVar("G")


class Commits(Generic[G]):
    """`await commits.run(group)`: `commit(group)` on the loop or on a commit thread."""

    def __init__(self, commit: Callable[[G], None], threads: int) -> None:
        self._commit = commit
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="recip-commit")
        #: Moving average of the commits timed on the loop, in seconds.
        self.average_s = 0.0
        self._count = 0

    def on_loop(self) -> bool:
        """Whether the next commit runs on the loop (and is timed)."""
        self._count += 1
        return self.average_s < LOOP_BUDGET_S or self._count % PROBE_EVERY == 0

    async def run(self, group: G) -> None:
        if not self.on_loop():
            await asyncio.get_running_loop().run_in_executor(self._executor, self._commit, group)
            return
        started = time.perf_counter()
        try:
            self._commit(group)
        finally:
            self.average_s += (time.perf_counter() - started - self.average_s) * WEIGHT

    def close(self) -> None:
        """Wait for the commits in flight on the threads."""
        self._executor.shutdown(wait=True)
