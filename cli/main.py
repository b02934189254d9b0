"""The `recip` command: one group, with subcommands registered from small modules.

Every refusal is a `ReciprocityError`; it is printed as one line on stderr and
the command exits with status 1, having appended nothing. Usage mistakes (a bad
option value, a missing argument), storage failures (a locked or unreadable
database) and file-system errors get the same treatment: one `error: ...` line,
exit status 1, never a traceback. A person scripting `recip` can rely on that.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from typing import Any, NoReturn

import click
from eventsourcing.persistence import PersistenceError

from core.errors import ReciprocityError

from .home import Home


def _version() -> str:
    """The installed distribution's version; running from a source tree has none."""
    from importlib import metadata

    try:
        return metadata.version("reciprocity")
    except metadata.PackageNotFoundError:
        return "unknown (running from source, not installed)"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    # A callback, not click.version_option: looking up package metadata costs
    # ~100 ms, which every command would otherwise pay at import time.
    if value and not ctx.resilient_parsing:
        click.echo(f"recip, version {_version()}")
        ctx.exit()


#: Commands loaded only when run (or listed): running and administering a server
#: pulls in `server`, which no device command needs (ADR 0001, ADR 0110).
#: Which module registers each command. A command's module is imported only when
#: that command runs (or `--help` lists them all), so that `recip ledger` does not
#: pay for vCard parsing, rule loading or the server. Each module has
#: `register(group)`; tests/test_cli_lazy.py checks this table against them.
COMMAND_MODULES: dict[str, str] = {
    **dict.fromkeys(
        ("init", "contact", "log", "ask", "resolve", "give", "intro", "note", "retract", "events"),
        "cli.record",
    ),
    **dict.fromkeys(("ledger", "cold", "timeline", "stats", "rebuild", "demo"), "cli.views"),
    **dict.fromkeys(("remote", "sync"), "cli.remote"),
    **dict.fromkeys(("export", "import"), "cli.transfer"),
    "replay": "cli.replay",
    "today": "cli.today",
    "doctor": "cli.doctor",
    "e2e": "cli.e2e",
    "serve": "cli.serve",
    "admin": "cli.admin",
}


class ReciprocityGroup(click.Group):
    """Turns refusals into one clear line and a non-zero exit."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMAND_MODULES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMAND_MODULES and cmd_name not in self.commands:
            from importlib import import_module

            import_module(COMMAND_MODULES[cmd_name]).register(self)
        return super().get_command(ctx, cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Group-level usage mistakes (`--home` naming a file) get one line too."""
        try:
            return super().parse_args(ctx, args)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            _usage(exc)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ReciprocityError as exc:
            _refuse(str(exc))
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            _usage(exc)
        except BrokenPipeError:
            # The reader went away (`recip events --json | head`): not an error to report.
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except (PersistenceError, sqlite3.DatabaseError) as exc:
            # A log that went bad under a command (a view reading a corrupt page).
            home = ctx.find_object(Home)
            if home is not None:
                _refuse(str(home.damaged(exc)))
            _refuse(f"event store failure ({exc})")
        except OSError as exc:
            _refuse(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
        except (KeyboardInterrupt, click.exceptions.Abort):
            # Every write is one transaction: an interrupted command wrote all or nothing.
            _refuse("interrupted (nothing was half-written)", status=130)


def _usage(exc: click.UsageError) -> NoReturn:
    where = exc.ctx.command_path if exc.ctx is not None else "recip"
    _refuse(f"{exc.format_message()} (see '{where} --help')")


def _refuse(message: str, status: int = 1) -> NoReturn:
    """Print one line on stderr and exit with `status` (1: a refusal)."""
    click.echo(f"error: {' '.join(message.split())}", err=True)
    sys.exit(status)


@click.group(cls=ReciprocityGroup)
@click.option(
    "--home",
    envvar="RECIP_HOME",
    type=click.Path(file_okay=False),
    help="Device home directory (default: $RECIP_HOME or the per-user data directory).",
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
@click.pass_context
def cli(ctx: click.Context, home: str | None) -> None:
    """Reciprocity: keep your relationships two-way, and keep them up."""
    ctx.obj = Home.locate(home)


def main() -> None:
    cli(prog_name="recip")


if __name__ == "__main__":
    main()
