"""The Starlette application: HTTP in, `SyncService` calls, HTTP out.

Everything that decides anything lives in `server.service`; this module reads
bounded bodies, negotiates the format, runs the (synchronous) service in the
thread pool so that the event loop never blocks on SQLite, and turns every
`Refusal` into its status with a JSON error body. The sync exchange, called all
day by every device, is the exception: a bare ASGI app (`server.sync_endpoint`)
whose groups run on the loop (`server.exchanges`, ADRs 0136 and 0137).

Routes:

- `GET /healthz`: 200 once the data directory is open.
- `POST /v1/enroll`: enrollment token in the body -> a device token.
- `POST /v1/sync`: device token -> one push-and-pull exchange (`server.sync_endpoint`).
- `GET /v1/devices`, `POST /v1/devices/revoke`: the owner's devices.
- The live stream, the read API, the nudges and `/openapi.json`: `server.routes`.
- `GET /client/...`: the browser client's ES modules (`web/client`, ADR 0090).
- `GET /`, `/app/...`, `/sw.js`, `/manifest.webmanifest`: the web app (`server.webapp`, ADR 0095).
- `GET /metrics`: Prometheus metrics (`server.metrics`).

Every request passes `server.access.Observe` (access log, latency).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from sync import protocol
from sync.protocol import ErrorBody, Refusal
from web import CLIENT_DIR

from .access import Observe
from .accounts import Device
from .exchanges import Exchanges
from .metrics import Metrics
from .service import ServerConfig, SyncService
from .sync_endpoint import SyncEndpoint, error_body
from .sync_endpoint import read_body as read_asgi_body
from .webapp import webapp_routes

logger = logging.getLogger("recip.server")


def _error(refusal: Refusal) -> Response:
    return Response(
        error_body(refusal),
        status_code=refusal.status,
        media_type=protocol.JSON,
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it is known to exceed `limit`.

    The declared Content-Length is checked first, then the bytes actually
    streamed, so a lying or chunked client cannot get past the bound.
    """
    body = await read_asgi_body(request.receive, request.headers.get("content-length"), limit)
    if body is None:
        raise ClientDisconnect()
    return body


Handler = Callable[[Request, SyncService], Awaitable[Response]]


def _endpoint(service: SyncService, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request, service)
        except Refusal as refusal:
            _refused(service, refusal)
            return _error(refusal)
        except Exception:  # a bug: say so without leaking internals, keep serving
            logger.exception("unexpected error on %s", request.url.path)
            internal = Refusal(500, "internal", "internal server error")
            _refused(service, internal)
            return _error(internal)

    return endpoint


def _refused(service: SyncService, refusal: Refusal) -> None:
    """Count a refusal by its reason and log it (the reason's text names no secret)."""
    if service.metrics is not None:
        service.metrics.refusals.labels(refusal.code).inc()
    logger.info("refused", extra={"fields": {"status": refusal.status, "reason": refusal.code}})


def _formats(request: Request) -> tuple[protocol.Format, protocol.Format]:
    fmt = protocol.format_of(request.headers.get("content-type"))
    return fmt, protocol.accepted_format(request.headers.get("accept"), fmt)


async def healthz(request: Request, service: SyncService) -> Response:
    return JSONResponse({"status": "ok"})


async def _device(request: Request, service: SyncService) -> Device:
    """The device whose token the request carries (401/403 otherwise)."""
    authorization = request.headers.get("authorization")
    device: Device = await run_in_threadpool(service.accounts.authenticate, authorization)
    request.state.device_id = device.device_id  # for the access log
    return device


def _reply(out: bytes, reply: protocol.Format) -> Response:
    return Response(out, media_type=protocol.media_type(reply))


async def enroll(request: Request, service: SyncService) -> Response:
    fmt, reply = _formats(request)
    body = await read_body(request, service.config.max_body)
    current = request.headers.get("authorization")
    return _reply(await run_in_threadpool(service.enroll, body, fmt, reply, current), reply)


