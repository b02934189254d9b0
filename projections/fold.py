"""The fold behind every view: `core.state.State` plus an index of events per contact.

Views need, for each contact, every event that concerns it. `State` keeps only
what contact and ask resolution need (adds, edits, flags, merges, asks,
resolutions, retractions), so `Fold` extends it with `about`: contact id (as
written in the event, before merges) -> the events naming that contact. All
resolution rules (retraction, last writer wins, merges, ask outcomes) stay those
of `State`; `Fold` adds no rule of its own, only faster bookkeeping.

`apply` dispatches on the event's exact type (one dict lookup) instead of a chain
of `isinstance` checks, because a rebuild folds a million events and this is its
innermost loop. It records exactly the facts `State.apply` records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Final

from core.events import (
    AskMade,
    AskResolved,
    ContactAdded,
    ContactArchived,
    ContactEdited,
    ContactRestored,
    ContactsMerged,
    Event,
    EventRetracted,
    GiveMade,
    InteractionLogged,
    IntroductionMade,
    NoteAdded,
    OpaqueEvent,
)
from core.state import State, key

MS_PER_DAY: Final = 86_400_000


def local_day(event: Event) -> int:
    """The event's local date as days since 1970-01-01 (its own UTC offset applied)."""
    return (event.occurred_at + event.utc_offset * 60_000) // MS_PER_DAY


class Fold(State):
    """`State` with every event also filed under the contacts it names."""

    def __init__(self, events: Iterable[Event | OpaqueEvent] = ()) -> None:
        self.about: dict[str, list[Event]] = defaultdict(list)
        #: Log positions, parallel to `about` (filled when `apply` is given positions).
        self.at: dict[str, list[int]] = defaultdict(list)
        #: Log positions of resolutions, merges and retractions (not filed by contact).
        self.position_of: dict[str, int] = {}
        self._position = 0
        self._groups: dict[str, list[str]] | None = None
        super().__init__(events)

    def apply(self, event: Event | OpaqueEvent, position: int = 0) -> None:
        """Record one event's facts (and its log position). Idempotent, order-free."""
        handler = _HANDLERS.get(type(event))
        if handler is None or event.event_id in self.by_id:
            return
        assert not isinstance(event, OpaqueEvent)
        if self._cache:
            self._cache.clear()
        self._groups = None
        self.by_id[event.event_id] = event
        self._position = position
        handler(self, event)

    def extend(self, pairs: Iterable[tuple[int, Event | OpaqueEvent]]) -> None:
        """Apply many (position, event) pairs: `apply`, with the commonest cases
        (interactions, gives, asks, notes: nine events in ten) inlined."""
        by_id, about, at, asks = self.by_id, self.about, self.at, self.asks
        apply = self.apply
        for position, event in pairs:
            cls = type(event)
            if cls is InteractionLogged:
                event_id = event.event_id
                if event_id in by_id:
                    continue
                by_id[event_id] = event  # type: ignore[assignment]
                ids = event.contact_ids  # type: ignore[union-attr]
                if len(ids) == 1:
                    contact_id = ids[0]
                    about[contact_id].append(event)  # type: ignore[arg-type]
                    at[contact_id].append(position)
                    continue
                for contact_id in dict.fromkeys(ids):
                    about[contact_id].append(event)  # type: ignore[arg-type]
                    at[contact_id].append(position)
            elif cls is GiveMade or cls is AskMade or cls is NoteAdded:
                event_id = event.event_id
                if event_id in by_id:
                    continue
                by_id[event_id] = event  # type: ignore[assignment]
                contact_id = event.contact_id  # type: ignore[union-attr]
                about[contact_id].append(event)  # type: ignore[arg-type]
                at[contact_id].append(position)
                if cls is AskMade:
                    asks[event_id] = event  # type: ignore[assignment]
            else:
                apply(event, position)
        self._cache.clear()
        self._groups = None

    # -- handlers: each records what State records, plus the per-contact index ------

    def _file(self, contact_id: str, e: Event) -> None:
        self.about[contact_id].append(e)
        self.at[contact_id].append(self._position)

    def _added(self, e: ContactAdded) -> None:
        self.added[e.event_id] = e
        self._file(e.event_id, e)

    def _edited(self, e: ContactEdited) -> None:
        self.edits[e.contact_id].append(e)
        self._file(e.contact_id, e)

    def _flag(self, e: ContactArchived | ContactRestored) -> None:
        self.flags[e.contact_id].append(e)
        self._file(e.contact_id, e)

    def _merged(self, e: ContactsMerged) -> None:
        self.merges[e.event_id] = e
        self.position_of[e.event_id] = self._position
        self._file(e.survivor_id, e)
        if e.absorbed_id != e.survivor_id:
            self._file(e.absorbed_id, e)

    def _many(self, e: InteractionLogged | IntroductionMade) -> None:
        for contact_id in dict.fromkeys(e.contact_ids):
            self._file(contact_id, e)

    def _ask(self, e: AskMade) -> None:
        self.asks[e.event_id] = e
        self._file(e.contact_id, e)

    def _one(self, e: GiveMade | NoteAdded) -> None:
        self._file(e.contact_id, e)

    def _resolved(self, e: AskResolved) -> None:
        self.resolutions[e.ask_id].append(e)
        self.position_of[e.event_id] = self._position

    def _retracted(self, e: EventRetracted) -> None:
        self.retractions[e.target_id].append(e)
        self.position_of[e.event_id] = self._position

    # -- groups ---------------------------------------------------------------------

    def groups(self) -> dict[str, list[str]]:
        """Survivor id -> every id whose history counts for it (itself first)."""
        if self._groups is None:
            groups: dict[str, list[str]] = {}
            links = self._links()
            ids = set(self.about) | set(self.added) | set(links)
            for contact_id in sorted(ids):
                groups.setdefault(self.survivor(contact_id), [])
            for contact_id in sorted(ids):
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

    def outcome(self, ask_id: str) -> str | None:
        """An ask's outcome: its latest live resolution by (hlc, event_id), else None."""
        best: AskResolved | None = None
        for candidate in self.resolutions.get(ask_id, ()):
            if self.live(candidate) and (best is None or key(candidate) > key(best)):
                best = candidate
        return None if best is None else best.outcome


_HANDLERS: Final[dict[type, Callable[[Fold, Event], None]]] = {
    ContactAdded: Fold._added,  # type: ignore[dict-item]
    ContactEdited: Fold._edited,  # type: ignore[dict-item]
    ContactArchived: Fold._flag,  # type: ignore[dict-item]
    ContactRestored: Fold._flag,  # type: ignore[dict-item]
    ContactsMerged: Fold._merged,  # type: ignore[dict-item]
    InteractionLogged: Fold._many,  # type: ignore[dict-item]
    IntroductionMade: Fold._many,  # type: ignore[dict-item]
    AskMade: Fold._ask,  # type: ignore[dict-item]
    GiveMade: Fold._one,  # type: ignore[dict-item]
    NoteAdded: Fold._one,  # type: ignore[dict-item]
    AskResolved: Fold._resolved,  # type: ignore[dict-item]
    EventRetracted: Fold._retracted,  # type: ignore[dict-item]
}
