"""The fold behind every view: `core.state.State` plus the events filed per contact.

`State` keeps what contact and ask resolution need (adds, edits, flags, merges,
asks, resolutions, retractions). `Fold` adds, per contact id as written in
events (before merges), the events filed under it (`about`), and the log
position of every event it holds (`position_of`), which the persisted views
store. A resolution is not filed under a contact (its ask is), nor is a
retraction (its target is).

Every rule (retraction, last writer wins, merges, ask outcomes, one event per
id) is `State`'s; `Fold` adds none. `apply` is idempotent and order-free: a
twin that displaces a held event withdraws it from the filings too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from core.events import Event, OpaqueEvent, contacts_of
from core.state import State, displaces


class Fold(State):
    """`State` with per-contact filings and log positions (see the module doc)."""

    def __init__(self, events: Iterable[Event | OpaqueEvent] = ()) -> None:
        self.about: dict[str, list[Event]] = defaultdict(list)
        self.position_of: dict[str, int] = {}
        self._groups: dict[str, list[str]] | None = None
        super().__init__(events)

    def apply(self, event: Event | OpaqueEvent, position: int = 0) -> None:
        """Record one event's facts, its filings and its log position."""
        if isinstance(event, OpaqueEvent):
            return
        held = self.by_id.get(event.event_id)
        if held is not None and not displaces(event, held):
            return  # the same event again, or an inert twin
        super().apply(event)
        self._groups = None
        self.position_of[event.event_id] = position
        for contact_id in dict.fromkeys(contacts_of(event)):
            self.about[contact_id].append(event)

    def extend(self, pairs: Iterable[tuple[int, Event | OpaqueEvent]]) -> None:
        """Apply many (position, event) pairs."""
        for position, event in pairs:
            self.apply(event, position)

    def withdraw(self, event: Event) -> None:
        """Undo `apply(event)`: its twin with a smaller `(device_id, seq)` arrived."""
        super().withdraw(event)
        self._groups = None
        del self.position_of[event.event_id]
        for contact_id in dict.fromkeys(contacts_of(event)):
            kept = [e for e in self.about.pop(contact_id) if e is not event]
            if kept:  # else forget the contact id, as if never filed under
                self.about[contact_id] = kept

    # -- groups ---------------------------------------------------------------------

    def groups(self) -> dict[str, list[str]]:
        """Survivor id -> every id whose history counts for it (itself first)."""
        if self._groups is None:
            groups: dict[str, list[str]] = {}
            links = self._links()
            ids = sorted(set(self.about) | set(self.added) | set(links))
            for contact_id in ids:
                groups.setdefault(self.survivor(contact_id), [])
            for contact_id in ids:
                survivor = self.survivor(contact_id)
                if contact_id != survivor:
                    groups[survivor].append(contact_id)
            self._groups = {g: [g, *rest] for g, rest in groups.items()}
        return self._groups

    def members(self, survivor_id: str) -> list[str]:
        """The ids whose history counts for `survivor_id` (empty if it is absorbed)."""
        if self.survivor(survivor_id) != survivor_id:
            return []
        return self.groups().get(survivor_id, [survivor_id])
