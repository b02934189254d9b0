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

from core import codec
from core.errors import AmbiguousError, NotFoundError, ReciprocityError, ValidationError
from core.log import EventLog
from core.state import State
from core.store import Tracking, open_store
from projections.contacts import contact_rows
from projections.query import Views
from projections.views import day_of
from sync.protocol import Refusal

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
                events = [codec.decode(r.topic, r.state) for r in rows]
                cursor = rows[-1].id
                self.log.ingest(events, tracking=Tracking(_UPSTREAM, cursor))
                if len(rows) < _PAGE:
                    return


class ViewSource:
    """The log file whose views answer reads, per owner, caught up to the owner's head."""

    def __init__(self, service: SyncService) -> None:
        self.service = service
        self._mirrors: dict[str, _Mirror] = {}
        self._lock = threading.Lock()
        self.cache = service.config.data / "views" / f"worker-{os.getpid()}"

    def log_and_path(self, owner_id: str) -> tuple[EventLog, Path]:
        """The caught-up log holding the owner's events and its SQLite file."""
        source = self.service.log(owner_id)
        if self.service.pg is None:
            return source, self.service.config.data / "owners" / f"{owner_id}.db"
        with self._lock:
            mirror = self._mirrors.get(owner_id)
            if mirror is None:
                self.cache.mkdir(parents=True, exist_ok=True)
                mirror = self._mirrors[owner_id] = _Mirror(self.cache / f"{owner_id}.db")
        mirror.catch_up(source)
        return mirror.log, mirror.path

    def close(self) -> None:
        with self._lock:
            for mirror in self._mirrors.values():
                mirror.log.store.close()
            self._mirrors.clear()
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


Read = Callable[[Request, tuple[EventLog, Path]], Awaitable[Any]]


def _read(read: Read) -> Callable[[Request, SyncService], Awaitable[Response]]:
    """Authenticate, catch the owner's views up, run `read`, map refusals to statuses."""

    async def handler(request: Request, service: SyncService) -> Response:
        authorization = request.headers.get("authorization")
        device = await run_in_threadpool(service.accounts.authenticate, authorization)
        source: ViewSource = request.app.state.view_source
        where = await run_in_threadpool(source.log_and_path, device.owner_id)
        try:
            return _json(await read(request, where))
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

    return handler


async def _contacts(request: Request, where: tuple[EventLog, Path]) -> Any:
    include_all = _flag(request, "all")
    log = where[0]
    return await run_in_threadpool(
        lambda: contact_rows(State(log.events()), include_all=include_all)
    )


async def _ledger(request: Request, where: tuple[EventLog, Path]) -> Any:
    contact = request.query_params.get("contact")
    return await Views(where[1]).ledger(_as_of(request), contact)


async def _cold(request: Request, where: tuple[EventLog, Path]) -> Any:
    return await Views(where[1]).cold(_as_of(request), everyone=_flag(request, "all"))


async def _stats(request: Request, where: tuple[EventLog, Path]) -> Any:
    return await Views(where[1]).stats(_as_of(request))


async def _timeline(request: Request, where: tuple[EventLog, Path]) -> Any:
    _, entries = await Views(where[1]).timeline(request.path_params["contact"])
    return entries


contacts = _read(_contacts)
ledger = _read(_ledger)
cold = _read(_cold)
stats = _read(_stats)
timeline = _read(_timeline)
