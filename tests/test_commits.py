"""SQLite groups' commits, batched on one thread: what queues while a batch commits goes next."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest

from server.commits import Commits


class Disk:
    """Commits that take `seconds`, recorded with their thread, in order."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.committed: list[str] = []
        self.threads: set[int] = set()

    def commit(self, group: str) -> None:
        self.threads.add(threading.get_ident())
        time.sleep(self.seconds)
        if group.startswith("broken"):
            raise OSError(f"disk full ({group})")
        self.committed.append(group)


def test_commits_run_off_the_loop_on_one_thread() -> None:
    disk = Disk(0.0)
    commits: Commits[str] = Commits(disk.commit)

    async def main() -> None:
        for i in range(5):
            await commits.run(f"g{i}")

    asyncio.run(main())
    commits.close()
    assert disk.committed == [f"g{i}" for i in range(5)]
    assert len(disk.threads) == 1
    assert threading.get_ident() not in disk.threads


class Counted(Commits[str]):
    """Commits that also record each batch's size."""

    batches: list[int]

    def _commit_each(self, groups: Sequence[str]) -> list[BaseException | None]:
        self.batches.append(len(groups))
        return super()._commit_each(groups)


def test_what_queues_while_a_batch_commits_goes_in_the_next_batch() -> None:
    disk = Disk(0.02)
    commits = Counted(disk.commit)
    commits.batches = []

    async def main() -> None:
        first = asyncio.ensure_future(commits.run("first"))
        await asyncio.sleep(0.005)  # the first batch is committing: these queue
        await asyncio.gather(first, *(commits.run(f"g{i}") for i in range(6)))

    asyncio.run(main())
    commits.close()
    assert commits.batches == [1, 6]
    assert disk.committed == ["first", *(f"g{i}" for i in range(6))]


def test_a_failing_commit_fails_only_its_own_group() -> None:
    disk = Disk(0.01)
    commits: Commits[str] = Commits(disk.commit)

    async def main() -> list[BaseException | None]:
        first = asyncio.ensure_future(commits.run("first"))
        await asyncio.sleep(0.002)
        results = await asyncio.gather(
            first,
            commits.run("a"),
            commits.run("broken b"),
            commits.run("c"),
            return_exceptions=True,
        )
        return list(results)

    results = asyncio.run(main())
    commits.close()
    assert results[:2] == [None, None]
    assert isinstance(results[2], OSError)
    assert "broken b" in str(results[2])
    assert results[3] is None
    assert disk.committed == ["first", "a", "c"]


def test_close_waits_for_the_batch_in_flight() -> None:
    disk = Disk(0.05)
    commits: Commits[str] = Commits(disk.commit)

    async def main() -> None:
        task = asyncio.ensure_future(commits.run("late"))
        await asyncio.sleep(0.01)
        commits.close()  # blocks until the thread is done
        assert disk.committed == ["late"]
        await task

    asyncio.run(main())


@pytest.mark.parametrize("count", [1, 50])
def test_every_group_is_committed_once(count: int) -> None:
    disk = Disk(0.0)
    commits: Commits[str] = Commits(disk.commit)

    async def main() -> None:
        await asyncio.gather(*(commits.run(f"g{i}") for i in range(count)))

    asyncio.run(main())
    commits.close()
    assert sorted(disk.committed) == sorted(f"g{i}" for i in range(count))
