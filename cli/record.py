"""Commands of the `recip` CLI that record history: init, contacts, interactions,
asks, gives, introductions, notes and retractions, plus the raw log (`recip events`).

Each command is a thin shell around `core.commands`: open a session (the log folded
once), let core validate and build the draft, append it, print its id alone on
stdout. Refusals are `ReciprocityError`s, which the group turns into one line on
stderr and exit status 1; since validation happens before the append, a refused
command leaves the log as it was.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from .context import current_now, home_of


def register(group: click.Group) -> None:
    """Add this module's commands to the `recip` group."""
    group.add_command(init)


@click.command()
@click.option("--device-name", help="A name for this device (default: the host name).")
@click.pass_context
def init(ctx: click.Context, device_name: str | None) -> None:
    """Create the home directory and this device's identity (once)."""
    now = current_now()
    created = datetime.fromtimestamp(now.unix_ms / 1000, UTC).isoformat()
    home = home_of(ctx)
    device = home.init(device_name, now_iso=created)
    click.echo(f"initialised {home.path}: device {device.name} ({device.device_id})")
