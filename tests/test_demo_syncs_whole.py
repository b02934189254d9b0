"""A demo home is a real device's history: it syncs whole to another device."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from server.run import BackgroundServer

from .conftest import Recip

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _enroll(tmp_path: Path, url: str, token: str, name: str) -> Recip:
    device = Recip(tmp_path / name)
    if not (tmp_path / name / "device.json").exists():
        device.ok("init", "--device-name", name)
    device.ok("remote", "add", url, "--token", token)
    return device


def test_a_demo_home_syncs_everything_to_a_second_device(tmp_path: Path) -> None:
    data = tmp_path / "server"
    added = CliRunner().invoke(cli, ["admin", "add-owner", "ada", "--data", str(data)])
    assert added.exit_code == 0, added.output
    token = added.stdout.strip().splitlines()[-1]
    laptop = Recip(tmp_path / "laptop")
    laptop.ok("demo", "--contacts", "25", "--years", "1", "--device-name", "laptop")
    with BackgroundServer(data) as url:
        laptop = _enroll(tmp_path, url, token, "laptop")
        phone = _enroll(tmp_path, url, token, "phone")
        laptop.ok("sync")
        phone.ok("sync")
        for view in (("ledger", "--json"), ("cold", "--all", "--json"), ("stats", "--json")):
            assert phone.ok(*view) == laptop.ok(*view), view
        assert phone.ok("events", "--json").count('"type"') == laptop.ok("events", "--json").count(
            '"type"'
        )
