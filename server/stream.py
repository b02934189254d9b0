"""Live pokes: `GET /v1/stream`, Server-Sent Events that tell devices to pull now.

A poke carries only the owner's new log position (`{"cursor": N}`, also the SSE
event id); the device then runs an ordinary sync, so the stream never has to be
reliable: a poke that is lost, late or duplicated costs at most one extra or
later pull (the brief's Replicache lesson: a payload-free poke is enough).

Resuming: a client that reconnects sends `Last-Event-ID` (or `?cursor=N`), and is
poked at once if the log moved past it while it was away, so nothing is missed
across a dropped connection.

How a worker learns that events landed (ADR 0071):

- `HeadWatcher` keeps, per owner with at least one open stream, the log's head
  (its highest position) and wakes that owner's streams when it grows;
- it re-reads those heads every `poll_s` (one `MAX()` per watched owner, cheap),
  and at once when PostgreSQL `NOTIFY`s: the library's recorder notifies on
  channel `core.store.NOTIFY_CHANNEL` in every insert transaction, so a push stored by any
  worker wakes every worker's watcher.

Heartbeats (an SSE comment) keep proxies from closing an idle stream; each one
also re-checks the device's token, so a revoked device's stream ends within a
heartbeat. A stream ends after `lifetime_s` anyway (the client reconnects), so
that a server can always shut down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Final

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from core.store import NOTIFY_CHANNEL
from sync.protocol import Refusal

from .service import SyncService

logger = logging.getLogger("recip.server.stream")

MEDIA_TYPE: Final = "text/event-stream"
#: The channel eventsourcing's PostgreSQL recorder notifies (its events table name).
CHANNEL: Final = NOTIFY_CHANNEL


class Poke(msgspec.Struct, kw_only=True):
    """The data of a `poke` event: the owner's log reached this position."""

    cursor: int


@dataclass
class StreamConfig:
    heartbeat_s: float = 15.0
    lifetime_s: float = 300.0
    #: How often watched heads are re-read without a wake-up.
    poll_s: float = 0.25
    #: The SSE `retry:` hint: how long a client waits before reconnecting (ms).
    retry_ms: int = 2000


