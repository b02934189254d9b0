"""The sync server's logic, independent of HTTP.

`SyncService` takes a request body and the caller's token, and returns a body or
raises `Refusal` (status, code, message). The Starlette app is a thin shell
around it, and tests call it in process through the same entry points, so the
merge logic under test is the logic that serves.

Storage (ADR 0032): `DATA/accounts.db` for owners, devices and token hashes;
`DATA/owners/<owner id>.db`, one event log per owner. A device can only ever
reach the log of the owner its token belongs to, because the log is chosen from
the authenticated device, never from the request.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from msgspec import Raw

from core.clock import MAX_DRIFT_MS, physical_ms, wall_ms
from core.errors import CodecError, ConflictError, SequenceGapError, StoreError
from core.log import EventLog, LogEvent, row_of
from core.store import open_store
from sync import protocol
from sync.protocol import (
    DevicesResponse,
    EnrollRequest,
    EnrollResponse,
    Format,
    Refusal,
    RevokeRequest,
    SyncRequest,
    SyncResponse,
)

from .accounts import Accounts, Device

#: Default bound on one request body: about 40,000 typical events in MessagePack.
MAX_BODY: Final = 16 * 1024 * 1024
#: Largest page the server sends, whatever the device asks for.
MAX_PAGE: Final = 10_000


@dataclass(frozen=True)
class ServerConfig:
    """Everything a server instance needs; no global state."""

    data: Path
    max_body: int = MAX_BODY
    max_page: int = MAX_PAGE
    #: How far ahead of the server's clock an event's hlc may be (ADR 0031).
    max_clock_ahead_ms: int = MAX_DRIFT_MS
    #: The server's wall clock in Unix ms (injectable for tests).
    clock: Callable[[], int] = field(default=wall_ms, compare=False)

    def now_ms(self) -> int:
        return self.clock()


class PageReader:
    """Pages of an owner's log read straight from its SQLite file.

    The hot path of every pull: one read-only connection per server thread, rows
    as plain tuples, and the stored MessagePack bytes passed on untouched. It reads
    the event store's own table (`stored_events`, position = rowid), as
    `core.store` does for its batch writes.
    """

    _QUERY: Final = (
        "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
        "WHERE rowid > ? ORDER BY rowid LIMIT ?"
    )

    def __init__(self, path: Path) -> None:
        self._uri = f"{path.resolve().as_uri()}?mode=ro"
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def page(self, after: int, limit: int) -> list[tuple[int, str, int, str, bytes]]:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._uri, uri=True, check_same_thread=False)
            self._local.conn = conn
            with self._lock:
                self._opened.append(conn)
        try:
            return conn.execute(self._QUERY, (after, limit)).fetchall()
        except sqlite3.Error as exc:
            raise Refusal(503, "unavailable", f"storage busy, retry: {exc}") from None

    def close(self) -> None:
        with self._lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()


class SyncService:
    """Owners' logs, enrollment, device management and the sync exchange."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        config.data.mkdir(parents=True, exist_ok=True)
        (config.data / "owners").mkdir(exist_ok=True)
        self.accounts = Accounts(config.data / "accounts.db")
        self._logs: dict[str, EventLog] = {}
        self._readers: dict[str, PageReader] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close every open log (a restart reopens them from disk)."""
        with self._lock:
            for log in self._logs.values():
                log.store.close()
            for reader in self._readers.values():
                reader.close()
            self._logs.clear()
            self._readers.clear()
        self.accounts.close()

    def log(self, owner_id: str) -> EventLog:
        """The owner's own log, opened once and shared by its requests."""
        with self._lock:
            log = self._logs.get(owner_id)
            if log is None:
                path = self._path(owner_id)
                log = self._logs[owner_id] = EventLog(open_store(str(path)), None)
                self._readers[owner_id] = PageReader(path)
            return log

    def _path(self, owner_id: str) -> Path:
        return self.config.data / "owners" / f"{owner_id}.db"

    def _reader(self, owner_id: str) -> PageReader:
        self.log(owner_id)
        return self._readers[owner_id]

    # -- enrollment and devices ----------------------------------------------------

    def enroll(self, body: bytes, fmt: Format, reply: Format) -> bytes:
        request: EnrollRequest = protocol.decode(body, EnrollRequest, fmt)
        owner, token = self.accounts.enroll(
            request.token, request.device_id, request.device_name.strip() or request.device_id
        )
        self.log(owner.owner_id)  # create the owner's log on first enrollment
        answer = EnrollResponse(
            owner_id=owner.owner_id,
            owner_name=owner.name,
            device_id=request.device_id,
            device_token=token,
        )
        return protocol.encode(answer, reply)

    def devices(self, device: Device, fmt: Format) -> bytes:
        log = self.log(device.owner_id)
        listing = self.accounts.devices(device.owner_id)
        for info in listing:
            info.last_seq = log.last_seq(info.device_id)
        return protocol.encode(DevicesResponse(devices=listing), fmt)

    def revoke(self, device: Device, body: bytes, fmt: Format, reply: Format) -> bytes:
        request: RevokeRequest = protocol.decode(body, RevokeRequest, fmt)
        info = self.accounts.revoke(device.owner_id, request.device)
        return protocol.encode(info, reply)

    # -- sync --------------------------------------------------------------------------

    def sync(self, device: Device, body: bytes, fmt: Format, reply: Format) -> bytes:
        """One exchange: store the pushed batch (all or nothing), answer one page."""
        request, events = protocol.decode_request(body, fmt)
        if request.device_id != device.device_id:
            raise Refusal(
                403,
                "wrong_device",
                f"this token belongs to device {device.device_id}, not {request.device_id}",
                device_id=device.device_id,
            )
        self._check(device, events)
        log = self.log(device.owner_id)
        if request.cursor > log.position():
            raise Refusal(
                409,
                "cursor_ahead",
                f"cursor {request.cursor} is beyond the end of this server's log "
                f"({log.position()}): the server was restored or replaced; pull from 0",
            )
        try:
            log.ingest_rows([row_of(e) for e in events])
        except SequenceGapError as exc:
            raise Refusal(
                409,
                "sequence_gap",
                f"{exc}: send your events from seq {exc.expected_seq}",
                device_id=exc.device_id,
                expected_seq=exc.expected_seq,
            ) from None
        except ConflictError as exc:
            raise Refusal(
                409,
                "conflict",
                f"{exc}. This device's log differs from what it sent before "
                "(restored from an old backup?); nothing of the batch was stored",
                device_id=device.device_id,
            ) from None
        except CodecError as exc:
            raise Refusal(422, "invalid_event", str(exc)) from None
        except StoreError as exc:
            raise Refusal(503, "unavailable", f"storage busy, retry: {exc}") from None
        return protocol.encode(self._page(log, device, request, reply), reply)

    def _check(self, device: Device, events: list[LogEvent]) -> None:
        """Refuse the batch before storing anything: foreign devices, far-future clocks."""
        ceiling = self.config.now_ms() + self.config.max_clock_ahead_ms
        for index, event in enumerate(events):
            if not 1 <= event.seq <= protocol.MAX_INT:
                raise Refusal(
                    422,
                    "invalid_event",
                    f"event #{index} ({event.event_id}) has seq {event.seq}: "
                    "sequence numbers start at 1 and fit in 64 bits",
                    event_id=event.event_id,
                    index=index,
                )
            if event.device_id != device.device_id:
                raise Refusal(
                    403,
                    "wrong_device",
                    f"event #{index} ({event.event_id}) claims device {event.device_id}; "
                    f"this token may only push events of device {device.device_id}",
                    event_id=event.event_id,
                    index=index,
                )
            ahead = physical_ms(event.hlc) - ceiling
            if ahead > 0:
                minutes = (ahead + self.config.max_clock_ahead_ms) / 60_000
                raise Refusal(
                    422,
                    "clock_ahead",
                    f"event #{index} ({event.event_id}) was recorded {minutes:.0f} minutes "
                    "ahead of the server's clock: fix this device's clock. The event stays "
                    "on the device and is sent once the server's time reaches it",
                    event_id=event.event_id,
                    index=index,
                )

    def _page(
        self, log: EventLog, device: Device, request: SyncRequest, reply: Format
    ) -> SyncResponse:
        """Others' events after the cursor (and any of its own the device lacks)."""
        limit = min(request.limit, self.config.max_page)
        held = request.held_seq if request.held_seq is not None else 0
        rows = self._reader(device.owner_id).page(request.cursor, limit) if limit else []
        full = bool(limit) and len(rows) == limit
        fit = protocol.fitting(len(r[4]) for r in rows)
        if fit < len(rows):
            rows, full = rows[:fit], True  # a page of long events: the rest comes next
        me = device.device_id
        if reply == "msgpack":
            events = [Raw(r[4]) for r in rows if r[1] != me or r[2] > held]
        else:
            events = [
                protocol.stored_to_wire(r[3], r[4], reply)
                for r in rows
                if r[1] != me or r[2] > held
            ]
        return SyncResponse(
            acked_seq=log.last_seq(device.device_id),
            events=events,
            cursor=rows[-1][0] if rows else request.cursor,
            more=full,
            server_time=self.config.now_ms(),
        )
