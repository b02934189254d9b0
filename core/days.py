"""Day arithmetic: local dates as day numbers since 1970-01-01.

Views and scoring compare dates, not instants: an event's day is its
`occurred_at` shifted by its own `utc_offset`, so that "last touch" is the same
day on every device whatever its time zone.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final, TypeAlias

Day: TypeAlias = int
MINUTE_MS: Final = 60_000
DAY_MS: Final = 86_400_000
EPOCH: Final = date(1970, 1, 1)


def local_day(occurred_at: int, utc_offset: int) -> Day:
    """The local date of an instant (ms since the epoch, offset in minutes)."""
    return (occurred_at + utc_offset * MINUTE_MS) // DAY_MS


def day_of(when: date) -> Day:
    """A calendar date as a day number."""
    return (when - EPOCH).days


def date_of(day: Day) -> date:
    """The calendar date of a day number."""
    return EPOCH + timedelta(days=day)


def iso_day(day: Day | None) -> str | None:
    """YYYY-MM-DD of a day number, or None."""
    return None if day is None else date_of(day).isoformat()
