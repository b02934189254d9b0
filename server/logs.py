"""Structured logs: one logfmt or JSON line per record on stderr, never a secret.

Records carry their data in `extra={"fields": {...}}`; the formatters write
those fields after the time, level, logger and message. Three rules keep
secrets out (ADR 0111):

- no code logs a token, an enrollment secret or an event body (the access log
  has the method, the route and the status, never a header or a body);
- the `Redact` filter rewrites anything shaped like a Reciprocity token or a
  database password in every record, uvicorn's and the libraries' included;
- a full sync scenario's logs are grepped for every secret it used (tests).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any, Final

from .config import LogFormat, LogLevel

TOKEN_RE: Final = re.compile(r"recip-(?:enroll|device)-[A-Za-z0-9_\-]+")
PASSWORD_RE: Final = re.compile(r"(postgres(?:ql)?://[^:/@\s]+:)[^@\s]+@")
_SAFE: Final = re.compile(r"^[A-Za-z0-9_.:/\-+@]+$")


def scrub(text: str) -> str:
    """`text` with every token and database password replaced by `***`.

    Most texts hold neither pattern's fixed start; they are returned as they are
    without running either expression (every access-log field passes here).
    """
    if "recip-" not in text and "postgres" not in text:
        return text
    return PASSWORD_RE.sub(r"\1***@", TOKEN_RE.sub("recip-***", text))


class Redact(logging.Filter):
    """Scrubs the formatted message and the fields of every record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg, record.args = scrub(message), None
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping) and any(
            isinstance(v, str) and scrub(v) is not v for v in fields.values()
        ):
            record.fields = {k: scrub(v) if isinstance(v, str) else v for k, v in fields.items()}
        return True


@functools.lru_cache(maxsize=4)
def _second(seconds: int) -> str:
    """The UTC timestamp of a whole second (records of one second share it)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def _base(record: logging.LogRecord) -> dict[str, Any]:
    stamp = _second(int(record.created))
    out: dict[str, Any] = {
        "ts": f"{stamp}.{int(record.msecs):03d}Z",
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    fields = getattr(record, "fields", None)
    if isinstance(fields, Mapping):
        out.update((k, v) for k, v in fields.items() if v is not None)
    if record.exc_info:
        out["exc"] = logging.Formatter().formatException(record.exc_info)
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_base(record), ensure_ascii=False, default=str)


class LogfmtFormatter(logging.Formatter):
    """`key=value` pairs, values quoted when they hold spaces or quotes."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join([f"{k}={_logfmt_value(v)}" for k, v in _base(record).items()])


def _logfmt_value(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return _logfmt_text(value)
    if kind is int or kind is float:
        return str(value)
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    return _logfmt_text(str(value))


@functools.lru_cache(maxsize=1024)
def _logfmt_text(text: str) -> str:
    """A text as a logfmt value: as it is when safe, else quoted (the same few
    texts, routes, methods, device ids, recur on every line: remembered)."""
    return text if _SAFE.match(text) else json.dumps(text, ensure_ascii=False)


FORMATTERS: Final[Mapping[str, type[logging.Formatter]]] = {
    "json": JsonFormatter,
    "logfmt": LogfmtFormatter,
}


def log_config(level: LogLevel, fmt: LogFormat, *, access_log: bool = True) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the server's and uvicorn's loggers.

    uvicorn applies it (in every worker it starts), so the process that only
    starts workers keeps its logging as it was. uvicorn's own access log stays
    off: `recip.access` replaces it.
    """
    upper = level.upper()
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "structured",
        "filters": ["redact"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": Redact}},
        "formatters": {"structured": {"()": FORMATTERS[fmt]}},
        "handlers": {"stderr": handler},
        "loggers": {
            "recip": {"handlers": ["stderr"], "level": upper, "propagate": False},
            "recip.access": {"level": upper if access_log else "WARNING"},
            "uvicorn": {"handlers": ["stderr"], "level": upper, "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
