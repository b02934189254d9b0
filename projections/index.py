"""Lookups over what the views index: events by id, events filed per contact.

A group's rows depend only on the events filed under its members and on every
merge and retraction, so these lookups are how a catch-up or a timeline finds
the events it must fold, and `fetch` reads them from the log by position.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Final

from core import codec
from core.events import AskMade, AskResolved, Event, EventRetracted, OpaqueEvent, contacts_of
from core.store import Stored, rows_at

_IN_LIST: Final = 500

Positioned = list[tuple[int, Event | OpaqueEvent]]


def decode(rows: Iterable[Stored]) -> Positioned:
    """Stored rows as (position, event); unknown types and newer versions opaque."""
    return [(p, codec.decode(t, s)) for p, t, s in rows]


def fetch(db: sqlite3.Connection, positions: Iterable[int]) -> Positioned:
    """The events at the given log positions, in log order."""
    return decode(rows_at(db, positions))


def _in(column: str, count: int) -> str:
    return f"{column} IN ({','.join('?' * count)})"


def held_ids(db: sqlite3.Connection, event_ids: list[str]) -> bool:
    """Whether any of these ids is held by an event the views already count."""
    for start in range(0, len(event_ids), _IN_LIST):
        chunk = event_ids[start : start + _IN_LIST]
        sql = f"SELECT 1 FROM view_event WHERE {_in('event_id', len(chunk))} LIMIT 1"
        if db.execute(sql, chunk).fetchone() is not None:
            return True
    return False


def event(db: sqlite3.Connection, event_id: str) -> Event | None:
    """The counting event with this id, if the log holds it."""
    row = db.execute("SELECT position FROM view_event WHERE event_id = ?", (event_id,)).fetchone()
    if row is None:
        return None
    found = fetch(db, [row[0]])
    return None if not found or isinstance(found[0][1], OpaqueEvent) else found[0][1]


def ask_owner(db: sqlite3.Connection, ask_id: str) -> str | None:
    """The contact an ask is filed under (None if it has not arrived)."""
    ask = event(db, ask_id)
    return ask.contact_id if isinstance(ask, AskMade) else None


def owners(db: sqlite3.Connection, target: Event) -> tuple[str, ...]:
    """The contacts whose rows an event concerns (a resolution: its ask's contact)."""
    if isinstance(target, AskResolved):
        owner = ask_owner(db, target.ask_id)
        return () if owner is None else (owner,)
    if isinstance(target, EventRetracted):
        return ()  # a retraction of a retraction is inert
    return contacts_of(target)


def resolution_positions(db: sqlite3.Connection, ask_id: str) -> list[int]:
    """Positions of every resolution of an ask."""
    sql = "SELECT position FROM view_resolution WHERE ask_id = ?"
    return [int(r[0]) for r in db.execute(sql, (ask_id,))]


def global_positions(db: sqlite3.Connection) -> set[int]:
    """Positions of every merge and retraction: inputs to every group's rows."""
    rows = db.execute("SELECT position FROM view_merge UNION SELECT position FROM view_retraction")
    return {int(r[0]) for r in rows}


def group_positions(db: sqlite3.Connection, members: list[str]) -> set[int]:
    """Positions of the events a group's rows depend on."""
    positions = global_positions(db)
    for start in range(0, len(members), _IN_LIST):
        chunk = members[start : start + _IN_LIST]
        sql = f"SELECT position FROM view_filed WHERE {_in('contact_id', len(chunk))}"
        positions.update(int(r[0]) for r in db.execute(sql, chunk))
    return positions


def retracted_ids(db: sqlite3.Connection) -> set[str]:
    return {r[0] for r in db.execute("SELECT target_id FROM view_retraction")}


def delete_rows(db: sqlite3.Connection, contact_ids: list[str]) -> None:
    """Delete the summary, contact and link rows of these contact ids."""
    for start in range(0, len(contact_ids), _IN_LIST):
        chunk = contact_ids[start : start + _IN_LIST]
        for table in ("view_summary", "view_contact", "view_link"):
            db.execute(f"DELETE FROM {table} WHERE {_in('contact_id', len(chunk))}", chunk)
