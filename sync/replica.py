"""A device's replica of its owner's log: push what is unacknowledged, pull the rest.

`Replica.sync` drives the protocol of `sync.protocol` over any `Transport` (HTTP,
or the server's handler called in process with injected faults). Its durable
state is exactly two numbers, both kept in the device's own database:

- the pull cursor, in the log's tracking table, written in the same transaction
  as the pulled events (a crash can never record a cursor ahead of the events);
- the highest seq the server acknowledged, a hint in `recip_meta`: if it is
  stale the server either skips what it already holds or answers 409 with the
  seq it expects, and the replica resends from there.

So a sync interrupted anywhere (request lost, response lost, process killed)
resumes by simply running again, and never loses or duplicates an event.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

import msgspec

from core.clock import wall_ms
from core.errors import ReciprocityError
from core.log import EventLog
from core.store import Row, Tracking

from . import protocol
from .backoff import Backoff
from .protocol import Format, Refusal, SyncRequest, SyncResponse
from .seal import SEALED_TOPIC, OwnerKey, SealError

_ACKED: Final = "acked:"
_EPOCH: Final = "epoch:"
_GAP_RESETS: Final = 3
_STALLS: Final = 3


class TransientError(ReciprocityError):
    """The exchange may or may not have reached the server; trying again is safe."""


class Transport(Protocol):
    """Carries one encoded sync request to the server and its answer back.

    Raises `TransientError` when the outcome is unknown (network, timeout, 5xx)
    and `Refusal` when the server refused the request.
    """

    format: Format

    def exchange(self, body: bytes) -> bytes: ...


class SyncSummary(msgspec.Struct, kw_only=True):
    """What one `sync` did (the `--json` output of `recip sync`)."""

    pushed: int
    pulled: int
    cursor: int
    acked_seq: int = 0
    #: How far this device's clock ran ahead of the server's (ms, negative: behind).
    clock_offset_ms: int = 0


@dataclass(frozen=True)
class Progress:
    pushed: int
    to_push: int
    pulled: int
    cursor: int


def is_transient(refusal: Refusal) -> bool:
    """Server-side trouble (busy storage, overload): the request may be retried."""
    return refusal.status >= 500 or refusal.status == 429


class Replica:
    """Syncs one device's `EventLog` with one upstream server."""

    def __init__(
        self,
        log: EventLog,
        transport: Transport,
        upstream: str,
        *,
        push_batch: int = 10_000,
        pull_limit: int = protocol.DEFAULT_LIMIT,
        retries: int = 6,
        backoff_s: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        key: OwnerKey | None = None,
    ) -> None:
        if log.device_id is None:
            raise ReciprocityError("a replica needs a device log (with its own device id)")
        self.log = log
        self.device_id: str = log.device_id
        self.transport = transport
        self.upstream = upstream
        self.push_batch = push_batch
        self.pull_limit = pull_limit
        self.retries = retries
        self.backoff_s = backoff_s
        self.sleep = sleep
        #: The owner key of an end-to-end encrypted owner: events are sealed on
        #: the way out and opened on the way in (ADR 0135).
        self.key = key
        #: The last acknowledgement seen in the current sync, saved when it ends.
        self._ack_seen: int | None = None

    # -- durable state ----------------------------------------------------------------

    @property
    def tracking_name(self) -> str:
        """The tracking record of the pull cursor (a new one per epoch, see `_restart`)."""
        epoch = self._epoch()
        return f"sync:{self.upstream}" + (f":{epoch}" if epoch else "")

    def _epoch(self) -> int:
        meta = self.log.store.get_meta(_EPOCH + self.upstream)
        return 0 if meta is None else meta[0]

    def _restart_pull(self) -> int:
        """Pull again from the start: the server's log is behind our cursor.

        That happens when the server was restored from an older backup. Tracking
        records only move forward, so a new epoch starts a new one at 0; pulling
        everything again is idempotent.
        """
        self.log.store.put_meta(_EPOCH + self.upstream, self._epoch() + 1, 0)
        return 0

    def cursor(self) -> int:
        """How far this device has pulled the server's log."""
        return self.log.tracking(self.tracking_name)

    def acked(self) -> int:
        """The last seq of ours the server acknowledged (a hint; 0 if never)."""
        meta = self.log.store.get_meta(_ACKED + self.upstream)
        return 0 if meta is None else meta[0]

    def _save_ack(self) -> None:
        """Keep the last acknowledgement seen, once per sync (a hint: see the module doc).

        Not per exchange: it would cost a disk sync each time, and losing it only
        means resending events the server then skips.
        """
        if self._ack_seen is not None:
            with contextlib.suppress(ReciprocityError):
                self.log.store.put_meta(_ACKED + self.upstream, self._ack_seen, 0)

    def pending(self) -> int:
        """How many of our events the server has not acknowledged (as far as we know)."""
        return max(0, self.log.last_seq() - self.acked())

    # -- the exchange loop ------------------------------------------------------------------

    def sync(
        self,
        progress: Callable[[Progress], None] | None = None,
        *,
        push: bool = True,
        pull: bool = True,
    ) -> SyncSummary:
        """Push everything unacknowledged, pull until nothing more remains.

        `push=False` or `pull=False` does one direction only (benchmarks time the
        phases apart); a normal sync does both in the same exchanges.

        Pulled pages are stored by a second thread while the next exchange is in
        flight (SQLite and the network both release the GIL), in order, each page
        with its cursor in one transaction. Whatever stops the loop, the pages
        already received are stored before `sync` returns or raises.
        """
        ingester = _Ingester(self.log)
        self._ack_seen = None
        try:
            summary = self._loop(ingester, progress, push=push, pull=pull)
        finally:
            ingester.finish()
            self._save_ack()
        ingester.check()
        summary.pulled = ingester.pulled
        return summary

    def _loop(
        self,
        ingester: _Ingester,
        progress: Callable[[Progress], None] | None,
        *,
        push: bool,
        pull: bool,
    ) -> SyncSummary:
        acked = self.acked()
        start_acked = acked
        cursor = self.cursor()
        offset = 0
        gap_resets = 0
        restarted = False
        stalled = 0
        while True:
            ingester.check()
            held = self.log.last_seq()
            request = SyncRequest(
                device_id=self.device_id,
                events=self._outgoing(acked, held) if push else [],
                cursor=cursor,
                limit=self.pull_limit if pull else 0,
                held_seq=held,
            )
            try:
                reply, rows = self._exchange(request)
            except Refusal as refusal:
                expected = refusal.expected_seq
                if refusal.code == "sequence_gap" and expected is not None:
                    gap_resets += 1
                    if gap_resets > _GAP_RESETS or expected - 1 == acked:
                        raise
                    acked = expected - 1  # our hint was wrong: resend from there
                    continue
                if refusal.code == "cursor_ahead" and not restarted:
                    ingester.finish()
                    ingester.check()
                    restarted = True
                    cursor = self._restart_pull()
                    continue
                raise
            offset = wall_ms() - reply.server_time if reply.server_time else 0
            tracking = Tracking(self.tracking_name, reply.cursor) if reply.cursor > cursor else None
            if rows or tracking is not None:
                ingester.put(rows, tracking)
            stalled = stalled + 1 if reply.acked_seq == acked and reply.cursor <= cursor else 0
            if stalled > _STALLS:
                raise ReciprocityError(
                    f"sync makes no progress: the server acknowledges seq {acked} "
                    f"of {held} and its log ends at {cursor}"
                )
            cursor = max(cursor, reply.cursor)
            if reply.acked_seq != acked:
                acked = self._ack_seen = reply.acked_seq
            if progress is not None:
                pushed = max(0, acked - start_acked)
                progress(Progress(pushed, held - start_acked, ingester.pulled, cursor))
            if not reply.more and (not push or acked >= self.log.last_seq()):
                ingester.finish()  # our own events may come back in the last pages
                ingester.check()
                if not push or acked >= self.log.last_seq():
                    break
        return SyncSummary(
            pushed=max(0, acked - start_acked),
            pulled=0,
            cursor=cursor,
            acked_seq=acked,
            clock_offset_ms=offset,
        )

    def _outgoing(self, acked: int, held: int) -> list[msgspec.Raw]:
        """The next batch of our unacknowledged events, as stored, in seq order."""
        if acked >= held:
            return []
        stored = self.log.store.stream(
            self.device_id, gt=acked, lte=min(held, acked + self.push_batch)
        )
        rows: list[Row] = [
            (str(r.originator_id), r.originator_version, r.topic, r.state) for r in stored
        ]
        if self.key is not None:
            rows = [self.key.sealed_row(row) for row in rows]
        rows = rows[: protocol.fitting(len(row[3]) for row in rows)]
        fmt = self.transport.format
        if fmt == "msgpack":
            return [msgspec.Raw(row[3]) for row in rows]  # the stored bytes as they are
        return [protocol.stored_to_wire(row[2], row[3], fmt) for row in rows]

    def _exchange(self, request: SyncRequest) -> tuple[SyncResponse, list[Row]]:
        """One request, retried with exponential backoff while the outcome is unknown."""
        fmt = self.transport.format
        body = protocol.encode(request, fmt)
        backoff = Backoff(self.backoff_s)
        for attempt in range(self.retries + 1):
            try:
                answer = self.transport.exchange(body)
            except TransientError:
                if attempt == self.retries:
                    raise
            except Refusal as refusal:
                if not is_transient(refusal) or attempt == self.retries:
                    raise
            else:
                reply, rows = protocol.decode_response_rows(answer, fmt)
                return reply, self._opened(rows)
            self.sleep(backoff.delay())
        raise AssertionError("unreachable")  # pragma: no cover

    def _opened(self, rows: list[Row]) -> list[Row]:
        """Pulled rows as this device stores them: opened, if the owner is encrypted.

        One event that does not open refuses the whole page (`SealError`): nothing
        of it is stored and the cursor stays before it.
        """
        if self.key is not None:
            return [self.key.open_row(row) for row in rows]
        if any(row[2] == SEALED_TOPIC for row in rows):
            raise SealError(
                "this owner is end-to-end encrypted and this device has no owner key: "
                "enroll it again with the recovery phrase (recip remote add URL --token "
                "TOKEN --phrase)"
            )
        return rows


class _Ingester:
    """Stores pulled pages, in order, on a thread of its own (at most two pages queued)."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.pulled = 0
        self._error: BaseException | None = None
        self._queue: queue.Queue[tuple[list[Row], Tracking | None] | None] = queue.Queue(2)
        self._thread: threading.Thread | None = None

    def put(self, rows: list[Row], tracking: Tracking | None) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="recip-ingest", daemon=True)
            self._thread.start()
        self._queue.put((rows, tracking))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # keep draining so that the producer never blocks
            rows, tracking = item
            try:
                self.pulled += len(self.log.ingest_rows(rows, tracking=tracking))
            except BaseException as exc:
                self._error = exc

    def finish(self) -> None:
        """Wait until every queued page is stored."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def check(self) -> None:
        """Re-raise a failure of the storing thread (a conflict, a full disk)."""
        if self._error is not None:
            raise self._error
