"""The sync server's logic, independent of HTTP.

`SyncService` takes a request body and the caller's token, and returns a body or
raises `Refusal` (status, code, message). The Starlette app is a thin shell
around it, and tests call it in process through the same entry points, so the
merge logic under test is the logic that serves.

Storage (ADR 0032): `DATA/accounts.db` for owners, devices and token hashes;
`DATA/owners/<owner id>.db`, one event log per owner. A device can only ever
reach the log of the owner its token belongs to, because the log is chosen from
the authenticated device, never from the request. At most `max_open_owners`
owners' logs stay open, each leased by the requests using it (ADR 0073).

An exchange costs about one commit (ADR 0120), shared by the exchanges of one
owner that arrive together (ADR 0136): on PostgreSQL one statement per group
(`server.pg.PgExchange`), on SQLite one commit per group, with pages read on
read-only connections. A batch that does not simply continue its device's stream
goes through `EventLog.ingest_rows`, where retries, conflicts and gaps are judged.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from msgspec import Raw

from core.clock import MAX_DRIFT_MS, physical_ms, wall_ms
from core.errors import CodecError, ConflictError, SequenceGapError, StoreError
from core.events import ContactForgotten
from core.files import private_dir, private_file
from core.log import EventLog, LogEvent, row_of
from core.store import (
    SQLITE_HEAD,
    SQLITE_LAST_SEQ,
    SQLITE_PAGE,
    PendingCommit,
    Row,
    open_store,
    sqlite_head,
)
from projections.projector import scrub_views
from sync import protocol
from sync.protocol import (
    DevicesResponse,
    E2eRequest,
    E2eStatus,
    EnrollRequest,
    EnrollResponse,
    Format,
    Refusal,
    ReplaceRequest,
    ReplaceResponse,
    RevokeRequest,
    RotateRequest,
    SyncRequest,
    SyncResponse,
)

from . import e2e
from .accounts import Accounts, Device
from .config import MAX_BODY
from .e2e import events_sealed
from .owners import MAX_OPEN_OWNERS, Lease, OwnerCache
from .readonly import ReadOnly

logger = logging.getLogger("recip.server")

if TYPE_CHECKING:
    from .digest import DigestConfig
    from .metrics import Metrics
    from .pg import PgBackend, PgPageReader

#: Evicted owners waiting for the closing thread at most (ADR 0073).
CLOSING: Final = 4
#: Cached authentications of sync requests kept at most (then the cache starts over).
AUTH_CACHE: Final = 10_000

#: Largest page the server sends, whatever the device asks for.
MAX_PAGE: Final = 10_000
#: Cursors of one group at most this far apart share one page read.
SHARED_READ_SPAN: Final = 1_000

#: One row of a page: position, device, seq, topic, stored bytes.
PageRow = tuple[int, str, int, str, bytes]


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
    #: PostgreSQL instead of SQLite files (`postgresql://...[?prefix=NAME]`, ADR 0070).
    database_url: str | None = None
    #: Connections one server process keeps to PostgreSQL.
    pool_size: int = 10
    #: Owners whose logs (and view mirrors) stay open at once (ADR 0073).
    max_open_owners: int = MAX_OPEN_OWNERS
    #: The weekly digest's mail relay; None sends no digests (ADR 0102).
    digest: DigestConfig | None = None

    def now_ms(self) -> int:
        return self.clock()


def _ignore(pushed: int, pulled: int) -> None:
    """No one is counting."""


class PageReader:
    """Reads of an owner's log straight from its SQLite file: pages, head, acks.

    The hot path of every pull: read-only connections, rows as plain tuples, and
    the stored MessagePack bytes passed on untouched. It reads the event store's
    own table (position = rowid) with `core.store`'s statements. In WAL mode a
    reader never waits for the write lock, so pulls go on while pushes commit.
    Connections are kept in a free list (`server.readonly`), not one per server
    thread: an owner then holds only as many as it had reads at once.
    """

    def __init__(self, path: Path) -> None:
        self._reads = ReadOnly(path)

    def page(self, after: int, limit: int) -> list[PageRow]:
        return self._read(SQLITE_PAGE, (after, limit))

    def head(self) -> int:
        """The log's highest position (0 when empty)."""
        return int(self._read(SQLITE_HEAD, ())[0][0] or 0)

    def last_seq(self, device_id: str) -> int:
        """The highest seq held for a device (0 if none)."""
        return int(self._read(SQLITE_LAST_SEQ, (device_id,))[0][0] or 0)

    def _read(self, sql: str, params: tuple[object, ...]) -> list[Any]:
        try:
            return self._reads.read(sql, params)
        except sqlite3.Error as exc:
            raise Refusal(503, "unavailable", f"storage busy, retry: {exc}") from None

    def close(self) -> None:
        """Close the idle connections (the owner's leases are over: none is in use)."""
        self._reads.close()


