"""The valid range of every field, defined once (ADR 0080).

Every door an event comes through (a CLI command, `recip import`, `/v1/sync` in
JSON and MessagePack, a device storing a pulled page) decodes it with the
schemas of `core.events`, which are built from the types below, so that what
one door accepts every other door accepts and every view can show.

- Times: `occurred_at` lies in the years 1900-2999 (UTC), so that its local date
  is a date every view, export and renderer can print, whatever its offset; an
  `hlc` and a `seq` fit a signed 64-bit integer (SQLite, PostgreSQL `bigint`).
- Text: lengths are bounded in characters; list fields in items.
- Unknown event types (ADR 0033) are forwarded only as *plain data*: what both
  MessagePack and JSON carry alike (`plain_problem`).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from msgspec import Meta

#: Signed 64-bit integers: SQLite's and PostgreSQL's `bigint`.
MAX_INT: Final = 2**63 - 1
#: 1900-01-01T00:00Z and 3000-01-01T00:00Z in Unix milliseconds: `occurred_at`'s range.
EARLIEST_MS: Final = int(datetime(1900, 1, 1, tzinfo=UTC).timestamp() * 1000)
LATEST_MS: Final = int(datetime(3000, 1, 1, tzinfo=UTC).timestamp() * 1000) - 1
#: A UTC offset in minutes (±18:00, as ISO 8601 and Python allow).
MAX_OFFSET: Final = 18 * 60
MAX_ID: Final = 64
MAX_NAME: Final = 500
MAX_ITEM: Final = 500
MAX_ITEMS: Final = 100
MAX_WHAT: Final = 2000
MAX_NOTE: Final = 20_000
MAX_CONTACTS: Final = 100
MAX_WEIGHT: Final = 5
MAX_CADENCE: Final = 36_500
#: Schema versions: far more than any type will ever have, small enough for any int.
MAX_VERSION: Final = 1_000_000
#: How deep the fields of an event (of an unknown type) may nest, in maps and arrays.
MAX_DEPTH: Final = 32
#: Integers both formats carry: MessagePack's (and msgspec's) range.
_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**64 - 1

Millis = Annotated[int, Meta(ge=EARLIEST_MS, le=LATEST_MS)]
Offset = Annotated[int, Meta(ge=-MAX_OFFSET, le=MAX_OFFSET)]
Hlc = Annotated[int, Meta(ge=0, le=MAX_INT)]
Seq = Annotated[int, Meta(ge=1, le=MAX_INT)]
Version = Annotated[int, Meta(ge=1, le=MAX_VERSION)]
#: Ids, like enums and numbers, are the *shape* of history: forgetting a person
#: (`core.redaction`) keeps them. Every other text field is personal by default,
#: so a field added later is forgotten unless its type says it is structural.
STRUCTURAL: Final[dict[str, bool]] = {"structural": True}
Id = Annotated[str, Meta(min_length=1, max_length=MAX_ID, extra=STRUCTURAL)]
Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME)]
Item = Annotated[str, Meta(min_length=1, max_length=MAX_ITEM)]
Items = Annotated[tuple[Item, ...], Meta(max_length=MAX_ITEMS)]
Short = Annotated[str, Meta(max_length=MAX_ITEM)]
What = Annotated[str, Meta(min_length=1, max_length=MAX_WHAT)]
Text = Annotated[str, Meta(max_length=MAX_NOTE)]
LongText = Annotated[str, Meta(min_length=1, max_length=MAX_NOTE)]
Weight = Annotated[int, Meta(ge=1, le=MAX_WEIGHT)]
Cadence = Annotated[int, Meta(ge=1, le=MAX_CADENCE)]
#: A contact's occasion label, a profile's kind, a profile's URL.
Label = Annotated[str, Meta(min_length=1, max_length=100)]
Kind = Annotated[str, Meta(min_length=1, max_length=50)]
Url = Annotated[str, Meta(min_length=1, max_length=2000)]
#: A day, with or without its year: `1815-12-10`, or `--12-10` (ISO 8601's truncated form).
PartialDate = Annotated[str, Meta(pattern=r"^(\d{4}|-)-\d{2}-\d{2}$", max_length=10)]
#: A forget names a contact and every contact merged into it.
ForgottenIds = Annotated[tuple[Id, ...], Meta(min_length=1, max_length=1000)]
#: A sealed event's box (nonce, ciphertext, tag; ADR 0135): room for the largest
#: event's JSON, with margin, and never empty.
MAX_SEALED: Final = 1024 * 1024
SealedBox = Annotated[bytes, Meta(min_length=29, max_length=MAX_SEALED)]
ContactIds = Annotated[tuple[Id, ...], Meta(min_length=1, max_length=MAX_CONTACTS)]


def plain_problem(value: Any, path: str = "$", depth: int = 0) -> str | None:
    """Why `value` (decoded MessagePack or JSON) is not plain data, or None.

    Plain data is what MessagePack and JSON both carry and give back unchanged:
    null, booleans, integers of 64 bits, finite floats, strings, arrays, and maps
    with string keys, at most `MAX_DEPTH` levels deep. Not plain: binary and
    extension values and timestamps (JSON has none), non-string keys, infinite
    or NaN floats (JSON has none), integers of more than 64 bits (MessagePack
    has none). Iterative, so that hostile nesting cannot exhaust the stack.
    """
    stack: list[tuple[Any, str, int]] = [(value, path, depth)]
    while stack:
        item, where, level = stack.pop()
        if item is None or isinstance(item, bool | str):
            continue
        if isinstance(item, int):
            if not _INT_MIN <= item <= _INT_MAX:
                return f"{where}: integer {item} does not fit 64 bits"
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                return f"{where}: {item} is not a finite number"
            continue
        if isinstance(item, list | tuple | dict):
            if level >= MAX_DEPTH:
                shown = where if len(where) <= 40 else where[:40] + "..."
                return f"{shown}: nested deeper than {MAX_DEPTH} levels"
            if isinstance(item, dict):
                for key, inner in item.items():
                    if not isinstance(key, str):
                        return f"{where}: map key {key!r} is not a string"
                    stack.append((inner, f"{where}.{key}", level + 1))
            else:
                stack.extend((inner, f"{where}[{i}]", level + 1) for i, inner in enumerate(item))
            continue
        return f"{where}: a {type(item).__name__} value is not plain data"
    return None
