"""The peer Reciprocity's sync is measured against: PouchDB replication.

PouchDB (LevelDB on disk) on each device, replicating through PouchDB's own
CouchDB-compatible HTTP server (express-pouchdb, LevelDB on disk) on 127.0.0.1:
what a person building an offline-first app would pick instead. The node scripts
and the exact versions live in `bench/peers/pouchdb/`; `node_modules` is installed
there with `npm ci` (never committed).

This module only drives those scripts: it starts `server.js` as its own process
(as `recip serve` is one), runs `replicate.js` on the workload's JSON lines, and
reads back the timings `replicate.js` measured around each replication, after it
has checked that every replica holds every event. If node or the npm modules are
missing, `unavailable()` says why and the benchmarks skip the peer: a missing
peer is reported as missing, never replaced by a guess.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import msgspec

PEER_DIR: Final = Path(__file__).parent / "peers" / "pouchdb"
#: PouchDB's default replication batch is 100 documents; 1000 is faster on this
#: workload (ADR 0041), so the peer runs at its better setting.
BATCH_SIZE: Final = 1000
_READY_TIMEOUT_S: Final = 30.0
_RUN_TIMEOUT_S: Final = 3600.0


class PeerUnavailable(RuntimeError):
    """The peer cannot run here (no node, modules not installed, install failed)."""


class Phase(msgspec.Struct, frozen=True):
    """One device's replication in one direction."""

    seconds: float
    docs_written: int


class PeerRun(msgspec.Struct, frozen=True):
    """What `replicate.js` measured and verified in one run."""

    peer: str
    versions: dict[str, str]
    devices: int
    events: int
    batch_size: int
    push: list[Phase]
    pull: list[Phase]
    push_seconds: float
    pull_seconds: float
    verified: bool

    @property
    def seconds(self) -> float:
        """End to end: every push, then every pull."""
        return self.push_seconds + self.pull_seconds


def unavailable() -> str | None:
    """Why the peer cannot run here, or None if it can."""
    if shutil.which("node") is None:
        return "node is not installed (the PouchDB peer needs Node.js >= 18)"
    missing = [
        name
        for name in ("express", "express-pouchdb", "pouchdb-node")
        if not (PEER_DIR / "node_modules" / name / "package.json").exists()
    ]
    if missing:
        return (
            f"the PouchDB peer's npm modules are not installed ({', '.join(missing)} missing): "
            f"run `npm ci` in {PEER_DIR}"
        )
    return None


def install() -> str | None:
    """Install the peer's modules with `npm ci` if needed; returns why it cannot run, if so."""
    reason = unavailable()
    if reason is None or shutil.which("node") is None:
        return reason
    if shutil.which("npm") is None:
        return f"{reason}; npm is not installed"
    print(f"installing the PouchDB peer: npm ci in {PEER_DIR}", flush=True)
    done = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],
        cwd=PEER_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return f"`npm ci` failed in {PEER_DIR}: {' / '.join(tail)}"
    return unavailable()


@contextmanager
def server(data: Path) -> Iterator[str]:
    """Run the peer's HTTP server on a free loopback port; yields its URL."""
    process = subprocess.Popen(
        ["node", str(PEER_DIR / "server.js"), "--dir", str(data), "--port", "0"],
        cwd=PEER_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = _ready_port(process)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)


def _ready_port(process: subprocess.Popen[str]) -> int:
    """The port from the server's first stdout line, or a clear error."""
    line: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(_READY_TIMEOUT_S)
    if not line or not line[0].strip():
        _stop(process)
        stderr = process.stderr.read() if process.stderr else ""
        raise PeerUnavailable(f"the PouchDB server did not start: {stderr.strip()[-500:]}")
    try:
        return int(json.loads(line[0])["port"])
    except (ValueError, KeyError, TypeError) as exc:
        _stop(process)
        raise PeerUnavailable(f"the PouchDB server said {line[0]!r}, not its port") from exc


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def replicate(
    url: str, work: Path, inputs: Sequence[Path], *, batch_size: int = BATCH_SIZE
) -> PeerRun:
    """Load one device per JSON-lines file, push all, pull all, verify; returns the timings."""
    done = subprocess.run(
        [
            "node",
            str(PEER_DIR / "replicate.js"),
            "--url",
            url,
            "--dir",
            str(work),
            "--batch-size",
            str(batch_size),
            *map(str, inputs),
        ],
        cwd=PEER_DIR,
        capture_output=True,
        text=True,
        check=False,
        timeout=_RUN_TIMEOUT_S,
        env={**os.environ, "NODE_ENV": "production"},
    )
    if done.returncode != 0:
        raise RuntimeError(f"the PouchDB replication failed: {done.stderr.strip()[-2000:]}")
    result = msgspec.json.decode(done.stdout.strip().splitlines()[-1], type=PeerRun)
    if not result.verified:
        raise RuntimeError("the PouchDB run did not verify its replicas")
    return result


def run_pouchdb(work: Path, inputs: Sequence[Path], *, batch_size: int = BATCH_SIZE) -> PeerRun:
    """One complete peer run in a fresh directory: server up, replicate, server down."""
    work.mkdir(parents=True, exist_ok=True)
    with server(work / "server") as url:
        return replicate(url, work / "devices", inputs, batch_size=batch_size)