#: One sync request as the HTTP route hands it over: token header, body, formats in and out.
SyncCall = tuple[str | None, bytes, Format, Format]


@dataclass(frozen=True)
class Prepared:
    """A sync request decoded and checked, its batch as rows, ready to store."""

    device: Device
    request: SyncRequest
    rows: list[Row]
    reply: Format
    forgets: bool


@dataclass
class Admitted:
    """A group's calls once authenticated and checked (`SyncService.admit`)."""

    results: list[bytes | Refusal | None]
    #: Calls for the group's commit, by index.
    staged: list[tuple[int, Prepared]] = field(default_factory=list)
    #: Calls that take the general path alone (`SyncService.sync_solo`).
    solo: list[tuple[int, Device, SyncCall]] = field(default_factory=list)

    def prepared(self) -> list[Prepared]:
        return [call for _, call in self.staged]

    def answer(self, answers: Sequence[bytes | Refusal]) -> None:
        """The answers to the staged calls, in their order."""
        for (index, _), answer in zip(self.staged, answers, strict=True):
            self.results[index] = answer

    def done(self) -> list[bytes | Refusal]:
        """Every call's answer, once all are answered."""
        return [r for r in self.results if r is not None]


@dataclass
class Group:
    """One owner's exchanges between the stages of `SyncService.exchange`."""

    calls: list[Prepared]
    results: list[bytes | Refusal | None]
    #: The log's head before anything of the group was stored.
    head: int
    #: Indexes of the calls whose batches went to the group's commit.
    pushes: list[int] = field(default_factory=list)
    #: The open transaction holding them, until `SyncService.commit`.
    pending: PendingCommit | None = None
    #: Each stored push's acknowledged seq, by index.
    acked: dict[int, int] = field(default_factory=dict)

    def refuse_pushes(self, exc: Exception) -> None:
        busy = Refusal(503, "unavailable", f"storage busy, retry: {exc}")
        for index in self.pushes:
            self.results[index] = busy

    def unsettled(self) -> list[int]:
        """Calls with a batch that neither the commit stored nor a refusal answered."""
        return [
            i
            for i, call in enumerate(self.calls)
            if call.rows and self.results[i] is None and i not in self.acked
        ]

    def behind(self) -> int:
        """How far the furthest-behind cursor to answer is from the head (rows)."""
        pairs = zip(self.calls, self.results, strict=True)
        cursors = [call.request.cursor for call, result in pairs if result is None]
        return self.head - min(cursors) if cursors else 0

    def abandon(self) -> None:
        """Roll back a transaction that was never committed (a failure on the way).

        Safe against a commit running on another thread: of the two, only the
        first to take the transaction acts (`PendingCommit`).
        """
        if self.pending is not None:
            self.pending.rollback()


@dataclass
class OpenOwner:
    """One owner's open log and the reader of its pages."""

    log: EventLog
    reader: PageReader | PgPageReader

    def close(self) -> None:
        self.reader.close()
        self.log.store.close()


