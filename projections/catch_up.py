"""Incremental catch-up: fold the events after the views' position into them.

Views are a function of the *set* of events, and a late event (a retraction, a
merge, a resolution of an old ask) can change rows computed long ago, so most
events make their groups be recomputed from the events that concern them
(`projections.index`). Plain touches (interactions, gives, introductions, asks)
are the exception and most of a log: a summary is a sum over touches, so they
are *added* to their group's summary when nothing else in the batch concerns it.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from typing import Final

from msgspec.structs import replace

from core import store
from core.events import (
    OUTCOMES,
    AskMade,
    AskResolved,
    ContactsMerged,
    Event,
    EventRetracted,
    GiveMade,
    InteractionLogged,
    IntroductionMade,
    NoteAdded,
    OpaqueEvent,
    contacts_of,
)
from core.state import key

from . import index, schema
from .fold import Fold
from .rebuild import write_groups
from .views import Summary, add_touches

#: Events whose effect on views is purely additive.
_PLAIN: Final = frozenset({InteractionLogged, GiveMade, IntroductionMade, AskMade})


def catch_up(db: sqlite3.Connection, position: int) -> int | None:
    """Fold the events after `position` into the views; returns how many, or None
    when one claims the id of another (ADR 0002: rare; the caller rebuilds)."""
    new = [pe for rows in store.rows_after(db, position) for pe in index.decode(rows)]
    events: list[tuple[int, Event]] = [(p, e) for p, e in new if not isinstance(e, OpaqueEvent)]
    ids = [e.event_id for _, e in events]
    if len(set(ids)) < len(ids) or index.held_ids(db, ids):
        return None
    db.executemany("INSERT INTO view_event VALUES (?, ?)", ((e.event_id, p) for p, e in events))
    filed: list[tuple[str, int]] = []
    full: set[str] = set()  # contacts whose groups are recomputed
    plain: list[Event] = []
    merges_changed = False
    asks: dict[str, str] = {}
    resolutions: list[tuple[int, AskResolved]] = []
    retractions: list[tuple[int, EventRetracted]] = []
    for where, event in events:
        if isinstance(event, AskResolved):
            resolutions.append((where, event))
            continue
        if isinstance(event, EventRetracted):
            retractions.append((where, event))
            continue
        contacts = dict.fromkeys(contacts_of(event))
        if isinstance(event, ContactsMerged):
            merges_changed = True
            db.execute("INSERT INTO view_merge VALUES (?, ?)", (where, event.event_id))
        if type(event) in _PLAIN:
            plain.append(event)
        elif not isinstance(event, NoteAdded):
            full.update(contacts)
        filed.extend((c, where) for c in contacts)
        if isinstance(event, AskMade):
            asks[event.event_id] = event.contact_id
    # A resolution goes under its ask's contact and moves the ask between outcomes
    # (`_move_outcomes`), or waits for its ask, which then takes it along.
    moved: dict[str, str] = {}
    for where, resolution in resolutions:
        ask_id = resolution.ask_id
        db.execute("INSERT INTO view_resolution VALUES (?, ?)", (ask_id, where))
        owner = asks.get(ask_id) or index.ask_owner(db, ask_id)
        if owner is not None:
            filed.append((owner, where))
            moved[ask_id] = owner
    for ask_id, owner in asks.items():
        waiting = [w for w in index.resolution_positions(db, ask_id) if w <= position]
        if waiting:
            filed.extend((owner, where) for where in waiting)
            full.add(owner)
    db.executemany("INSERT OR IGNORE INTO view_filed VALUES (?, ?)", filed)
    # A retraction concerns whatever its target concerns (if the target is here yet).
    for where, retraction in retractions:
        db.execute("INSERT INTO view_retraction VALUES (?, ?)", (where, retraction.target_id))
        target = index.event(db, retraction.target_id)
        if target is not None:
            merges_changed |= isinstance(target, ContactsMerged)
            full.update(index.owners(db, target))
    old_links = dict(db.execute("SELECT contact_id, survivor FROM view_link").fetchall())
    links = _links(db) if merges_changed else old_links
    full.update(c for c in old_links.keys() | links.keys() if old_links.get(c) != links.get(c))
    groups = {links.get(c, c) for c in full} | {old_links.get(c, c) for c in full}
    recomputed = _recompute(db, groups, links)
    _add_plain(db, plain, recomputed, links)
    _move_outcomes(db, moved, position, recomputed, links)
    schema.set_position(db, new[-1][0] if new else position)
    return len(new)


def _move_outcomes(
    db: sqlite3.Connection,
    moved: dict[str, str],
    position: int,
    skip: set[str],
    links: dict[str, str],
) -> None:
    """Move asks resolved anew from their old outcome to their new one, in the
    summaries of groups not recomputed in full. An outcome is the latest live
    resolution by (hlc, event_id): this costs the ask's resolutions only."""
    if not moved:
        return
    retracted = index.retracted_ids(db)
    changes: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for ask_id, owner in moved.items():
        survivor = links.get(owner, owner)
        if survivor in skip or ask_id in retracted:
            continue
        live = [
            (where, r)
            for where, r in index.fetch(db, index.resolution_positions(db, ask_id))
            if isinstance(r, AskResolved) and r.event_id not in retracted
        ]
        old = max((r for where, r in live if where <= position), key=key, default=None)
        new = max((r for _, r in live), key=key, default=None)
        if old is not new:
            changes[survivor].append((_outcome(old), _outcome(new)))
    for survivor, moves in changes.items():
        summary = _summary(db, survivor)
        if summary is None:
            continue  # not active: a recompute writes its rows when it becomes so
        totals = {o: getattr(summary, o) for o in (*OUTCOMES, "open")}
        for old_outcome, new_outcome in moves:
            totals[old_outcome] -= 1
            totals[new_outcome] += 1
        db.execute(schema.PUT_SUMMARY, schema.summary_row(replace(summary, **totals)))


