"""Commands of the `recip` CLI: the server, enrollment, devices and sync.

- `recip serve`: run the sync server (uvicorn) over a data directory.
- `recip admin add-owner NAME --data DIR`: create an owner; prints the web
  app's enrollment link and the enrollment token, alone on the last line.
- `recip remote add URL --token TOKEN`: enroll this device.
- `recip remote devices`, `recip remote revoke DEVICE`: the owner's devices.
- `recip sync`: push what the server lacks, pull what this device lacks.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import click
import msgspec

from core.clock import MAX_DRIFT_MS
from core.errors import ValidationError
from core.store import REDACTIONS
from server.owners import MAX_OPEN_OWNERS
from sync import remote as remotes

from . import nudges
from .context import refresh_views
from .home import Home

# The server, the HTTP client and rich are imported inside the commands that use
# them, so that every other `recip` command starts without paying for them.


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


_database_url = click.option(
    "--database-url",
    envvar="RECIP_DATABASE_URL",
    default=None,
    help="PostgreSQL instead of SQLite: postgresql://USER@HOST:PORT/DB[?prefix=SCHEMA].",
)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port to listen on.",
)
@click.option(
    "--data",
    default="./recip-data",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Directory of the accounts database and one event log per owner.",
)
@click.option(
    "--max-body",
    default=16 * 1024 * 1024,
    show_default=True,
    type=click.IntRange(min=1024),
    help="Largest request, in bytes.",
)
@_database_url
@click.option(
    "--workers", default=1, show_default=True, type=int, help="Worker processes (PostgreSQL)."
)
@click.option(
    "--max-open-owners",
    envvar="RECIP_MAX_OPEN_OWNERS",
    default=MAX_OPEN_OWNERS,
    show_default=True,
    type=click.IntRange(min=1),
    help="Owners whose logs stay open at once (per worker); idle ones beyond are closed.",
)
@click.option(
    "--smtp",
    envvar="RECIP_SMTP",
    default=None,
    metavar="URL",
    help="Mail the weekly digests through this relay: smtp://HOST[:PORT] (STARTTLS), "
    "smtps://HOST[:PORT] (TLS) or smtp+plain://HOST[:PORT]; credentials in "
    "$RECIP_SMTP_USER and $RECIP_SMTP_PASSWORD.",
)
@click.option(
    "--smtp-from",
    envvar="RECIP_SMTP_FROM",
    default=None,
    metavar="ADDRESS",
    help="Sender address of the digests.",
)
@click.option(
    "--digest-interval",
    envvar="RECIP_DIGEST_INTERVAL",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=1.0),
    help="Seconds between looks for digests due.",
)
def serve(
    host: str,
    port: int,
    data: str,
    max_body: int,
    database_url: str | None,
    workers: int,
    max_open_owners: int,
    smtp: str | None,
    smtp_from: str | None,
    digest_interval: float,
) -> None:
    """Run the sync server."""
    from server.asgi import serve as run
    from server.service import ServerConfig

    digest = None
    if smtp:
        import os

        from server.digest import DigestConfig
        from server.mail import settings_from

        digest = DigestConfig(
            smtp=settings_from(smtp, smtp_from, os.environ), interval_s=digest_interval
        )

    _check_can_listen(host, port)
    where = f"data in {data}"
    if database_url:
        from server.pg import redact

        where = f"PostgreSQL {redact(database_url)}, {workers} worker(s)"
    click.echo(f"recip sync server on http://{host}:{port} ({where})", err=True)
    config = ServerConfig(
        data=Path(data),
        max_body=max_body,
        database_url=database_url,
        max_open_owners=max_open_owners,
        digest=digest,
    )
    run(config, host, port, workers)


def _check_can_listen(host: str, port: int) -> None:
    """Refuse early, in one line, an address that uvicorn would fail to bind.

    uvicorn reports a taken port or a foreign address as a log line and exit
    status 3, after our banner; a trial bind (with SO_REUSEADDR, as uvicorn
    binds) says which address and why instead.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as trial:
            trial.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            trial.bind(address)
    except OSError as exc:
        raise ValidationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@click.group()
def admin() -> None:
    """Administer a server's data directory (owners)."""


@admin.command("add-owner")
@click.argument("name")
@click.option("--data", default=None, type=click.Path(file_okay=False), help="Server data.")
@_database_url
@click.option(
    "--url",
    "server_url",
    default="http://127.0.0.1:8765",
    show_default=True,
    help="The server's address as devices reach it (for the web app's enrollment link).",
)
@click.option("--qr", is_flag=True, help="Also print the enrollment link as a QR code to scan.")
def add_owner(
    name: str, data: str | None, database_url: str | None, server_url: str, qr: bool
) -> None:
    """Create an owner and print its enrollment token (last line, shown once).

    Also prints the web app's enrollment link: the token rides in the URL's
    fragment, which browsers never send to a server or write to its logs.
    """
    if database_url:
        from server.pg import add_owner as add_pg_owner
        from server.pg import redact

        owner, token = add_pg_owner(database_url, name)
        where = redact(database_url)
    elif data is not None:
        from server.accounts import Accounts

        accounts = Accounts(Path(data) / "accounts.db")
        try:
            owner, token = accounts.add_owner(name)
        finally:
            accounts.close()
        where = data
    else:
        raise click.UsageError("give --data DIR or --database-url URL")
    click.echo(f"owner {owner.name} ({owner.owner_id}) created in {where}")
    click.echo("enroll each device with: recip remote add URL --token TOKEN")
    link = f"{server_url.rstrip('/')}/#enroll={token}"
    if qr:
        import segno

        click.echo("scan with the phone's camera to open the web app and enroll:")
        segno.make(link, error="m").terminal(out=sys.stdout, compact=True)
    click.echo(f"or open in the device's browser: {link}")
    click.echo(token)


@click.group()
def remote() -> None:
    """This device's sync server."""


@remote.command("add")
@click.argument("url")
@click.option("--token", required=True, help="The owner's enrollment token.")
@click.option("--device-name", default=None, help="Name shown in 'recip remote devices'.")
@click.pass_obj
def remote_add(home: Home, url: str, token: str, device_name: str | None) -> None:
    """Enroll this device with a server."""
    from sync import http

    device = home.device()
    reply = http.enroll(url, token, device.device_id, device_name or device.name)
    config = remotes.RemoteConfig(
        url=url.rstrip("/"),
        owner_id=reply.owner_id,
        owner_name=reply.owner_name,
        device_id=device.device_id,
        device_token=reply.device_token,
    )
    remotes.save(home.path, config)
    click.echo(f"enrolled {device_name or device.name} with {config.url} as {reply.owner_name}")


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
    log = home.open_log()
    redactions = log.store.get_meta(REDACTIONS)
    try:
        with http.HttpTransport(config.url, config.device_token) as transport:
            console = Console(stderr=True)
            notice = console.print if console.is_terminal and not as_json else _quiet
            replica = Replica(log, transport, config.owner_id, sleep=_retrying(notice))
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

                summary = replica.sync(show)
        forgot = log.store.get_meta(REDACTIONS) != redactions
    finally:
        log.store.close()
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
    group.add_command(serve)
    group.add_command(admin)
    group.add_command(remote)
    group.add_command(sync)
    nudges.register(admin, remote)
