"""Touch codes: one int per touch (interaction, give, introduction, ask).

A summary keeps the code of every live touch, sorted: codes order by day, so
the 365-day window and the last touch before any as-of day are a bisection.
Layout, low bits first: `weight` (3 bits, 0 for an interaction), `kind`
(2 bits: one bit for a give, one for an ask), then the local day. Days before
1970 give negative codes; shifts keep them exact (`>>` floors).
"""

from __future__ import annotations

from typing import Final

from core.days import Day, local_day
from core.events import AskMade, Event, GiveMade, InteractionLogged, IntroductionMade

WEIGHT_BITS: Final = 3
WEIGHT_MASK: Final = (1 << WEIGHT_BITS) - 1
GIVE_BIT: Final = 1 << WEIGHT_BITS
ASK_BIT: Final = GIVE_BIT << 1
WEIGHTED: Final = GIVE_BIT | ASK_BIT
DAY_SHIFT: Final = WEIGHT_BITS + 2

#: The kind bits of each touch type.
KIND_BITS: Final[dict[type, int]] = {
    InteractionLogged: 0,
    GiveMade: GIVE_BIT,
    IntroductionMade: GIVE_BIT,
    AskMade: ASK_BIT,
}
TOUCH_TYPES: Final = frozenset(KIND_BITS)


def touch_code(event: Event) -> int:
    """The code of a touch event (a `TOUCH_TYPES` instance)."""
    kind = KIND_BITS[type(event)]
    weight = int(getattr(event, "weight", 0)) if kind else 0
    return (local_day(event.occurred_at, event.utc_offset) << DAY_SHIFT) | kind | weight


def first_code(day: Day) -> int:
    """The least code of a day: codes below it are of earlier days."""
    return day << DAY_SHIFT


def day(code: int) -> Day:
    return code >> DAY_SHIFT


def weight(code: int) -> int:
    return code & WEIGHT_MASK


def is_ask(code: int) -> bool:
    return bool(code & ASK_BIT)


def is_give(code: int) -> bool:
    return bool(code & GIVE_BIT)
