"""Several workers, each listening on its own socket (SO_REUSEPORT): connections spread.

With one socket shared by every worker, the worker that woke first accepted a
whole burst of connections. These tests read which worker process holds each
connection from /proc (Linux, as the server's tests run).
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn

from core.errors import ReciprocityError
from server import asgi
from tests.scale_support import Served

LINUX = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc (Linux)")


@pytest.fixture
def two_workers(tmp_path: Path, pg_url: str) -> Iterator[Served]:
    served = Served(tmp_path / "server", database_url=pg_url, workers=2).start()
    yield served
    served.stop()


@LINUX
@pytest.mark.postgres
def test_a_burst_of_connections_is_spread_over_the_workers(two_workers: Served) -> None:
    port = two_workers.server.port
    _wait_for(lambda: _listening(port) == 2, "both workers listening")  # one may be starting
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
    try:
        for client in clients:  # every connection accepted and answered
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        for client in clients:
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
        process = two_workers.server.process
        assert process is not None
        held = _connections_by_process(port, _children(process.pid))
    finally:
        for client in clients:
            client.close()
    assert len(held) == 2, held
    assert sum(held.values()) == 40
    assert min(held.values()) >= 5, held  # each at least 5 of 40: a split, not a capture


@LINUX
@pytest.mark.postgres
def test_a_dead_workers_socket_closes_with_it_and_its_replacement_listens(
    two_workers: Served,
) -> None:
    port = two_workers.server.port
    _wait_for(lambda: _listening(port) == 2, "both workers listening")
    process = two_workers.server.process
    assert process is not None
    workers = [pid for pid in _children(process.pid) if _listens(pid, port)]
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    _wait_for(lambda: _listening(port) == 1, "the dead worker's socket closed")
    for _ in range(20):  # every new connection goes to the live worker
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
    _wait_for(lambda: _listening(port) == 2, "the replacement worker listening")


def test_a_port_another_program_holds_is_a_clear_error() -> None:
    if not hasattr(socket, "SO_REUSEPORT"):
        pytest.skip("no SO_REUSEPORT here: the workers share one socket")
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        settings = uvicorn.Config("server.asgi:app", host="127.0.0.1", port=port)
        with pytest.raises(ReciprocityError, match=f"cannot listen on 127.0.0.1:{port}"):
            asgi._listeners(settings, "127.0.0.1", port)


def test_a_worker_socket_unpickles_as_a_socket_bound_beside_the_others() -> None:
    import pickle

    held = asgi.bind_reuse_port("127.0.0.1", 0)
    port = held.getsockname()[1]
    try:
        bound = pickle.loads(pickle.dumps(asgi.WorkerSocket("127.0.0.1", port)))
        try:
            assert isinstance(bound, socket.socket)
            assert bound.getsockname() == ("127.0.0.1", port)
        finally:
            bound.close()
    finally:
        held.close()


def _wait_for(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _listens(pid: int, port: int) -> bool:
    """Whether process `pid` holds a socket listening on `port`."""
    inodes = {fields[9] for fields in _rows(port) if fields[3] == "0A"}
    return any(_socket_inode(fd) in inodes for fd in Path(f"/proc/{pid}/fd").iterdir())


def _socket_inode(fd: Path) -> str | None:
    try:
        target = os.readlink(fd)
    except OSError:
        return None
    return target[8:-1] if target.startswith("socket:[") else None


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    found: list[int] = []
    for task in tasks.iterdir():
        text = (task / "children").read_text().split()
        found += [int(child) for child in text]
    return found


def _rows(port: int) -> list[list[str]]:
    """The kernel's TCP table rows whose local port is `port`."""
    rows = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if os.path.exists(table):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    rows.append(fields)
    return rows


def _listening(port: int) -> int:
    return sum(1 for fields in _rows(port) if fields[3] == "0A")  # LISTEN


def _connections_by_process(port: int, pids: list[int]) -> dict[int, int]:
    """How many established connections to `port` each process holds (by socket inode)."""
    inodes = {fields[9] for fields in _rows(port) if fields[3] == "01"}  # ESTABLISHED
    held: dict[int, int] = {}
    for pid in pids:
        count = sum(1 for fd in Path(f"/proc/{pid}/fd").iterdir() if _socket_inode(fd) in inodes)
        if count:
            held[pid] = count
    return held