def _outcome(resolution: AskResolved | None) -> str:
    return "open" if resolution is None else resolution.outcome


def _summary(db: sqlite3.Connection, survivor: str) -> Summary | None:
    row = db.execute(
        f"SELECT {schema.SUMMARY_COLUMNS} FROM view_summary WHERE contact_id = ?", (survivor,)
    ).fetchone()
    return None if row is None else schema.summary_from_row(row)


def _links(db: sqlite3.Connection) -> dict[str, str]:
    """Absorbed id -> final survivor, from every merge and retraction (State's rule)."""
    fold = Fold(e for _, e in index.fetch(db, index.global_positions(db)))
    ids = {c for m in fold.merges.values() for c in (m.survivor_id, m.absorbed_id)}
    return {c: s for c in sorted(ids) if (s := fold.survivor(c)) != c}


def _recompute(db: sqlite3.Connection, survivors: set[str], links: dict[str, str]) -> set[str]:
    """Rewrite the rows of the given groups from the events that concern them;
    returns the survivors recomputed."""
    survivors = {links.get(s, s) for s in survivors}
    if not survivors:
        return survivors
    members: dict[str, list[str]] = {s: [s] for s in survivors}
    for absorbed, survivor in sorted(links.items()):
        if survivor in members:
            members[survivor].append(absorbed)
    everyone = [m for group in members.values() for m in group]
    fold = Fold()
    fold.extend(index.fetch(db, index.group_positions(db, everyone)))
    index.delete_rows(db, everyone)
    write_groups(db, fold, fold.groups(), sorted(survivors))
    return survivors


def _add_plain(
    db: sqlite3.Connection, plain: list[Event], skip: set[str], links: dict[str, str]
) -> None:
    """Add plain touches to the summaries of groups not recomputed in full."""
    if not plain:
        return
    retracted = index.retracted_ids(db)
    by_group: dict[str, list[Event]] = defaultdict(list)
    for event in plain:
        if event.event_id in retracted:
            continue  # its retraction arrived first
        for survivor in dict.fromkeys(links.get(c, c) for c in contacts_of(event)):
            if survivor not in skip:
                by_group[survivor].append(event)
    for survivor, touches in by_group.items():
        row = db.execute(
            f"SELECT {schema.SUMMARY_COLUMNS} FROM view_summary WHERE contact_id = ?", (survivor,)
        ).fetchone()
        if row is not None:  # else not active: a recompute writes its rows when it becomes so
            db.execute(
                schema.PUT_SUMMARY,
                schema.summary_row(add_touches(schema.summary_from_row(row), touches)),
            )
