"""Serving with several worker processes (uvicorn `--workers`), ADR 0070.

uvicorn starts each worker in a fresh process and imports the application by
name, so the configuration cannot be passed as an object: `serve` writes it to
one environment variable as JSON, and `app` (a factory uvicorn calls in each
worker) reads it back. Every worker then opens its own pool to the same
PostgreSQL database; nothing else is shared between workers.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Final

import msgspec
import uvicorn
from starlette.applications import Starlette
from uvicorn.supervisors import Multiprocess

from core.errors import ReciprocityError

from .digest import DigestConfig
from .service import ServerConfig

ENV: Final = "RECIP_SERVER_CONFIG"


class _Wire(msgspec.Struct, kw_only=True):
    """The picklable part of `ServerConfig` (its clock is always the wall clock)."""

    data: str
    max_body: int
    max_page: int
    max_clock_ahead_ms: int
    database_url: str | None
    pool_size: int
    max_open_owners: int
    digest: DigestConfig | None = None


class _TcpConfig(uvicorn.Config):
    """uvicorn's configuration, with a listening socket that says it is TCP.

    For several workers uvicorn binds `socket.socket(AF_INET)`, whose `proto` is
    0; asyncio then does not set TCP_NODELAY on accepted connections, and every
    response (headers and body in two writes) waits for the client's delayed
    ACK (docs/benchmarks.md). Re-wrapping the same descriptor with IPPROTO_TCP
    fixes it.
    """

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        return socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())


def to_env(config: ServerConfig) -> str:
    return msgspec.json.encode(
        _Wire(
            data=str(config.data),
            max_body=config.max_body,
            max_page=config.max_page,
            max_clock_ahead_ms=config.max_clock_ahead_ms,
            database_url=config.database_url,
            pool_size=config.pool_size,
            max_open_owners=config.max_open_owners,
            digest=config.digest,
        )
    ).decode()


def from_env(text: str) -> ServerConfig:
    wire = msgspec.json.decode(text, type=_Wire)
    return ServerConfig(
        data=Path(wire.data),
        max_body=wire.max_body,
        max_page=wire.max_page,
        max_clock_ahead_ms=wire.max_clock_ahead_ms,
        database_url=wire.database_url,
        pool_size=wire.pool_size,
        max_open_owners=wire.max_open_owners,
        digest=wire.digest,
    )


def app() -> Starlette:
    """The application of one worker process (uvicorn's factory)."""
    from .app import create_app

    text = os.environ.get(ENV)
    if not text:
        raise ReciprocityError(f"{ENV} is not set: start workers through 'recip serve'")
    return create_app(from_env(text))


def serve(config: ServerConfig, host: str, port: int, workers: int = 1) -> None:
    """Serve in this process (one worker) or in `workers` processes (PostgreSQL only)."""
    if workers < 1:
        raise ReciprocityError("--workers must be at least 1")
    if workers > 1 and not config.database_url:
        raise ReciprocityError(
            "several workers need a shared database: add --database-url postgresql://..."
        )
    if workers == 1:
        from .run import serve as serve_here

        serve_here(config, host, port)
        return
    os.environ[ENV] = to_env(config)
    settings = _TcpConfig(
        "server.asgi:app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=5,
    )
    Multiprocess(settings, sockets=[settings.bind_socket()]).run()
