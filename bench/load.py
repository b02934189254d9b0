"""Sync under load: K devices syncing small batches at once against `recip serve`.

For each K (10, 100, 500; quick: 10, 50) and each deployment (SQLite with one
worker, PostgreSQL with two workers), a real `recip serve` runs on loopback and
K simulated devices (owners of 5 devices each) loop for a bounded time: push a
batch of 5 new events and pull whatever the owner's other devices pushed, as
`recip sync` does (MessagePack, one keep-alive connection each). Reported:
requests/s, events/s stored, p50/p99 latency, errors (must be 0) and the
server's memory (resident, all its processes) at the end.

Baseline, same run, same K, same server: `GET /healthz` at full concurrency, the
HTTP stack with no work behind it; the ratio is how much of that ceiling a sync
exchange keeps. The load generator shares the machine's cores with the server,
so absolute figures are a floor.

Run: `python -m bench.load [--quick]` (PostgreSQL at $RECIP_BENCH_PG, default
postgresql://root@127.0.0.1:5432/test; skipped with the reason if unreachable).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import msgspec

from bench import harness
from core import codec, commands
from core.clock import wall_ms
from core.events import stamp
from core.ids import new_id
from server.accounts import OPEN_INVITE
from server.process import ServeProcess
from sync import protocol
from sync.protocol import EnrollRequest, EnrollResponse, SyncRequest, SyncResponse

PG_URL: Final = os.environ.get("RECIP_BENCH_PG", "postgresql://root@127.0.0.1:5432/test")
DEVICES_PER_OWNER: Final = 5
BATCH: Final = 5
ENROLL_ATTEMPTS: Final = 5
_REPLY: Final = msgspec.msgpack.Decoder(SyncResponse)


@dataclass
class Tally:
    """What the simulated devices saw."""

    latencies: list[float] = field(default_factory=list)
    requests: int = 0
    events: int = 0
    errors: int = 0
    first_error: str = ""


@dataclass
class Device:
    device_id: str
    token: str
    seq: int = 0
    cursor: int = 0

    def batch(self, now: commands.Now) -> list[msgspec.Raw]:
        out = []
        for _ in range(BATCH):
            self.seq += 1
            draft = commands.add_contact(now, f"person {self.seq}")
            event = stamp(
                draft,
                event_id=new_id(),
                device_id=self.device_id,
                seq=self.seq,
                hlc=(wall_ms() << 16) | self.seq % 65_536,
            )
            out.append(msgspec.Raw(codec.encode(event)))
        return out


def _owners(data: Path, database_url: str | None, count: int) -> list[str]:
    """Create owners before the server starts serving them; their enrollment tokens."""
    tokens = []
    if database_url:
        from server.pg import PgBackend

        backend = PgBackend(database_url, pool_size=2)
        try:
            for i in range(count):
                owner, token = backend.accounts.add_owner(f"owner {i}", OPEN_INVITE)
                backend.owner_store(owner.owner_id).close()
                tokens.append(token)
        finally:
            backend.close()
        return tokens
    from server.accounts import Accounts

    accounts = Accounts(data / "accounts.db")
    try:
        for i in range(count):
            tokens.append(accounts.add_owner(f"owner {i}", OPEN_INVITE)[1])
    finally:
        accounts.close()
    return tokens


async def _enroll(client: httpx.AsyncClient, tokens: list[str], k: int) -> list[Device]:
    async def one(i: int) -> Device:
        device_id = new_id()
        body = EnrollRequest(
            token=tokens[i // DEVICES_PER_OWNER], device_id=device_id, device_name=f"d{i}"
        )
        for attempt in range(ENROLL_ATTEMPTS):  # a 503 stored nothing: try again, as a device would
            answer = await client.post(
                "/v1/enroll",
                content=msgspec.json.encode(body),
                headers={"Content-Type": protocol.JSON},
            )
            if answer.status_code != 503 or attempt == ENROLL_ATTEMPTS - 1:
                break
            await asyncio.sleep(0.1 * (attempt + 1))
        answer.raise_for_status()
        reply = msgspec.json.decode(answer.content, type=EnrollResponse)
        return Device(device_id, reply.device_token)

    return list(await asyncio.gather(*(one(i) for i in range(k))))


class Connection:
    """One keep-alive HTTP/1.1 connection, spoken by hand.

    httpx's async pool costs milliseconds per request at hundreds of connections
    (it measured 24 healthz requests/s at K=100 on this machine), which would
    have measured the load generator, not the server. uvicorn answers every
    non-streaming response with a Content-Length, which is all this needs.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: bytes, body: bytes
    ) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        head = b"%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n%s\r\n" % (
            method.encode(),
            path.encode(),
            self.host.encode(),
            len(body),
            headers,
        )
        try:
            self._writer.write(head + body)
            answer = await self._reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in answer.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            return int(answer[9:12]), await self._reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            self.close()
            raise

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def _device_loop(connection: Connection, device: Device, ends: float, tally: Tally) -> None:
    now = commands.Now.system()
    headers = b"Content-Type: %s\r\nAccept: %s\r\nAuthorization: Bearer %s\r\n" % (
        protocol.MSGPACK.encode(),
        protocol.MSGPACK.encode(),
        device.token.encode(),
    )
    pushing = True
    while time.monotonic() < ends:
        events = device.batch(now) if pushing else []
        request = SyncRequest(
            device_id=device.device_id,
            events=events,
            cursor=device.cursor,
            limit=500,
            held_seq=device.seq,
        )
        started = time.perf_counter()
        try:
            status, body = await connection.request(
                "POST", "/v1/sync", headers, protocol.encode(request, "msgpack")
            )
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            tally.errors += 1
            tally.first_error = tally.first_error or repr(exc)
            device.seq -= len(events)
            continue
        tally.latencies.append(time.perf_counter() - started)
        tally.requests += 1
        if status != 200:
            tally.errors += 1
            tally.first_error = tally.first_error or f"{status} {body[:200]!r}"
            device.seq -= len(events)
            continue
        reply = _REPLY.decode(body)
        tally.events += len(events)
        device.cursor = reply.cursor
        pushing = not reply.more  # drain a backlog of others' events before pushing more


