"""Every HTTP request observed once: an access-log line and its latency (ADR 0111).

A pure ASGI middleware, so that it also sees streams from start to end (an SSE
stream's line is written when the stream closes). The line holds the method,
the path without its query, the route, the status, the bytes sent, the time
taken, the client address and, once authenticated, the device id: never a
header or a body, so never a token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .metrics import Metrics

access_logger = logging.getLogger("recip.access")

#: The route of the live stream, counted while open.
STREAM_PATH = "/v1/stream"
#: Polled by health checks and scrapers every few seconds: logged at debug level only.
QUIET_PATHS = frozenset({"/healthz", "/metrics"})


class Observe:
    """Wraps the app: logs and times each HTTP request, counts open streams."""

    def __init__(self, app: ASGIApp, metrics: Metrics, open_owners: Callable[[], int]) -> None:
        self.app = app
        self.metrics = metrics
        self.open_owners = open_owners

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status, sent = 500, 0

        async def observed(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        streaming = scope["path"] == STREAM_PATH
        if streaming:
            self.metrics.streams.inc()
        try:
            await self.app(scope, receive, observed)
        finally:
            if streaming:
                self.metrics.streams.dec()
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.latency.labels(route).observe(elapsed)
            self.metrics.open_owners.set(self.open_owners())
            level = logging.DEBUG if scope["path"] in QUIET_PATHS else logging.INFO
            if access_logger.isEnabledFor(level):
                _log(level, _fields(scope, route, status, sent, elapsed))


def _log(level: int, fields: dict[str, Any]) -> None:
    """The access line, through the logger's handlers and filters.

    The record is made directly: `Logger.log` would also walk the stack for the
    caller's file and line, which no access line shows, on every request.
    """
    extra = {"fields": fields}
    record = access_logger.makeRecord(
        access_logger.name, level, __file__, 0, "request", (), None, extra=extra
    )
    access_logger.handle(record)


def _fields(scope: Scope, route: str, status: int, sent: int, elapsed: float) -> dict[str, Any]:
    client = scope.get("client")
    state = scope.get("state") or {}
    return {
        "method": scope["method"],
        "path": scope["path"],
        "route": route,
        "status": status,
        "bytes": sent,
        "ms": round(elapsed * 1000, 1),
        "client": client[0] if client else None,
        "device": state.get("device_id"),
    }
