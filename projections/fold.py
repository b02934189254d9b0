"""The fold behind every view: `core.state.State` plus per-contact facts.

Views need, for each contact, what concerns it. `State` keeps only what contact
and ask resolution need (adds, edits, flags, merges, asks, resolutions,
retractions), so `Fold` extends it, per contact id as written in events (before
merges):

- `filed[contact] = (positions, ids, codes)`, parallel lists over every event
  filed under the contact: its log position (the persisted index, see
  `projections.projector`), its id (only when `keep_events`: a rebuild has no
  use for a million ids, and tells events apart by position), and for a *touch*
  (interaction, give, introduction, ask) one small int packing its local day,
  kind and weight (`touch_code`; -1 for other events and for touches retracted
  up front). Summaries fold these ints, not event objects: a rebuild sums a
  million of them, and small ints in a list are far cheaper to walk than a
  million objects scattered over memory;
- `about`: the event objects themselves, kept only when `keep_events` (timelines
  need them; a rebuild does not, and dropping them halves its memory).

All resolution rules (retraction, last writer wins, merges, ask outcomes, one
event per id) stay those of `State`; `Fold` adds no rule of its own. A fold that
keeps events withdraws a displaced twin as `State` does; a compact one (no
`keep_events`) tells events apart by id alone (light events carry no device or
seq to compare, nor ids of touches to find them by), so its caller must hand it
only the counting event of each id (`projections.projector` filters the inert
twins out first); one it meets anyway is kept out and noted in `twins_met`.

A fold may be given the ids of every retracted event up front (`retracted`): their
touches are then never coded, which spares the summaries a filtering pass. Without
`keep_events` this is required (no ids are kept to find a touch by later: a
retraction not announced raises `ValueError`); with it, a late retraction is
honoured when summarizing (`Fold.late_retractions`).

`apply` dispatches on the event's exact type (one dict lookup) instead of a chain
of `isinstance` checks; `extend` inlines the commonest types.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Final

from core.events import (
    AskMade,
    AskResolved,
    ContactAdded,
    ContactArchived,
    ContactDetailsSet,
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
    contacts_of,
)
from core.state import State, displaces, key

from .light import (
    LightAsk,
    LightGive,
    LightInteraction,
    LightIntroduction,
    LightNote,
    LightResolution,
)

MS_PER_DAY: Final = 86_400_000
#: Touch kinds in a code (bits 3-4); bits 0-2 hold the weight, the rest the day.
INTERACTION: Final = 0
GIVE: Final = 1
ASK: Final = 2
_KIND: Final = {
    InteractionLogged: INTERACTION,
    LightInteraction: INTERACTION,
    GiveMade: GIVE,
    LightGive: GIVE,
    IntroductionMade: GIVE,
    LightIntroduction: GIVE,
    AskMade: ASK,
    LightAsk: ASK,
}
TOUCH_TYPES: Final = frozenset(_KIND)
#: The code of a filed event that is not a (live) touch. No touch has it: it would
#: need kind bits 3, which no kind uses (dates before 1970 give negative codes).
NOT_A_TOUCH: Final = -1


def local_day(event: Event) -> int:
    """The event's local date as days since 1970-01-01 (its own UTC offset applied)."""
    return (event.occurred_at + event.utc_offset * 60_000) // MS_PER_DAY


def touch_code(event: Event) -> int:
    """`day << 5 | kind << 3 | weight` of a touch (weight 0 for an interaction).

    Shifts keep the day exact for dates before 1970 too (`>>` floors).
    """
    kind = _KIND[type(event)]
    weight = 0 if kind == INTERACTION else int(event.weight)  # type: ignore[attr-defined]
    return (local_day(event) << 5) | (kind << 3) | weight


#: (positions, ids, codes): ints in C arrays (no int object kept per event); ids
#: only when events are kept.
Filed = tuple["array[int]", list[str], "array[int]"]


def _new_filed() -> Filed:
    return (array("q"), [], array("q"))


