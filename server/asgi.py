"""Serving with several worker processes (uvicorn `--workers`), ADR 0070.

uvicorn starts each worker in a fresh process and imports the application by
name, so the configuration cannot be passed as an object: `serve` writes it to
one environment variable as JSON, and `app` (a factory uvicorn calls in each
worker) reads it back. Every worker then opens its own pool to the same
PostgreSQL database; nothing else is shared between workers.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import msgspec
import uvicorn
from starlette.applications import Starlette
from uvicorn.supervisors import Multiprocess

from core.errors import ReciprocityError

from .digest import DigestConfig
from .metrics import MULTIPROC_ENV
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


class WorkerSocket:
    """A worker's own listening socket, bound in the worker with SO_REUSEPORT.

    uvicorn hands every worker the parent's one socket, and the worker that wakes
    first accepts every connection waiting: a burst of connections (devices
    coming back after a restart, a load test's start) all landed on one worker,
    49 of 50 (issue 20). With a socket per worker the kernel spreads connections
    across the workers by their addresses, and a worker's socket closes with it,
    so no connection waits on a dead worker. uvicorn pickles its sockets into
    each worker it starts; this one unpickles as a socket bound there.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def __reduce__(self) -> tuple[Callable[[str, int], socket.socket], tuple[str, int]]:
        return (bind_reuse_port, (self.host, self.port))


def bind_reuse_port(host: str, port: int) -> socket.socket:
    """A TCP socket bound to `host:port` beside others of this user (not listening yet)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _listeners(settings: uvicorn.Config, host: str, port: int) -> tuple[socket.socket, list[Any]]:
    """The socket the parent holds and what each worker listens on.

    Where SO_REUSEPORT exists, the parent's socket is bound with it but never
    listens (it holds the port and fails early if another program has it) and
    each worker binds its own (`WorkerSocket`); elsewhere the workers share the
    parent's.
    """
    if not hasattr(socket, "SO_REUSEPORT"):
        shared = settings.bind_socket()
        return shared, [shared]
    try:
        held = bind_reuse_port(host, port)
    except OSError as exc:
        raise ReciprocityError(f"cannot listen on {host}:{port}: {exc}") from None
    return held, [WorkerSocket(host, port)]


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


#: The soft limit on open files `serve` asks for (at most the hard limit).
OPEN_FILES: Final = 65_536


def open_files_limit(wanted: int = OPEN_FILES) -> int:
    """Raise this process's soft limit on open files towards `wanted`; the limit now.

    An open SQLite owner holds three descriptors per connection (the file, its
    WAL, its shared memory): its appending connection and its page readers, so
    a hundred busy owners need more than the usual soft limit of 1,024 (ADR
    0073). Workers inherit the limit. Never lowered; left as it is where the
    hard limit or the platform does not allow more.
    """
    try:
        import resource
    except ImportError:  # not a POSIX system
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
        return target
    return soft


def serve(
    config: ServerConfig,
    host: str,
    port: int,
    workers: int = 1,
    log_config: dict[str, Any] | None = None,
) -> None:
    """Serve in this process (one worker) or in `workers` processes (PostgreSQL only).

    `log_config` (a `server.logs.log_config`) is applied in every worker. With
    several workers, metrics are shared through a fresh `PROMETHEUS_MULTIPROC_DIR`
    unless one is set already (ADR 0112).
    """
    if workers < 1:
        raise ReciprocityError("--workers must be at least 1")
    open_files_limit()
    if workers > 1 and not config.database_url:
        raise ReciprocityError(
            "several workers need a shared database: add --database-url postgresql://..."
        )
    if workers == 1:
        from .run import serve as serve_here

        serve_here(config, host, port, log_config)
        return
    os.environ[ENV] = to_env(config)
    shared = None
    if not os.environ.get(MULTIPROC_ENV):
        shared = tempfile.mkdtemp(prefix="recip-metrics-")
        os.environ[MULTIPROC_ENV] = shared
    settings = _TcpConfig(
        "server.asgi:app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config,
        log_level=None if log_config else "warning",
        access_log=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=5,
    )
    held, sockets = _listeners(settings, host, port)
    try:
        Multiprocess(settings, sockets=sockets).run()
    finally:
        held.close()
        if shared is not None:
            shutil.rmtree(shared, ignore_errors=True)
