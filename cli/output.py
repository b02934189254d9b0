"""How every `recip` read command prints: JSON for machines, a table for people.

Shared by all CLI modules so that every view behaves the same way:

- `print_json` writes one compact JSON document (msgspec; `Struct` field order is
  the key order, so keys are stable) and a newline. Commands sort their rows
  deterministically, so two replicas holding the same events print the same bytes.
- `print_table` renders a rich table. When stdout is not a terminal (a pipe, a
  file, a test) the table is laid out wide instead of at 80 columns, so that ids
  are never cut.
- `local_time` and `recorded_time` render the two timestamps of an event: when it
  happened, in the time zone it was stated in (the same text on every device), and
  when it was recorded (the HLC's physical part, in UTC).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final, Literal

import click
import msgspec

from core.clock import physical_ms

if TYPE_CHECKING:
    from rich.console import Console

#: Width used when stdout is not a terminal: wide enough for ids and summaries.
PIPE_WIDTH: Final = 240
_JSON: Final = msgspec.json.Encoder()


@dataclass(frozen=True)
class Column:
    """A table column: its header, and whether its cells should stay on one line."""

    header: str
    no_wrap: bool = False
    justify: Literal["left", "right", "center"] = "left"


def print_json(value: Any) -> None:
    """One JSON document on stdout (Structs, lists, dicts, scalars)."""
    click.echo(_JSON.encode(value))


def console() -> Console:
    """A rich console on the current stdout (looked up per call: tests swap it)."""
    from rich.console import Console  # imported when needed: JSON output never pays for it

    out = sys.stdout
    wide = None if out.isatty() else PIPE_WIDTH
    return Console(file=out, width=wide, highlight=False, soft_wrap=False, emoji=False)


def print_table(
    columns: Sequence[Column],
    rows: Iterable[Sequence[str]],
    *,
    title: str | None = None,
    empty: str = "nothing to show",
) -> None:
    """A table of string cells; prints `empty` instead when there are no rows."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_lines=False, header_style="bold", title_justify="left")
    for col in columns:
        # Never cut a cell (an id cut short is useless); fold it if space runs out.
        table.add_column(col.header, no_wrap=col.no_wrap, justify=col.justify, overflow="fold")
    count = 0
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
        count += 1
    out = console()
    if count == 0:
        out.print(empty, markup=False)
    else:
        out.print(table)


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
    return moment.strftime("%Y-%m-%d %H:%MZ")


def count_of(n: int, noun: str) -> str:
    """`1 contact`, `2 contacts`: a count with its noun in the right number."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def listing(values: Sequence[str]) -> str:
    """A list of values in one cell."""
    return ", ".join(values)


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """The `--json` flag every read command has (parameter `as_json`)."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (stable keys).")(func)
