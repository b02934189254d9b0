"""Sync end to end: Reciprocity through `recip serve` beside PouchDB replication.

The workload (`bench.workload`): D = 3 devices, each holding N events it recorded;
at the end every device must hold all D x N. Both systems move the same events
through a real server process on 127.0.0.1, one device at a time:

- Reciprocity: a `recip serve` process on a fresh data directory, one owner, the
  three device homes enrolled with it; each device runs its replica's `sync` (the
  code behind `recip sync`: push everything unacknowledged, pull until nothing
  remains), then each device syncs once more. Round 1 pushes every event (and
  pulls what earlier devices pushed), round 2 pulls the rest.
- PouchDB (`bench.peer`): each device replicates to the server, then each
  device replicates from the server.

The figure is events/s end to end: D x N over the sum of both phases. Setup
(building the homes, loading PouchDB's databases, starting servers, enrolling) is
not timed. After each run every replica is checked to hold exactly the D x N
event ids, once each; a run that fails the check fails the benchmark.

Only `ReciprocitySync` knows the sync and server interfaces (ADR 0042), so a
change there changes one small class.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import httpx

from bench import peer
from bench.harness import Comparison, Figure, Mode, report, result_name
from bench.workload import DeviceHome, build_devices, generator_name
from cli.home import Home

OPEN = ("--uses", "unlimited", "--expires", "never")

NAME: Final = "sync"
DEVICES: Final = 3
SIZES: Final[dict[str, tuple[int, ...]]] = {
    "full": (10_000, 100_000),
    "quick": (1_000,),
    "smoke": (30,),
}
REPEATS: Final[dict[str, int]] = {"full": 3, "quick": 2, "smoke": 1}
#: Issue 7: Reciprocity's events/s at least 5x PouchDB's.
TARGET_RATIO: Final = 5.0
#: Issue 4: at least 20,000 events/s end to end.
TARGET_RATE: Final = 20_000.0
ROOT: Final = Path(__file__).resolve().parent.parent
_READY_TIMEOUT_S: Final = 30.0


class SyncUnavailable(RuntimeError):
    """Reciprocity's sync server or client is not part of this checkout yet."""


@dataclass(frozen=True)
class OursRun:
    """One Reciprocity run: seconds of each device's sync in each round."""

    round1: list[float]
    round2: list[float]
    pushed: int
    pulled: int

    @property
    def seconds(self) -> float:
        return sum(self.round1) + sum(self.round2)


# -- Reciprocity: the adapter to `recip serve` and the device replica ---------------


