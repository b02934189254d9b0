"""`GET /`: the web app when it is installed, else a page saying what this server is.

The web app's static files are looked for in `server/web/` (its `index.html`);
when they are there, the whole directory is mounted at `/` after every API route,
so the app takes over `/` without any change here. Until then a person who opens
the server's address in a browser learns what it is and how to use it, instead
of a 404. The page names no owner and no device.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Final

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

WEB_ROOT: Final = Path(__file__).resolve().parent / "web"

_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Reciprocity sync server</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em}}
code{{background:#f2f2f2;padding:0 .25em}}</style></head>
<body>
<h1>Reciprocity sync server</h1>
<p>This is a Reciprocity sync server (version {version}).
Reciprocity keeps one person's ledger of give and take with their contacts on each of
their devices; this server passes the events between those devices. There is nothing to
read here without a device token.</p>
<h2>Connect a device</h2>
<ol>
<li>On the server, the administrator runs <code>recip admin invite OWNER</code> and hands
you the enrollment token it prints (single use, expires in 24 hours).</li>
<li>On your device: <code>recip init</code>, then
<code>recip remote add {url} --token recip-enroll-&hellip;</code>, then
<code>recip sync</code>.</li>
</ol>
<p>For programs: <a href="/openapi.json">/openapi.json</a> describes the HTTP API;
<a href="/healthz">/healthz</a> answers when the server is up.</p>
</body></html>
"""


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("reciprocity")
    except metadata.PackageNotFoundError:
        return "unknown"


def root_routes(web_root: Path = WEB_ROOT) -> list[BaseRoute]:
    """The routes for `/`, to be placed after every other route."""
    if (web_root / "index.html").is_file():
        return [Mount("/", app=StaticFiles(directory=web_root, html=True), name="web")]
    version = html.escape(_version())

    async def info(request: Request) -> HTMLResponse:
        base = html.escape(str(request.base_url).rstrip("/"))
        return HTMLResponse(_PAGE.format(version=version, url=base))

    return [Route("/", info, methods=["GET", "HEAD"])]
