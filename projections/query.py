"""Reading the persisted views, asynchronously (for the server and the CLI).

Every read first catches the views up with the log (in a worker thread: the
catch-up is synchronous SQLite work that writes), then reads the view tables
through `aiosqlite`, so an async server never blocks its event loop on a view.
The date-dependent parts (window flags, going-cold status) are derived from the
stored summaries by the same pure functions that define them (`projections.views`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosqlite

from core import codec, names
from core.errors import NotFoundError
from core.events import Event, OpaqueEvent
from core.names import NameRef

from . import views
from .fold import Fold
from .projector import SUMMARY_COLUMNS, Progress, Projector, summary_from_row, unpack
from .views import ColdRow, Day, LedgerRow, Stats, Summary, TimelineEntry

_IN_CHUNK = 500


#: A contact as the views know it: enough to resolve a reference.
ContactRef = NameRef


def resolve(refs: list[ContactRef], ref: str) -> ContactRef:
    """A contact by the one rule (`core.names.resolve`), archived ones included (a
    timeline of an archived contact is still readable)."""
    return names.resolve(refs, ref, archived=True)


class Views:
    """The views of one log database."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)

    # -- catching up --------------------------------------------------------------------

    def catch_up_sync(self, progress: Progress | None = None) -> int:
        with Projector(self.path) as projector:
            return projector.catch_up(progress)

    def rebuild_sync(self, progress: Progress | None = None) -> int:
        with Projector(self.path) as projector:
            return projector.rebuild(progress)

    async def catch_up(self, progress: Progress | None = None) -> int:
        """Fold new log events into the views; returns how many."""
        return await asyncio.to_thread(self.catch_up_sync, progress)

    # -- reads ----------------------------------------------------------------------------

    async def summaries(self) -> list[Summary]:
        await self.catch_up()
        async with aiosqlite.connect(self.path) as db:
            cursor = await db.execute(
                f"SELECT {SUMMARY_COLUMNS} FROM view_summary ORDER BY contact_id"
            )
            rows = await cursor.fetchall()
        return [summary_from_row(r) for r in rows]

    async def contacts(self) -> list[ContactRef]:
        await self.catch_up()
        async with aiosqlite.connect(self.path) as db:
            cursor = await db.execute(
                "SELECT contact_id, name, archived, survivor FROM view_contact ORDER BY contact_id"
            )
            rows = await cursor.fetchall()
        return [ContactRef(r[0], r[1], bool(r[2]), r[3]) for r in rows]

    async def ledger(self, as_of: Day, contact: str | None = None) -> list[LedgerRow]:
        """Ledger rows (of one contact if `contact` is given)."""
        sums = await self.summaries()
        if contact is not None:
            ref = resolve(await self.contacts(), contact)
            sums = [s for s in sums if s.contact_id == ref.contact_id]
            if not sums:
                raise NotFoundError(f"contact {ref.name!r} is archived: it has no ledger row")
        return views.ledger(sums, as_of)

    async def cold(self, as_of: Day, *, everyone: bool = False) -> list[ColdRow]:
        return views.cold(await self.summaries(), as_of, everyone=everyone)

    async def stats(self, as_of: Day) -> Stats:
        return views.stats(await self.summaries(), as_of)

    async def timeline(self, contact: str) -> tuple[ContactRef, list[TimelineEntry]]:
        """A contact's (group's) timeline, from the events the index files under it."""
        refs = await self.contacts()
        ref = resolve(refs, contact)
        async with aiosqlite.connect(self.path) as db:
            cursor = await db.execute(
                "SELECT contact_id FROM view_link WHERE survivor = ?", (ref.contact_id,)
            )
            members = [ref.contact_id, *(r[0] for r in await cursor.fetchall())]
            positions: set[int] = set()
            for sql in ("SELECT position FROM view_merge", "SELECT position FROM view_retraction"):
                cursor = await db.execute(sql)
                positions.update(int(r[0]) for r in await cursor.fetchall())
            for chunk in _chunks(members):
                cursor = await db.execute(
                    "SELECT positions FROM view_index WHERE contact_id IN "
                    f"({','.join('?' * len(chunk))})",
                    chunk,
                )
                for (blob,) in await cursor.fetchall():
                    positions.update(unpack(blob))
            events: list[tuple[int, Event | OpaqueEvent]] = []
            for chunk in _chunks(sorted(positions)):
                cursor = await db.execute(
                    "SELECT rowid, topic, state FROM stored_events WHERE rowid IN "
                    f"({','.join('?' * len(chunk))}) ORDER BY rowid",
                    chunk,
                )
                events.extend((p, codec.decode(t, s)) for p, t, s in await cursor.fetchall())
        fold = Fold()
        for where, event in events:
            fold.apply(event, where)
        names = {r.contact_id: r.name for r in refs}
        return ref, views.timeline(fold, ref.contact_id, names)


def _chunks(values: list[str] | list[int]) -> list[list[str] | list[int]]:
    return [values[i : i + _IN_CHUNK] for i in range(0, len(values), _IN_CHUNK)]
