"""`recip serve` as a child process: for end-to-end tests and load benchmarks.

The server runs in its own process group, so that stopping it stops its uvicorn
workers too, and its memory is read over the whole process tree.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .run import free_port

ROOT = Path(__file__).resolve().parent.parent


class ServeProcess:
    """`python -m cli serve --port P ARGS...`, healthy once `start` returns."""

    def __init__(self, args: list[str], *, port: int | None = None) -> None:
        self.args = args
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", "--port", str(self.port), *self.args],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"recip serve exited with {self.process.returncode}")
            time.sleep(0.05)
        raise RuntimeError("recip serve did not become healthy")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Signal the whole process group (the server and its workers) and wait."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)
        self.process = None

    def rss_mb(self) -> float:
        """Resident memory of the server and every process below it, in MB."""
        if self.process is None:
            return 0.0
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
