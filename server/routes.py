"""The routes beside the sync protocol's, and their life cycle (`server.app.create_app`).

Each feature keeps its own module: the live stream (`server.stream`), the read
API (`server.read_api`), the nudges (`server.today_api`: plan, calendar feed,
digest) and the OpenAPI document (`server.openapi`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import openapi, read_api, stream, today_api
from .service import SyncService

Handler = Callable[[Request, SyncService], Awaitable[Response]]
Wrap = Callable[[SyncService, Handler], Callable[[Request], Awaitable[Response]]]


def feature_routes(service: SyncService, wrap: Wrap) -> list[Route]:
    """The routes, each wrapped like the sync routes (refusals become error bodies)."""
    return [
        Route("/v1/stream", wrap(service, stream.stream), methods=["GET"]),
        Route("/v1/contacts", wrap(service, read_api.contacts), methods=["GET"]),
        Route("/v1/contacts/{contact}/timeline", wrap(service, read_api.timeline), methods=["GET"]),
        Route("/v1/ledger", wrap(service, read_api.ledger), methods=["GET"]),
        Route("/v1/cold", wrap(service, read_api.cold), methods=["GET"]),
        Route("/v1/stats", wrap(service, read_api.stats), methods=["GET"]),
        Route("/openapi.json", wrap(service, openapi.openapi), methods=["GET"]),
        *today_api.routes(service, wrap),
    ]


@asynccontextmanager
async def running(app: Starlette, service: SyncService) -> AsyncIterator[None]:
    """Start what the routes need (head watcher, view source) and stop it at shutdown."""
    config: stream.StreamConfig = getattr(app.state, "stream_config", None) or stream.StreamConfig()
    watcher = stream.HeadWatcher(service, config)
    app.state.watcher = watcher
    source = app.state.view_source = read_api.ViewSource(service)
    await watcher.start()
    digests = today_api.digest_loop(service, source)
    try:
        yield
    finally:
        if digests is not None:
            await digests.stop()
        await watcher.stop()
        source.close()
