"""`recip sync --watch`: the CLI around `sync.watch.Watch`.

Prints one line per sync that moved anything (a JSON object per line with
`--json`, the same keys as `recip sync --json`), and stops cleanly on Ctrl-C or
SIGTERM, leaving the log as the last completed sync left it.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from types import FrameType

import click
import msgspec

from sync import remote as remotes
from sync.replica import SyncSummary

from .home import Home
from .remote import reseal_over


def run_watch(home: Home, as_json: bool) -> None:
    """Follow the server's stream and keep this device in sync until interrupted."""
    import httpx

    from sync import http
    from sync.replica import Replica, TransientError
    from sync.watch import Watch

    config = remotes.load(home.path)
    log = home.open_log()

    def report(summary: SyncSummary) -> None:
        if as_json:
            out = {"pushed": summary.pushed, "pulled": summary.pulled, "cursor": summary.cursor}
            click.echo(msgspec.json.encode(out).decode())
        else:
            click.echo(
                f"pushed {summary.pushed}, pulled {summary.pulled} "
                f"(server position {summary.cursor})"
            )
        sys.stdout.flush()

    try:
        with (
            http.HttpTransport(config.url, config.device_token) as transport,
            httpx.Client(base_url=config.url) as stream_client,
        ):
            key = config.key()
            replica = Replica(log, transport, config.owner_id, key=key)

            def synced(summary: SyncSummary) -> None:
                if key is not None:  # a forget reaches an encrypted owner's server
                    with contextlib.suppress(TransientError):  # the next sync sends it
                        reseal_over(log, key, config.owner_id, transport)
                report(summary)

            watch = Watch(replica, stream_client, config.device_token, on_sync=synced)

            def stop(signum: int, frame: FrameType | None) -> None:
                watch.stop.set()

            signal.signal(signal.SIGTERM, stop)
            if not as_json:
                click.echo(f"watching {config.url} (Ctrl-C to stop)", err=True)
            try:
                watch.run()
            except KeyboardInterrupt:
                watch.stop.set()
    finally:
        home.close_log(log)