class HeadWatcher:
    """Per-owner log heads of one worker, and the wake-ups of the streams watching them."""

    def __init__(self, service: SyncService, config: StreamConfig) -> None:
        self.service = service
        self.config = config
        self._heads: dict[str, int] = {}
        self._changed: dict[str, asyncio.Event] = {}
        self._watching: dict[str, int] = {}
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._listener: _Listener | None = None
        self._stopping = False

    # -- life cycle --------------------------------------------------------------

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._poll(), name="recip-head-watcher")
        url = self.service.config.database_url
        if url:
            loop = asyncio.get_running_loop()
            wake = self._wake

            def poke() -> None:
                # Every push on any worker notifies every worker: wake the event
                # loop only when a stream here is open and no wake-up is already
                # pending (the poll after it reads every head anew).
                if self._watching and not wake.is_set():
                    loop.call_soon_threadsafe(wake.set)

            self._listener = _Listener(url, poke)
            self._listener.start()
            if self._watching:
                self._listener.wanted.set()

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.stop()
        if self._task is not None:
            # Python 3.11's wait_for can swallow a cancellation that arrives as
            # its wait completes: the poll loop then checks this flag itself.
            self._stopping = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # -- watching ---------------------------------------------------------------

    async def head(self, owner_id: str) -> int:
        """The owner's log head, read now."""
        head: int = await run_in_threadpool(self.service.position, owner_id)
        return head

    @contextlib.asynccontextmanager
    async def watching(self, owner_id: str) -> AsyncIterator[None]:
        """Keep an owner's head watched while a stream is open."""
        self._watching[owner_id] = self._watching.get(owner_id, 0) + 1
        if self._listener is not None:
            self._listener.wanted.set()
        try:
            if owner_id not in self._changed:
                self._changed[owner_id] = asyncio.Event()
                self._heads.setdefault(owner_id, 0)
                self._heads[owner_id] = max(self._heads[owner_id], await self.head(owner_id))
            yield
        finally:
            self._watching[owner_id] -= 1
            if not self._watching[owner_id]:
                del self._watching[owner_id]
                self._heads.pop(owner_id, None)
                self._changed.pop(owner_id, None)
                if not self._watching and self._listener is not None:
                    self._listener.wanted.clear()

    async def wait(self, owner_id: str, after: int, timeout: float) -> int:
        """The owner's head as soon as it passes `after`, or after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            head = self._heads[owner_id]
            left = deadline - time.monotonic()
            if head > after or left <= 0:
                return head
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed[owner_id].wait(), left)

    async def _poll(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.poll_s)
            self._wake.clear()
            for owner_id in list(self._watching):
                try:
                    head = await self.head(owner_id)
                except Exception:  # storage hiccup: keep the streams, retry next round
                    logger.exception("cannot read the head of owner %s", owner_id)
                    continue
                if owner_id in self._heads and head > self._heads[owner_id]:
                    self._heads[owner_id] = head
                    changed = self._changed[owner_id]
                    self._changed[owner_id] = asyncio.Event()
                    changed.set()


class _Listener:
    """A thread that LISTENs on PostgreSQL and calls `wake` on every notification.

    It listens only while `wanted` is set (a stream of this worker is open):
    every push of every worker notifies, and a worker no stream watches would
    otherwise spend a share of its CPU taking notifications it ignores. Anything
    notified while it was not listening is caught by the `wake` it calls once
    listening (the poll after it reads every watched head anew).
    """

    def __init__(self, url: str, wake: Callable[[], object]) -> None:
        from .pg import split_prefix

        self._url = split_prefix(url)[0]
        self._wake = wake
        self._stop = threading.Event()
        self.wanted = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recip-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wanted.set()  # let a thread waiting to be wanted see the stop
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg

        backoff = 0.5
        while not self._stop.is_set():
            if not self.wanted.wait(timeout=1.0):
                continue
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f'LISTEN "{CHANNEL}"')
                    backoff = 0.5
                    self._wake()  # anything missed while (re)connecting
                    while self.wanted.is_set() and not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self._wake()
            except psycopg.Error as exc:
                logger.warning("LISTEN connection lost (%s); polling until it is back", exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)


def _start_cursor(request: Request) -> int:
    text = request.headers.get("last-event-id") or request.query_params.get("cursor") or "0"
    try:
        cursor = int(text)
    except ValueError:
        raise Refusal(400, "malformed", f"cursor {text!r} is not a number") from None
    if cursor < 0:
        raise Refusal(400, "malformed", "cursor must not be negative")
    return cursor


def _frame(poke: Poke) -> bytes:
    return b"id: %d\nevent: poke\ndata: %b\n\n" % (poke.cursor, msgspec.json.encode(poke))


async def stream(request: Request, service: SyncService) -> Response:
    """`GET /v1/stream`: pokes for the owner of the device token, until it goes away."""
    authorization = request.headers.get("authorization")
    device = await run_in_threadpool(service.accounts.authenticate, authorization)
    cursor = _start_cursor(request)
    watcher: HeadWatcher = request.app.state.watcher
    config = watcher.config

    async def frames() -> AsyncIterator[bytes]:
        async with watcher.watching(device.owner_id):
            yield b"retry: %d\n\n" % config.retry_ms
            last = cursor
            ends = time.monotonic() + config.lifetime_s
            while (left := ends - time.monotonic()) > 0:
                head = await watcher.wait(device.owner_id, last, min(config.heartbeat_s, left))
                if head > last:
                    last = head
                    yield _frame(Poke(cursor=head))
                    continue
                try:
                    await run_in_threadpool(service.accounts.authenticate, authorization)
                except Refusal:
                    return  # revoked meanwhile: the reconnect is refused with the reason
                yield b": heartbeat\n\n"

    return StreamingResponse(
        frames(),
        media_type=MEDIA_TYPE,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
