"""Reading the persisted views, asynchronously (for the server and the CLI).

Every read first catches the views up with the log, once (in a worker thread:
the catch-up is synchronous SQLite work, which writes only when the log has
something new), then reads the view tables through `aiosqlite`, so an async
server never blocks its event loop on a view.
The date-dependent parts (window flags, going-cold status) are derived from the
stored summaries by the same pure functions that define them (`projections.views`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosqlite

from core import names
from core.errors import NotFoundError
from core.names import NameRef
from core.store import open_file

from . import index, views
from .fold import Fold
from .projector import Progress, Projector
from .schema import SUMMARY_COLUMNS, summary_from_row
from .views import ColdRow, Day, LedgerRow, Stats, Summary, TimelineEntry

#: A contact as the views know it: enough to resolve a reference.
ContactRef = NameRef


def resolve(refs: list[ContactRef], ref: str) -> ContactRef:
    """A contact by the one rule (`core.names.resolve`), archived ones included (a
    timeline of an archived contact is still readable)."""
    return names.resolve(refs, ref, archived=True)


class Views:
    """The views of one log database. Each read catches up once, then reads."""

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
        return await self._summaries()

    async def contacts(self) -> list[ContactRef]:
        await self.catch_up()
        return await self._contacts()

    async def ledger(self, as_of: Day, contact: str | None = None) -> list[LedgerRow]:
        """Ledger rows (of one contact if `contact` is given)."""
        await self.catch_up()
        sums = await self._summaries()
        if contact is not None:
            ref = resolve(await self._contacts(), contact)
            sums = [s for s in sums if s.contact_id == ref.contact_id]
            if not sums:
                raise NotFoundError(f"contact {ref.name!r} is archived: it has no ledger row")
        return views.ledger(sums, as_of)

    async def cold(self, as_of: Day, *, everyone: bool = False) -> list[ColdRow]:
        return views.cold(await self.summaries(), as_of, everyone=everyone)

    async def stats(self, as_of: Day) -> Stats:
        return views.stats(await self.summaries(), as_of)

    async def timeline(self, contact: str) -> tuple[ContactRef, list[TimelineEntry]]:
        """A contact's (group's) timeline, from the events filed under its members."""
        refs = await self.contacts()
        ref = resolve(refs, contact)
        fold = await asyncio.to_thread(self.group_sync, ref.contact_id)
        names = {r.contact_id: r.name for r in refs}
        return ref, views.timeline(fold, ref.contact_id, names)

    async def _summaries(self) -> list[Summary]:
        async with aiosqlite.connect(self.path) as db:
            cursor = await db.execute(
                f"SELECT {SUMMARY_COLUMNS} FROM view_summary ORDER BY contact_id"
            )
            rows = await cursor.fetchall()
        return [summary_from_row(r) for r in rows]

    async def _contacts(self) -> list[ContactRef]:
        async with aiosqlite.connect(self.path) as db:
            cursor = await db.execute(
                "SELECT contact_id, name, archived, survivor FROM view_contact ORDER BY contact_id"
            )
            rows = await cursor.fetchall()
        return [ContactRef(r[0], r[1], bool(r[2]), r[3]) for r in rows]

    def group_sync(self, *survivor_ids: str) -> Fold:
        """A fold of every event the groups' rows depend on (their members' filed
        events, every merge and retraction): what one contact's pages need, without
        folding the whole log. The views must be caught up."""
        db = open_file(self.path, read_only=True)
        try:
            members = list(survivor_ids)
            for survivor_id in survivor_ids:
                links = db.execute(
                    "SELECT contact_id FROM view_link WHERE survivor = ?", (survivor_id,)
                )
                members += (r[0] for r in links.fetchall())
            fold = Fold()
            fold.extend(index.fetch(db, index.group_positions(db, members)))
            return fold
        finally:
            db.close()
