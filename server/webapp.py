"""The web app's routes: `/` (its page), `/app/...`, `/sw.js` and the manifest (ADR 0095).

The app is static files (`web/app`, plain ES modules) over the browser client
(`web/client`, served under `/client/`). Every response here carries a strict
Content-Security-Policy: scripts, styles, images and connections from this
origin only, nothing inline, no plugins, no framing. All of the app's text
reaches the page through DOM text APIs, so the policy is a second wall, not
the first.

`/sw.js` is the service worker with its shell list and a version prepended: the
version is a digest of every file of the shell, so any change to the app or
the client library changes the worker's bytes, which is how a browser learns
that there is an update to install.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import web

#: The web app's static files (package data of `web`).
APP_DIR: Final = Path(web.__file__).parent / "app"

#: Served to every document and worker of the app.
CONTENT_SECURITY_POLICY: Final = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "manifest-src 'self'",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

#: The kinds of file the shell (what the worker caches) is made of.
SHELL_SUFFIXES: Final = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}

#: The page and worker are looked up on every visit; the rest may come from the worker's cache.
NO_CACHE: Final = {"Cache-Control": "no-cache"}


def shell_files(app_dir: Path, client_dir: Path) -> list[tuple[str, Path]]:
    """(URL, file) of every file the app needs to open with no network."""
    files = [
        ("/", app_dir / "index.html"),
        ("/manifest.webmanifest", app_dir / "manifest.webmanifest"),
    ]
    for path in sorted(app_dir.rglob("*")):
        if path.suffix in SHELL_SUFFIXES and path.name != "sw.js" and path.is_file():
            files.append((f"/app/{path.relative_to(app_dir).as_posix()}", path))
    files.extend((f"/client/{p.name}", p) for p in sorted(client_dir.glob("*.js")))
    return files


def shell_version(files: Iterable[tuple[str, Path]]) -> str:
    """A digest of the shell's URLs and bytes: it changes whenever any file does."""
    digest = hashlib.sha256()
    for url, path in files:
        digest.update(url.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def worker_source(app_dir: Path, client_dir: Path) -> bytes:
    """The service worker: its shell list and version, then `web/app/sw.js`."""
    files = shell_files(app_dir, client_dir)
    shell = {"version": shell_version(files), "urls": [url for url, _ in files]}
    head = f"self.RECIP_SHELL = {json.dumps(shell)};\n"
    return head.encode() + (app_dir / "sw.js").read_bytes()


class _WithHeaders:
    """Adds the app's security headers to every response of an inner ASGI app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def webapp_routes(app_dir: Path = APP_DIR, client_dir: Path | None = None) -> list[BaseRoute]:
    """The web app's routes; none if its files are not installed."""
    if not (app_dir / "index.html").is_file():
        return []
    client = client_dir or web.CLIENT_DIR

    async def index(request: Request) -> Response:
        return FileResponse(
            app_dir / "index.html", media_type="text/html", headers={**HEADERS, **NO_CACHE}
        )

    async def manifest(request: Request) -> Response:
        return FileResponse(
            app_dir / "manifest.webmanifest",
            media_type="application/manifest+json",
            headers=HEADERS,
        )

    async def worker(request: Request) -> Response:
        return Response(
            worker_source(app_dir, client),
            media_type="text/javascript",
            headers={**HEADERS, **NO_CACHE},
        )

    return [
        Route("/", index, methods=["GET", "HEAD"]),
        Route("/index.html", index, methods=["GET", "HEAD"]),
        Route("/manifest.webmanifest", manifest, methods=["GET", "HEAD"]),
        Route("/sw.js", worker, methods=["GET", "HEAD"]),
        Mount("/app", app=_WithHeaders(StaticFiles(directory=app_dir)), name="app"),
    ]


def openapi_paths(app_dir: Path = APP_DIR) -> dict[str, Any]:
    """The app's routes in the OpenAPI document (each answers one file)."""
    if not (app_dir / "index.html").is_file():
        return {}

    def page(summary: str, media_type: str, what: str, kind: str = "string") -> dict[str, Any]:
        content = {media_type: {"schema": {"type": kind}}}
        ok = {"200": {"description": what, "content": content}}
        return {"get": {"summary": summary, "responses": ok}}

    app = page("The web app (ADR 0095)", "text/html", "the app's page")
    return {
        "/": app,
        "/index.html": app,
        "/manifest.webmanifest": page(
            "The web app's manifest", "application/manifest+json", "the manifest", "object"
        ),
        "/sw.js": page("The web app's service worker", "text/javascript", "the worker"),
    }
