"""The read API: the owner's merged views over HTTP (device token), ADR 0072.

`GET /v1/contacts`, `/v1/ledger`, `/v1/cold`, `/v1/contacts/{contact}/timeline`,
`/v1/stats` answer exactly what `recip contact list --json`, `recip ledger
--json`, `recip cold --json`, `recip timeline --json` and `recip stats --json`
print on a device holding the same events: the same projection code
(`projections.query.Views` over a SQLite log, `projections.contacts`) and the
same JSON keys.

Where the views live (`ViewSource`):

- on SQLite, in the owner's own log file, beside the events, as on a device;
- on PostgreSQL, in a per-worker *mirror*: a SQLite copy of the owner's log that
  the worker pulls from PostgreSQL (by notification id, with a tracking cursor,
  like a device pulls from the server) before every read, then projects with
  the same code. Catching up to the head before answering is what makes a read
  after a successful push reflect it on every worker. Mirrors are disposable
  caches, deleted when the worker stops.

Per-owner read state (the mirror, the contact listing folded at a log position)
is kept for at most `max_open_owners` owners, and a read leases its owner's log
and state until its answer is built, so neither is closed under it (ADR 0073).
The contact listing is the one read not in the persisted views: it is folded
from the log (`core.state.State`), once per log position.

Dates: `as_of=YYYY-MM-DD`, by default today in UTC (the server knows no
device's time zone; a client that cares passes its own local date).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from core.errors import AmbiguousError, NotFoundError, ReciprocityError, ValidationError
from core.files import private_dir, private_file
from core.log import EventLog
from core.state import State
from core.store import Tracking, open_store
from projections.contacts import ContactRow, contact_rows
from projections.query import Views
from projections.views import day_of
from sync.protocol import Refusal

from .e2e import refuse_plaintext_feature
from .owners import Lease, OwnerCache
from .service import SyncService

_UPSTREAM: Final = "server"
_PAGE: Final = 5_000
_JSON: Final = msgspec.json.Encoder()


class _Mirror:
    """A worker's SQLite copy of one owner's PostgreSQL log."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.log = EventLog(open_store(str(path)), None)
        self.lock = threading.Lock()

    def catch_up(self, source: EventLog) -> None:
        """Pull every event the owner's log holds past our cursor (up to its head)."""
        with self.lock:
            cursor = self.log.tracking(_UPSTREAM)
            while True:
                rows = source.store.notifications(cursor, _PAGE)
                if not rows:
                    return
                # The owner's stored rows as they are (admitted when they came in):
                # nothing is decoded here, so whatever a log holds is mirrored.
                copied = [
                    (str(r.originator_id), r.originator_version, r.topic, r.state) for r in rows
                ]
                cursor = rows[-1].id
                self.log.ingest_rows(copied, tracking=Tracking(_UPSTREAM, cursor))
                if len(rows) < _PAGE:
                    return


class _OwnerViews:
    """What a worker keeps per owner for reads: its mirror (PostgreSQL only) and the
    contact listing of the last log position it was folded at."""

    def __init__(self, mirror: _Mirror | None) -> None:
        self.mirror = mirror
        self._lock = threading.Lock()
        self._contacts: tuple[int, list[ContactRow]] | None = None

    def contacts(self, log: EventLog, *, include_all: bool) -> list[ContactRow]:
        """`contact list` rows, folded again only when the log moved.

        The rows of every contact are cached with the last log position folded;
        positions only grow and an event's position never changes, so an
        unchanged head means an unchanged set of events and the same rows. The
        active listing is the same sorted rows without archived and merged ones
        (`State.active_contacts`: not archived, not absorbed).
        """
        with self._lock:
            cached = self._contacts
            if cached is None or cached[0] != log.position():
                state = State()
                last = 0
                for position, event in log.read():
                    state.apply(event)
                    last = position
                cached = self._contacts = (last, contact_rows(state, include_all=True))
        rows = cached[1]
        if include_all:
            return rows
        return [r for r in rows if not r.archived and r.merged_into is None]

    def close(self) -> None:
        if self.mirror is not None:
            self.mirror.log.store.close()


