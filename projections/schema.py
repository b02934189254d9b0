"""The persisted views' tables, beside the event log in the device's `log.db`.

- `view_meta(name, value)`: `position` (the log position the views reflect)
  and `schema` (a mismatch rebuilds);
- `view_summary`: one `Summary` per active contact (ledger, cold, stats);
- `view_contact`: every added contact with its name, archived flag and survivor
  (references by name, timelines of archived or merged contacts);
- `view_link`: absorbed contact id -> its final survivor;
- `view_event(event_id, position)`: every event that counts, keyed by its id:
  a twin (ADR 0002) is a key collision, a retraction's target a lookup;
- `view_filed(contact_id, position)`: the events filed under a contact id as
  written in events (an ask's resolutions under the ask's contact);
- `view_resolution(ask_id, position)`: every resolution, by its ask (an ask's
  outcome, and the resolutions that wait for their ask);
- `view_merge`, `view_retraction`: every merge and retraction (few: inputs to
  every group's rows).
"""

from __future__ import annotations

import sqlite3
import sys
from array import array
from collections.abc import Sequence
from typing import Any, Final

from core import store

from .views import Summary

#: Bump when the tables or their meaning change: a mismatch rebuilds the views.
SCHEMA: Final = 8

TABLES: Final = (
    "CREATE TABLE view_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TABLE view_summary (contact_id TEXT PRIMARY KEY, name TEXT NOT NULL, "
    "circle TEXT NOT NULL, cadence_days INTEGER, added_day INTEGER NOT NULL, "
    "gives INTEGER NOT NULL, give_weight INTEGER NOT NULL, asks INTEGER NOT NULL, "
    "ask_weight INTEGER NOT NULL, granted INTEGER NOT NULL, declined INTEGER NOT NULL, "
    "withdrawn INTEGER NOT NULL, unanswered INTEGER NOT NULL, open INTEGER NOT NULL, "
    "last_give INTEGER, last_ask INTEGER, last_touch INTEGER, touches BLOB NOT NULL)",
    "CREATE TABLE view_contact (contact_id TEXT PRIMARY KEY, name TEXT NOT NULL, "
    "archived INTEGER NOT NULL, survivor TEXT NOT NULL)",
    "CREATE TABLE view_link (contact_id TEXT PRIMARY KEY, survivor TEXT NOT NULL)",
    "CREATE TABLE view_event (event_id TEXT PRIMARY KEY, position INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE view_filed (contact_id TEXT NOT NULL, position INTEGER NOT NULL, "
    "PRIMARY KEY (contact_id, position)) WITHOUT ROWID",
    "CREATE TABLE view_resolution (ask_id TEXT NOT NULL, position INTEGER NOT NULL, "
    "PRIMARY KEY (ask_id, position)) WITHOUT ROWID",
    "CREATE TABLE view_merge (position INTEGER PRIMARY KEY, event_id TEXT NOT NULL)",
    "CREATE TABLE view_retraction (position INTEGER PRIMARY KEY, target_id TEXT NOT NULL)",
)
TABLE_NAMES: Final = tuple(sql.split()[2] for sql in TABLES)
#: Tables of earlier schemas, dropped by a rebuild.
OLD_TABLES: Final = ("view_index", "view_pending", "view_key", "view_inert", "view_keyed")
SUMMARY_COLUMNS: Final = (
    "contact_id, name, circle, cadence_days, added_day, gives, give_weight, asks, "
    "ask_weight, granted, declined, withdrawn, unanswered, open, last_give, last_ask, "
    "last_touch, touches"
)
PUT_SUMMARY: Final = f"INSERT OR REPLACE INTO view_summary VALUES ({','.join('?' * 18)})"


def create(db: sqlite3.Connection) -> None:
    """Drop every view table (of any schema) and create this schema's, empty."""
    for name in (*TABLE_NAMES, *OLD_TABLES):
        db.execute(f"DROP TABLE IF EXISTS {name}")
    for sql in TABLES:
        db.execute(sql)
    db.execute("INSERT INTO view_meta VALUES ('schema', ?)", (SCHEMA,))
    # Views are of the log's bytes as of its latest redaction (ADR 0130).
    db.execute("INSERT INTO view_meta VALUES ('redactions', ?)", (store.redactions(db),))


def meta(db: sqlite3.Connection, name: str) -> int | None:
    """A `view_meta` value (None if the views were never built)."""
    try:
        row = db.execute("SELECT value FROM view_meta WHERE name = ?", (name,)).fetchone()
    except sqlite3.OperationalError:  # no such table
        return None
    return None if row is None else int(row[0])


def set_position(db: sqlite3.Connection, position: int) -> None:
    db.execute("INSERT OR REPLACE INTO view_meta VALUES ('position', ?)", (position,))


def pack(codes: Sequence[int]) -> bytes:
    """Touch codes as little-endian int64s (portable across machines)."""
    packed = array("q", codes)
    if sys.byteorder == "big":  # pragma: no cover - no big-endian CI
        packed.byteswap()
    return packed.tobytes()


def unpack(blob: bytes) -> tuple[int, ...]:
    packed = array("q")
    packed.frombytes(blob)
    if sys.byteorder == "big":  # pragma: no cover
        packed.byteswap()
    return tuple(packed)


def summary_row(s: Summary) -> tuple[Any, ...]:
    """A `Summary` as a `view_summary` row (field order is column order)."""
    return (*(getattr(s, f) for f in _FIELDS[:-1]), pack(s.touches))


def summary_from_row(row: Sequence[Any]) -> Summary:
    fields = dict(zip(_FIELDS, row, strict=True))
    fields["touches"] = unpack(row[-1])
    return Summary(**fields)


_FIELDS: Final = Summary.__struct_fields__
