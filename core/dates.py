"""Dates as people type them: `yesterday`, `last friday`, `3 days ago`, ISO.

One place for the calendar arithmetic of stated days, so that `--on` and every
date a contact holds (a birthday, how-we-met's day) read the same way:

- `natural_day(text, today)`: a relative day name, or None when the text is not
  one (the caller then reads it as ISO);
- `partial_date(text)`: a day with or without its year, kept as ISO's
  `1815-12-10` or its truncated form `--12-10`.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Final

from .errors import ValidationError

WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_UNITS: Final = {"day": 1, "week": 7}
_AGO: Final = re.compile(r"^(\d{1,5}|a|an|one)\s+(day|week|month|year)s?\s+ago$")
_PARTIAL: Final = re.compile(r"^(?:(\d{4})|-)?-?(\d{1,2})-(\d{1,2})$")


def natural_day(text: str, today: date) -> date | None:
    """The day a relative phrase names, counted from `today`; None if it names none.

    `today`, `yesterday`, `N days|weeks|months|years ago`, `last <weekday>` (the one
    before today), `<weekday>` (the latest such day, today included).
    """
    words = " ".join(text.strip().casefold().split())
    if words == "today":
        return today
    if words == "yesterday":
        return today - timedelta(days=1)
    ago = _AGO.match(words)
    if ago is not None:
        count = 1 if ago.group(1) in ("a", "an", "one") else int(ago.group(1))
        unit = ago.group(2)
        if unit in _UNITS:
            return _minus_days(today, count * _UNITS[unit], text)
        months = count * (12 if unit == "year" else 1)
        return months_before(today, months, text)
    last = words.removeprefix("last ")
    if last in WEEKDAYS:
        back = (today.weekday() - WEEKDAYS.index(last)) % 7
        if words.startswith("last ") and back == 0:
            back = 7
        return today - timedelta(days=back)
    return None


def _minus_days(today: date, days: int, text: str) -> date:
    try:
        return today - timedelta(days=days)
    except OverflowError:
        raise ValidationError(f"date {text.strip()!r} is too far back") from None


def months_before(day: date, months: int, text: str = "") -> date:
    """The same day `months` months earlier (the month's last day if it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    if year < 1:
        raise ValidationError(f"date {text.strip()!r} is too far back")
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has 28 days")


def partial_date(text: str) -> str:
    """A day with or without year, as `YYYY-MM-DD` or `--MM-DD`; refuses a non-day.

    Accepts ISO (`1815-12-10`), vCard 4.0's `--1210` and `18151210`, and `12-10`
    or `--12-10` for a day without a year. February 29th without a year is allowed.
    """
    raw = text.strip()
    compact = raw.replace("-", "")
    if compact.isdigit() and len(compact) in (4, 8) and "-" not in raw.lstrip("-"):
        raw = (
            f"--{compact[:2]}-{compact[2:]}"
            if len(compact) == 4
            else f"{compact[:4]}-{compact[4:6]}-{compact[6:]}"
        )
    match = _PARTIAL.match(raw)
    if match is None:
        raise ValidationError(f"cannot read date {text.strip()!r}: use YYYY-MM-DD or --MM-DD")
    year, month, day = match.group(1), int(match.group(2)), int(match.group(3))
    try:
        date(int(year) if year else 2000, month, day)  # 2000: a leap year, for --02-29
    except ValueError:
        raise ValidationError(f"{text.strip()!r} is not a day of the calendar") from None
    return f"{year}-{month:02d}-{day:02d}" if year else f"--{month:02d}-{day:02d}"


def partial_text(value: str) -> str:
    """A stored partial date for people: `1815-12-10`, or `12-10` without a year."""
    return value.removeprefix("--")
