"""The `recip` command: one group, with subcommands registered from small modules.

Every refusal is a `ReciprocityError`; it is printed as one line on stderr and
the command exits with status 1, having appended nothing.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from core.errors import ReciprocityError

from . import record, remote, replay, transfer, views
from .home import Home


class ReciprocityGroup(click.Group):
    """Turns refusals into one clear line and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ReciprocityError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=ReciprocityGroup)
@click.option(
    "--home",
    envvar="RECIP_HOME",
    type=click.Path(file_okay=False),
    help="Device home directory (default: $RECIP_HOME or the per-user data directory).",
)
@click.version_option(package_name="reciprocity")
@click.pass_context
def cli(ctx: click.Context, home: str | None) -> None:
    """Reciprocity: keep your relationships two-way, and keep them up."""
    ctx.obj = Home.locate(home)


record.register(cli)
views.register(cli)
remote.register(cli)
replay.register(cli)
transfer.register(cli)


def main() -> None:
    cli(prog_name="recip")


if __name__ == "__main__":
    main()
