"""Running the server: in the foreground (`recip serve`) or on a background thread.

uvicorn serves the Starlette app (ADR 0034). `BackgroundServer` runs the same
app in-process on a free loopback port, for tests and benchmarks that want a real
HTTP server without a subprocess.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette

from .app import create_app
from .service import ServerConfig, SyncService

#: uvicorn's HTTP/1.1 parsers: httptools when importable ("auto"), or one by name.
HttpParser = Literal["auto", "h11", "httptools"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _uvicorn_config(
    app: Starlette,
    host: str,
    port: int,
    log_config: dict[str, Any] | None = None,
    http: HttpParser = "auto",
) -> uvicorn.Config:
    """uvicorn's settings; `log_config` (from `server.logs`) replaces its logging.

    `http="auto"` parses HTTP/1.1 with httptools (C) when it is installed, else
    with h11 (pure Python): the same server either way, at a different cost
    per request (ADR 0122).
    """
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=http,
        log_config=log_config,
        log_level=None if log_config else "warning",
        access_log=False,
        lifespan="on",
        timeout_keep_alive=30,
        # Open event streams would otherwise hold a shutdown forever; a request cut
        # short is retried by its client (every exchange is idempotent).
        timeout_graceful_shutdown=5,
    )


def serve(
    config: ServerConfig,
    host: str = "127.0.0.1",
    port: int = 8765,
    log_config: dict[str, Any] | None = None,
) -> None:
    """Serve until interrupted (SIGINT/SIGTERM shut down cleanly)."""
    uvicorn.Server(_uvicorn_config(create_app(config), host, port, log_config)).run()


class BackgroundServer:
    """A real HTTP server on a background thread: `with BackgroundServer(data) as url:`."""

    def __init__(
        self,
        data: Path | str,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        config: ServerConfig | None = None,
        http: HttpParser = "auto",
    ) -> None:
        self.config = config or ServerConfig(data=Path(data))
        self.host = host
        self.port = port or free_port(host)
        self.app = create_app(self.config)
        self._server = uvicorn.Server(_uvicorn_config(self.app, self.host, self.port, http=http))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def service(self) -> SyncService:
        """The service behind the app (same process): accounts, owners' logs."""
        service: SyncService = self.app.state.service
        return service

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.01)
        return self.url

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
