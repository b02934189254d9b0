"""Live pokes: the SSE stream, its resumption, and `recip sync --watch` end to end.

Bounded waits here are generous deadlines for something that must happen, not
measurements: a slow machine passes, a poke that never comes fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import commands
from core.ids import new_id
from core.log import EventLog
from core.store import open_store
from server.accounts import OPEN_INVITE
from server.run import BackgroundServer
from server.stream import StreamConfig
from sync.backoff import Backoff
from sync.http import HttpTransport, enroll
from sync.protocol import EnrollResponse, Refusal
from sync.replica import Replica
from sync.watch import Watch, follow, parse_events
from tests.conftest import ROOT, Recip
from tests.scale_support import Served, served_server

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
NOW = commands.Now.system()
DEADLINE_S = 30.0


def eventually(check: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> None:
    ends = time.monotonic() + timeout
    while not check():
        if time.monotonic() > ends:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


# -- the SSE parser ------------------------------------------------------------------------

_text = st.text(st.characters(blacklist_characters="\r\n", codec="utf-8"), max_size=20)


@settings(max_examples=60)
@given(st.lists(st.tuples(st.from_regex(r"[a-z]{1,8}", fullmatch=True), _text, _text)))
def test_parse_events_reads_back_what_was_framed(
    events: list[tuple[str, str, str]],
) -> None:
    lines: list[str] = [": a comment first"]
    for kind, data, ident in events:
        lines += [f"event: {kind}", f"id: {ident}", f"data: {data}", ": heartbeat", ""]
    expected = [(k, d, i) for k, d, i in events]
    assert list(parse_events(iter(lines))) == expected


# -- the stream over HTTP (in-process server) ---------------------------------------------------


class Owner:
    """An owner on a live server with enrolled devices, each with its own log."""

    def __init__(self, server: BackgroundServer, tmp_path: Path) -> None:
        self.server = server
        self.tmp_path = tmp_path
        self.owner, self.token = server.service.accounts.add_owner("alice", OPEN_INVITE)

    def device(self, name: str) -> tuple[EnrollResponse, EventLog]:
        reply = enroll(self.server.url, self.token, new_id(), name)
        return reply, EventLog(open_store(str(self.tmp_path / f"{name}.db")), reply.device_id)

    def sync(self, reply: EnrollResponse, log: EventLog) -> None:
        with HttpTransport(self.server.url, reply.device_token) as transport:
            Replica(log, transport, self.owner.owner_id).sync()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[BackgroundServer]:
    server = BackgroundServer(tmp_path / "server")
    server.app.state.stream_config = StreamConfig(heartbeat_s=0.3, poll_s=0.05)
    server.start()
    yield server
    server.stop()


def _pokes(url: str, token: str, cursor: int, into: list[int], count: int) -> threading.Thread:
    def run() -> None:
        with httpx.Client(base_url=url) as client:
            for poke in follow(client, token, cursor):
                into.append(poke)
                if len(into) >= count:
                    return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_push_pokes_the_other_devices_with_the_new_cursor(
    live: BackgroundServer, tmp_path: Path
) -> None:
    alice = Owner(live, tmp_path)
    laptop, laptop_log = alice.device("laptop")
    phone, _ = alice.device("phone")
    seen: list[int] = []
    listener = _pokes(live.url, phone.device_token, 0, seen, 1)
    time.sleep(0.2)  # let the stream open; a late open is poked at once anyway
    laptop_log.append([commands.add_contact(NOW, "Ann"), commands.add_contact(NOW, "Bob")])
    alice.sync(laptop, laptop_log)
    listener.join(DEADLINE_S)
    assert seen == [2]


def test_a_dropped_stream_resumes_from_its_last_event_id(
    live: BackgroundServer, tmp_path: Path
) -> None:
    alice = Owner(live, tmp_path)
    laptop, laptop_log = alice.device("laptop")
    phone, _ = alice.device("phone")
    laptop_log.append([commands.add_contact(NOW, "Ann")])
    alice.sync(laptop, laptop_log)
    first: list[int] = []
    _pokes(live.url, phone.device_token, 0, first, 1).join(DEADLINE_S)
    assert first == [1]  # behind on connect: poked at once
    # The connection is gone; meanwhile three more events land.
    laptop_log.append([commands.add_contact(NOW, f"n{i}") for i in range(3)])
    alice.sync(laptop, laptop_log)
    resumed: list[int] = []
    _pokes(live.url, phone.device_token, first[-1], resumed, 1).join(DEADLINE_S)
    assert resumed == [4]


def test_heartbeats_keep_an_idle_stream_alive_and_refusals_are_clean(
    live: BackgroundServer, tmp_path: Path
) -> None:
    alice = Owner(live, tmp_path)
    phone, _ = alice.device("phone")
    headers = {"Authorization": f"Bearer {phone.device_token}"}
    with httpx.stream("GET", f"{live.url}/v1/stream", headers=headers, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        got = [next(lines) for _ in range(4)]
    assert got[0].startswith("retry: ")
    assert ": heartbeat" in got
    assert httpx.get(f"{live.url}/v1/stream").status_code == 401
    answer = httpx.get(f"{live.url}/v1/stream?cursor=x", headers=headers)
    assert answer.status_code == 400
    assert answer.json()["error"] == "malformed"


def test_a_revoked_device_stream_ends(live: BackgroundServer, tmp_path: Path) -> None:
    alice = Owner(live, tmp_path)
    phone, _ = alice.device("phone")
    headers = {"Authorization": f"Bearer {phone.device_token}"}
    with httpx.stream("GET", f"{live.url}/v1/stream", headers=headers, timeout=10) as response:
        live.service.accounts.revoke(alice.owner.owner_id, "phone")
        lines = list(response.iter_lines())  # ends by itself within a heartbeat
    assert lines[0].startswith("retry: ")
    assert not any(line.startswith("event:") for line in lines)
    assert httpx.get(f"{live.url}/v1/stream", headers=headers).status_code == 403


# -- the watcher, through a server that goes away and comes back ------------------------------


def quick_server(data: Path, port: int | None = None) -> BackgroundServer:
    """Short-lived streams (the client reconnects), so that stopping is quick."""
    server = BackgroundServer(data, port=port)
    server.app.state.stream_config = StreamConfig(heartbeat_s=0.3, lifetime_s=1.0, poll_s=0.05)
    server.start()
    return server


def test_watch_pulls_when_poked_pushes_when_recording_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    server = quick_server(tmp_path / "server")
    alice = Owner(server, tmp_path)
    laptop, laptop_log = alice.device("laptop")
    phone, phone_log = alice.device("phone")
    phone_view = EventLog(open_store(str(tmp_path / "phone.db")), phone.device_id)

    client = httpx.Client(base_url=server.url)
    transport = HttpTransport(server.url, phone.device_token)
    replica = Replica(phone_log, transport, alice.owner.owner_id, backoff_s=0.05)
    watch = Watch(replica, client, phone.device_token, poll_s=0.05, backoff=Backoff(0.05, 0.5))
    runner = threading.Thread(target=watch.run, daemon=True)
    runner.start()
    try:
        laptop_log.append([commands.add_contact(NOW, "Ann")])
        alice.sync(laptop, laptop_log)
        eventually(lambda: phone_view.position() == 1, "the phone pulls Ann")

        phone_view.append([commands.add_contact(NOW, "Pat")])  # recorded by another process
        eventually(lambda: watch.replica.acked() == 1, "the phone pushes Pat")

        connections = watch.connections
        server.stop()  # the stream drops; reconnects fail for a while
        time.sleep(0.3)
        server = quick_server(tmp_path / "server", port=server.port)
        alice.server = server
        laptop_log.append([commands.add_contact(NOW, "Bob")])
        alice.sync(laptop, laptop_log)
        eventually(lambda: phone_view.position() == 3, "the phone pulls Bob after the restart")
        assert watch.connections > connections
        names = sorted(e.name for e in phone_view.events())  # type: ignore[union-attr]
        assert names == ["Ann", "Bob", "Pat"]
    finally:
        watch.stop.set()
        runner.join(10)
        transport.close()
        client.close()
        server.stop()
    assert not runner.is_alive()


# -- end to end: `recip sync --watch` as a process, on SQLite and on 2 PostgreSQL workers ----


@pytest.fixture(params=["sqlite", "postgres-2-workers"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    yield from served_server(request, tmp_path)


def _cli(home: Path, *args: str) -> str:
    """`recip` in process; only the watcher is a process of its own."""
    return Recip(home).ok(*args)


def test_e2e_an_event_reaches_a_watching_device(tmp_path: Path, served: Served) -> None:
    token = served.add_owner("alice", tmp_path / "admin")
    homes = {}
    for name in ("laptop", "phone"):
        homes[name] = tmp_path / name
        _cli(homes[name], "init", "--device-name", name)
        _cli(homes[name], "remote", "add", served.url, "--token", token, "--device-name", name)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    watching = subprocess.Popen(
        [sys.executable, "-m", "cli", "--home", str(homes["phone"]), "sync", "--watch", "--json"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ann = _cli(homes["laptop"], "contact", "add", "Ann").strip()
        _cli(homes["laptop"], "sync")

        def phone_has(contact_id: str) -> bool:
            listing = json.loads(_cli(homes["phone"], "contact", "list", "--json"))
            return contact_id in {c["contact_id"] for c in listing}

        eventually(lambda: phone_has(ann), "Ann reaches the watching phone", timeout=60)
        # Recorded on the phone by another process: the watcher pushes it.
        pat = _cli(homes["phone"], "contact", "add", "Pat").strip()

        def laptop_has_pat() -> bool:
            _cli(homes["laptop"], "sync")
            listing = json.loads(_cli(homes["laptop"], "contact", "list", "--json"))
            return pat in {c["contact_id"] for c in listing}

        eventually(laptop_has_pat, "Pat reaches the laptop through the watcher", timeout=60)
    finally:
        watching.send_signal(signal.SIGTERM)
        out, err = watching.communicate(timeout=30)
    assert watching.returncode == 0, err
    summaries = [json.loads(line) for line in out.splitlines()]
    assert sum(s["pulled"] for s in summaries) == 1
    assert sum(s["pushed"] for s in summaries) == 1


def test_watch_ends_with_the_servers_refusal_when_the_device_is_revoked(
    live: BackgroundServer, tmp_path: Path
) -> None:
    alice = Owner(live, tmp_path)
    phone, phone_log = alice.device("phone")
    live.service.accounts.revoke(alice.owner.owner_id, "phone")
    with (
        httpx.Client(base_url=live.url) as client,
        HttpTransport(live.url, phone.device_token) as transport,
    ):
        watch = Watch(
            Replica(phone_log, transport, alice.owner.owner_id), client, phone.device_token
        )
        with pytest.raises(Refusal) as refused:
            watch.run()
    assert refused.value.status == 403
    assert watch.stop.is_set()


def test_a_notification_wakes_the_event_loop_only_while_a_stream_watches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On PostgreSQL every push notifies every worker; a worker with no stream open
    (or a wake-up already pending) must not wake its event loop for it."""
    import asyncio
    from types import SimpleNamespace

    from server import stream

    pokes: list[Callable[[], object]] = []
    heard: list[Any] = []
    listening: list[bool] = []

    class Heard:
        def __init__(self, url: str, wake: Callable[[], object]) -> None:
            pokes.append(wake)
            self.wanted = threading.Event()
            heard.append(self)

        def start(self) -> None: ...

        def stop(self) -> None: ...

    monkeypatch.setattr(stream, "_Listener", Heard)
    service = SimpleNamespace(
        config=SimpleNamespace(database_url="postgresql://nowhere"), position=lambda owner: 7
    )

    async def scenario() -> list[bool]:
        watcher = stream.HeadWatcher(service, StreamConfig(poll_s=0.5))  # type: ignore[arg-type]
        await watcher.start()
        (poke,) = pokes

        def wakes() -> bool:
            """Whether a notification now would wake the event loop."""
            calls: list[object] = []
            with monkeypatch.context() as patched:
                loop = asyncio.get_running_loop()
                patched.setattr(loop, "call_soon_threadsafe", lambda *a: calls.append(a))
                poke()
            return bool(calls)

        seen = []
        try:
            seen.append(wakes())  # nothing watched
            listening.append(heard[0].wanted.is_set())
            async with watcher.watching("alice"):
                listening.append(heard[0].wanted.is_set())
                seen.append(wakes())
                poke()
                await asyncio.sleep(0.05)  # the poll ran and read the head again
                seen.append(watcher._heads["alice"] == 7)
                assert watcher._wake is not None
                watcher._wake.set()
                seen.append(wakes())  # a wake-up is pending already
            listening.append(heard[0].wanted.is_set())
        finally:
            await watcher.stop()
        return seen

    assert asyncio.run(scenario()) == [False, True, True, False]
    # ... and it listens at all only while a stream watches
    assert listening == [False, True, False]
