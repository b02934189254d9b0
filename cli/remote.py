"""Commands of the `recip` CLI: this device's server, its devices and sync.

(`recip serve` and `recip admin` run and administer a server: `cli.serve`,
`cli.admin`.)

- `recip remote add URL --token TOKEN`: enroll this device.
- `recip remote devices`, `recip remote revoke DEVICE`: the owner's devices.
- `recip sync`: push what the server lacks, pull what this device lacks.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click
import msgspec

from core.clock import MAX_DRIFT_MS
from core.errors import ReciprocityError, ValidationError
from core.store import REDACTIONS
from sync import remote as remotes

from . import e2e as e2e_cli
from . import nudges
from .context import refresh_views
from .home import Home

if TYPE_CHECKING:
    from core.log import EventLog
    from sync.http import HttpTransport
    from sync.seal import OwnerKey

# The HTTP client and rich are imported inside the commands that use them, so
# that every other `recip` command starts without paying for them.


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


@click.group()
def remote() -> None:
    """This device's sync server."""


@remote.command("add")
@click.argument("url")
@click.option("--token", required=True, help="The owner's enrollment token.")
@click.option("--device-name", default=None, help="Name shown in 'recip remote devices'.")
@click.option(
    "--e2e",
    is_flag=True,
    help="Make the owner end-to-end encrypted (its first device): shows the recovery phrase.",
)
@click.option(
    "--phrase",
    "ask_phrase",
    is_flag=True,
    help="Join an end-to-end encrypted owner: asks for its recovery phrase "
    "(or reads $RECIP_PHRASE).",
)
@click.pass_obj
def remote_add(
    home: Home, url: str, token: str, device_name: str | None, e2e: bool, ask_phrase: bool
) -> None:
    """Enroll this device with a server."""
    from sync import http
    from sync.seal import OwnerKey

    if e2e and ask_phrase:
        raise ValidationError("--e2e makes a new owner key; --phrase joins with an existing one")
    device = home.device()
    current = _current_token(home, url)
    key = OwnerKey.generate() if e2e else (e2e_cli.read_phrase() if ask_phrase else None)
    reply = http.enroll(
        url,
        token,
        device.device_id,
        device_name or device.name,
        current,
        key_id=None if key is None else key.key_id,
        e2e=e2e,
    )
    config = remotes.RemoteConfig(
        url=url.rstrip("/"),
        owner_id=reply.owner_id,
        owner_name=reply.owner_name,
        device_id=device.device_id,
        device_token=reply.device_token,
        owner_key=None if key is None else remotes.key_text(key),
    )
    remotes.save(home.path, config)
    click.echo(f"enrolled {device_name or device.name} with {config.url} as {reply.owner_name}")
    if e2e and key is not None:
        e2e_cli.show_phrase(key)


def _current_token(home: Home, url: str) -> str | None:
    """This device's token with the same server, if enrolled: it proves the device id."""
    if not (home.path / remotes.FILE).exists():
        return None
    try:
        config = remotes.load(home.path)
    except ReciprocityError:
        return None
    return config.device_token if config.url == url.rstrip("/") else None


@remote.command("devices")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def remote_devices(home: Home, as_json: bool) -> None:
    """List the owner's devices."""
    from sync import http

    config = remotes.load(home.path)
    devices = http.list_devices(config.url, config.device_token)
    if as_json:
        click.echo(msgspec.json.encode(devices).decode())
        return
    for d in devices:
        status = f"revoked {_when(d.revoked_at)}" if d.revoked_at else "active"
        mark = " (this device)" if d.device_id == config.device_id else ""
        click.echo(f"{d.device_id}  {d.name}{mark}  seq {d.last_seq}  {status}")


