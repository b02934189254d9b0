"""A device home and a server's data directory are readable by their owner alone,
whatever the umask, and tightened when an older build left them open (ADR 0080)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.service import ServerConfig, SyncService
from tests.conftest import Recip


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o000)
    try:
        yield
    finally:
        os.umask(old)


def modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return found


def assert_private(root: Path) -> None:
    for name, mode in modes(root).items():
        wanted = 0o700 if (root / name).is_dir() else 0o600
        assert mode == wanted, f"{name}: {oct(mode)}"


def test_a_new_home_is_private_whatever_the_umask(tmp_path: Path, loose_umask: None) -> None:
    recip = Recip(tmp_path / "home")
    recip.ok("init", "--device-name", "a")
    recip.ok("contact", "add", "Ada")
    recip.ok("ledger")
    assert {"device.json", "log.db"} <= set(modes(recip.home))
    assert_private(recip.home)


def test_an_open_home_is_tightened(tmp_path: Path) -> None:
    recip = Recip(tmp_path / "home")
    recip.ok("init", "--device-name", "a")
    recip.home.chmod(0o755)
    for path in recip.home.iterdir():
        path.chmod(0o644)
    recip.ok("contact", "list")
    assert_private(recip.home)


def test_a_server_data_directory_is_private(tmp_path: Path, loose_umask: None) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o777)
    (data / "accounts.db").touch(mode=0o666)
    service = SyncService(ServerConfig(data=data))
    try:
        owner, _ = service.accounts.add_owner("ada")
        with service.log(owner.owner_id) as log:
            log.position()
    finally:
        service.close()
    assert (data / "owners" / f"{owner.owner_id}.db").exists()
    assert_private(data)
