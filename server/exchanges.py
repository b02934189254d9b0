"""The sync route's way into the service: one owner's exchanges grouped (ADR 0136).

On SQLite the exchanges of one owner that arrive together run as one group
(`server.lanes`), whose pushes share one durable commit. A group runs on the
event loop itself, except what blocks: its commit (an fsync) goes to the
commit thread, batched with other owners' waiting commits (`server.commits`);
batches that take the general path, owners not open yet and pages far behind
the head go to the other threads. So the Python work of an exchange never
waits for the GIL behind another thread's, which under load cost more than the
work itself. When another transaction holds the owner's log (an admin command,
a backup), the group is handed to a thread to wait there, and the owner's lane
goes on: pulls are answered meanwhile.

The lane is chosen by the owner of the request's token: a token's owner never
changes, so it is remembered after the first exchange, as a routing hint only.
Every exchange authenticates its token in its group, so a revoked device or a
removed owner is refused at once.

On PostgreSQL the lanes group one owner's exchanges the same way and a group
is one statement (ADR 0120's exchange, once per call, in one transaction), run
on one of a few threads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, TypeVar

from sync.protocol import Format, Refusal

from .commits import Commits
from .lanes import Lanes
from .service import Group, SyncCall, SyncService

X = TypeVar("X")

#: Threads for what may wait: the general path, opening logs, busy writers.
BLOCKING_THREADS: Final = 8
#: Threads running PostgreSQL groups, per worker: a round trip releases the GIL,
#: but each thread's Python work contends for it (issue 20).
PG_THREADS: Final = 4
#: Remembered token owners at most (then the memory starts over).
OWNER_HINTS: Final = 10_000
#: Pages whose cursor is further behind the head than this are read on a thread.
INLINE_ROWS: Final = 2_000

Answer = bytes | Refusal


@dataclass(frozen=True)
class _Later:
    """An answer still coming: the `index`-th of a group handed to a thread."""

    answers: asyncio.Future[list[Answer]]
    index: int


class Exchanges:
    """`await exchanges.sync(authorization, body, fmt, reply)`: one exchange's answer."""

    def __init__(self, service: SyncService) -> None:
        self._service = service
        pg = service.pg is not None
        threads = min(PG_THREADS, service.config.pool_size) if pg else BLOCKING_THREADS
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="recip-sync")
        self._commits: Commits[Group] = Commits(service.commit)
        self._lanes: Lanes[SyncCall, Answer | _Later] = Lanes(self._group)
        self._owners: dict[str, str] = {}
        self._handed: set[asyncio.Future[list[Answer]]] = set()

    async def sync(
        self, authorization: str | None, body: bytes, fmt: Format, reply: Format
    ) -> bytes:
        """The exchange's answer (raises its `Refusal`)."""
        service = self._service
        if authorization is None:
            return await self._blocking(service.sync_as, authorization, body, fmt, reply)
        owner_id = self._owners.get(authorization)
        if owner_id is None:
            owner_id = (await self._blocking(service.authenticate, authorization)).owner_id
            if len(self._owners) >= OWNER_HINTS:
                self._owners.clear()
            self._owners[authorization] = owner_id
        answer = await self._lanes.submit(owner_id, (authorization, body, fmt, reply))
        if isinstance(answer, _Later):
            answer = (await answer.answers)[answer.index]
        if isinstance(answer, Refusal):
            raise answer
        return answer

    async def _group(self, owner_id: str, calls: Sequence[SyncCall]) -> Sequence[Answer | _Later]:
        """One group's exchanges: on this loop, with only what blocks on a thread."""
        service = self._service
        if service.pg is not None:  # one statement for the group, on a thread
            return await self._blocking(service.sync_group, owner_id, calls)
        lease = service.open_owner(owner_id)
        if lease is None:  # opening a log is file work: the whole group on a thread
            return await self._blocking(service.sync_group, owner_id, calls)
        with lease as owner:
            admitted = service.admit(owner_id, calls)
            if admitted.staged:
                group = service.begin(owner, admitted.prepared(), wait=False)
                if group is None:  # another transaction holds the log
                    return self._hand_over(owner_id, calls)
                try:
                    if group.pending is not None:
                        await self._commits.run(group)
                finally:
                    group.abandon()
                if group.unsettled():
                    await self._blocking(service.settle, owner, group)
                if group.behind() > INLINE_ROWS:
                    admitted.answer(await self._blocking(service.finish, owner, group))
                else:
                    admitted.answer(service.finish(owner, group))
        for index, device, call in admitted.solo:
            admitted.results[index] = await self._blocking(service.sync_solo, device, call)
        return admitted.done()

    def _hand_over(self, owner_id: str, calls: Sequence[SyncCall]) -> list[Answer | _Later]:
        """The group, run again on a thread that waits for the log; the lane goes on."""
        loop = asyncio.get_running_loop()
        answers = loop.run_in_executor(self._executor, self._service.sync_group, owner_id, calls)
        self._handed.add(answers)
        answers.add_done_callback(self._handed.discard)
        return [_Later(answers, index) for index in range(len(calls))]

    async def _blocking(self, call: Callable[..., X], *args: object) -> X:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call, *args)

    def close(self) -> None:
        """Wait for the exchanges in flight (call once the server stopped taking requests)."""
        self._commits.close()
        self._executor.shutdown(wait=True)
