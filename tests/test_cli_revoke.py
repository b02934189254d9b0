"""`recip remote revoke`: the cases a person can get wrong say so, and change nothing.

- Revoking a device already revoked is refused (exit 1) with when it was revoked;
  the server keeps the first revocation time.
- Revoking the device the command runs on is refused unless `--this-device`
  confirms it; with it, the device is revoked and says it can no longer sync.
- A name shared by a revoked device and an active one means the active one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from cli.main import cli
from server.accounts import OPEN_INVITE
from server.run import BackgroundServer
from sync.protocol import DeviceInfo, Refusal, find_device


class Homes:
    """Device homes enrolled with one owner on a live in-process server."""

    def __init__(self, tmp_path: Path, server: BackgroundServer) -> None:
        self.tmp_path = tmp_path
        self.server = server
        _, self.token = server.service.accounts.add_owner("alice", OPEN_INVITE)

    def run(self, home: str, *args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, ["--home", str(self.tmp_path / home), *args])
        return result.exit_code, result.stdout, result.stderr

    def ok(self, home: str, *args: str) -> str:
        code, out, err = self.run(home, *args)
        assert code == 0, (args, out, err)
        return out

    def fails(self, home: str, *args: str) -> str:
        """A refusal: exit 1, one `error:` line, nothing on stdout."""
        code, out, err = self.run(home, *args)
        assert (code, out) == (1, ""), (args, code, out, err)
        assert err.startswith("error: ") and err.count("\n") == 1, err
        return err

    def enroll(self, home: str, name: str | None = None) -> None:
        self.ok(home, "init", "--device-name", name or home)
        self.ok(home, "remote", "add", self.server.url, "--token", self.token)

    def devices(self, home: str) -> dict[str, DeviceInfo]:
        listing = msgspec.json.decode(
            self.ok(home, "remote", "devices", "--json"), type=list[DeviceInfo]
        )
        return {d.device_id: d for d in listing}


@pytest.fixture
def homes(tmp_path: Path) -> Iterator[Homes]:
    server = BackgroundServer(tmp_path / "server")
    with server:
        yield Homes(tmp_path, server)


def device_id(homes: Homes, home: str) -> str:
    remote = msgspec.json.decode((homes.tmp_path / home / "remote.json").read_bytes())
    return str(remote["device_id"])


def test_revoking_a_revoked_device_again_is_refused_and_keeps_the_first_time(
    homes: Homes,
) -> None:
    homes.enroll("laptop")
    homes.enroll("phone")
    phone = device_id(homes, "phone")
    assert homes.ok("laptop", "remote", "revoke", "phone") == f"revoked {phone} (phone)\n"
    first = homes.devices("laptop")[phone].revoked_at
    assert first is not None
    for ref in ("phone", phone, phone[:20]):
        error = homes.fails("laptop", "remote", "revoke", ref)
        assert f"device {phone} (phone) was already revoked on " in error
    assert homes.devices("laptop")[phone].revoked_at == first


def test_revoking_this_device_needs_this_device_and_then_says_so(homes: Homes) -> None:
    homes.enroll("laptop")
    homes.enroll("phone")
    laptop = device_id(homes, "laptop")
    error = homes.fails("laptop", "remote", "revoke", "laptop")
    assert f"device {laptop} (laptop) is this device" in error and "--this-device" in error
    assert homes.devices("laptop")[laptop].revoked_at is None
    homes.ok("laptop", "sync")  # still enrolled

    # The flag only confirms the device one is on: it revokes no other.
    error = homes.fails("laptop", "remote", "revoke", "phone", "--this-device")
    assert "is not this device" in error
    assert all(d.revoked_at is None for d in homes.devices("phone").values())

    out = homes.ok("laptop", "remote", "revoke", laptop[:20], "--this-device")
    assert out == f"revoked {laptop} (laptop), this device: it can no longer sync\n"
    assert "revoked" in homes.fails("laptop", "sync")
    assert homes.devices("phone")[laptop].revoked_at is not None


def test_a_name_shared_with_a_revoked_device_means_the_active_one(homes: Homes) -> None:
    homes.enroll("laptop")
    homes.enroll("old", "phone")
    homes.ok("laptop", "remote", "revoke", "phone")
    homes.enroll("new", "phone")
    new = device_id(homes, "new")
    assert homes.ok("laptop", "remote", "revoke", "phone") == f"revoked {new} (phone)\n"
    error = homes.fails("laptop", "remote", "revoke", "phone")  # both revoked now
    assert "matches several devices" in error


def info(device_id: str, name: str, revoked_at: int | None = None) -> DeviceInfo:
    return DeviceInfo(device_id=device_id, name=name, enrolled_at=1, revoked_at=revoked_at)


@pytest.mark.parametrize(
    ("ref", "found"),
    [
        ("aa11", "aa11"),  # an exact id wins over a longer id it prefixes
        ("aa2", "aa22"),
        ("phone", "bb22"),  # the active one of two phones
        ("bb11", "bb11"),  # the revoked one, by its id
        ("laptop", "aa11"),
    ],
)
def test_find_device(ref: str, found: str) -> None:
    devices = [
        info("aa11", "laptop"),
        info("aa11x", "tablet"),
        info("aa22", "desk"),
        info("bb11", "phone", revoked_at=5),
        info("bb22", "phone"),
    ]
    assert find_device(devices, ref).device_id == found


@pytest.mark.parametrize(
    ("ref", "status", "words"),
    [("zz", 404, "no device of yours matches 'zz'"), ("aa", 409, "matches several devices")],
)
def test_find_device_refusals(ref: str, status: int, words: str) -> None:
    devices = [info("aa11", "laptop"), info("aa22", "phone")]
    with pytest.raises(Refusal, match=words) as caught:
        find_device(devices, ref)
    assert caught.value.status == status
