"""The settings of `recip serve` and `recip admin`: one schema, four sources.

Every setting has one name used everywhere: the TOML key (`max-open-owners`),
the flag (`--max-open-owners`) and the environment variable
(`RECIP_MAX_OPEN_OWNERS`). A value is taken from the first source that gives it:
flag, then environment, then the file given by `--config` (or `RECIP_CONFIG`),
then the default (ADR 0110).

This module imports only the standard library, msgspec and platformdirs, so the
CLI can build its options from it without loading the server.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import msgspec
import platformdirs

from core.errors import ReciprocityError

from .owners import MAX_OPEN_OWNERS

#: Default bound on one request body: about 40,000 typical events in MessagePack.
MAX_BODY: Final = 16 * 1024 * 1024
#: The environment variable naming the configuration file (like `--config`).
CONFIG_ENV: Final = "RECIP_CONFIG"
ENV_PREFIX: Final = "RECIP_"

LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["logfmt", "json"]


class ConfigError(ReciprocityError):
    """A configuration file, variable or flag that cannot be used."""


def default_data_dir() -> Path:
    """The server's data when none is configured: the per-user data directory.

    Never the working directory: a server started from another directory must
    find the same owners. `$XDG_DATA_HOME` is honoured on Linux.
    """
    return platformdirs.user_data_path("reciprocity-server", appauthor=False)


class ServeSettings(msgspec.Struct, frozen=True, kw_only=True, rename="kebab"):
    """Everything `recip serve` can be told; field `max_body` is key `max-body`."""

    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8765
    data: str | None = None
    database_url: str | None = None
    workers: Annotated[int, msgspec.Meta(ge=1)] = 1
    max_body: Annotated[int, msgspec.Meta(ge=1024)] = MAX_BODY
    max_open_owners: Annotated[int, msgspec.Meta(ge=1)] = MAX_OPEN_OWNERS
    smtp: str | None = None
    smtp_from: str | None = None
    digest_interval: Annotated[float, msgspec.Meta(ge=1.0)] = 60.0
    log_level: LogLevel = "info"
    log_format: LogFormat = "logfmt"
    access_log: bool = True

    @property
    def data_dir(self) -> Path:
        return Path(self.data).expanduser() if self.data else default_data_dir()


#: What each setting does, shown in `recip serve --help` with its variable and default.
HELP: Final[Mapping[str, str]] = {
    "host": "Address to listen on.",
    "port": "Port to listen on.",
    "data": "Directory of the accounts database and one event log per owner.",
    "database_url": "PostgreSQL instead of SQLite: postgresql://USER@HOST:PORT/DB[?prefix=SCHEMA].",
    "workers": "Worker processes (PostgreSQL).",
    "max_body": "Largest request, in bytes.",
    "max_open_owners": "Owners whose logs stay open at once (per worker); idle ones beyond are "
    "closed.",
    "smtp": "Mail the weekly digests through this relay: smtp://HOST[:PORT] (STARTTLS), "
    "smtps://HOST[:PORT] (TLS) or smtp+plain://HOST[:PORT]; credentials in "
    "$RECIP_SMTP_USER and $RECIP_SMTP_PASSWORD (never in this file).",
    "smtp_from": "Sender address of the digests.",
    "digest_interval": "Seconds between looks for digests due.",
    "log_level": "Least severe log record written: debug, info, warning or error.",
    "log_format": "Log lines as logfmt (key=value) or JSON (one object per line).",
    "access_log": "Log one line per HTTP request (at info level).",
}


@dataclass(frozen=True)
class Setting:
    """One setting's names in each source."""

    attr: str

    @property
    def key(self) -> str:
        return self.attr.replace("_", "-")

    @property
    def flag(self) -> str:
        return f"--{self.key}"

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.attr.upper()

    @property
    def default(self) -> Any:
        return getattr(DEFAULTS, self.attr)


DEFAULTS: Final = ServeSettings()
SETTINGS: Final = tuple(Setting(name) for name in ServeSettings.__struct_fields__)


def _convert(values: Mapping[str, Any], where: str, *, strict: bool) -> ServeSettings:
    try:
        return msgspec.convert(dict(values), ServeSettings, strict=strict)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{where}: {_readable(str(exc))}") from None


def _readable(message: str) -> str:
    """msgspec's `... - at `$.max-body`` as `max-body: ...`."""
    text, sep, path = message.rpartition(" - at `$.")
    return f"{path.rstrip('`')}: {text}" if sep else message


def read_file(path: Path) -> dict[str, Any]:
    """The keys of a TOML configuration file, checked against the schema."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"configuration {path} is not valid TOML: {exc}") from None
    known = {s.key for s in SETTINGS}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"configuration {path}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})"
        )
    _convert(data, f"configuration {path}", strict=True)
    return {key.replace("-", "_"): value for key, value in data.items()}


def read_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings given as `RECIP_*` variables, converted (an empty variable is unset)."""
    given: dict[str, Any] = {}
    for setting in SETTINGS:
        text = environ.get(setting.env)
        if not text:
            continue
        value: Any = text
        if isinstance(setting.default, bool):
            value = _boolean(text, setting.env)
        converted = _convert({setting.key: value}, setting.env, strict=False)
        given[setting.attr] = getattr(converted, setting.attr)
    return given


def _boolean(text: str, where: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{where}: expected true or false, got {text!r}")


def resolve(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    config_file: str | Path | None = None,
) -> ServeSettings:
    """The settings, each from the first source that gives it: flag > env > file > default.

    `flags` holds only the flags given (by attribute name); `config_file` is the
    `--config` flag, else `$RECIP_CONFIG` is used.
    """
    path = config_file or environ.get(CONFIG_ENV) or None
    merged: dict[str, Any] = {}
    if path:
        merged.update(read_file(Path(path).expanduser()))
    merged.update(read_env(environ))
    merged.update({k: v for k, v in flags.items() if v is not None})
    return _convert({k.replace("_", "-"): v for k, v in merged.items()}, "settings", strict=True)