class Fold(State):
    """`State` with per-contact facts for the views (see the module doc)."""

    def __init__(
        self,
        events: Iterable[Event | OpaqueEvent] = (),
        *,
        keep_events: bool = True,
        retracted: Collection[str] = frozenset(),
    ) -> None:
        self.keep_events = keep_events
        self.upfront = retracted
        self.about: dict[str, list[Event]] = defaultdict(list)
        self.filed: dict[str, Filed] = defaultdict(_new_filed)
        #: Ids of touches not kept in `by_id` (when not `keep_events`), for idempotence.
        self.seen: set[str] = set()
        #: Whether a compact fold met a twin displacing an event it keeps (its caller
        #: should have filtered the inert twins out: see the module doc).
        self.twins_met = False
        #: Log positions of resolutions, merges and retractions (not filed by contact).
        self.position_of: dict[str, int] = {}
        self._position = 0
        self._groups: dict[str, list[str]] | None = None
        super().__init__(events)

    def known(self, event_id: str) -> bool:
        return event_id in self.by_id or event_id in self.seen

    def apply(self, event: Event | OpaqueEvent, position: int = 0) -> None:
        """Record one event's facts (and its log position). Idempotent, order-free:
        a twin sharing an applied event's id displaces it or is inert (`State`)."""
        handler = _HANDLERS.get(type(event))
        if handler is None:
            return
        assert not isinstance(event, OpaqueEvent)
        if event.event_id in self.by_id:
            held = self.by_id[event.event_id]
            if held is event or held == event:
                return
            if not self.keep_events:
                self.twins_met = True  # cannot compare nor withdraw (module doc)
                return
            if not displaces(event, held):
                return  # an inert twin
            self.withdraw(held)
        elif event.event_id in self.seen:
            return  # a compact fold tells events apart by id alone (module doc)
        if self._cache:
            self._cache.clear()
        self._groups = None
        if self.keep_events or type(event) not in _COMPACT:
            self.by_id[event.event_id] = event
        else:
            self.seen.add(event.event_id)
        self._position = position
        handler(self, event)

    def extend(
        self, pairs: Iterable[tuple[int, Event | OpaqueEvent]], *, once: bool = False
    ) -> None:
        """Apply many (position, event) pairs: `apply`, with single-contact
        interactions, gives, asks, resolutions and notes (most of a history) inlined.
        Each inlined branch records exactly what its handler records.

        `once` promises that no event in `pairs` was applied before or appears twice,
        nor shares its id with another (a single scan of a log, inert twins filtered
        out: one row per device and seq, hence per event), which
        spares remembering the id of every touch, ask and resolution just to stay
        idempotent (`by_id` then lacks them: only retraction targets are looked up
        there, to tell a retraction, which is always recorded, from anything else)."""
        if self.keep_events:
            for position, event in pairs:
                self.apply(event, position)
            return
        seen, by_id, upfront, filed = self.seen, self.by_id, self.upfront, self.filed
        asks, resolutions, position_of = self.asks, self.resolutions, self.position_of
        apply = self.apply
        for position, event in pairs:
            cls: type = type(event)
            if cls is LightInteraction or cls is InteractionLogged:
                if len(event.contact_ids) != 1:  # type: ignore[union-attr]
                    apply(event, position)
                    continue
                contact_id = event.contact_ids[0]  # type: ignore[union-attr]
                code = ((event.occurred_at + event.utc_offset * 60_000) // MS_PER_DAY) << 5
            elif cls is LightGive or cls is GiveMade:
                contact_id = event.contact_id  # type: ignore[union-attr]
                code = (
                    ((event.occurred_at + event.utc_offset * 60_000) // MS_PER_DAY) << 5
                    | 8
                    | event.weight  # type: ignore[union-attr]
                )
            elif cls is LightNote or cls is NoteAdded:
                contact_id = event.contact_id  # type: ignore[union-attr]
                code = NOT_A_TOUCH
            elif cls is LightResolution or cls is AskResolved:
                event_id = event.event_id
                if not once:
                    if event_id in by_id:
                        continue
                    by_id[event_id] = event  # type: ignore[assignment]
                resolutions[event.ask_id].append(event)  # type: ignore[union-attr, arg-type]
                position_of[event_id] = position
                continue
            elif cls is LightAsk or cls is AskMade:
                event_id = event.event_id
                if not once:
                    if event_id in by_id:
                        continue
                    by_id[event_id] = event  # type: ignore[assignment]
                asks[event_id] = event  # type: ignore[assignment]
                contact_id = event.contact_id  # type: ignore[union-attr]
                record = filed[contact_id]
                record[0].append(position)
                record[2].append(
                    NOT_A_TOUCH
                    if event_id in upfront
                    else ((event.occurred_at + event.utc_offset * 60_000) // MS_PER_DAY) << 5
                    | 16
                    | event.weight  # type: ignore[union-attr]
                )
                continue
            else:
                apply(event, position)
                continue
            event_id = event.event_id
            if not once:
                if event_id in seen or event_id in by_id:
                    continue
                seen.add(event_id)
            record = filed[contact_id]
            record[0].append(position)
            record[2].append(NOT_A_TOUCH if event_id in upfront else code)
        self._cache.clear()
        self._groups = None

    def withdraw(self, event: Event) -> None:
        """Undo `apply(event)` (its twin with a smaller `(device_id, seq)` arrived):
        `State`'s facts, then the event's filing, found by id (a compact fold keeps
        no ids to find it by, so it cannot withdraw: its caller filters twins)."""
        if not self.keep_events:
            raise ValueError(f"a compact fold cannot withdraw {event.event_id}")
        super().withdraw(event)
        self._groups = None
        self.position_of.pop(event.event_id, None)
        for contact_id in dict.fromkeys(contacts_of(event)):
            positions, ids, codes = self.filed.pop(contact_id)
            about = [e for e in self.about.pop(contact_id) if e is not event]
            keep = [i for i, filed_id in enumerate(ids) if filed_id != event.event_id]
            if keep:  # else forget the contact id, as if it was never filed under
                self.filed[contact_id] = (
                    array("q", (positions[i] for i in keep)),
                    [ids[i] for i in keep],
                    array("q", (codes[i] for i in keep)),
                )
                self.about[contact_id] = about

    def changed(self) -> None:
        """Forget what was resolved: facts were added from outside `apply`/`extend`
        (a rebuild merging another process's filings)."""
        self._cache.clear()
        self._groups = None

    # -- handlers: each records what State records, plus the per-contact facts -------

    def _file(self, contact_id: str, e: Event, code: int = NOT_A_TOUCH) -> None:
        record = self.filed[contact_id]
        if self.keep_events:
            self.about[contact_id].append(e)
            record[1].append(e.event_id)
        record[0].append(self._position)
        record[2].append(NOT_A_TOUCH if e.event_id in self.upfront else code)

    def _touch(self, contact_id: str, e: Event, code: int) -> None:
        self._file(contact_id, e, code)

    def _added(self, e: ContactAdded) -> None:
        self.added[e.event_id] = e
        self._file(e.event_id, e)

    def _edited(self, e: ContactEdited) -> None:
        self.edits[e.contact_id].append(e)
        self._file(e.contact_id, e)

    def _details(self, e: ContactDetailsSet) -> None:
        self.detail_sets[e.contact_id].append(e)
        for contact_id in contacts_of(e):
            self._file(contact_id, e)

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
        code = touch_code(e)
        for contact_id in dict.fromkeys(e.contact_ids):
            self._touch(contact_id, e, code)

    def _ask(self, e: AskMade) -> None:
        self.asks[e.event_id] = e
        self._touch(e.contact_id, e, touch_code(e))

    def _give(self, e: GiveMade) -> None:
        self._touch(e.contact_id, e, touch_code(e))

    def _note(self, e: NoteAdded) -> None:
        self._file(e.contact_id, e)

    def _resolved(self, e: AskResolved) -> None:
        self.resolutions[e.ask_id].append(e)
        self.position_of[e.event_id] = self._position

    def _retracted(self, e: EventRetracted) -> None:
        if not self.keep_events and e.target_id not in self.upfront:
            # Compact filing keeps no ids: a touch coded already could not be found.
            raise ValueError(f"retraction of {e.target_id} was not announced up front")
        self.retractions[e.target_id].append(e)
        self.position_of[e.event_id] = self._position

    # -- groups ---------------------------------------------------------------------

    def groups(self) -> dict[str, list[str]]:
        """Survivor id -> every id whose history counts for it (itself first)."""
        if self._groups is None:
            groups: dict[str, list[str]] = {}
            links = self._links()
            ids = sorted(set(self.filed) | set(self.added) | set(links))
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

    def asks_by_contact(self) -> dict[str, list[str]]:
        """Contact id (as written) -> ids of its asks, retracted ones included."""
        cached: dict[str, list[str]] | None = self._cache.get("asks_by_contact")
        if cached is None:
            cached = defaultdict(list)
            for ask_id, ask in self.asks.items():
                cached[ask.contact_id].append(ask_id)
            self._cache["asks_by_contact"] = cached
        return cached

    def keys(self, contact_id: str) -> Sequence[int | str]:
        """What tells apart the events filed under a contact: their ids when events
        are kept, else their log positions (one row per event in a log)."""
        record = self.filed.get(contact_id)
        if record is None:
            return ()
        return record[1] if self.keep_events else record[0]

    def late_retractions(self) -> bool:
        """Whether some retraction was not announced up front (summaries must filter)."""
        cached: bool | None = self._cache.get("late_retractions")
        if cached is None:
            upfront = self.upfront
            cached = any(target not in upfront for target in self.retractions)
            self._cache["late_retractions"] = cached
        return cached

    def outcome(self, ask_id: str) -> str | None:
        """An ask's outcome: its latest live resolution by (hlc, event_id), else None."""
        found = self.resolutions.get(ask_id)
        if not found:
            return None
        if len(found) == 1:  # the common case; a resolution is never a retraction
            return None if found[0].event_id in self.retractions else found[0].outcome
        best: AskResolved | None = None
        for candidate in self.resolutions.get(ask_id, ()):
            if self.live(candidate) and (best is None or key(candidate) > key(best)):
                best = candidate
        return None if best is None else best.outcome


_COMPACT: Final = frozenset(
    {
        InteractionLogged,
        GiveMade,
        IntroductionMade,
        NoteAdded,
        LightInteraction,
        LightGive,
        LightIntroduction,
        LightNote,
    }
)
_HANDLERS: Final[dict[type, Callable[[Fold, Event], None]]] = {
    ContactAdded: Fold._added,  # type: ignore[dict-item]
    ContactEdited: Fold._edited,  # type: ignore[dict-item]
    ContactDetailsSet: Fold._details,  # type: ignore[dict-item]
    ContactArchived: Fold._flag,  # type: ignore[dict-item]
    ContactRestored: Fold._flag,  # type: ignore[dict-item]
    ContactsMerged: Fold._merged,  # type: ignore[dict-item]
    InteractionLogged: Fold._many,  # type: ignore[dict-item]
    LightInteraction: Fold._many,  # type: ignore[dict-item]
    IntroductionMade: Fold._many,  # type: ignore[dict-item]
    LightIntroduction: Fold._many,  # type: ignore[dict-item]
    AskMade: Fold._ask,  # type: ignore[dict-item]
    LightAsk: Fold._ask,  # type: ignore[dict-item]
    GiveMade: Fold._give,  # type: ignore[dict-item]
    LightGive: Fold._give,  # type: ignore[dict-item]
    NoteAdded: Fold._note,  # type: ignore[dict-item]
    LightNote: Fold._note,  # type: ignore[dict-item]
    AskResolved: Fold._resolved,  # type: ignore[dict-item]
    LightResolution: Fold._resolved,  # type: ignore[dict-item]
    EventRetracted: Fold._retracted,  # type: ignore[dict-item]
}
