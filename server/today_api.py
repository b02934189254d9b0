"""The nudges over HTTP: the plan, the calendar feed, and the digest settings.

- `GET /v1/today` (device token): `recip today --json` for the owner's merged log.
- `POST /v1/feed` (device token): a new calendar-feed token (the previous one
  stops working); `DELETE /v1/feed` ends the feed.
- `GET /v1/calendar.ics?token=FEED_TOKEN`: the feed itself. Calendar apps cannot
  send headers, so the token rides in the URL; it is a feed token, which opens
  this and nothing else (ADR 0101).
- `GET`/`PUT`/`DELETE /v1/digest` (device token): where and when the weekly
  digest goes (ADR 0102).

Plans are computed from the owner's log as the read API sees it (`ViewSource`:
the log itself on SQLite, the worker's caught-up mirror on PostgreSQL), opened
read-only, by the same code as on a device. The day is `as_of`, else today in
the time zone of the owner's digest settings, else today in UTC.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scoring.history import History, day_of
from scoring.plan import Plan, outlook, plan
from scoring.source import read_log
from sync.protocol import Refusal

from . import ics
from .app import read_body
from .digest import DigestLoop, DigestSender
from .e2e import owner_key_id, refuse_plaintext_feature
from .mail import MailError, check_address
from .nudge_store import DigestSettings, NudgeStore
from .read_api import ViewSource
from .read_api import _as_of as as_of_day
from .service import SyncService

FEED_PATH: Final = "/v1/calendar.ics"
MAX_LIMIT: Final = 1000
_JSON: Final = msgspec.json.Encoder()
_MAX_SETTINGS_BODY: Final = 4096


class FeedToken(msgspec.Struct, frozen=True):
    """A new calendar-feed token and the path (with the token) to subscribe to."""

    token: str
    path: str


class FeedRevoked(msgspec.Struct, frozen=True):
    """Whether there was a feed to end."""

    revoked: bool


class DigestRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where and when the weekly digest goes: weekday 0 = Monday, hour in `timezone`."""

    email: Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
    weekday: Annotated[int, msgspec.Meta(ge=0, le=6)] = 0
    hour: Annotated[int, msgspec.Meta(ge=0, le=23)] = 8
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "UTC"


class DigestAnswer(msgspec.Struct, frozen=True):
    """The owner's digest settings, or null when none is sent."""

    digest: DigestSettings | None


def _json(value: object) -> Response:
    return Response(_JSON.encode(value), media_type="application/json")


def store_of(service: SyncService) -> NudgeStore:
    return NudgeStore(service.accounts)


def owner_history(source: ViewSource, owner_id: str) -> History:
    """The owner's events, resolved for scoring (blocking)."""
    with source.reading(owner_id) as reading:
        return History(read_log(reading.path))


def owner_plan(source: ViewSource, owner_id: str, day: int, limit: int) -> Plan:
    """The owner's plan for `day` (blocking)."""
    return plan(owner_history(source, owner_id), day, limit=limit)


def _limit(request: Request, default: int = 5) -> int:
    text = request.query_params.get("limit")
    if text is None:
        return default
    try:
        limit = int(text)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise Refusal(400, "invalid", f"limit must be a whole number 1-{MAX_LIMIT}, not {text!r}")
    return limit


async def _day(request: Request, service: SyncService, owner_id: str) -> int:
    """`as_of`, else today in the owner's digest time zone, else today in UTC."""
    if "as_of" in request.query_params:
        return as_of_day(request)
    settings = await run_in_threadpool(store_of(service).digest, owner_id)
    if settings is None:
        return as_of_day(request)
    moment = datetime.fromtimestamp(service.config.now_ms() / 1000, UTC)
    try:
        return day_of(moment.astimezone(ZoneInfo(settings.timezone)).date())
    except (ZoneInfoNotFoundError, ValueError):
        return day_of(moment.date())


async def _owner(request: Request, service: SyncService, feature: str | None = None) -> str:
    """The owner of the request's device; `feature` is refused to encrypted owners."""
    authorization = request.headers.get("authorization")
    device = await run_in_threadpool(service.accounts.authenticate, authorization)
    if feature is not None:
        refuse_plaintext_feature(device.e2e_key_id, feature)
    return device.owner_id