def _recip(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


class ReciprocitySync:
    """A real `recip serve` process and in-process device replicas talking to it.

    Use as a context manager: the server runs from `__enter__` to `__exit__`.
    The devices run `sync.replica.Replica` over `sync.http.HttpTransport`, the
    code `recip sync` runs, without paying a Python start-up per sync.
    """

    def __init__(self, data: Path) -> None:
        self.data = data
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._replicas: list[Any] = []

    def __enter__(self) -> ReciprocitySync:
        from server.run import free_port

        self.data.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._process = subprocess.Popen(
            _recip("serve", "--host", "127.0.0.1", "--port", str(port), "--data", str(self.data)),
            cwd=ROOT,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                stderr = self._process.stderr.read() if self._process.stderr else b""
                raise RuntimeError(f"recip serve exited: {stderr.decode(errors='replace')[-800:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"recip serve did not answer /healthz within {_READY_TIMEOUT_S:.0f} s")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for replica in self._replicas:
            replica.transport.close()
            replica.log.store.close()
        self._replicas.clear()
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process is not None and process.stderr is not None:
            process.stderr.close()

    def add_owner(self, name: str) -> str:
        """`recip admin add-owner`: the enrollment token is alone on its last line."""
        done = subprocess.run(
            _recip("admin", "add-owner", name, *OPEN, "--data", str(self.data)),
            cwd=ROOT,
            env=_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"recip admin add-owner failed: {done.stderr.strip()}")
        return done.stdout.strip().splitlines()[-1].strip()

    def enroll(self, home: Path, enrollment_token: str) -> int:
        """Enroll a device home; returns its index for `sync`."""
        from sync.http import HttpTransport, enroll
        from sync.replica import Replica

        device = Home(home).device()
        reply = enroll(self.url, enrollment_token, device.device_id, device.name)
        log = Home(home).open_log()
        self._replicas.append(
            Replica(log, HttpTransport(self.url, reply.device_token), upstream=self.url)
        )
        return len(self._replicas) - 1

    def sync(self, device: int) -> tuple[int, int]:
        """One full sync of a device: (pushed, pulled)."""
        summary = self._replicas[device].sync()
        return int(summary.pushed), int(summary.pulled)


def run_ours(work: Path, template: Sequence[DeviceHome]) -> OursRun:
    """Copy the device homes, sync them through a fresh server, verify, time each sync."""
    homes = []
    for made in template:
        home = work / made.home.name
        shutil.copytree(made.home, home)
        homes.append(home)
    round1: list[float] = []
    round2: list[float] = []
    pushed = pulled = 0
    with ReciprocitySync(work / "server") as system:
        token = system.add_owner("bench")
        devices = [system.enroll(home, token) for home in homes]
        for seconds in (round1, round2):
            for device in devices:
                start = time.perf_counter()
                p, q = system.sync(device)
                seconds.append(time.perf_counter() - start)
                pushed += p
                pulled += q
    verify_homes(homes, expected_ids(template))
    return OursRun(round1, round2, pushed, pulled)


def expected_ids(template: Sequence[DeviceHome]) -> set[str]:
    """Every event id of the workload."""
    import msgspec

    class _Id(msgspec.Struct):
        event_id: str

    decoder = msgspec.json.Decoder(_Id)
    ids: set[str] = set()
    for device in template:
        with device.jsonl.open("rb") as lines:
            ids.update(decoder.decode(line).event_id for line in lines if line.strip())
    return ids


def verify_homes(homes: Sequence[Path], expected: set[str]) -> None:
    """Every device holds exactly the expected events, each once."""
    for home in homes:
        log = Home(home).open_log()
        try:
            held = [event.event_id for event in log.events()]
        finally:
            log.store.close()
        if len(held) != len(expected) or set(held) != expected:
            missing = len(expected - set(held))
            raise AssertionError(
                f"{home.name} holds {len(held)} events ({len(set(held))} distinct, "
                f"{missing} missing); expected {len(expected)}"
            )


# -- the benchmark ---------------------------------------------------------------------


@contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="recip-bench-sync-") as tmp:
        yield Path(tmp)


def run(mode: Mode) -> dict[str, Any]:
    """Both systems on the same workload, at each size of `mode`, interleaved per repeat."""
    skipped: dict[str, str] = {}
    peer_reason = peer.unavailable() if mode == "smoke" else peer.install()
    if peer_reason:
        skipped["pouchdb"] = peer_reason
    comparisons: list[Comparison] = []
    extra: list[Figure] = []
    versions: dict[str, str] = {}
    for n in SIZES[mode]:
        ours = Figure(f"reciprocity D={DEVICES} N={n:,}", "ev/s")
        ours_rounds = (
            Figure(f"  reciprocity round 1 (push all) N={n:,}", "s"),
            Figure(f"  reciprocity round 2 (pull rest) N={n:,}", "s"),
        )
        theirs = Figure(f"pouchdb D={DEVICES} N={n:,}", "ev/s")
        their_phases = (
            Figure(f"  pouchdb push phase N={n:,}", "s"),
            Figure(f"  pouchdb pull phase N={n:,}", "s"),
        )
        with _workdir() as work:
            template = build_devices(work / "template", DEVICES, n)
            total = sum(d.events for d in template)
            inputs = [d.jsonl for d in template]
            for r in range(REPEATS[mode]):
                mine = run_ours(work / f"ours-{r}", template)
                ours.samples.append(total / mine.seconds)
                ours_rounds[0].samples.append(sum(mine.round1))
                ours_rounds[1].samples.append(sum(mine.round2))
                shutil.rmtree(work / f"ours-{r}")
                if not peer_reason:
                    other = peer.run_pouchdb(work / f"peer-{r}", inputs)
                    versions = other.versions
                    theirs.samples.append(total / other.seconds)
                    their_phases[0].samples.append(other.push_seconds)
                    their_phases[1].samples.append(other.pull_seconds)
                    shutil.rmtree(work / f"peer-{r}")
        if ours.samples and theirs.samples:
            label = f"sync D={DEVICES} N={n:,} events/s end to end"
            comparisons.append(Comparison(label, ours, theirs, target=TARGET_RATIO))
        else:
            extra.extend(f for f in (ours, theirs) if f.samples)
        extra.extend(f for f in (*ours_rounds, *their_phases) if f.samples)
        if ours.samples:
            met = "met" if ours.median >= TARGET_RATE else "NOT met"
            print(f"reciprocity N={n:,}: {ours.median:,.0f} ev/s, target {TARGET_RATE:,.0f} {met}")
    params = {
        "mode": mode,
        "devices": DEVICES,
        "events_per_device": list(SIZES[mode]),
        "repeats": REPEATS[mode],
        "generator": generator_name(),
        "figure": "D x N events / (sum of every device's push and pull time)",
        "target_ratio": TARGET_RATIO,
        "target_events_per_s": TARGET_RATE,
        "pouchdb_batch_size": peer.BATCH_SIZE,
        "peer_versions": versions,
    }
    return report(
        result_name(NAME, mode),
        params,
        comparisons,
        extra,
        write=mode != "smoke",
        skipped=skipped,
    )
