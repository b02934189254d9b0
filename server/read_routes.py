"""The routes that read, and their life cycle, mounted by `server.app.create_app`.

Beside the sync routes: the live stream (`server.stream`), the read API
(`server.read_api`) and the OpenAPI document (`server.openapi`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import openapi, read_api, stream
from .service import SyncService

Handler = Callable[[Request, SyncService], Awaitable[Response]]
Wrap = Callable[[SyncService, Handler], Callable[[Request], Awaitable[Response]]]


def read_routes(service: SyncService, wrap: Wrap) -> list[Route]:
    """The routes, each wrapped like the sync routes (refusals become error bodies)."""
    return [
        Route("/v1/stream", wrap(service, stream.stream), methods=["GET"]),
        Route("/v1/contacts", wrap(service, read_api.contacts), methods=["GET"]),
        Route("/v1/contacts/{contact}/timeline", wrap(service, read_api.timeline), methods=["GET"]),
        Route("/v1/ledger", wrap(service, read_api.ledger), methods=["GET"]),
        Route("/v1/cold", wrap(service, read_api.cold), methods=["GET"]),
        Route("/v1/stats", wrap(service, read_api.stats), methods=["GET"]),
        Route("/openapi.json", wrap(service, openapi.openapi), methods=["GET"]),
    ]


@asynccontextmanager
async def running(app: Starlette, service: SyncService) -> AsyncIterator[None]:
    """Start what the routes need (head watcher, view source) and stop it at shutdown."""
    config: stream.StreamConfig = getattr(app.state, "stream_config", None) or stream.StreamConfig()
    watcher = stream.HeadWatcher(service, config)
    app.state.watcher = watcher
    source = app.state.view_source = read_api.ViewSource(service)
    await watcher.start()
    try:
        yield
    finally:
        await watcher.stop()
        source.close()