async def today(request: Request, service: SyncService) -> Response:
    owner_id = await _owner(request, service, "plan for today")
    day, limit = await _day(request, service, owner_id), _limit(request)
    source: ViewSource = request.app.state.view_source
    return _json(await run_in_threadpool(owner_plan, source, owner_id, day, limit))


async def feed_token(request: Request, service: SyncService) -> Response:
    writing = request.method != "DELETE"
    owner_id = await _owner(request, service, "calendar feed" if writing else None)
    store = store_of(service)
    if request.method == "DELETE":
        return _json(FeedRevoked(await run_in_threadpool(store.revoke_feed, owner_id)))
    token = await run_in_threadpool(store.issue_feed, owner_id, service.config.now_ms())
    return _json(FeedToken(token, f"{FEED_PATH}?token={token}"))


def _feed_body(source: ViewSource, service: SyncService, owner_id: str, day: int) -> bytes:
    history = owner_history(source, owner_id)
    names = {o.owner_id: o.name for o in service.accounts.owners()}
    return ics.feed(
        outlook(history, day, overdue_days=ics.FOLLOW_UP_DAYS),
        owner=names.get(owner_id, "owner"),
        now_ms=service.config.now_ms(),
    )


async def calendar(request: Request, service: SyncService) -> Response:
    token = request.query_params.get("token")
    owner_id = await run_in_threadpool(store_of(service).feed_owner, token)
    key_id = await run_in_threadpool(owner_key_id, service.accounts, owner_id)
    refuse_plaintext_feature(key_id, "calendar feed")
    source: ViewSource = request.app.state.view_source
    day = await _day(request, service, owner_id)
    body = await run_in_threadpool(_feed_body, source, service, owner_id, day)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, max-age=900"},
    )


def _settings(body: bytes, now_ms: int) -> DigestSettings:
    try:
        # strict=False: `9.0` is an integer to JSON Schema, hence to /openapi.json (ADR 0080)
        asked = msgspec.json.decode(body, type=DigestRequest, strict=False)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise Refusal(400, "invalid", f"invalid digest settings: {exc}") from None
    try:
        email = check_address(asked.email, "email")
    except MailError as exc:
        raise Refusal(400, "invalid", str(exc)) from None
    return DigestSettings(
        email=email,
        weekday=asked.weekday,
        hour=asked.hour,
        timezone=check_timezone(asked.timezone),
        updated_at=now_ms,
    )


def check_timezone(name: str) -> str:
    """An IANA time zone name the server knows (400 otherwise)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Refusal(
            400, "invalid", f"unknown time zone {name!r}: use e.g. Europe/Paris"
        ) from None
    return name


async def digest(request: Request, service: SyncService) -> Response:
    setting = request.method == "PUT"
    owner_id = await _owner(request, service, "email digest" if setting else None)
    store = store_of(service)
    if request.method == "PUT":
        body = await read_body(request, _MAX_SETTINGS_BODY)
        settings = _settings(body, service.config.now_ms())
        await run_in_threadpool(store.set_digest, owner_id, settings)
    elif request.method == "DELETE":
        await run_in_threadpool(store.clear_digest, owner_id)
    return _json(DigestAnswer(await run_in_threadpool(store.digest, owner_id)))


Handler = Callable[[Request, SyncService], Awaitable[Response]]
Wrap = Callable[[SyncService, Handler], Callable[[Request], Awaitable[Response]]]


def routes(service: SyncService, wrap: Wrap) -> list[Route]:
    """This module's routes, wrapped like every other (refusals become error bodies)."""
    return [
        Route("/v1/today", wrap(service, today), methods=["GET"]),
        Route("/v1/feed", wrap(service, feed_token), methods=["POST", "DELETE"]),
        Route(FEED_PATH, wrap(service, calendar), methods=["GET"]),
        Route("/v1/digest", wrap(service, digest), methods=["GET", "PUT", "DELETE"]),
    ]


def digest_loop(service: SyncService, source: ViewSource) -> DigestLoop | None:
    """Start sending weekly digests if the server has a mail relay (else None)."""
    config = service.config.digest
    if config is None:
        return None

    def plans(owner_id: str, day: int, limit: int) -> Plan:
        return owner_plan(source, owner_id, day, limit)

    loop = DigestLoop(DigestSender(store_of(service), config, plans), service.config.now_ms)
    loop.start()
    return loop