async def _load(
    url: str, port: int, tokens: list[str], k: int, seconds: float
) -> tuple[Tally, Tally, float, float]:
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(120.0)) as client:
        devices = await _enroll(client, tokens, k)
    connections = [Connection("127.0.0.1", port) for _ in range(k)]
    # Baseline: the bare HTTP stack at the same concurrency, on the same connections.
    base = Tally()

    async def ping(connection: Connection, ends: float) -> None:
        while time.monotonic() < ends:
            started = time.perf_counter()
            status, _ = await connection.request("GET", "/healthz", b"", b"")
            base.latencies.append(time.perf_counter() - started)
            base.requests += 1
            base.errors += status != 200

    # Warm up first: every worker started, every connection open.
    await asyncio.gather(*(ping(c, time.monotonic() + 1.0) for c in connections))
    base = Tally()
    began = time.monotonic()
    await asyncio.gather(*(ping(c, began + seconds / 3) for c in connections))
    base_elapsed = time.monotonic() - began
    tally = Tally()
    began = time.monotonic()
    ends = began + seconds
    await asyncio.gather(
        *(_device_loop(c, d, ends, tally) for c, d in zip(connections, devices, strict=True))
    )
    elapsed = time.monotonic() - began
    for connection in connections:
        connection.close()
    return tally, base, elapsed, base_elapsed


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _pg_up() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3):
            return True
    except Exception:
        return False


def scenario(
    backend: str, k: int, seconds: float
) -> tuple[harness.Comparison, list[harness.Figure], dict[str, Any]]:
    """One deployment at one K: the comparison, the extra figures, the raw counts."""
    with tempfile.TemporaryDirectory(prefix="recip-load-") as tmp:
        data = Path(tmp) / "server"
        data.mkdir()
        url = None
        workers = 1
        if backend == "postgres":
            url = f"{PG_URL}?prefix=bench_{uuid.uuid4().hex[:10]}"
            workers = 2
        owners = max(1, k // DEVICES_PER_OWNER)
        tokens = _owners(data, url, owners)
        args = ["--data", str(data)]
        if url:
            args += ["--database-url", url, "--workers", str(workers)]
        server = ServeProcess(args)
        server.start()
        try:
            tally, base, elapsed, base_elapsed = asyncio.run(
                _load(server.url, server.port, tokens, k, seconds)
            )
            rss = server.rss_mb()
        finally:
            server.stop()
            if url:
                from server.pg import drop_prefix

                drop_prefix(url)
    label = f"{backend} {workers}w K={k}"
    ours = harness.Figure(f"{label} sync requests/s", "r/s", [tally.requests / elapsed])
    baseline = harness.Figure(f"{label} healthz requests/s", "r/s", [base.requests / base_elapsed])
    extra = [
        harness.Figure(f"{label} events stored/s", "e/s", [tally.events / elapsed]),
        harness.Figure(f"{label} p50 latency", "ms", [1000 * _percentile(tally.latencies, 0.5)]),
        harness.Figure(f"{label} p99 latency", "ms", [1000 * _percentile(tally.latencies, 0.99)]),
        harness.Figure(f"{label} server memory at end", "MB", [rss]),
    ]
    counts = {
        "backend": backend,
        "workers": workers,
        "devices": k,
        "owners": owners,
        "seconds": round(elapsed, 2),
        "requests": tally.requests,
        "events": tally.events,
        "errors": tally.errors + base.errors,
        "first_error": tally.first_error,
        "p50_ms": round(1000 * statistics.median(tally.latencies or [0.0]), 2),
    }
    return harness.Comparison(f"{label} sync vs healthz r/s", ours, baseline), extra, counts


#: Devices per run and seconds of load per run, by mode.
SIZES: Final[dict[harness.Mode, tuple[tuple[int, ...], float]]] = {
    "full": ((10, 100, 500), 15.0),
    "quick": ((10, 50), 4.0),
    "smoke": ((3,), 1.0),
}


def run(mode: harness.Mode = "full") -> dict[str, Any]:
    """Every deployment at every K; raises if any request failed (errors must be 0)."""
    sizes, seconds = SIZES[mode]
    pg = _pg_up()
    backends = ["sqlite"] + (["postgres"] if pg else [])
    comparisons: list[harness.Comparison] = []
    extra: list[harness.Figure] = []
    runs = []
    for backend in backends:
        for k in sizes:
            comparison, figures, counts = scenario(backend, k, seconds)
            comparisons.append(comparison)
            extra += figures
            runs.append(counts)
    params = {
        "devices": sizes,
        "seconds": seconds,
        "batch": BATCH,
        "devices_per_owner": DEVICES_PER_OWNER,
        "backends": backends,
        "runs": runs,
    }
    skipped = {} if pg else {"postgres 2 workers": f"PostgreSQL not reachable at {PG_URL}"}
    document = harness.report(
        harness.result_name("load", mode),
        params,
        comparisons,
        extra,
        write=mode != "smoke",
        skipped=skipped,
    )
    failed = [r for r in runs if r["errors"]]
    if failed:
        raise RuntimeError(f"requests failed under load (must be none): {failed}")
    return document


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    run("quick" if parser.parse_args().quick else "full")