@remote.command("revoke")
@click.argument("device")
@click.option(
    "--this-device",
    is_flag=True,
    help="Confirm that DEVICE is the device you are running this on (retiring it).",
)
@click.pass_obj
def remote_revoke(home: Home, device: str, this_device: bool) -> None:
    """Revoke a device (by id, id prefix or name): the server refuses it at once, for good.

    A revoked device cannot sync or enroll again. Revoking a device already
    revoked is refused (exit 1) and says when it was revoked. The device you run
    this on is refused unless you pass --this-device: revoking it ends its own
    syncing, so it is usually done from another device (a lost phone from the
    laptop); --this-device is for retiring the machine you are on.
    """
    from sync import http
    from sync.protocol import find_device

    config = remotes.load(home.path)
    target = find_device(http.list_devices(config.url, config.device_token), device)
    label = f"device {target.device_id} ({target.name})"
    if target.revoked_at is not None:
        raise ValidationError(f"{label} was already revoked on {_when(target.revoked_at)}")
    is_this = target.device_id == config.device_id
    if is_this and not this_device:
        raise ValidationError(
            f"{label} is this device: revoking it ends its syncing for good; "
            "revoke it from another device, or pass --this-device to retire this one"
        )
    if this_device and not is_this:
        raise ValidationError(f"--this-device given, but {label} is not this device")
    info = http.revoke(config.url, config.device_token, target.device_id)
    suffix = ", this device: it can no longer sync" if is_this else ""
    click.echo(f"revoked {info.device_id} ({info.name}){suffix}")


@click.command("sync")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--watch", is_flag=True, help="Keep syncing: follow the server's live stream.")
@click.pass_obj
def sync(home: Home, as_json: bool, watch: bool) -> None:
    """Push events the server lacks, pull events this device lacks."""
    if watch:
        from .watch import run_watch

        run_watch(home, as_json)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
    from rich.progress import Progress as Bar

    from sync import http
    from sync.replica import Progress, Replica

    config = remotes.load(home.path)
    log = home.open_log(restoring=True)  # a sync puts back what an emptied log lost
    redactions = log.store.get_meta(REDACTIONS)
    try:
        with http.HttpTransport(config.url, config.device_token) as transport:
            key = config.key()
            console = Console(stderr=True)
            notice = console.print if console.is_terminal and not as_json else _quiet
            replica = Replica(log, transport, config.owner_id, sleep=_retrying(notice), key=key)
            bar = Bar(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=console,
                transient=True,
                disable=as_json or not console.is_terminal,
            )
            with bar:
                push = bar.add_task("push", total=replica.pending() or None)
                pull = bar.add_task("pull", total=None)

                def show(p: Progress) -> None:
                    bar.update(push, completed=p.pushed, total=max(p.to_push, p.pushed) or None)
                    bar.update(pull, completed=p.pulled)

                if key is not None:  # forgetting reaches an encrypted owner's server
                    reseal_over(log, key, config.owner_id, transport)
                summary = replica.sync(show)
                if key is not None:
                    reseal_over(log, key, config.owner_id, transport)
        forgot = log.store.get_meta(REDACTIONS) != redactions
    finally:
        home.close_log(log)
    if forgot:  # a forget arrived: no view may keep the forgotten texts
        refresh_views(home)
    if as_json:
        out = {"pushed": summary.pushed, "pulled": summary.pulled, "cursor": summary.cursor}
        click.echo(msgspec.json.encode(out).decode())
    else:
        click.echo(
            f"pushed {summary.pushed}, pulled {summary.pulled} (server position {summary.cursor})"
        )
    if abs(summary.clock_offset_ms) > MAX_DRIFT_MS:
        minutes = summary.clock_offset_ms / 60_000
        click.echo(
            f"warning: this device's clock is {minutes:+.0f} minutes off the server's; fix it",
            err=True,
        )
    sys.stdout.flush()


def reseal_over(log: EventLog, key: OwnerKey, upstream: str, transport: HttpTransport) -> None:
    """Send the sealed redacted rows, if this log was redacted since last time."""
    from sync import reseal

    reseal.send(
        log,
        key,
        upstream,
        lambda body: transport.request("POST", "/v1/e2e/replace", body),
        transport.format,
    )


def _retrying(say: Callable[[str], object]) -> Callable[[float], None]:
    """The replica's backoff sleep, saying once why a sync has gone quiet.

    Retries of an unreachable or failing server take about 15 s in all before
    the sync gives up; a person at a terminal should not wonder whether it hung.
    """
    said = False

    def sleep(seconds: float) -> None:
        nonlocal said
        if not said:
            say("server not answering: retrying (Ctrl-C stops; nothing is lost)")
            said = True
        time.sleep(seconds)

    return sleep


def _quiet(_: str) -> None:
    """Scripts (no terminal, or --json) get only the final line."""


def register(group: click.Group) -> None:
    """Add this module's commands to the `recip` group."""
    group.add_command(remote)
    group.add_command(sync)
    nudges.register_remote(remote)
