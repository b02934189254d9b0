"""`recip init`: creating a home once, and clear refusals on a missing or broken one."""

from __future__ import annotations

import json

from tests.conftest import Recip


def test_init_creates_device_and_log(bare_recip: Recip) -> None:
    out = bare_recip.ok("init", "--device-name", "laptop")
    device = json.loads((bare_recip.home / "device.json").read_text())
    assert device["name"] == "laptop"
    assert device["device_id"] in out
    assert (bare_recip.home / "log.db").exists()


def test_second_init_is_refused_and_keeps_identity(recip: Recip) -> None:
    before = (recip.home / "device.json").read_bytes()
    err = recip.fails("init", "--device-name", "other")
    assert "already initialised" in err
    assert (recip.home / "device.json").read_bytes() == before


def test_empty_device_name_is_refused(bare_recip: Recip) -> None:
    err = bare_recip.fails("init", "--device-name", "   ")
    assert "device name" in err
    assert not (bare_recip.home / "device.json").exists()