class Reading:
    """One read's view of an owner: the caught-up log and its SQLite file, leased
    (never closed under the read) until `release`."""

    def __init__(
        self, log: EventLog, path: Path, views: _OwnerViews, leases: tuple[Lease[Any], ...]
    ) -> None:
        self.log = log
        self.path = path
        self.views = views
        self._leases = leases

    def release(self) -> None:
        for lease in self._leases:
            lease.release()

    def __enter__(self) -> Reading:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class ViewSource:
    """The log file whose views answer reads, per owner, caught up to the owner's head.

    Per-owner state (mirror, contact listing) is kept for at most
    `max_open_owners` owners, as the service keeps their logs (ADR 0073); an
    evicted mirror's file stays in the cache directory and is reopened and
    caught up from its own cursor.
    """

    def __init__(self, service: SyncService) -> None:
        self.service = service
        self.cache = service.config.data / "views" / f"worker-{os.getpid()}"
        self._owners: OwnerCache[_OwnerViews] = OwnerCache(
            self._open, _OwnerViews.close, service.config.max_open_owners
        )

    def _open(self, owner_id: str) -> _OwnerViews:
        if self.service.pg is None:
            return _OwnerViews(None)
        private_dir(self.cache.parent)
        private_dir(self.cache)
        return _OwnerViews(_Mirror(private_file(self.cache / f"{owner_id}.db")))

    def reading(self, owner_id: str) -> Reading:
        """The owner's views for one read (blocking: opens and catches up).

        On SQLite the views live in the owner's own log file; on PostgreSQL in
        the worker's mirror, caught up to the head first.
        """
        source = self.service.owner(owner_id)
        try:
            views = self._owners.lease(owner_id)
            try:
                mirror = views.value.mirror
                leases = (views, source)
                if mirror is None:
                    path = self.service.path(owner_id)
                    return Reading(source.value.log, path, views.value, leases)
                mirror.catch_up(source.value.log)
                return Reading(mirror.log, mirror.path, views.value, leases)
            except BaseException:
                views.release()
                raise
        except BaseException:
            source.release()
            raise

    def open_owners(self) -> list[str]:
        """Owners with per-owner read state open now, least recently used first."""
        return self._owners.open_owners()

    def close(self) -> None:
        self._owners.close()
        shutil.rmtree(self.cache, ignore_errors=True)


# -- request helpers ---------------------------------------------------------------------


def _as_of(request: Request) -> int:
    text = request.query_params.get("as_of")
    if text is None:
        return day_of(datetime.now(UTC).date())
    try:
        return day_of(date.fromisoformat(text.strip()))
    except ValueError:
        raise Refusal(400, "invalid", f"as_of {text!r} is not a date: use YYYY-MM-DD") from None


def _flag(request: Request, name: str) -> bool:
    text = request.query_params.get(name, "false").lower()
    if text not in ("true", "false", "1", "0"):
        raise Refusal(400, "invalid", f"{name} must be true or false, not {text!r}")
    return text in ("true", "1")


def _json(value: Any) -> Response:
    return Response(_JSON.encode(value), media_type="application/json")


Read = Callable[[Request, Reading], Awaitable[Any]]


def _read(read: Read) -> Callable[[Request, SyncService], Awaitable[Response]]:
    """Authenticate, catch the owner's views up, run `read`, map refusals to statuses."""

    async def handler(request: Request, service: SyncService) -> Response:
        authorization = request.headers.get("authorization")
        device = await run_in_threadpool(service.accounts.authenticate, authorization)
        refuse_plaintext_feature(device.e2e_key_id, "read API")
        source: ViewSource = request.app.state.view_source
        reading = await run_in_threadpool(source.reading, device.owner_id)
        try:
            return _json(await read(request, reading))
        except Refusal:
            raise
        except NotFoundError as exc:
            raise Refusal(404, "not_found", str(exc)) from None
        except AmbiguousError as exc:
            raise Refusal(409, "ambiguous", str(exc)) from None
        except ValidationError as exc:
            raise Refusal(400, "invalid", str(exc)) from None
        except ReciprocityError as exc:
            raise Refusal(503, "unavailable", f"views unavailable, retry: {exc}") from None
        finally:
            await run_in_threadpool(reading.release)

    return handler


async def _contacts(request: Request, reading: Reading) -> Any:
    include_all = _flag(request, "all")
    return await run_in_threadpool(
        lambda: reading.views.contacts(reading.log, include_all=include_all)
    )


def _named(ref: str) -> str:
    """A contact reference as given; a blank one names no contact (404, as any
    reference that matches none: the schema allows any non-empty text)."""
    if not ref.strip():
        raise Refusal(404, "not_found", f"no contact matches {ref!r}")
    return ref


async def _ledger(request: Request, reading: Reading) -> Any:
    contact = request.query_params.get("contact")
    return await Views(reading.path).ledger(
        _as_of(request), None if contact is None else _named(contact)
    )


async def _cold(request: Request, reading: Reading) -> Any:
    return await Views(reading.path).cold(_as_of(request), everyone=_flag(request, "all"))


async def _stats(request: Request, reading: Reading) -> Any:
    return await Views(reading.path).stats(_as_of(request))


async def _timeline(request: Request, reading: Reading) -> Any:
    _, entries = await Views(reading.path).timeline(_named(request.path_params["contact"]))
    return entries


contacts = _read(_contacts)
ledger = _read(_ledger)
cold = _read(_cold)
stats = _read(_stats)
timeline = _read(_timeline)