async def metrics_endpoint(request: Request, service: SyncService) -> Response:
    if service.metrics is None:
        raise Refusal(404, "not_found", "this server keeps no metrics")
    body, media_type = service.metrics.render()
    return Response(body, media_type=media_type)


async def devices(request: Request, service: SyncService) -> Response:
    device = await _device(request, service)
    reply = protocol.accepted_format(request.headers.get("accept"), "json")
    return _reply(await run_in_threadpool(service.devices, device, reply), reply)


async def e2e(request: Request, service: SyncService) -> Response:
    """GET: whether the owner is end-to-end encrypted; POST: make it so (ADR 0135)."""
    if request.method == "POST":
        return await _device_post(request, service, service.e2e_enable)
    device = await _device(request, service)
    reply = protocol.accepted_format(request.headers.get("accept"), "json")
    return _reply(await run_in_threadpool(service.e2e_status, device, reply), reply)


async def e2e_rotate(request: Request, service: SyncService) -> Response:
    """Replace the owner's key id (`recip e2e rotate`, ADR 0135)."""
    return await _device_post(request, service, service.e2e_rotate)


async def e2e_replace(request: Request, service: SyncService) -> Response:
    """Sealed redacted rows in place of the held ones (forgetting, ADR 0135)."""
    return await _device_post(request, service, service.e2e_replace)


async def _device_post(
    request: Request,
    service: SyncService,
    call: Callable[[Device, bytes, protocol.Format, protocol.Format], bytes],
) -> Response:
    """A device's POST: authenticate, read the body, answer in the accepted format."""
    device = await _device(request, service)
    fmt, reply = _formats(request)
    body = await read_body(request, service.config.max_body)
    return _reply(await run_in_threadpool(call, device, body, fmt, reply), reply)


async def revoke(request: Request, service: SyncService) -> Response:
    return await _device_post(request, service, service.revoke)


def create_app(
    config: ServerConfig, *, service: SyncService | None = None, observed: bool = True
) -> Starlette:
    """The ASGI app over a data directory (or over an existing service, for tests).

    `observed=False` leaves out the access log and the metrics (`bench.observe`
    measures what they cost); `/metrics` then answers 404.
    """
    owned = service is None
    svc = service or SyncService(config)

    from .routes import feature_routes, running

    metrics = Metrics()
    if observed:
        svc.metrics = metrics
        svc.on_exchange = metrics.exchange

    exchanges = Exchanges(svc)
    refused = functools.partial(_refused, svc)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        async with running(app, svc):
            yield
        exchanges.close()
        metrics.close()
        if owned:
            svc.close()

    routes = [
        Route("/healthz", _endpoint(svc, healthz), methods=["GET"]),
        Route("/v1/enroll", _endpoint(svc, enroll), methods=["POST"]),
        Route("/v1/sync", SyncEndpoint(exchanges, svc.config.max_body, refused), methods=["POST"]),
        Route("/v1/devices", _endpoint(svc, devices), methods=["GET"]),
        Route("/v1/devices/revoke", _endpoint(svc, revoke), methods=["POST"]),
        Route("/v1/e2e", _endpoint(svc, e2e), methods=["GET", "POST"]),
        Route("/v1/e2e/replace", _endpoint(svc, e2e_replace), methods=["POST"]),
        Route("/v1/e2e/rotate", _endpoint(svc, e2e_rotate), methods=["POST"]),
        Route("/metrics", _endpoint(svc, metrics_endpoint), methods=["GET"]),
        *feature_routes(svc, _endpoint),
        Mount("/client", StaticFiles(directory=CLIENT_DIR), name="client"),
        *webapp_routes(),
    ]
    middleware = (
        [Middleware(Observe, metrics=metrics, open_owners=svc.open_owner_count)] if observed else []
    )
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.service = svc
    return app


__all__ = ["ErrorBody", "ServerConfig", "SyncService", "create_app", "read_body"]
