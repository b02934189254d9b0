"""The instants of a replay over time: `--from`, `--to`, `--every Nd|Nw|Nm|Ny`."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import Final

from core.errors import ValidationError

from .history import day_of

_UNITS: Final = {"d": "days", "w": "weeks", "m": "months", "y": "years"}
#: A bound on steps, so that a typo (`--every 1d` over fifty years) cannot run away.
MAX_STEPS: Final = 20_000


def step_days(start: date, end: date, every: str) -> list[int]:
    """The days from `start` to `end` (inclusive), every `Nd`, `Nw`, `Nm` or `Ny`.

    Months and years step in calendar terms from `start` (31 January + 1m is the
    last day of February), so monthly steps stay on "the same day of the month".
    """
    text = every.strip().lower()
    count, unit = text[:-1], text[-1:]
    if unit not in _UNITS or not count.isdigit() or int(count) < 1:
        raise ValidationError(f"--every must look like 30d, 2w, 1m or 1y, got {every!r}")
    if end < start:
        raise ValidationError(f"--from {start} is after --to {end}")
    n = int(count)
    out: list[int] = []
    k = 0
    while True:
        if unit == "d":
            current = start + timedelta(days=k * n)
        elif unit == "w":
            current = start + timedelta(weeks=k * n)
        else:
            current = _add_months(start, k * n * (12 if unit == "y" else 1))
        if current > end:
            return out
        out.append(day_of(current))
        if len(out) > MAX_STEPS:
            raise ValidationError(
                f"--every {every} from {start} to {end} makes more than {MAX_STEPS} steps"
            )
        k += 1


def _add_months(start: date, months: int) -> date:
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    if year > 9999:
        return date.max
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))
