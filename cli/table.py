"""Plain-text tables for people: aligned columns, wrapped only where a terminal is narrow.

Rows are laid out by hand rather than through rich's `Table`: a heavy user's ledger
has thousands of rows, and measuring each cell through rich cost several times what
the view itself costs. A cell is a string or a `Cell` carrying a style, applied
only when the output is a colour terminal, so piped output is plain text that
`grep` and `cut` can use.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import click
from rich.cells import cell_len

GAP: Final = "  "
#: A wrapping column is never squeezed below this many cells.
MIN_WRAP: Final = 12


@dataclass(frozen=True)
class Column:
    """A table column: its header, and whether its cells should stay on one line."""

    header: str
    no_wrap: bool = False
    justify: Literal["left", "right", "center"] = "left"


@dataclass(frozen=True)
class Cell:
    """Text with a style: words among `bold dim strike red green yellow`."""

    text: str
    style: str = ""


def render(
    columns: Sequence[Column],
    rows: Iterable[Sequence[str | Cell]],
    *,
    width: int | None = None,
    color: bool = False,
) -> list[str]:
    """The table's lines (header, rule, rows); no lines when there are no rows.

    With `width`, the columns that may wrap are narrowed (widest first) until the
    table fits; columns marked `no_wrap` (ids, dates, numbers) always stay whole.
    """
    body = [[c if isinstance(c, Cell) else Cell(c) for c in row] for row in rows]
    if not body:
        return []
    for row in body:
        for i, cell in enumerate(row):
            if "\n" in cell.text:
                row[i] = Cell(" ".join(cell.text.split("\n")), cell.style)
    heads = [c.header.split("\n") for c in columns]
    widths = [
        max([cell_len(h) for h in head] + [cell_len(row[i].text) for row in body])
        for i, head in enumerate(heads)
    ]
    if width is not None:
        _fit(columns, widths, width)
    lines: list[str] = []
    depth = max(len(h) for h in heads)
    for level in range(depth):
        parts = []
        for i, head in enumerate(heads):
            text = head[level - (depth - len(head))] if level >= depth - len(head) else ""
            parts.append(_styled(_pad(text, widths[i], columns[i].justify), "bold", color))
        lines.append(GAP.join(parts).rstrip())
    lines.append(GAP.join("─" * w for w in widths))
    for row in body:
        cells = [_wrap(cell.text, widths[i]) for i, cell in enumerate(row)]
        for level in range(max(len(c) for c in cells)):
            parts = [
                _styled(
                    _pad(c[level] if level < len(c) else "", widths[i], columns[i].justify),
                    row[i].style,
                    color,
                )
                for i, c in enumerate(cells)
            ]
            lines.append(GAP.join(parts).rstrip())
    return lines


def _fit(columns: Sequence[Column], widths: list[int], width: int) -> None:
    """Narrow the widest wrapping column a cell at a time until the row fits `width`."""
    excess = sum(widths) + len(GAP) * (len(widths) - 1) - width
    wrappable = [i for i, c in enumerate(columns) if not c.no_wrap]
    while excess > 0 and wrappable:
        widest = max(wrappable, key=lambda i: widths[i])
        if widths[widest] <= MIN_WRAP:
            return
        widths[widest] -= 1
        excess -= 1


def _wrap(text: str, width: int) -> list[str]:
    """Lines of at most `width` cells, broken at spaces, long words cut."""
    if cell_len(text) <= width:
        return [text]
    lines: list[str] = []
    line = ""
    for word in text.split():
        while cell_len(word) > width:  # a word longer than the column: cut it
            room = width - cell_len(line) - (1 if line else 0)
            if room <= 0:
                lines.append(line)
                line, room = "", width
            head = _cut(word, room)
            line = f"{line} {head}" if line else head
            word = word[len(head) :]
        candidate = f"{line} {word}" if line else word
        if cell_len(candidate) <= width:
            line = candidate
        else:
            lines.append(line)
            line = word
    lines.append(line)
    return [ln for ln in lines if ln] or [""]


def _cut(word: str, room: int) -> str:
    """The longest start of `word` that fits `room` cells (at least one character)."""
    used = 0
    for i, char in enumerate(word):
        used += cell_len(char)
        if used > room:
            return word[: max(i, 1)]
    return word


def _pad(text: str, width: int, justify: str) -> str:
    room = width - cell_len(text)
    if room <= 0:
        return text
    if justify == "right":
        return " " * room + text
    if justify == "center":
        return " " * (room // 2) + text + " " * (room - room // 2)
    return text + " " * room


def _styled(text: str, style: str, color: bool) -> str:
    if not color or not style or not text.strip():
        return text
    words = style.split()
    fg = next((w for w in words if w in ("red", "green", "yellow")), None)
    return click.style(
        text, fg=fg, bold="bold" in words, dim="dim" in words, strikethrough="strike" in words
    )
