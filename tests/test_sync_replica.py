"""The device replica and the wire, in process and over real HTTP.

Resuming from a wrong acknowledgement hint, retries with backoff, final refusals,
progress, the clock-offset report, the HTTP client's error classification, the
wire codec's round trip, and the `recip` commands that drive them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.main import cli
from core import commands
from core.events import ContactAdded
from core.ids import new_id
from core.log import EventLog
from core.store import open_store
from server.accounts import OPEN_INVITE
from server.inprocess import LocalTransport
from server.run import BackgroundServer, free_port
from server.service import ServerConfig, SyncService
from sync import protocol
from sync.http import HttpTransport, enroll, list_devices
from sync.protocol import Refusal
from sync.replica import Progress, Replica, TransientError
from tests.event_strategies import kept_event

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
NOW = commands.Now(1_790_000_000_000, 0)


class Flaky:
    """Wraps a transport: the first `failures` exchanges fail as `error` says."""

    def __init__(self, inner: LocalTransport, failures: int, error: str = "lost") -> None:
        self.inner = inner
        self.format = inner.format
        self.failures = failures
        self.error = error
        self.calls = 0

    def exchange(self, body: bytes) -> bytes:
        self.calls += 1
        if self.calls <= self.failures:
            if self.error == "lost":
                raise TransientError("network down")
            if self.error == "after":
                self.inner.exchange(body)
                raise TransientError("response lost")
            raise Refusal(401, "unauthorized", "invalid device token")
        return self.inner.exchange(body)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[SyncService]:
    svc = SyncService(ServerConfig(data=tmp_path / "server"))
    yield svc
    svc.close()


def pair(service: SyncService, tmp_path: Path) -> tuple[Replica, Replica]:
    token = service.accounts.add_owner("alice", OPEN_INVITE)[1]
    replicas = []
    for name in ("laptop", "phone"):
        device_id = new_id()
        owner, device_token = service.accounts.enroll(token, device_id, name)
        log = EventLog(open_store(str(tmp_path / f"{name}.db")), device_id)
        replicas.append(
            Replica(log, LocalTransport(service, device_token), owner.owner_id, push_batch=3)
        )
    return replicas[0], replicas[1]


def add(replica: Replica, *names: str) -> None:
    replica.log.append([commands.add_contact(NOW, n) for n in names])


def names(replica: Replica) -> list[str]:
    return sorted(e.name for e in replica.log.events() if isinstance(e, ContactAdded))


def test_two_replicas_converge_in_pages(service: SyncService, tmp_path: Path) -> None:
    laptop, phone = pair(service, tmp_path)
    laptop.pull_limit = phone.pull_limit = 2
    add(laptop, *"abcdefg")
    add(phone, "x", "y")
    seen: list[Progress] = []
    assert laptop.sync(seen.append).pushed == 7
    pushed = [p.pushed for p in seen]
    assert pushed[:3] == [3, 6, 7] and pushed == sorted(pushed)  # then pages past its own
    summary = phone.sync()
    assert (summary.pushed, summary.pulled, summary.cursor) == (2, 7, 9)
    assert laptop.sync().pulled == 2
    assert names(laptop) == names(phone) == sorted("abcdefgxy")
    assert laptop.pending() == phone.pending() == 0


def test_a_wrong_acknowledgement_hint_is_repaired(service: SyncService, tmp_path: Path) -> None:
    laptop, _ = pair(service, tmp_path)
    add(laptop, "a", "b", "c", "d")
    laptop.sync()
    add(laptop, "e")
    laptop.log.store.put_meta("acked:" + laptop.upstream, 1, 0)  # stale: resends, skipped
    assert laptop.sync().acked_seq == 5
    laptop.log.store.put_meta("acked:" + laptop.upstream, 9, 0)  # ahead: server says 6
    add(laptop, "f")
    laptop.log.store.put_meta("acked:" + laptop.upstream, 5, 0)
    laptop.log.store.put_meta("acked:" + laptop.upstream, 9, 0)
    add(laptop, "g", "h", "i", "j")
    summary = laptop.sync()
    assert summary.acked_seq == 10
    with service.log(laptop.upstream) as held:
        assert held.last_seq(laptop.device_id) == 10
        assert len(list(held.events())) == 10


@pytest.mark.parametrize("error", ["lost", "after"])
def test_transient_failures_are_retried_with_backoff(
    service: SyncService, tmp_path: Path, error: str
) -> None:
    laptop, _ = pair(service, tmp_path)
    flaky = Flaky(laptop.transport, failures=3, error=error)  # type: ignore[arg-type]
    sleeps: list[float] = []
    replica = Replica(laptop.log, flaky, laptop.upstream, retries=3, sleep=sleeps.append)
    add(replica, "a", "b")
    assert replica.sync().acked_seq == 2
    assert len(sleeps) == 3
    assert sleeps[0] < sleeps[2]  # exponential, with jitter within [0.5, 1] of the step
    with service.log(laptop.upstream) as held:
        assert len(list(held.events())) == 2


def test_giving_up_loses_nothing_and_the_next_sync_resumes(
    service: SyncService, tmp_path: Path
) -> None:
    laptop, phone = pair(service, tmp_path)
    add(laptop, *"abcdefgh")
    flaky = Flaky(laptop.transport, failures=3, error="after")  # type: ignore[arg-type]
    replica = Replica(
        laptop.log, flaky, laptop.upstream, push_batch=3, retries=1, sleep=lambda s: None
    )
    with pytest.raises(TransientError):
        replica.sync()
    assert replica.sync().acked_seq == 8
    phone.sync()
    assert names(phone) == sorted("abcdefgh")


def test_final_refusals_are_not_retried(service: SyncService, tmp_path: Path) -> None:
    laptop, _ = pair(service, tmp_path)
    flaky = Flaky(laptop.transport, failures=5, error="refused")  # type: ignore[arg-type]
    replica = Replica(laptop.log, flaky, laptop.upstream, sleep=lambda s: None)
    with pytest.raises(Refusal, match="invalid device token"):
        replica.sync()
    assert flaky.calls == 1


def test_a_diverged_device_log_is_a_clear_conflict(service: SyncService, tmp_path: Path) -> None:
    laptop, _ = pair(service, tmp_path)
    add(laptop, "a", "b")
    laptop.sync()
    # The same device identity with a different history (an old backup, then new work).
    clone = EventLog(open_store(str(tmp_path / "clone.db")), laptop.device_id)
    clone.append([commands.add_contact(NOW, "z")])
    replica = Replica(clone, laptop.transport, laptop.upstream)
    with pytest.raises(Refusal) as refused:
        replica.sync()
    assert refused.value.status == 409 and refused.value.code == "conflict"
    assert "seq 1" in str(refused.value)
    assert names(laptop) == ["a", "b"]


def test_clock_offset_is_reported(tmp_path: Path) -> None:
    config = ServerConfig(data=tmp_path / "server", clock=lambda: 1_000_000)
    service = SyncService(config)
    try:
        laptop, _ = pair(service, tmp_path)
        assert laptop.sync().clock_offset_ms > 1_000_000_000  # we are decades ahead of it
    finally:
        service.close()


# -- the wire ------------------------------------------------------------------------


@settings(max_examples=150)
@given(events=st.lists(kept_event, max_size=5), fmt=st.sampled_from(["json", "msgpack"]))
def test_events_survive_the_wire_in_both_formats(events: list[ContactAdded], fmt: str) -> None:
    wire: protocol.Format = "json" if fmt == "json" else "msgpack"
    request = protocol.SyncRequest(
        device_id="d", events=[protocol.event_to_wire(e, wire) for e in events]
    )
    body = protocol.encode(request, wire)
    decoded, batch = protocol.decode_request(body, wire)
    assert batch == events
    assert protocol.events_from_wire(decoded.events, wire) == events


# -- over real HTTP ---------------------------------------------------------------------------


def test_http_sync_devices_and_error_classification(tmp_path: Path) -> None:
    server = BackgroundServer(tmp_path / "server")
    with server as url:
        token = server.service.accounts.add_owner("alice", OPEN_INVITE)[1]
        replicas = []
        for name in ("laptop", "phone"):
            device_id = new_id()
            reply = enroll(url, token, device_id, name)
            log = EventLog(open_store(str(tmp_path / f"{name}.db")), device_id)
            fmt: protocol.Format = "json" if name == "phone" else "msgpack"
            replicas.append(
                Replica(log, HttpTransport(url, reply.device_token, fmt), reply.owner_id)
            )
        add(replicas[0], "Ann", "Bob")
        add(replicas[1], "Cy")
        for replica in (*replicas, replicas[0]):
            replica.sync()
        assert names(replicas[0]) == names(replicas[1]) == ["Ann", "Bob", "Cy"]
        listed = list_devices(url, _token(replicas[0]))
        assert [d.last_seq for d in listed] == [2, 1]

        with pytest.raises(Refusal) as refused:
            HttpTransport(url, "recip-device-nope").exchange(b"{}")
        assert refused.value.status == 401
        with pytest.raises(Refusal, match="device token cannot enroll"):
            enroll(url, "recip-device-x", new_id(), "x")
    with pytest.raises(TransientError, match="cannot reach"):
        HttpTransport(f"http://127.0.0.1:{free_port()}", "t").exchange(b"")


def test_http_5xx_and_429_are_transient() -> None:
    for status in (500, 503, 429):
        mock = httpx.Client(
            transport=httpx.MockTransport(lambda r, s=status: httpx.Response(s, text="busy")),
            base_url="http://x",
        )
        with pytest.raises(TransientError, match=str(status)):
            HttpTransport("http://x", "t", client=mock).exchange(b"")
    mock = httpx.Client(
        transport=httpx.MockTransport(lambda r: httpx.Response(418, text="<html>teapot")),
        base_url="http://x",
    )
    with pytest.raises(Refusal, match="418"):
        HttpTransport("http://x", "t", client=mock).exchange(b"")


def _token(replica: Replica) -> str:
    transport = replica.transport
    assert isinstance(transport, HttpTransport)
    assert transport.token is not None  # an enrolled replica always holds its device token
    return transport.token


# -- the commands ----------------------------------------------------------------------------


def test_recip_admin_remote_and_sync_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    data = tmp_path / "server"
    added = runner.invoke(cli, ["admin", "add-owner", "alice", "--uses", "2", "--data", str(data)])
    assert added.exit_code == 0, added.output
    token = added.stdout.strip().splitlines()[-1]
    assert token.startswith("recip-enroll-")
    again = runner.invoke(cli, ["admin", "add-owner", "alice", "--data", str(data)])
    assert again.exit_code == 1 and "exists" in again.stderr

    def recip(home: str, *args: str) -> str:
        result = runner.invoke(cli, ["--home", str(tmp_path / home), *args])
        assert result.exit_code == 0, result.output + (result.stderr or "")
        return result.stdout

    nope = runner.invoke(cli, ["--home", str(tmp_path / "a"), "sync"])
    assert nope.exit_code == 1
    with BackgroundServer(data) as url:
        for home in ("a", "b"):
            recip(home, "init", "--device-name", home)
            recip(home, "remote", "add", url, "--token", token)
        remote = msgspec.json.decode((tmp_path / "a" / "remote.json").read_bytes())
        assert remote["device_token"] != token
        assert (tmp_path / "a" / "remote.json").stat().st_mode & 0o077 == 0
        recip("a", "contact", "add", "Ann")
        first = msgspec.json.decode(recip("a", "sync", "--json"))
        assert first == {"pushed": 1, "pulled": 0, "cursor": 1}
        assert "pulled 1" in recip("b", "sync")
        assert "b" in recip("a", "remote", "devices")
        assert "revoked" in recip("a", "remote", "revoke", "b")
        refused = runner.invoke(cli, ["--home", str(tmp_path / "b"), "sync"])
        assert refused.exit_code == 1 and "revoked" in refused.stderr


def test_push_only_then_pull_only(service: SyncService, tmp_path: Path) -> None:
    laptop, phone = pair(service, tmp_path)
    add(laptop, *"abcde")
    add(phone, "x")
    pushed = phone.sync(pull=False)
    assert (pushed.pushed, pushed.pulled, pushed.cursor) == (1, 0, 0)
    assert laptop.sync(pull=False).pushed == 5
    pulled = phone.sync(push=False)
    assert (pulled.pushed, pulled.pulled) == (0, 5)
    add(phone, "y")
    assert phone.sync(push=False).pulled == 0
    assert phone.pending() == 1
    assert phone.sync().pushed == 1
    assert laptop.sync().pulled == 2  # x and y
    assert names(laptop) == names(phone) == sorted("abcdexy")


def test_a_server_restored_from_an_old_backup_is_healed(tmp_path: Path) -> None:
    """Cursors beyond its log restart from 0; events it lost are pushed again."""
    data = tmp_path / "server"
    service = SyncService(ServerConfig(data=data))
    laptop, phone = pair(service, tmp_path)
    add(laptop, "a", "b")
    add(phone, "x")
    for replica in (laptop, phone, laptop):
        replica.sync()
    service.close()
    backup = tmp_path / "backup"
    shutil.copytree(data, backup)

    service = SyncService(ServerConfig(data=data))
    for replica in (laptop, phone):
        replica.transport.service = service  # type: ignore[attr-defined]
    add(laptop, "c", "d")
    add(phone, "y")
    for replica in (laptop, phone, laptop):
        replica.sync()
    service.close()
    shutil.rmtree(data)
    shutil.copytree(backup, data)  # the server comes back from the old backup

    service = SyncService(ServerConfig(data=data))
    try:
        for replica in (laptop, phone):
            replica.transport.service = service  # type: ignore[attr-defined]
        add(phone, "z")
        for replica in (laptop, phone, laptop):
            replica.sync()
        assert names(laptop) == names(phone) == sorted("abcdxyz")
        with service.log(laptop.upstream) as held:
            assert len(list(held.events())) == 7
        assert laptop.pending() == phone.pending() == 0
        assert laptop.tracking_name.endswith(":1")  # it pulled again from 0, once
    finally:
        service.close()


def test_recip_sync_warns_about_a_clock_off_the_servers(tmp_path: Path) -> None:
    from core.clock import wall_ms

    runner = CliRunner()
    data = tmp_path / "server"
    slow = ServerConfig(data=data, clock=lambda: wall_ms() - 3_600_000)  # server an hour behind
    added = runner.invoke(cli, ["admin", "add-owner", "alice", "--data", str(data)])
    token = added.stdout.strip().splitlines()[-1]
    home = str(tmp_path / "a")
    with BackgroundServer(data, config=slow) as url:
        assert runner.invoke(cli, ["--home", home, "init"]).exit_code == 0
        assert (
            runner.invoke(cli, ["--home", home, "remote", "add", url, "--token", token]).exit_code
            == 0
        )
        result = runner.invoke(cli, ["--home", home, "sync"])
    assert result.exit_code == 0, result.output
    assert "clock is +60 minutes off" in result.stderr
