"""A full rebuild: fold the whole log, write every view table.

Runs inside the caller's write transaction (`projections.projector`), so the
log cannot grow under it and a failure leaves the old views in place.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable

from core import codec, store

from . import schema
from .fold import Fold
from .views import summarize

Progress = Callable[[int, int], None]


def rebuild(db: sqlite3.Connection, progress: Progress | None = None) -> int:
    """Drop the view tables and build them from every row; returns the rows read."""
    schema.create(db)
    top = store.head(db)
    fold = Fold()
    done = 0
    for rows in store.rows_after(db):
        for position, topic, state in rows:
            fold.apply(codec.decode(topic, state), position)
        done += len(rows)
        if progress is not None:
            progress(done, top)
    write_all(db, fold)
    schema.set_position(db, top if done else 0)
    return done


def write_all(db: sqlite3.Connection, fold: Fold) -> None:
    """Write every table from a fold of the whole log."""
    position_of = fold.position_of
    db.executemany("INSERT INTO view_event VALUES (?, ?)", position_of.items())
    filed = [
        (contact_id, position_of[e.event_id])
        for contact_id, events in fold.about.items()
        for e in events
    ]
    resolved = []
    for ask_id, resolutions in fold.resolutions.items():
        ask = fold.asks.get(ask_id)
        for r in resolutions:
            resolved.append((ask_id, position_of[r.event_id]))
            if ask is not None:
                filed.append((ask.contact_id, position_of[r.event_id]))
    db.executemany("INSERT INTO view_filed VALUES (?, ?)", filed)
    db.executemany("INSERT INTO view_resolution VALUES (?, ?)", resolved)
    db.executemany(
        "INSERT INTO view_merge VALUES (?, ?)", ((position_of[m], m) for m in fold.merges)
    )
    db.executemany(
        "INSERT INTO view_retraction VALUES (?, ?)",
        ((position_of[r.event_id], t) for t, rs in fold.retractions.items() for r in rs),
    )
    groups = fold.groups()
    write_groups(db, fold, groups, groups)


def write_groups(
    db: sqlite3.Connection, fold: Fold, groups: dict[str, list[str]], survivors: Iterable[str]
) -> None:
    """(Re)write the summary, contact and link rows of the given groups."""
    summaries, contacts, links = [], [], []
    for survivor_id in survivors:
        summary = summarize(fold, survivor_id)
        if summary is not None:
            summaries.append(schema.summary_row(summary))
        for member in groups.get(survivor_id, ()):
            if member != survivor_id:
                links.append((member, survivor_id))
            contact = fold.contact(member)
            if contact is not None:
                contacts.append((member, contact.name, int(contact.archived), survivor_id))
    db.executemany(schema.PUT_SUMMARY, summaries)
    db.executemany("INSERT OR REPLACE INTO view_contact VALUES (?, ?, ?, ?)", contacts)
    db.executemany("INSERT OR REPLACE INTO view_link VALUES (?, ?)", links)
