"""How every `recip` read command prints: JSON for machines, a table for people.

Shared by all CLI modules so that every view behaves the same way:

- `print_json` writes one compact JSON document (msgspec; `Struct` field order is
  the key order, so keys are stable) and a newline. Commands sort their rows
  deterministically, so two replicas holding the same events print the same bytes.
- `print_table` prints a plain-text table (`cli.table`). On a terminal it fits the
  terminal's width (names and summaries wrap, ids and dates never) and is coloured;
  piped, it is never wrapped and carries no escape codes.
- `local_time` and `recorded_time` render the two timestamps of an event: when it
  happened, in the time zone it was stated in (the same text on every device), and
  when it was recorded (the HLC's physical part, in UTC).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

import click
import msgspec

from core.clock import physical_ms

from .table import Cell as Cell
from .table import Column as Column
from .table import render

_JSON: Final = msgspec.json.Encoder()


def print_json(value: Any) -> None:
    """One JSON document on stdout (Structs, lists, dicts, scalars)."""
    click.echo(_JSON.encode(value))


def print_table(
    columns: Sequence[Column],
    rows: Iterable[Sequence[str | Cell]],
    *,
    title: str | None = None,
    empty: str = "nothing to show",
) -> None:
    """A table of cells; prints `empty` instead when there are no rows."""
    tty = sys.stdout.isatty()
    width = shutil.get_terminal_size().columns if tty else None
    lines = render(columns, rows, width=width, color=tty and "NO_COLOR" not in os.environ)
    if not lines:
        click.echo(empty)
        return
    click.echo("\n".join(([title] if title else []) + lines))


def local_time(unix_ms: int, utc_offset: int) -> str:
    """When something happened, in the zone it was stated in: `2026-03-01 09:30`."""
    try:
        tz = timezone(timedelta(minutes=utc_offset))
        return datetime.fromtimestamp(unix_ms / 1000, tz).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):  # a peer's event may hold any int
        return f"{unix_ms} ms"


def recorded_time(hlc: int) -> str:
    """When an event was recorded (its HLC's wall-clock part), in UTC."""
    try:
        moment = datetime.fromtimestamp(physical_ms(hlc) / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return f"hlc {hlc}"
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def count_of(n: int, noun: str) -> str:
    """`1 contact`, `2 contacts`: a count with its noun in the right number."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def listing(values: Sequence[str]) -> str:
    """A list of values in one cell."""
    return ", ".join(values)


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """The `--json` flag every read command has (parameter `as_json`)."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (stable keys).")(func)
