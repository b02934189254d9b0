"""What end-to-end encryption costs the first syncs a person waits for (ADR 0135).

One device holds N events (`bench.workload`) and pushes them all to a fresh
server (its first sync); then a new device pulls them all (a phone's first
sync). Both run through the real `Replica` and `SyncService` in process (no
HTTP, so that the figure is the sealing and opening, not the network), for an
end-to-end encrypted owner (ours) and a plain one (the same-run baseline), in
events/s. Also: the bytes the server stores per event, sealed and plain.

    python -m bench e2e [--quick|--smoke]
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from bench.harness import Comparison, Figure, Mode, report, result_name
from bench.workload import build_devices
from core.ids import new_id
from core.log import EventLog
from core.store import open_store
from server import e2e
from server.accounts import OPEN_INVITE
from server.inprocess import LocalTransport
from server.service import ServerConfig, SyncService
from sync.replica import Replica
from sync.seal import OwnerKey

SIZES: Final[dict[str, int]] = {"full": 100_000, "quick": 10_000, "smoke": 200}
REPEATS: Final[dict[str, int]] = {"full": 3, "quick": 2, "smoke": 1}


def _first_syncs(
    root: Path, pusher: Path, pusher_id: str, key: OwnerKey | None
) -> tuple[float, float, int]:
    """Seconds to push everything, seconds for a new device to pull it, bytes stored."""
    service = SyncService(ServerConfig(data=root / "server"))
    try:
        owner, token = service.accounts.add_owner("bench", OPEN_INVITE)
        check = (
            None if key is None else e2e.join_check(pusher_id, key.key_id, True, lambda _: True, 0)
        )
        _, push_token = service.accounts.enroll(token, pusher_id, "laptop", check=check)
        phone_id = new_id()
        _, pull_token = service.accounts.enroll(token, phone_id, "phone")
        laptop = EventLog(open_store(str(pusher)), pusher_id)
        phone = EventLog(open_store(str(root / "phone.db")), phone_id)
        try:
            start = time.perf_counter()
            Replica(laptop, LocalTransport(service, push_token), owner.owner_id, key=key).sync()
            pushed = time.perf_counter() - start
            start = time.perf_counter()
            Replica(phone, LocalTransport(service, pull_token), owner.owner_id, key=key).sync()
            pulled = time.perf_counter() - start
            assert phone.store.max_position() == laptop.store.max_position()
        finally:
            laptop.store.close()
            phone.store.close()
        with service.log(owner.owner_id) as log:
            size = sum(len(r.state) for r in log.store.notifications(0, 10**9))
        return pushed, pulled, size
    finally:
        service.close()


def run(mode: Mode = "full") -> dict[str, Any]:
    """Entry point for `python -m bench`."""
    n, repeats = SIZES[mode], REPEATS[mode]
    root = Path(tempfile.mkdtemp(prefix="recip-bench-e2e-"))
    try:
        (device,) = build_devices(root / "devices", 1, n)
        log = device.home / "log.db"
        push = {
            True: Figure("push N, sealed (events/s)", "ev/s"),
            False: Figure("push N, plain (events/s)", "ev/s"),
        }
        pull = {
            True: Figure("pull N, opened (events/s)", "ev/s"),
            False: Figure("pull N, plain (events/s)", "ev/s"),
        }
        size: dict[bool, int] = {}
        for i in range(repeats):
            for sealed in (True, False):
                run_root = root / f"run-{i}-{sealed}"
                run_root.mkdir()
                copy = run_root / "laptop.db"
                shutil.copy(log, copy)
                key = OwnerKey.generate() if sealed else None
                pushed, pulled, size[sealed] = _first_syncs(run_root, copy, device.device_id, key)
                push[sealed].samples.append(n / pushed)
                pull[sealed].samples.append(n / pulled)
                shutil.rmtree(run_root)
        bytes_sealed = Figure("server bytes per event, sealed", "B", [size[True] / n])
        bytes_plain = Figure("server bytes per event, plain", "B", [size[False] / n])
        return report(
            result_name("e2e", mode),
            {"events": n, "repeats": repeats},
            [
                Comparison("first push, sealed vs plain", push[True], push[False]),
                Comparison("first pull, opened vs plain", pull[True], pull[False]),
            ],
            [push[True], push[False], pull[True], pull[False], bytes_sealed, bytes_plain],
            write=mode != "smoke",
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
