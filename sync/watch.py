"""`recip sync --watch`: stay in sync, pulling when poked and pushing when recording.

Two loops, one thread each:

- the *follower* keeps `GET /v1/stream` open and queues every poke (the owner's
  new log position); when the stream drops it reconnects with exponential
  backoff and jitter, sending the last position it saw as `Last-Event-ID`, so
  the server pokes it at once if anything landed while it was away;
- the *syncer* runs an ordinary `Replica.sync` whenever a poke is ahead of the
  device's cursor, or the device's own log has events the server has not
  acknowledged (it looks every `poll_s`: the log may be written by another
  `recip` process). A sync that fails transiently is retried with backoff.

Nothing here is needed for correctness: a sync is idempotent and resumable, so
a missed poke only delays a pull until the next poke, local event or reconnect
(every reconnect starts with a sync).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Final

import httpx
import msgspec

from .backoff import Backoff
from .protocol import Refusal
from .replica import Replica, SyncSummary, TransientError, is_transient

STREAM_PATH: Final = "/v1/stream"
#: No byte for this long (several heartbeats) means the stream is dead.
READ_TIMEOUT_S: Final = 60.0


class Poke(msgspec.Struct):
    cursor: int


_POKE: Final = msgspec.json.Decoder(Poke)


def parse_events(lines: Iterator[str]) -> Iterator[tuple[str, str, str | None]]:
    """(event type, data, id) of each Server-Sent Event in a stream of lines."""
    event, ident = "message", None
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data), ident
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue  # a comment: the server's heartbeat
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            ident = value


def follow(client: httpx.Client, token: str, cursor: int) -> Iterator[int]:
    """The cursors of the pokes of one stream connection, until it ends.

    Raises `TransientError` when the stream cannot be opened or drops, and the
    server's `Refusal` when it refuses the device (revoked, unknown token).
    """
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "text/event-stream",
        "Last-Event-ID": str(cursor),
    }
    timeout = httpx.Timeout(READ_TIMEOUT_S, connect=10.0)
    try:
        with client.stream("GET", STREAM_PATH, headers=headers, timeout=timeout) as response:
            if not response.is_success:
                refusal = Refusal.from_body(response.status_code, response.read())
                if is_transient(refusal):
                    raise TransientError(f"stream refused for now: {refusal}")
                raise refusal
            for event, data, _ in parse_events(response.iter_lines()):
                if event == "poke":
                    try:
                        yield _POKE.decode(data).cursor
                    except msgspec.DecodeError:
                        continue  # a poke we cannot read is a poke we can skip
    except httpx.HTTPError as exc:
        raise TransientError(f"stream lost: {exc or type(exc).__name__}") from exc


class Watch:
    """Keeps one replica in sync until `stop` is set (or a refusal ends it)."""

    def __init__(
        self,
        replica: Replica,
        client: httpx.Client,
        token: str,
        *,
        on_sync: Callable[[SyncSummary], None] = lambda s: None,
        poll_s: float = 0.5,
        backoff: Backoff | None = None,
    ) -> None:
        self.replica = replica
        self.client = client
        self.token = token
        self.on_sync = on_sync
        self.poll_s = poll_s
        self.backoff = backoff or Backoff()
        self.stop = threading.Event()
        #: How many times the stream was (re)connected; for tests and progress.
        self.connections = 0
        self._pokes: queue.Queue[int | Refusal] = queue.Queue()

    def run(self) -> None:
        """Sync now, then whenever poked or recording; returns when `stop` is set."""
        follower = threading.Thread(
            target=self._follow, args=(self.replica.cursor(),), name="recip-follow", daemon=True
        )
        follower.start()
        try:
            while not self.stop.is_set():
                if not self._sync():
                    self.stop.wait(self.backoff.delay())
                    continue
                self.backoff.reset()
                self._wait_for_work()
        finally:
            # The follower may sit in a read until the next heartbeat; it is a
            # daemon and stops at its next wake-up, so do not wait for it long.
            self.stop.set()
            follower.join(timeout=1)

    def _sync(self) -> bool:
        try:
            summary = self.replica.sync()
        except TransientError:
            return False
        if summary.pushed or summary.pulled:
            self.on_sync(summary)
        return True

    def _wait_for_work(self) -> None:
        """Block until a poke is ahead of our cursor or we recorded something."""
        while not self.stop.is_set():
            try:
                item = self._pokes.get(timeout=self.poll_s)
            except queue.Empty:
                if self.replica.pending():
                    return
                continue
            if isinstance(item, Refusal):
                raise item
            if item > self.replica.cursor():
                return

    def _follow(self, cursor: int) -> None:
        """The follower thread: keep a stream open, queue its pokes, reconnect."""
        backoff = Backoff(self.backoff.first, self.backoff.most)
        while not self.stop.is_set():
            self.connections += 1
            try:
                for poke in follow(self.client, self.token, cursor):
                    backoff.reset()
                    cursor = max(cursor, poke)
                    self._pokes.put(poke)
                    if self.stop.is_set():
                        return
                backoff.reset()  # the server ended the stream (its lifetime): reconnect now
            except TransientError:
                self.stop.wait(backoff.delay())
            except Refusal as refusal:
                self._pokes.put(refusal)
                return
