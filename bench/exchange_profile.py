"""Where one sync exchange's time goes: cProfile of `SyncService.sync` in process.

Not a benchmark (no `run`): a diagnostic for docs/benchmarks.md. Five devices of
one owner take turns pushing 5 events and pulling the others', as `bench.load`
does, but without HTTP, so the profile shows the exchange path alone (decode,
authentication, storage round trips, page, encode).

Run: `python -m bench.exchange_profile [--postgres URL] [--exchanges N]`.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
import uuid
from pathlib import Path

from bench.load import BATCH, DEVICES_PER_OWNER, Device
from core import commands
from core.ids import new_id
from server.accounts import OPEN_INVITE
from server.service import ServerConfig, SyncService
from sync import protocol
from sync.protocol import EnrollRequest, EnrollResponse, SyncRequest, SyncResponse


def _devices(service: SyncService) -> list[Device]:
    _, token = service.accounts.add_owner(f"profiled {new_id()}", OPEN_INVITE)
    devices = []
    for i in range(DEVICES_PER_OWNER):
        device_id = new_id()
        body = protocol.encode(
            EnrollRequest(token=token, device_id=device_id, device_name=f"d{i}"), "json"
        )
        reply: EnrollResponse = protocol.decode(
            service.enroll(body, "json", "json"), EnrollResponse, "json"
        )
        devices.append(Device(device_id, reply.device_token))
    return devices


def exchanges(service: SyncService, count: int) -> float:
    """Run `count` exchanges through the service's HTTP entry points; seconds taken."""
    devices = _devices(service)
    now = commands.Now.system()
    started = time.perf_counter()
    for i in range(count):
        device = devices[i % len(devices)]
        request = SyncRequest(
            device_id=device.device_id,
            events=device.batch(now),
            cursor=device.cursor,
            limit=500,
            held_seq=device.seq,
        )
        who = service.authenticate(f"Bearer {device.token}")
        body = service.sync(who, protocol.encode(request, "msgpack"), "msgpack", "msgpack")
        reply: SyncResponse = protocol.decode(body, SyncResponse, "msgpack")
        device.cursor = reply.cursor
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", metavar="URL", help="profile on PostgreSQL instead")
    parser.add_argument("--exchanges", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recip-profile-") as tmp:
        url = None
        if args.postgres:
            url = f"{args.postgres}?prefix=prof_{uuid.uuid4().hex[:10]}"
        service = SyncService(ServerConfig(data=Path(tmp), database_url=url))
        try:
            exchanges(service, 50)  # warm: owners open, statements prepared
            profile = cProfile.Profile()
            profile.enable()
            seconds = exchanges(service, args.exchanges)
            profile.disable()
        finally:
            service.close()
            if url:
                from server.pg import drop_prefix

                drop_prefix(url)
    per = 1e6 * seconds / args.exchanges
    print(f"{args.exchanges} exchanges of {BATCH} events: {per:.0f} us each (profiled)")
    stats = pstats.Stats(profile).strip_dirs()
    stats.sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
