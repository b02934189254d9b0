"""Commands of the `recip` CLI for the nudges that arrive where people look.

- `recip remote feed [--revoke]`: the calendar feed's URL (a new feed token each
  time; the previous URL stops working), or end the feed.
- `recip remote digest [ADDRESS] [--weekday mon --hour 8 --timezone Europe/Paris] [--off]`:
  where and when the server mails the weekly digest, set from a device.
- `recip admin set-email OWNER ADDRESS ...`: the same, on the server's machine.

The mail relay itself is `recip serve --smtp URL` (ADR 0102).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Final

import click
import msgspec

from core.errors import NotFoundError, ValidationError
from sync import remote as remotes

from .home import Home

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_weekday = click.option(
    "--weekday",
    type=click.Choice(WEEKDAYS, case_sensitive=False),
    default="mon",
    show_default=True,
    help="Day of the week the digest goes out.",
)
_hour = click.option(
    "--hour",
    type=click.IntRange(0, 23),
    default=8,
    show_default=True,
    help="Hour of that day (in --timezone).",
)
_timezone = click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    help="IANA time zone of --weekday and --hour, e.g. Europe/Paris.",
)


def _call(home: Home, method: str, path: str, body: Any = None) -> Any:
    """One JSON call to this device's server with its device token."""
    from sync.http import HttpTransport

    config = remotes.load(home.path)
    with HttpTransport(config.url, config.device_token, "json") as transport:
        payload = None if body is None else msgspec.json.encode(body)
        return msgspec.json.decode(transport.request(method, path, payload))


def _describe(settings: dict[str, Any] | None) -> str:
    if not settings:
        return "no weekly digest"
    day = WEEKDAYS[int(settings["weekday"])]
    return (
        f"weekly digest to {settings['email']} on {day} at {int(settings['hour']):02d}:00 "
        f"{settings['timezone']}"
    )


@click.command("feed")
@click.option("--revoke", is_flag=True, help="End the feed: its URL stops working.")
@click.pass_obj
def remote_feed(home: Home, revoke: bool) -> None:
    """Print the calendar feed's URL (subscribe to it in a calendar app).

    Each run makes a new URL and ends the previous one: a URL that leaked is
    replaced by running it again. The URL holds a feed token, which opens
    this feed and nothing else.
    """
    if revoke:
        answer = _call(home, "DELETE", "/v1/feed")
        click.echo("feed ended" if answer["revoked"] else "there was no feed to end")
        return
    answer = _call(home, "POST", "/v1/feed")
    click.echo(remotes.load(home.path).url + answer["path"])


@click.command("digest")
@click.argument("address", required=False)
@_weekday
@_hour
@_timezone
@click.option("--off", is_flag=True, help="Stop the weekly digest.")
@click.pass_obj
def remote_digest(
    home: Home, address: str | None, weekday: str, hour: int, timezone: str, off: bool
) -> None:
    """Show, set (ADDRESS) or stop (--off) the weekly digest the server mails."""
    if off and address:
        raise ValidationError("give an ADDRESS or --off, not both")
    if off:
        answer = _call(home, "DELETE", "/v1/digest")
    elif address:
        body = {
            "email": address,
            "weekday": WEEKDAYS.index(weekday.lower()),
            "hour": hour,
            "timezone": timezone,
        }
        answer = _call(home, "PUT", "/v1/digest", body)
    else:
        answer = _call(home, "GET", "/v1/digest")
    click.echo(_describe(answer["digest"]))


@click.command("set-email")
@click.argument("owner")
@click.argument("address", required=False)
@_weekday
@_hour
@_timezone
@click.option("--off", is_flag=True, help="Stop the owner's weekly digest.")
@click.option("--data", default=None, type=click.Path(file_okay=False), help="Server data.")
@click.option(
    "--database-url",
    envvar="RECIP_DATABASE_URL",
    default=None,
    help="PostgreSQL instead of SQLite: postgresql://USER@HOST:PORT/DB[?prefix=SCHEMA].",
)
def set_email(
    owner: str,
    address: str | None,
    weekday: str,
    hour: int,
    timezone: str,
    off: bool,
    data: str | None,
    database_url: str | None,
) -> None:
    """Mail OWNER's weekly digest to ADDRESS (or stop it with --off)."""
    from server.e2e import owner_key_id
    from server.mail import check_address
    from server.nudge_store import DigestSettings, NudgeStore
    from server.today_api import check_timezone

    if off == bool(address):
        raise ValidationError("give an ADDRESS or --off")
    accounts, close = _accounts(data, database_url)
    try:
        match = [o for o in accounts.owners() if o.name == owner or o.owner_id == owner]
        if not match:
            raise NotFoundError(f"no owner named {owner!r}")
        store = NudgeStore(accounts)
        if off:
            store.clear_digest(match[0].owner_id)
            click.echo(f"{match[0].name}: no weekly digest")
            return
        assert address is not None
        if owner_key_id(accounts, match[0].owner_id) is not None:
            raise ValidationError(
                f"{match[0].name} is end-to-end encrypted: the server cannot read the plan; "
                "mail it from a device with 'recip today --mail' (docs/nudges.md)"
            )
        settings = DigestSettings(
            email=check_address(address, "address"),
            weekday=WEEKDAYS.index(weekday.lower()),
            hour=hour,
            timezone=check_timezone(timezone),
            updated_at=time.time_ns() // 1_000_000,
        )
        store.set_digest(match[0].owner_id, settings)
        click.echo(f"{match[0].name}: {_describe(msgspec.to_builtins(settings))}")
    finally:
        close()


def _accounts(data: str | None, database_url: str | None) -> tuple[Any, Any]:
    """The accounts of a server's data directory or database, and how to close them."""
    if database_url:
        from server.pg import PgBackend

        backend = PgBackend(database_url, pool_size=1)
        return backend.accounts, backend.close
    if data is None:  # as every `recip admin` command: RECIP_DATA, else the default
        import os

        from server.config import resolve

        settings = resolve({}, os.environ)
        if settings.database_url:
            return _accounts(None, settings.database_url)
        data = str(settings.data_dir)
    from server.accounts import Accounts

    accounts = Accounts(Path(data) / "accounts.db")
    return accounts, accounts.close


def register_remote(remote: click.Group) -> None:
    """Add the device's commands to the `remote` group (`cli.admin` adds `set-email`)."""
    remote.add_command(remote_feed)
    remote.add_command(remote_digest)
