"""Where a group's commit runs: on the loop while commits are quick, else on a thread."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from server.commits import LOOP_BUDGET_S, PROBE_EVERY, Commits


class Disk:
    """A commit that takes `seconds` and records the thread it ran on."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.threads: list[int] = []

    def commit(self, group: str) -> None:
        self.threads.append(threading.get_ident())
        time.sleep(self.seconds)
        if group == "broken":
            raise OSError("disk full")


def _run(commits: Commits[str], groups: list[str]) -> int:
    """Commit each group in turn on a fresh loop; the loop's thread."""

    async def main() -> int:
        for group in groups:
            await commits.run(group)
        return threading.get_ident()

    return asyncio.run(main())


def test_quick_commits_run_on_the_loop() -> None:
    disk = Disk(0.0)
    commits = Commits(disk.commit, threads=2)
    loop_thread = _run(commits, ["g"] * 20)
    commits.close()
    assert disk.threads == [loop_thread] * 20
    assert commits.average_s < LOOP_BUDGET_S


def test_slow_commits_move_to_threads_and_the_disk_is_timed_again_now_and_then() -> None:
    disk = Disk(LOOP_BUDGET_S * 8)
    commits = Commits(disk.commit, threads=2)
    loop_thread = _run(commits, ["g"] * (2 * PROBE_EVERY))
    commits.close()
    on_loop = [i + 1 for i, ident in enumerate(disk.threads) if ident == loop_thread]
    # The first commits are timed on the loop until their average is over budget...
    assert on_loop[0] == 1
    assert commits.average_s >= LOOP_BUDGET_S
    # ...then only the probes run there.
    switched = [n for n in on_loop if n > 8]
    assert switched == [PROBE_EVERY, 2 * PROBE_EVERY]
    assert len(on_loop) < 16


def test_a_disk_that_speeds_up_brings_commits_back_to_the_loop() -> None:
    disk = Disk(LOOP_BUDGET_S * 8)
    commits = Commits(disk.commit, threads=1)
    loop_thread = _run(commits, ["g"] * 20)
    disk.seconds = 0.0
    assert disk.threads[-1] != loop_thread  # on a commit thread
    _run(commits, ["g"] * (4 * PROBE_EVERY))
    commits.close()
    assert commits.average_s < LOOP_BUDGET_S
    assert disk.threads[-PROBE_EVERY:] == [loop_thread] * PROBE_EVERY  # all on the loop now


def test_a_failing_commit_raises_where_it_ran_and_is_still_timed() -> None:
    disk = Disk(0.0)
    commits = Commits(disk.commit, threads=1)
    with pytest.raises(OSError, match="disk full"):
        _run(commits, ["broken"])
    commits.close()
    assert disk.threads
    assert commits.average_s > 0
