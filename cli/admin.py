"""`recip admin`: a server's owners, invites and devices, and its backups.

Every subcommand finds the server's storage as `recip serve` does (`--data`,
`--database-url`, their `RECIP_*` variables, or a `--config` file), and works
while the server runs. Tokens are printed once, alone on the last line.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import msgspec

from core.errors import ValidationError

from .nudges import set_email
from .serve import settings_from, settings_options

_storage = settings_options(("data", "database_url"))
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_expiry(text: str) -> int | None:
    """`30m`, `24h`, `7d`, `2w` as seconds; `never` as None."""
    if text.strip().lower() == "never":
        return None
    match = _DURATION.match(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise ValidationError(f"--expires {text!r}: use a duration such as 30m, 24h, 7d or never")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def parse_uses(text: str) -> int | None:
    """A positive number of uses, or `unlimited` as None."""
    if text.strip().lower() == "unlimited":
        return None
    try:
        uses = int(text)
    except ValueError:
        uses = 0
    if uses < 1:
        raise ValidationError(f"--uses {text!r}: use a positive number or unlimited")
    return uses


def _when(ms: int | None) -> str:
    if ms is None:
        return "never"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _open(options: dict[str, Any]) -> tuple[Any, str]:
    """The storage's accounts (a context manager) and its name for messages."""
    from server.admin import open_accounts, where

    settings = settings_from(options)
    data = settings.data_dir
    return open_accounts(data, settings.database_url), where(data, settings.database_url)


_expires = click.option(
    "--expires", default="24h", show_default=True, help="Lifetime: 30m, 24h, 7d, ... or never."
)
_uses = click.option(
    "--uses", default="1", show_default=True, help="Devices it may enroll, or unlimited."
)


@click.group()
def admin() -> None:
    """Administer a server: owners, enrollment invites, devices, backups."""


_server_url = click.option(
    "--url",
    "server_url",
    default="http://127.0.0.1:8765",
    show_default=True,
    help="The server's address as devices reach it (for the web app's enrollment link).",
)
_qr = click.option("--qr", is_flag=True, help="Also print the enrollment link as a QR code.")


@admin.command("add-owner")
@click.argument("name")
@_expires
@_uses
@_server_url
@_qr
@_storage
def add_owner(
    name: str, expires: str, uses: str, server_url: str, qr: bool, **options: Any
) -> None:
    """Create an owner and print its first enrollment token (last line, shown once).

    Also prints the web app's enrollment link: the token rides in the URL's
    fragment, which browsers never send to a server or write to its logs.
    """
    from server.accounts import InvitePolicy

    policy = InvitePolicy(expires_s=parse_expiry(expires), uses=parse_uses(uses))
    settings = settings_from(dict(options))
    if settings.database_url:
        from server.pg import add_owner as add_pg_owner

        owner, token = add_pg_owner(settings.database_url, name, policy)
    else:
        from server.accounts import Accounts

        accounts = Accounts(settings.data_dir / "accounts.db")
        try:
            owner, token = accounts.add_owner(name, policy)
        finally:
            accounts.close()
    from server.admin import where

    click.echo(
        f"owner {owner.name} ({owner.owner_id}) created in "
        f"{where(settings.data_dir, settings.database_url)}"
    )
    _say_token(policy.expires_s, policy.uses, token, lambda: _say_link(server_url, qr, token))


def _say_link(server_url: str, qr: bool, token: str) -> None:
    link = f"{server_url.rstrip('/')}/#enroll={token}"
    if qr:
        import segno

        click.echo("scan with the phone's camera to open the web app and enroll:")
        segno.make(link, error="m").terminal(out=sys.stdout, compact=True)
    click.echo(f"or open in the device's browser: {link}")


def _say_token(expires_s: int | None, uses: int | None, token: str, link: Any = None) -> None:
    """What the token allows, how to use it, the web app's link, then the token alone."""
    life = "never expires" if expires_s is None else f"expires in {_span(expires_s)}"
    count = "any number of devices" if uses is None else f"{uses} device(s)"
    click.echo(f"enrollment token for {count}, {life}; on each device:")
    click.echo("  recip remote add URL --token TOKEN")
    if link is not None:
        link()
    click.echo(token)


def _span(seconds: int) -> str:
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@admin.command("invite")
@click.argument("owner")
@_expires
@_uses
@_storage
def invite(owner: str, expires: str, uses: str, **options: Any) -> None:
    """Print a new enrollment token for OWNER (name or id): single use, 24 hours by default."""
    from server.accounts import InvitePolicy

    policy = InvitePolicy(expires_s=parse_expiry(expires), uses=parse_uses(uses))
    accounts, _ = _open(options)
    with accounts as opened:
        found, token, _invite = opened.invite(owner, policy)
    click.echo(f"invite for {found.name} ({found.owner_id})")
    _say_token(policy.expires_s, policy.uses, token)


