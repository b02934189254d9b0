"""`recip serve`: run the sync server, configured by flags, `RECIP_*` variables or a file.

The options are made from `server.config`'s schema, so that a flag, its variable
and its TOML key cannot drift apart; each option's help names all three. Flags
default to "not given", and `server.config.resolve` applies the precedence
(flag > environment > file > default, ADR 0110). This module is loaded only when
`recip serve` runs or help is asked for (see `cli.main`).
"""

from __future__ import annotations

import os
import shlex
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from core.errors import ValidationError
from server.config import HELP, SETTINGS, ServeSettings, Setting, resolve

if TYPE_CHECKING:
    from server.digest import DigestConfig

#: click types of the settings whose values are not plain strings.
_TYPES: dict[str, Any] = {
    "port": click.IntRange(1, 65535),
    "workers": click.IntRange(min=1),
    "max_body": click.IntRange(min=1024),
    "max_open_owners": click.IntRange(min=1),
    "digest_interval": click.FloatRange(min=1.0),
    "log_level": click.Choice(["debug", "info", "warning", "error"]),
    "log_format": click.Choice(["logfmt", "json"]),
    "data": click.Path(file_okay=False),
}

config_option = click.option(
    "--config",
    "config_file",
    default=None,
    type=click.Path(dir_okay=False),
    help="TOML file of settings, keys as the flags without '--' [env: RECIP_CONFIG].",
)


def _shown_default(setting: Setting) -> str:
    if setting.attr == "data":
        return "per-user data directory"
    if setting.default is None:
        return "none"
    if isinstance(setting.default, bool):
        return "on" if setting.default else "off"
    return str(setting.default)


def setting_option(setting: Setting) -> Callable[[Any], Any]:
    """The click option of one setting: no default of its own, help naming every source."""
    suffix = f" [env: {setting.env}; key: {setting.key}; default: {_shown_default(setting)}]"
    if isinstance(setting.default, bool):
        return click.option(
            f"{setting.flag}/--no-{setting.key}",
            setting.attr,
            default=None,
            help=HELP[setting.attr] + suffix,
        )
    return click.option(
        setting.flag,
        setting.attr,
        default=None,
        type=_TYPES.get(setting.attr, str),
        help=HELP[setting.attr] + suffix,
    )


def settings_options(names: tuple[str, ...] | None = None) -> Callable[[Any], Any]:
    """Decorate a command with `--config` and the options of the named settings (or all)."""
    chosen = [s for s in SETTINGS if names is None or s.attr in names]

    def decorate(command: Any) -> Any:
        for setting in reversed(chosen):
            command = setting_option(setting)(command)
        return config_option(command)

    return decorate


def settings_from(options: dict[str, Any]) -> ServeSettings:
    """The resolved settings of a command's options (`config_file` + settings)."""
    config_file = options.pop("config_file", None)
    return resolve(options, os.environ, config_file)


@click.command()
@settings_options()
def serve(**options: Any) -> None:
    """Run the sync server.

    Each setting comes from its flag, else its RECIP_* variable, else the
    --config file, else its default.
    """
    from server.admin import where
    from server.asgi import serve as run
    from server.logs import log_config
    from server.service import ServerConfig

    settings = settings_from(options)
    _check_can_listen(settings.host, settings.port)
    data = settings.data_dir
    place = where(data, settings.database_url)
    if settings.database_url:
        place += f", {settings.workers} worker(s)"
    url = f"http://{settings.host}:{settings.port}"
    click.echo(f"recip sync server on {url} (data in {place})", err=True)
    _first_run(settings, data, url)
    logs = log_config(settings.log_level, settings.log_format, access_log=settings.access_log)
    config = ServerConfig(
        data=data,
        max_body=settings.max_body,
        database_url=settings.database_url,
        max_open_owners=settings.max_open_owners,
        digest=_digest(settings),
    )
    run(config, settings.host, settings.port, settings.workers, logs)  # uvicorn applies it


def _digest(settings: ServeSettings) -> DigestConfig | None:
    """The weekly digest's mailer, when `smtp` is set (ADR 0102)."""
    if not settings.smtp:
        return None
    from server.digest import DigestConfig
    from server.mail import settings_from as smtp_settings

    return DigestConfig(
        smtp=smtp_settings(settings.smtp, settings.smtp_from, os.environ),
        interval_s=settings.digest_interval,
    )


def _first_run(settings: ServeSettings, data: Path, url: str) -> None:
    """With no owner yet, say how to add one and enroll a device."""
    from server.admin import open_accounts

    with open_accounts(data, settings.database_url) as accounts:
        if accounts.owners():
            return
    if settings.database_url:  # its password never printed
        from server.pg import redact

        storage = f"--database-url {shlex.quote(redact(settings.database_url))}"
    elif settings.data is not None:
        storage = f"--data {shlex.quote(str(data))}"
    else:
        storage = ""  # the default: the admin commands find it by themselves
    for line in (
        "no owners yet. To start:",
        f"  1. on this machine:  recip admin add-owner NAME {storage}".rstrip()
        + "   (prints an enrollment token: one device, 24 hours)",
        f"  2. on each device:   recip init && recip remote add {url} --token TOKEN",
        "     then `recip sync`. More tokens: recip admin invite NAME",
    ):
        click.echo(line, err=True)


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


def register(group: click.Group) -> None:
    """Add `serve` to the `recip` group."""
    group.add_command(serve)
