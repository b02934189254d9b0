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
import signal
import statistics
import subprocess
import sys
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
from server.run import free_port
from sync import protocol
from sync.protocol import EnrollRequest, EnrollResponse, SyncRequest, SyncResponse

ROOT: Final = Path(__file__).resolve().parent.parent
PG_URL: Final = os.environ.get("RECIP_BENCH_PG", "postgresql://root@127.0.0.1:5432/test")
DEVICES_PER_OWNER: Final = 5
BATCH: Final = 5
_REPLY: Final = msgspec.msgpack.Decoder(SyncResponse)
_HEADERS: Final = {"Content-Type": protocol.MSGPACK, "Accept": protocol.MSGPACK}


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


class Server:
    """`recip serve` in its own process group; memory summed over its workers."""

    def __init__(self, data: Path, database_url: str | None, workers: int) -> None:
        self.data = data
        self.database_url = database_url
        self.port = free_port()
        args = ["serve", "--port", str(self.port), "--data", str(data)]
        if database_url:
            args += ["--database-url", database_url, "--workers", str(workers)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli", *args],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("recip serve did not start")

    def rss_mb(self) -> float:
        """Resident memory of the server and every process below it, in MB."""
        total = 0
        pending = [self.process.pid]
        while pending:
            pid = pending.pop()
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                total += next(
                    int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")
                )
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pending += [int(c) for c in (task / "children").read_text().split()]
            except (OSError, StopIteration):
                continue
        return total / 1024

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)


def _owners(data: Path, database_url: str | None, count: int) -> list[str]:
    """Create owners before the server starts serving them; their enrollment tokens."""
    tokens = []
    if database_url:
        from server.pg import PgBackend

        backend = PgBackend(database_url, pool_size=2)
        try:
            for i in range(count):
                owner, token = backend.accounts.add_owner(f"owner {i}")
                backend.owner_store(owner.owner_id).close()
                tokens.append(token)
        finally:
            backend.close()
        return tokens
    from server.accounts import Accounts

    accounts = Accounts(data / "accounts.db")
    try:
        for i in range(count):
            tokens.append(accounts.add_owner(f"owner {i}")[1])
    finally:
        accounts.close()
    return tokens


async def _enroll(client: httpx.AsyncClient, tokens: list[str], k: int) -> list[Device]:
    async def one(i: int) -> Device:
        device_id = new_id()
        body = EnrollRequest(
            token=tokens[i // DEVICES_PER_OWNER], device_id=device_id, device_name=f"d{i}"
        )
        answer = await client.post(
            "/v1/enroll", content=msgspec.json.encode(body), headers={"Content-Type": protocol.JSON}
        )
        answer.raise_for_status()
        reply = msgspec.json.decode(answer.content, type=EnrollResponse)
        return Device(device_id, reply.device_token)

    return list(await asyncio.gather(*(one(i) for i in range(k))))


async def _device_loop(
    client: httpx.AsyncClient, device: Device, ends: float, tally: Tally
) -> None:
    now = commands.Now.system()
    headers = {**_HEADERS, "Authorization": f"Bearer {device.token}"}
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
            answer = await client.post(
                "/v1/sync", content=protocol.encode(request, "msgpack"), headers=headers
            )
        except httpx.HTTPError as exc:
            tally.errors += 1
            tally.first_error = tally.first_error or repr(exc)
            device.seq -= len(events)
            continue
        tally.latencies.append(time.perf_counter() - started)
        tally.requests += 1
        if answer.status_code != 200:
            tally.errors += 1
            tally.first_error = tally.first_error or f"{answer.status_code} {answer.text[:200]}"
            device.seq -= len(events)
            continue
        reply = _REPLY.decode(answer.content)
        tally.events += len(events)
        device.cursor = reply.cursor
        pushing = not reply.more  # drain a backlog of others' events before pushing more


async def _load(url: str, tokens: list[str], k: int, seconds: float) -> tuple[Tally, Tally, float]:
    limits = httpx.Limits(max_connections=k, max_keepalive_connections=k)
    timeout = httpx.Timeout(120.0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
        devices = await _enroll(client, tokens, k)
        # Baseline: the bare HTTP stack at the same concurrency.
        base = Tally()

        async def ping(ends: float) -> None:
            while time.monotonic() < ends:
                started = time.perf_counter()
                answer = await client.get("/healthz")
                base.latencies.append(time.perf_counter() - started)
                base.requests += 1
                base.errors += answer.status_code != 200

        ends = time.monotonic() + seconds / 3
        began = time.monotonic()
        await asyncio.gather(*(ping(ends) for _ in range(k)))
        base_elapsed = time.monotonic() - began
        tally = Tally()
        began = time.monotonic()
        ends = began + seconds
        await asyncio.gather(*(_device_loop(client, d, ends, tally) for d in devices))
        elapsed = time.monotonic() - began
    tally.latencies.append(0.0) if not tally.latencies else None
    base.latencies.append(base_elapsed)  # carries the elapsed time to the caller
    return tally, base, elapsed


def _percentile(values: list[float], q: float) -> float:
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
        server = Server(data, url, workers)
        try:
            tally, base, elapsed = asyncio.run(_load(server.url, tokens, k, seconds))
            rss = server.rss_mb()
        finally:
            server.stop()
            if url:
                from server.pg import drop_prefix

                drop_prefix(url)
    base_elapsed = base.latencies.pop()
    label = f"{backend} {workers}w K={k}"
    ours = harness.Figure(f"{label} sync requests/s", "r/s", [tally.requests / elapsed])
    baseline = harness.Figure(f"{label} healthz requests/s", "r/s", [base.requests / base_elapsed])
    extra = [
        harness.Figure(f"{label} events stored/s", "e/s", [tally.events / elapsed]),
        harness.Figure(f"{label} p50 latency", "ms", [1000 * _percentile(tally.latencies, 0.5)]),
        harness.Figure(f"{label} p99 latency", "ms", [1000 * _percentile(tally.latencies, 0.99)]),
        harness.Figure(f"{label} errors", "n", [float(tally.errors + base.errors)]),
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
        "p50_ms": round(1000 * statistics.median(tally.latencies), 2),
    }
    return harness.Comparison(f"{label} sync vs healthz r/s", ours, baseline), extra, counts


def run(quick: bool = False) -> dict[str, Any]:
    sizes = (10, 50) if quick else (10, 100, 500)
    seconds = 4.0 if quick else 15.0
    backends = ["sqlite"] + (["postgres"] if _pg_up() else [])
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
        "skipped": [] if "postgres" in backends else [f"postgres: not reachable at {PG_URL}"],
    }
    return harness.report("load-quick" if quick else "load", params, comparisons, extra)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    run(parser.parse_args().quick)
