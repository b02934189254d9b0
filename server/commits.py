"""SQLite groups' durable commits, batched: one thread commits every group waiting.

A commit hands its fsync to the disk and waits, so it runs off the event loop.
But a thread needs the GIL back to return, and the hand-offs between it and
the loop (which releases the GIL at each SQLite call and socket write) cost the
loop more than a fast disk's commit: one thread hop per group made every read
the loop did meanwhile slower (issue 20, docs/benchmarks.md). So the commits
of all owners queue in one lane (`server.lanes`): while one batch is being
committed, the groups that finish their inserts wait, and the next batch takes
them all in one hop. The thread commits a batch's groups one after another,
each its own file and fsync; a failure answers only its own group.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from .lanes import Lanes

G = TypeVar("G")

#: The one lane all commits share.
_ALL = ""


class Commits(Generic[G]):
    """`await commits.run(group)`: `commit(group)` on the commit thread, in a batch."""

    def __init__(self, commit: Callable[[G], None]) -> None:
        self._commit = commit
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="recip-commit")
        self._lanes: Lanes[G, BaseException | None] = Lanes(self._batch)

    async def run(self, group: G) -> None:
        """Commit `group` (raises what its commit raised)."""
        error = await self._lanes.submit(_ALL, group)
        if error is not None:
            raise error

    async def _batch(self, _lane: str, groups: Sequence[G]) -> list[BaseException | None]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._commit_each, groups)

    def _commit_each(self, groups: Sequence[G]) -> list[BaseException | None]:
        errors: list[BaseException | None] = []
        for group in groups:
            try:
                self._commit(group)
            except Exception as exc:  # this group's failure, not its batch's
                errors.append(exc)
            else:
                errors.append(None)
        return errors

    def close(self) -> None:
        """Wait for the batch in flight."""
        self._executor.shutdown(wait=True)
