"""`POST /v1/sync` as a bare ASGI app: the one route a device calls all day.

Every other route takes Starlette's `Request` and returns a `Response`; this one
reads its four headers, its body and its answer straight off the ASGI messages,
because a sync exchange is small and frequent and those objects (header
parsing, the body stream, the response's header list) are a share of its event
loop time that nothing here needs (issue 20, docs/benchmarks.md). What it
answers is the same as every route's: the body bound (413, also for a lying
Content-Length), 401 before the body for a missing token, 415 for an unknown
format, every `Refusal` as its JSON error and a bug as a bare 500.

Method checks (405) and the route label of the access log stay the router's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.types import Receive, Scope, Send

from sync import protocol
from sync.protocol import Refusal

from .accounts import Accounts
from .exchanges import Exchanges

logger = logging.getLogger("recip.server")

#: Counts and logs a refusal (the app's, shared by every route).
OnRefusal = Callable[[Refusal], None]


class SyncEndpoint:
    """The ASGI app of `POST /v1/sync`: one exchange through `Exchanges`."""

    def __init__(self, exchanges: Exchanges, max_body: int, on_refusal: OnRefusal) -> None:
        self.exchanges = exchanges
        self.max_body = max_body
        self.on_refusal = on_refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            answer = await self._exchange(scope, receive)
        except Refusal as refusal:
            self.on_refusal(refusal)
            await _respond(send, refusal.status, protocol.JSON, error_body(refusal))
            return
        except Exception:  # a bug: say so without leaking internals, keep serving
            logger.exception("unexpected error on %s", scope["path"])
            internal = Refusal(500, "internal", "internal server error")
            self.on_refusal(internal)
            await _respond(send, 500, protocol.JSON, error_body(internal))
            return
        if answer is not None:
            out, reply = answer
            await _respond(send, 200, protocol.media_type(reply), out)

    async def _exchange(
        self, scope: Scope, receive: Receive
    ) -> tuple[bytes, protocol.Format] | None:
        """The answer and its format; None when the client left before its body ended."""
        authorization = content_type = accept = length = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"accept":
                accept = value.decode("latin-1")
            elif name == b"content-length":
                length = value
        Accounts.check_header(authorization)
        fmt = protocol.format_of(content_type)
        reply = protocol.accepted_format(accept, fmt)
        body = await read_body(receive, length, self.max_body)
        if body is None:
            return None
        return await self.exchanges.sync(authorization, body, fmt, reply), reply


async def read_body(receive: Receive, declared: bytes | str | None, limit: int) -> bytes | None:
    """The request body off the ASGI messages, refused (413) once it exceeds `limit`.

    The declared Content-Length is checked first, then the bytes that arrive, so
    a lying or chunked client cannot get past the bound. None: the client left.
    """
    check_declared(declared, limit)
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            return None
        chunk: bytes = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            raise Refusal(413, "too_large", f"body exceeds the {limit} byte limit")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def check_declared(declared: bytes | str | None, limit: int) -> None:
    """Refuse a request whose Content-Length is not a number (400) or over `limit` (413)."""
    if declared is None:
        return
    try:
        size = int(declared)
    except ValueError:
        raise Refusal(400, "malformed", "Content-Length is not a number") from None
    if size > limit:
        raise Refusal(413, "too_large", f"body of {size} bytes exceeds the {limit} limit")


def error_body(refusal: Refusal) -> bytes:
    """A refusal's JSON body, as every route answers it."""
    return protocol.encode(refusal.body(), "json")


async def _respond(send: Send, status: int, media_type: str, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-length", str(len(body)).encode()),
                (b"content-type", media_type.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