@admin.command("revoke-invites")
@click.argument("owner")
@_storage
def revoke_invites(owner: str, **options: Any) -> None:
    """End every enrollment token of OWNER (enrolled devices keep syncing)."""
    accounts, _ = _open(options)
    with accounts as opened:
        found, count = opened.revoke_invites(owner)
    click.echo(f"revoked {count} open enrollment token(s) of {found.name}")


@admin.command("list-owners")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_storage
def list_owners(as_json: bool, **options: Any) -> None:
    """Every owner, with its devices and open invites."""
    accounts, place = _open(options)
    with accounts as opened:
        infos = opened.owner_infos()
    if as_json:
        click.echo(msgspec.json.encode([_asdict(i) for i in infos]).decode())
        return
    if not infos:
        click.echo(f"no owners in {place}: add one with 'recip admin add-owner NAME'")
    for i in infos:
        click.echo(
            f"{i.owner_id}  {i.name}  devices {i.active_devices} active / {i.devices}  "
            f"invites {i.open_invites} open  since {_when(i.created_at)}"
            + ("  end-to-end encrypted" if i.e2e else "")
        )


@admin.command("list-devices")
@click.argument("owner")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_storage
def list_devices(owner: str, as_json: bool, **options: Any) -> None:
    """OWNER's devices (name or id): enrolled when, revoked or active."""
    accounts, _ = _open(options)
    with accounts as opened:
        found = opened.find_owner(owner)
        devices = opened.devices(found.owner_id)
    if as_json:
        click.echo(msgspec.json.encode(devices).decode())
        return
    if not devices:
        click.echo(f"{found.name} has no devices: 'recip admin invite {found.name}'")
    for d in devices:
        status = f"revoked {_when(d.revoked_at)}" if d.revoked_at else "active"
        click.echo(f"{d.device_id}  {d.name}  enrolled {_when(d.enrolled_at)}  {status}")


@admin.command("rename-owner")
@click.argument("owner")
@click.argument("new_name")
@_storage
def rename_owner(owner: str, new_name: str, **options: Any) -> None:
    """Rename OWNER (name or id) to NEW_NAME."""
    accounts, _ = _open(options)
    with accounts as opened:
        renamed = opened.rename_owner(owner, new_name)
    click.echo(f"owner {renamed.owner_id} is now {renamed.name}")


@admin.command("reset-device")
@click.argument("owner")
@click.argument("device")
@_storage
def reset_device(owner: str, device: str, **options: Any) -> None:
    """Let DEVICE (id, prefix or name) of OWNER enroll again, with a new invite.

    For a device that lost its token (a reinstalled home restored from its
    export): its current token stops working now.
    """
    accounts, _ = _open(options)
    with accounts as opened:
        target = opened.reset_device(owner, device)
    click.echo(
        f"device {target.device_id} ({target.name}) may enroll again; "
        f"give it a token from 'recip admin invite {owner}'"
    )


@admin.command("remove-owner")
@click.argument("owner")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_storage
def remove_owner(owner: str, yes: bool, **options: Any) -> None:
    """Erase OWNER (name or id) from the server: log, devices, tokens, invites, files.

    Irreversible (ADR 0131): every token of the owner is refused at once, and
    its events are gone from the server (devices keep their own copies).
    """
    from server.admin import where
    from server.removal import find
    from server.removal import remove_owner as erase

    settings = settings_from(options)
    data, url = settings.data_dir, settings.database_url
    found = find(data, url, owner)
    if not yes and not click.confirm(
        f"Erase owner {found.name} ({found.owner_id}) and all its data from "
        f"{where(data, url)}? This cannot be undone.",
        err=True,
    ):
        raise click.ClickException("nothing removed")
    removed = erase(data, url, found.owner_id)
    click.echo(f"owner {removed.name} ({removed.owner_id}) removed from {where(data, url)}")


def _asdict(info: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(info)


@admin.command("backup")
@click.argument("dest", type=click.Path(file_okay=False))
@_storage
def backup(dest: str, **options: Any) -> None:
    """Copy the live server's accounts and every owner's log into the new directory DEST."""
    from server.backup import backup as run_backup

    settings = settings_from(options)
    manifest = run_backup(settings.data_dir, settings.database_url, Path(dest))
    events = sum(o.head for o in manifest.owners)
    click.echo(f"backed up {len(manifest.owners)} owner(s), {events} event position(s), to {dest}")


@admin.command("restore")
@click.argument("source", type=click.Path(file_okay=False, exists=True))
@_storage
def restore(source: str, **options: Any) -> None:
    """Restore a backup from SOURCE into an empty server storage (the server stopped)."""
    from server.admin import where
    from server.backup import restore as run_restore

    settings = settings_from(options)
    manifest = run_restore(Path(source), settings.data_dir, settings.database_url)
    click.echo(
        f"restored {len(manifest.owners)} owner(s) from {source} into "
        f"{where(settings.data_dir, settings.database_url)}"
    )


admin.add_command(set_email)  # the owner's weekly digest (ADR 0102)


def register(group: click.Group) -> None:
    group.add_command(admin)
