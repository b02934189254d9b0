"""What observing costs: sync exchanges with the access log and metrics, and without.

Ours is the app as `recip serve` runs it: every request passes the access-log
middleware (a logfmt line through the redacting filter, written to /dev/null),
latency and gauge updates, and each exchange is counted. The baseline is the
same app built with `create_app(observed=False)`. Both answer the same small
exchanges (one event pushed, the page pulled) from one device, alternately, in
the same run, timed in CPU seconds of the whole process. A ratio near 1.0 says observing is
cheap beside the exchange itself.

    python -m bench.observe [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec

from bench.harness import Comparison, Figure, Mode, report, result_name
from core import commands
from core.ids import new_id
from server.accounts import OPEN_INVITE
from server.app import create_app
from server.logs import LogfmtFormatter, Redact
from server.service import ServerConfig
from sync import protocol
from sync.protocol import SyncRequest

SIZES: dict[Mode, tuple[int, int]] = {"full": (2_000, 5), "quick": (400, 3), "smoke": (20, 1)}
NOW = commands.Now(1_790_000_000_000, 0)


@contextmanager
def access_log_to_devnull() -> Iterator[None]:
    """The server's loggers at info level, formatted and filtered, into /dev/null."""
    logger = logging.getLogger("recip")
    with open(os.devnull, "w") as sink:
        handler = logging.StreamHandler(sink)
        handler.setFormatter(LogfmtFormatter())
        handler.addFilter(Redact())
        level, propagate = logger.level, logger.propagate
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate


class Client:
    """One enrolled device of a fresh server, pushing one new contact per exchange.

    The app is called through httpx's ASGI transport in one event loop (the
    service still runs in Starlette's thread pool): no sockets, no test-client
    threads, so the figure is the server's own work.
    """

    def __init__(self, data: Path, *, observed: bool) -> None:
        self.app = create_app(ServerConfig(data=data), observed=observed)
        service = self.app.state.service
        _, self.token = service.accounts.add_owner("bench", OPEN_INVITE)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(self.app), base_url="http://b")
        self.device_id = new_id()
        self.headers: dict[str, str] = {}
        self.seq = 0
        self.cursor = 0

    async def enroll(self) -> None:
        enrolled = await self.http.post(
            "/v1/enroll",
            json={"token": self.token, "device_id": self.device_id, "device_name": "bench"},
        )
        self.headers = {
            "Authorization": f"Bearer {enrolled.json()['device_token']}",
            "Content-Type": protocol.MSGPACK,
            "Accept": protocol.MSGPACK,
        }

    async def exchange(self) -> None:
        self.seq += 1
        event = commands.add_contact(NOW, f"person {self.seq}")
        event = msgspec.structs.replace(event, device_id=self.device_id, seq=self.seq)
        body = protocol.encode(
            SyncRequest(
                device_id=self.device_id,
                events=[protocol.event_to_wire(event, "msgpack")],
                cursor=self.cursor,
            ),
            "msgpack",
        )
        answer = await self.http.post("/v1/sync", content=body, headers=self.headers)
        answer.raise_for_status()
        self.cursor = msgspec.msgpack.decode(answer.content)["cursor"]

    async def close(self) -> None:
        await self.http.aclose()
        self.app.state.service.close()


async def _rate(client: Client, exchanges: int) -> float:
    """Exchanges per CPU second (all threads of the process): load elsewhere barely moves it."""
    await client.enroll()
    await client.exchange()  # warm: the owner's log opened
    start = time.process_time()
    for _ in range(exchanges):
        await client.exchange()
    return exchanges / (time.process_time() - start)


def measure(exchanges: int, repeats: int) -> list[Comparison]:
    ours = Figure("exchanges per CPU s, access log + metrics", "ex/s")
    base = Figure("exchanges per CPU s, neither", "ex/s")
    with tempfile.TemporaryDirectory() as tmp, access_log_to_devnull():
        for r in range(repeats):
            pairs = ((True, ours), (False, base))
            for observed, figure in pairs if r % 2 == 0 else pairs[::-1]:  # neither always first
                client = Client(Path(tmp) / f"{r}-{observed}", observed=observed)

                async def one(c: Client = client) -> float:
                    try:
                        return await _rate(c, exchanges)
                    finally:
                        await c.close()

                figure.samples.append(asyncio.run(one()))
    return [Comparison("sync exchange, observed vs not", ours, base)]


def run(mode: Mode = "full") -> dict[str, Any]:
    """Entry point for `python -m bench` (the module contract in `bench/__main__.py`)."""
    exchanges, repeats = SIZES[mode]
    return report(
        result_name("observe", mode),
        {"exchanges": exchanges, "repeats": repeats},
        measure(exchanges, repeats),
        write=mode != "smoke",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    run("quick" if parser.parse_args().quick else "full")


if __name__ == "__main__":
    main()