class SyncService:
    """Owners' logs, enrollment, device management and the sync exchange."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        # Readable by the server's user alone, tightened if made by an older build (ADR 0080).
        private_dir(config.data)
        private_dir(config.data / "owners")
        self.pg: PgBackend | None = None
        if config.database_url:
            from .pg import PgBackend

            self.pg = PgBackend(config.database_url, pool_size=config.pool_size)
            self.accounts: Accounts = self.pg.accounts
        else:
            self.accounts = Accounts(private_file(config.data / "accounts.db"))
        #: Evicted owners are closed off the request path: closing a SQLite log
        #: that was written checkpoints its WAL (a flush of the database file),
        #: which the request that happened to evict it should not wait for.
        self._closer = ThreadPoolExecutor(1, thread_name_prefix="recip-close")
        self._closing = threading.BoundedSemaphore(CLOSING)
        self._owners = OwnerCache(self._open, self._close_later, config.max_open_owners)
        self._sessions: dict[str, Device] = {}
        #: Told the events each exchange moved, in and out (the app counts them).
        self.on_exchange: Callable[[int, int], None] = _ignore
        self.metrics: Metrics | None = None

    def close(self) -> None:
        """Close every owner's log (a restart reopens them from disk)."""
        self._owners.close()
        self._closer.shutdown(wait=True)
        self.accounts.close()
        if self.pg is not None:
            self.pg.close()

    def _close_later(self, owner: OpenOwner) -> None:
        """Close an evicted owner on the closing thread, or here if it is behind.

        At most `CLOSING` owners wait to be closed: an eviction beyond that
        closes inline, so churn slows requests down instead of piling up open
        files in the queue.
        """
        if not self._closing.acquire(blocking=False):
            owner.close()
            return

        def close() -> None:
            try:
                owner.close()
            finally:
                self._closing.release()

        self._closer.submit(close)

    def owner(self, owner_id: str) -> Lease[OpenOwner]:
        """The owner's open log, leased: it stays open until the lease is released.

        At most `config.max_open_owners` owners stay open; a released owner
        beyond that is closed (least recently used first) and reopened from disk
        by its next request (ADR 0073).
        """
        return self._owners.lease(owner_id)

    @contextmanager
    def log(self, owner_id: str) -> Iterator[EventLog]:
        """`with service.log(owner_id) as log:` the owner's log, leased for the block."""
        with self.owner(owner_id) as owner:
            yield owner.log

    def open_owner(self, owner_id: str) -> Lease[OpenOwner] | None:
        """The owner's log leased if it is open now, else None (nothing opened)."""
        return self._owners.peek(owner_id, use=True)

    def open_owners(self) -> list[str]:
        """Owners whose logs are open now, least recently used first."""
        return self._owners.open_owners()

    def open_owner_count(self) -> int:
        return len(self._owners.open_owners())

    def _open(self, owner_id: str) -> OpenOwner:
        """Open (creating if new) the log of an owner the accounts still hold.

        A removed owner's log is never recreated (ADR 0131): a request that
        authenticated just before the removal is refused here instead.
        """
        if not self.accounts.owner_exists(owner_id):
            raise Refusal(401, "unauthorized", "invalid device token: no such owner")
        if self.pg is not None:
            from .pg import PgPageReader

            log = EventLog(self.pg.owner_store(owner_id), None)
            return OpenOwner(log, PgPageReader(log.store))
        path = private_file(self.path(owner_id))
        store = open_store(str(path))
        try:
            return OpenOwner(EventLog(store, None), PageReader(path))
        except BaseException:
            store.close()
            raise

    def path(self, owner_id: str) -> Path:
        """The owner's SQLite log file (named by the owner's id only, ADR 0032)."""
        return self.config.data / "owners" / f"{owner_id}.db"

    def position(self, owner_id: str) -> int:
        """The owner's log head (highest position), read now.

        Streams poll this for every watched owner several times a second, so an
        owner that is not open is not opened for it (that would close and reopen
        logs at every poll once more owners are watched than stay open): its
        head is read with one statement instead.
        """
        head = self._known_head(owner_id)
        if head is not None:
            return head
        with self.log(owner_id) as log:  # no log yet: create it, as a request would
            return log.position()

    def _known_head(self, owner_id: str) -> int | None:
        """The head without opening a log: the open log's, else the file's (None: no log).

        Never asks the accounts database, so it may run inside its transactions.
        """
        lease = self._owners.peek(owner_id)
        if lease is not None:
            with lease as owner:
                return owner.log.position()
        return self._closed_head(owner_id)

    def _closed_head(self, owner_id: str) -> int | None:
        """The head of an owner's log without opening it (None if it does not exist)."""
        if self.pg is not None:
            return self.pg.head(owner_id)
        try:
            conn = sqlite3.connect(f"{self.path(owner_id).resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error:
            return None
        try:
            return sqlite_head(conn)
        except sqlite3.Error:
            return None
        finally:
            conn.close()

    # -- authentication ------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> Device:
        """The device of a sync request's token (401/403 otherwise).

        On PostgreSQL the answer is cached: the exchange statement itself checks
        that the token is still the device's and the device is not revoked, so
        a revocation or a re-enrollment is seen by the very next exchange while
        the lookup costs no round trip. Anything else (SQLite, the other routes)
        asks the accounts database every time.
        """
        if self.pg is None or not authorization:
            return self.accounts.authenticate(authorization)
        device = self._sessions.get(authorization)
        if device is None:
            device = self.accounts.authenticate(authorization)
            self._remember(authorization, device)
        return device

    def _remember(self, authorization: str, device: Device) -> None:
        """Cache a token's device (at most `AUTH_CACHE`, then the cache starts over)."""
        if len(self._sessions) >= AUTH_CACHE:
            self._sessions.clear()
        self._sessions[authorization] = device

    def session(self, authorization: str | None) -> Device | None:
        """The cached device of a sync token, if any (no I/O: safe on the event loop)."""
        return self._sessions.get(authorization) if authorization else None

    def _refused(self, device: Device) -> Refusal:
        """Why the exchange refused a (cached) device: revoked, or a stale token."""
        for key, cached in list(self._sessions.items()):
            if cached.device_id == device.device_id:
                self._sessions.pop(key, None)
        for info in self.accounts.devices(device.owner_id):
            if info.device_id == device.device_id and info.revoked_at is not None:
                return Refusal(
                    403, "revoked", f"device {info.name!r} ({info.device_id}) was revoked"
                )
        return Refusal(401, "unauthorized", "invalid device token")

    # -- enrollment and devices ----------------------------------------------------

    def enroll(
        self, body: bytes, fmt: Format, reply: Format, authorization: str | None = None
    ) -> bytes:
        """Enroll a device; `authorization` (Bearer) is its current token, if re-enrolling."""
        request: EnrollRequest = protocol.decode(body, EnrollRequest, fmt)
        scheme, _, current = (authorization or "").partition(" ")
        check = e2e.join_check(
            request.device_id, request.key_id, request.e2e, self._log_is_empty, self.config.now_ms()
        )
        owner, token = self.accounts.enroll(
            request.token,
            request.device_id,
            request.device_name.strip() or request.device_id,
            current.strip() if scheme.lower() == "bearer" and current.strip() else None,
            check,
        )
        logger.info(
            "device enrolled",
            extra={"fields": {"owner": owner.owner_id, "device": request.device_id}},
        )
        with self.log(owner.owner_id):  # create the owner's log on first enrollment
            pass
        answer = EnrollResponse(
            owner_id=owner.owner_id,
            owner_name=owner.name,
            device_id=request.device_id,
            device_token=token,
            key_id=e2e.owner_key_id(self.accounts, owner.owner_id),
        )
        return protocol.encode(answer, reply)

    def _log_is_empty(self, owner_id: str) -> bool:
        """Whether the owner's log holds no event (no log at all counts as empty)."""
        return not self._known_head(owner_id)

    def e2e_status(self, device: Device, reply: Format) -> bytes:
        """Whether the device's owner is end-to-end encrypted (read now, not cached)."""
        key_id = e2e.owner_key_id(self.accounts, device.owner_id)
        return protocol.encode(E2eStatus(key_id=key_id), reply)

    def e2e_replace(self, device: Device, body: bytes, fmt: Format, reply: Format) -> bytes:
        """Swap in sealed redacted rows for the rows held under the same place (ADR 0135)."""
        request: ReplaceRequest = protocol.decode(body, ReplaceRequest, fmt)
        if request.device_id != device.device_id:
            raise Refusal(403, "wrong_device", f"this token belongs to device {device.device_id}")
        events = protocol.events_from_wire(request.events, fmt)
        e2e.check_batch(device, events)
        with self.owner(device.owner_id) as owner:
            changed = e2e.replacements(owner.log.store, events)
            if changed:
                owner.log.store.redact(changed, ())
        logger.info(
            "sealed rows replaced",
            extra={"fields": {"owner": device.owner_id, "rows": len(changed)}},
        )
        answer = ReplaceResponse(replaced=len(changed), unchanged=len(events) - len(changed))
        return protocol.encode(answer, reply)

    def e2e_rotate(self, device: Device, body: bytes, fmt: Format, reply: Format) -> bytes:
        """Replace the owner's key id; the devices then re-seal the log under it."""
        request: RotateRequest = protocol.decode(body, RotateRequest, fmt)
        e2e.rotate(self.accounts, device, request.key_id, request.new_key_id)
        self._sessions.clear()  # cached devices carry the owner's former key id
        logger.info("owner key rotated", extra={"fields": {"owner": device.owner_id}})
        return protocol.encode(E2eStatus(key_id=request.new_key_id), reply)

    def e2e_enable(self, device: Device, body: bytes, fmt: Format, reply: Format) -> bytes:
        """Make the device's owner end-to-end encrypted (its first device, nothing synced)."""
        request: E2eRequest = protocol.decode(body, E2eRequest, fmt)
        e2e.enable(self.accounts, device, request.key_id, self._log_is_empty, self.config.now_ms())
        self._sessions.clear()  # cached devices carry the owner's (former) mode
        logger.info("end-to-end encryption enabled", extra={"fields": {"owner": device.owner_id}})
        return protocol.encode(E2eStatus(key_id=request.key_id), reply)

    def devices(self, device: Device, fmt: Format) -> bytes:
        listing = self.accounts.devices(device.owner_id)
        with self.log(device.owner_id) as log:
            for info in listing:
                info.last_seq = log.last_seq(info.device_id)
        return protocol.encode(DevicesResponse(devices=listing), fmt)

    def revoke(self, device: Device, body: bytes, fmt: Format, reply: Format) -> bytes:
        request: RevokeRequest = protocol.decode(body, RevokeRequest, fmt)
        info = self.accounts.revoke(device.owner_id, request.device)
        return protocol.encode(info, reply)

    # -- sync --------------------------------------------------------------------------

    def sync_as(self, authorization: str | None, body: bytes, fmt: Format, reply: Format) -> bytes:
        """`sync` for the device of a token (a request that carries no token, say)."""
        return self.sync(self.authenticate(authorization), body, fmt, reply)

    def sync(self, device: Device, body: bytes, fmt: Format, reply: Format) -> bytes:
        """One exchange: store the pushed batch (all or nothing), answer one page."""
        call = self._prepare(device, body, fmt, reply)
        if call.forgets:
            return self._forget(call)
        (answer,) = self.exchange_calls(device.owner_id, [call])
        if isinstance(answer, Refusal):
            raise answer
        return answer

    def sync_group(self, owner_id: str, calls: Sequence[SyncCall]) -> list[bytes | Refusal]:
        """Exchanges of one owner's devices that arrived together, in one commit.

        Each call is answered (or refused) as `sync_as` would answer it in some
        order of the group (they are concurrent: ADR 0136); the pushes that
        simply continue their devices' streams share one durable commit.
        `server.lanes` groups the calls; on SQLite `server.exchanges` runs the
        same stages on its event loop, this runs them here; on PostgreSQL the
        group is one statement.
        """
        admitted = self.admit(owner_id, calls)
        if admitted.staged:
            admitted.answer(self.exchange_calls(owner_id, admitted.prepared()))
        for index, device, call in admitted.solo:
            admitted.results[index] = self.sync_solo(device, call)
        return admitted.done()

    def exchange_calls(self, owner_id: str, calls: Sequence[Prepared]) -> list[bytes | Refusal]:
        """Checked calls of one owner's devices (none forgets anyone), each answered."""
        if self.pg is not None:
            return self._exchange_pg(owner_id, calls)
        return self._exchange_leased(owner_id, calls)

    def _exchange_leased(self, owner_id: str, calls: Sequence[Prepared]) -> list[bytes | Refusal]:
        """`exchange` on the owner's leased log (every call refused if it cannot be opened)."""
        try:
            with self.owner(owner_id) as owner:
                return self.exchange(owner, calls)
        except Refusal as refusal:  # the owner cannot be opened (removed, shutting down)
            return [refusal] * len(calls)

    def admit(self, owner_id: str, calls: Sequence[SyncCall]) -> Admitted:
        """Authenticate and check a group's calls: refused, staged for the group, or solo.

        A solo call takes the general path alone (`sync_solo`): a batch that
        forgets someone, a token of another owner.
        """
        admitted = Admitted([None] * len(calls))
        devices = self._authenticate_all([call[0] for call in calls])
        for index, (call, device) in enumerate(zip(calls, devices, strict=True)):
            try:
                if isinstance(device, Refusal):
                    raise device
                prepared = self._prepare(device, call[1], call[2], call[3])
                if prepared.forgets or device.owner_id != owner_id:
                    admitted.solo.append((index, device, call))
                else:
                    admitted.staged.append((index, prepared))
            except Refusal as refusal:
                admitted.results[index] = refusal
        return admitted

    def _authenticate_all(self, headers: Sequence[str | None]) -> list[Device | Refusal]:
        """`Accounts.authenticate_all`, through the PostgreSQL cache (see `authenticate`)."""
        if self.pg is None:
            return self.accounts.authenticate_all(headers)
        found: list[Device | Refusal | None] = [self.session(h) for h in headers]
        missing = [i for i, device in enumerate(found) if device is None]
        if missing:
            looked_up = self.accounts.authenticate_all([headers[i] for i in missing])
            for index, device in zip(missing, looked_up, strict=True):
                found[index] = device
                header = headers[index]
                if isinstance(device, Device) and header:
                    self._remember(header, device)
        return [device for device in found if device is not None]

    def sync_solo(self, device: Device, call: SyncCall) -> bytes | Refusal:
        """`sync` for one call of a group that takes the general path alone."""
        try:
            return self.sync(device, call[1], call[2], call[3])
        except Refusal as refusal:
            return refusal

    def _prepare(self, device: Device, body: bytes, fmt: Format, reply: Format) -> Prepared:
        """Decode and check a request before anything is stored (refused otherwise)."""
        request, events = protocol.decode_request(body, fmt)
        if request.device_id != device.device_id:
            raise Refusal(
                403,
                "wrong_device",
                f"this token belongs to device {device.device_id}, not {request.device_id}",
                device_id=device.device_id,
            )
        self._check(device, events)
        device = self._check_sealing(device, events)
        forgets = any(isinstance(e, ContactForgotten) for e in events)
        return Prepared(device, request, [row_of(e) for e in events], reply, forgets)

    def _check_sealing(self, device: Device, events: list[LogEvent]) -> Device:
        """`e2e.check_batch`, with the owner's key id as it is now.

        SQLite authenticates every request, so its device is fresh. On PostgreSQL
        the authentication is cached per worker (ADR 0120), and another worker
        may have made the owner encrypted or rotated its key since: an encrypted
        owner's key id is read again for every push (one small query, encrypted
        owners only), and a plain owner's before a sealed batch is refused.
        """
        if self.pg is not None and (device.e2e_key_id is not None or events_sealed(events)):
            fresh = e2e.owner_key_id(self.accounts, device.owner_id)
            if fresh != device.e2e_key_id:
                device = dataclasses.replace(device, e2e_key_id=fresh)
                self._sessions.clear()
        e2e.check_batch(device, events)
        return device

    def _forget(self, call: Prepared) -> bytes:
        """A batch that forgets someone: the general path, which redacts (ADR 0130).

        The log rewrites the events about the forgotten contacts; on SQLite the
        read API's views live in the owner's file, so they are rebuilt and the
        file scrubbed too: no table may keep what the log just forgot.
        """
        owner_id = call.device.owner_id
        with self.owner(owner_id) as owner:
            self._ingest(owner.log, call.device, call.rows)
            (answer,) = self.exchange(owner, [dataclasses.replace(call, rows=[])])
        if isinstance(answer, Refusal):
            raise answer
        if self.pg is None:
            scrub_views(self.path(owner_id))
        return answer

    def _exchange_pg(self, owner_id: str, calls: Sequence[Prepared]) -> list[bytes | Refusal]:
        """The calls as one statement, without opening the owner's log at all.

        A call the statement declined (its batch needs the general path's rules,
        or the owner's schema is not there yet; nothing of it was stored) takes
        the general path afterwards, which no statement guards by the token: the
        device may be a cached authentication of a since revoked device or removed
        owner (whose dropped schema the statement cannot find), so it is checked.
        """
        from .pg import Exchanged, PgCall

        assert self.pg is not None
        limits = [min(call.request.limit, self.config.max_page) for call in calls]
        outcomes = self.pg.exchange(owner_id).run(
            [
                PgCall(c.device.device_id, c.device.token_hash, c.rows, c.request.cursor, limit)
                for c, limit in zip(calls, limits, strict=True)
            ]
        )
        answers: list[bytes | Refusal] = []
        for call, limit, outcome in zip(calls, limits, outcomes, strict=True):
            if isinstance(outcome, Exchanged):
                answer = self._answer(
                    outcome.rows, outcome.acked, call.device, call.request, limit, call.reply
                )
                self.on_exchange(len(call.rows), len(answer.events))
                answers.append(protocol.encode(answer, call.reply))
            elif isinstance(outcome, Refusal):
                unauthorized = outcome.code == "unauthorized"
                answers.append(self._refused(call.device) if unauthorized else outcome)
            elif not self.accounts.holds(call.device):
                answers.append(self._refused(call.device))
            else:
                answers += self._exchange_leased(owner_id, [call])
        return answers

    def exchange(self, owner: OpenOwner, calls: Sequence[Prepared]) -> list[bytes | Refusal]:
        """Store the checked batches in the owner's (leased) log, answer each one page.

        The stages, run here one after the other: `begin` (cursors checked, the
        batches that continue their devices' streams inserted), `commit` (one
        durable commit for them all), `settle` (any other batch through
        `EventLog.ingest_rows`, alone), `finish` (pages and answers). A refusal
        answers only its own call.
        """
        group = self.begin(owner, calls, wait=True)
        assert group is not None  # a waiting begin always begins
        try:
            self.commit(group)
        finally:
            group.abandon()
        self.settle(owner, group)
        return self.finish(owner, group)

    def begin(self, owner: OpenOwner, calls: Sequence[Prepared], *, wait: bool) -> Group | None:
        """Check the cursors and insert the continuing batches in an open transaction.

        Never blocks with `wait=False`: None when the owner's writer is busy.
        """
        log, reader = owner.log, owner.reader
        head = reader.head() if isinstance(reader, PageReader) else log.position()
        group = Group(list(calls), [None] * len(calls), head)
        for index, call in enumerate(calls):
            if call.request.cursor > head:
                group.results[index] = Refusal(
                    409,
                    "cursor_ahead",
                    f"cursor {call.request.cursor} is beyond the end of this server's log "
                    f"({head}): the server was restored or replaced; pull from 0",
                )
        group.pushes = [i for i, c in enumerate(calls) if c.rows and group.results[i] is None]
        if group.pushes and isinstance(reader, PageReader):
            try:
                group.pending = log.store.begin_next(
                    [calls[i].rows for i in group.pushes], wait=wait
                )
            except StoreError as exc:
                group.refuse_pushes(exc)
                return group
            if group.pending is None:
                return None
        return group

    @staticmethod
    def commit(group: Group) -> None:
        """The group's durable commit (blocking: an fsync); a failure refuses its pushes."""
        pending = group.pending
        if pending is None:
            return
        try:
            pending.commit()
        except StoreError as exc:
            group.refuse_pushes(exc)
            return
        group.pending = None
        for index, stored in zip(group.pushes, pending.positions, strict=True):
            if stored is not None:
                group.acked[index] = group.calls[index].rows[-1][1]

    def settle(self, owner: OpenOwner, group: Group) -> None:
        """Batches the commit left out, through `EventLog.ingest_rows` (blocking)."""
        for index in group.unsettled():
            try:
                self._ingest(owner.log, group.calls[index].device, group.calls[index].rows)
            except Refusal as refusal:
                group.results[index] = refusal

    def finish(self, owner: OpenOwner, group: Group) -> list[bytes | Refusal]:
        """Read the pages and answer every call not refused yet."""
        answering = [i for i, result in enumerate(group.results) if result is None]
        pages = self._pages(owner, [group.calls[i].request for i in answering])
        for index, page in zip(answering, pages, strict=True):
            try:
                group.results[index] = self._reply(
                    owner, group.calls[index], page, group.acked.get(index)
                )
            except Refusal as refusal:
                group.results[index] = refusal
        return [r for r in group.results if r is not None]

    def _pages(self, owner: OpenOwner, requests: Sequence[SyncRequest]) -> list[list[PageRow]]:
        """Each request's page; one read for them all when their cursors are close.

        One owner's devices pull the same log and keep their cursors near its
        head, so a group's pages mostly overlap: a single read from the lowest
        cursor, long enough for every page, is sliced into each request's own.
        """
        limits = [min(r.limit, self.config.max_page) for r in requests]
        wanted = [i for i, limit in enumerate(limits) if limit]
        pages: list[list[PageRow]] = [[] for _ in requests]
        if not wanted:
            return pages
        low = min(requests[i].cursor for i in wanted)
        high = max(requests[i].cursor for i in wanted)
        if len(wanted) == 1 or high - low > SHARED_READ_SPAN:
            for i in wanted:
                pages[i] = owner.reader.page(requests[i].cursor, limits[i])
            return pages
        span = high - low + max(limits[i] for i in wanted)
        rows = owner.reader.page(low, span)
        positions = [row[0] for row in rows]
        for i in wanted:
            start = bisect.bisect_right(positions, requests[i].cursor)
            page = rows[start : start + limits[i]]
            if len(page) < limits[i] and len(rows) == span:  # the read stopped short of it
                page = owner.reader.page(requests[i].cursor, limits[i])
            pages[i] = page
        return pages

    def _reply(
        self, owner: OpenOwner, call: Prepared, page: list[PageRow], acked: int | None
    ) -> bytes:
        """The encoded answer to one stored (or pull-only) call: its page and its ack."""
        request, reader = call.request, owner.reader
        limit = min(request.limit, self.config.max_page)
        if acked is None:
            if isinstance(reader, PageReader):
                acked = reader.last_seq(call.device.device_id)
            else:
                acked = owner.log.last_seq(call.device.device_id)
        answer = self._answer(page, acked, call.device, request, limit, call.reply)
        self.on_exchange(len(call.rows), len(answer.events))
        return protocol.encode(answer, call.reply)

    @staticmethod
    def _ingest(log: EventLog, device: Device, rows: list[Row]) -> None:
        """The general path: idempotent retries, gaps and conflicts judged by the log."""
        try:
            log.ingest_rows(rows)
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
                raise Refusal(  # 409: valid, but at odds with the server's clock for now
                    409,
                    "clock_ahead",
                    f"event #{index} ({event.event_id}) was recorded {minutes:.0f} minutes "
                    "ahead of the server's clock: fix this device's clock. The event stays "
                    "on the device and is sent once the server's time reaches it",
                    event_id=event.event_id,
                    index=index,
                )

    def _answer(
        self,
        rows: list[PageRow],
        acked: int,
        device: Device,
        request: SyncRequest,
        limit: int,
        reply: Format,
    ) -> SyncResponse:
        """The response: others' events of the page (and any of its own the device lacks)."""
        held = request.held_seq if request.held_seq is not None else 0
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
            acked_seq=acked,
            events=events,
            cursor=rows[-1][0] if rows else request.cursor,
            more=full,
            server_time=self.config.now_ms(),
        )
