"""The sync route's way into the service: one owner's exchanges grouped (ADR 0136).

On SQLite the exchanges of one owner that arrive together run as one group
(`server.lanes`), whose pushes share one durable commit, on a few threads. The
lane is chosen by the owner of the request's token: a token's owner never
changes, so it is remembered after the first exchange, as a routing hint only.
Every exchange authenticates its token in its group, so a revoked device or a
removed owner is refused at once.

On PostgreSQL an exchange is one statement (ADR 0120): each runs on its own
thread, as many threads as the pool has connections.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from sync.protocol import Format, Refusal

from .lanes import Lanes
from .service import SyncCall, SyncService

#: Threads running SQLite exchange groups: enough to overlap one owner's commit
#: with another's Python work, few enough not to contend for the GIL (ADR 0136).
SQLITE_THREADS: Final = 2
#: Remembered token owners at most (then the memory starts over).
OWNER_HINTS: Final = 10_000


class Exchanges:
    """`await exchanges.sync(authorization, body, fmt, reply)`: one exchange's answer."""

    def __init__(self, service: SyncService) -> None:
        self._service = service
        threads = service.config.pool_size if service.pg is not None else SQLITE_THREADS
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="recip-sync")
        self._lanes: Lanes[SyncCall, bytes | Refusal] = Lanes(service.sync_group, self._executor)
        self._owners: dict[str, str] = {}

    async def sync(
        self, authorization: str | None, body: bytes, fmt: Format, reply: Format
    ) -> bytes:
        """The exchange's answer (raises its `Refusal`)."""
        service = self._service
        loop = asyncio.get_running_loop()
        if service.pg is not None or authorization is None:
            return await loop.run_in_executor(
                self._executor, service.sync_as, authorization, body, fmt, reply
            )
        owner_id = self._owners.get(authorization)
        if owner_id is None:
            device = await loop.run_in_executor(self._executor, service.authenticate, authorization)
            owner_id = device.owner_id
            if len(self._owners) >= OWNER_HINTS:
                self._owners.clear()
            self._owners[authorization] = owner_id
        answer = await self._lanes.submit(owner_id, (authorization, body, fmt, reply))
        if isinstance(answer, Refusal):
            raise answer
        return answer

    def close(self) -> None:
        """Wait for the exchanges in flight (call once the server stopped taking requests)."""
        self._executor.shutdown(wait=True)
