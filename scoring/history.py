"""A history ready for scoring: each contact's items, grouped and ordered once.

Replay runs several rules over the same history, often at many instants. Doing
the set-semantics work (retractions, merges, ask outcomes, via `core.state`) and
the sort once, and sharing the resulting per-contact lists between all rules,
keeps each rule's pass a tight loop over plain objects.

Everything here is a pure function of the *set* of events: `State` resolves the
set, and the per-contact order is a total order on event fields. So the same log
gives the same history whatever order its events arrived in.
"""

from __future__ import annotations

import calendar
from bisect import bisect_right
from collections.abc import Iterable
from typing import Final

from core.days import DAY_MS, date_of, day_of, local_day
from core.events import (
    Event,
    GiveMade,
    InteractionLogged,
    IntroductionMade,
    NoteAdded,
    OpaqueEvent,
)
from core.state import Details, State, displaces

from .rules import (
    ADDED,
    ASK,
    GIVE,
    INTERACTION,
    INTRODUCTION,
    RESOLUTION,
    Item,
    Occasion,
    Subject,
)

#: A leap year: the days a month can have in some year (29 February is one).
_LEAP_YEAR: Final = 2000
_KIND_OF: Final[dict[type, str]] = {
    InteractionLogged: INTERACTION,
    GiveMade: GIVE,
    IntroductionMade: INTRODUCTION,
}


def _one_per_id(state: State, touches: dict[str, Event], notes: dict[str, Event]) -> None:
    """Keep, of events sharing an id across touches, notes and `state`, only the one
    that counts (`core.state.displaces`): each group chose its own already. Notes
    count nowhere here, but a note can still make a touch or a fact inert."""
    held = state.by_id
    # Intersections only (each walks its smaller side): no union of every id.
    shared = (touches.keys() & held.keys()) | (notes.keys() & touches.keys())
    for event_id in shared | (notes.keys() & held.keys()):
        twins = [e for e in (touches.get(event_id), held.get(event_id), notes.get(event_id)) if e]
        winner = min(twins, key=lambda e: (e.device_id, e.seq))
        if event_id in touches and touches[event_id] is not winner:
            del touches[event_id]
        if event_id in held and held[event_id] is not winner:
            state.withdraw(held[event_id])


class History:
    """Contacts and their ordered items, resolved from a set of events.

    `subjects` holds every contact that is neither retracted nor merged away
    (archived ones too: their past still tells a backtest something); `active`
    says which of them views list (from the day each was added). `items[contact_id]`
    is that contact's history in feed order, merged-in contacts included.
    `outcomes` maps each resolved ask's id to its effective outcome.

    Touch events (interactions, gives, introductions: most of a history) are kept
    aside rather than folded into `State`, which would only index them by id; every
    other event goes to `State` (notes only to a table of ids: of events sharing an
    id, the least `(device_id, seq)` counts across all three, as in `State`).
    Whether a touch is retracted is still `State`'s answer (`is_retracted` needs
    only the retractions and the retracted event's type), so the rules are exactly
    the projections' rules, at a fraction of the cost.
    """

    def __init__(self, events: Iterable[Event | OpaqueEvent]) -> None:
        self.state = state = State()
        touches: dict[str, Event] = {}
        notes: dict[str, Event] = {}
        kind_of, apply = _KIND_OF, state.apply
        for event in events:
            if type(event) in kind_of:
                held = touches.setdefault(event.event_id, event)  # type: ignore[arg-type]
                if held is not event and displaces(event, held):  # type: ignore[arg-type]
                    touches[event.event_id] = event  # type: ignore[assignment]
            elif isinstance(event, NoteAdded):
                held = notes.setdefault(event.event_id, event)
                if held is not event and displaces(event, held):
                    notes[event.event_id] = event
            else:
                apply(event)
        _one_per_id(state, touches, notes)
        self.subjects: dict[str, Subject] = {}
        self.active: set[str] = set()
        for contact in state.contacts():
            if contact.absorbed:
                continue
            self.subjects[contact.id] = Subject(
                id=contact.id,
                name=contact.name,
                circle=contact.circle,
                cadence_days=contact.effective_cadence,
                added_day=local_day(contact.added.occurred_at, contact.added.utc_offset),
                occasions=yearly(contact.details),
            )
            if contact.active:
                self.active.add(contact.id)
        self.outcomes: dict[str, str] = {}
        self.items: dict[str, list[Item]] = {cid: [] for cid in self.subjects}
        self._survivors: dict[str, str] = {}
        self._collect(touches)
        del touches  # the items hold what is needed
        #: Each contact's item days, parallel to `items`: where an instant falls in a
        #: history is then a C-level bisection of plain ints.
        self.days: dict[str, list[int]] = {}
        for contact_id, items in self.items.items():
            items.sort()  # Item orders by (day, at, hlc, event_id): its leading fields
            self.days[contact_id] = [item.day for item in items]

    def _collect(self, touches: dict[str, Event]) -> None:
        state = self.state
        #: Every added contact's survivor, resolved once (ids never added map to nothing).
        self._survivors = {cid: state.survivor(cid) for cid in state.added}
        for contact_id, added in state.added.items():
            if not state.is_retracted(contact_id):
                self._add((contact_id,), added, ADDED, 1)
        kind_of = _KIND_OF
        retracted = state.is_retracted
        for event in touches.values():
            kind = kind_of[type(event)]
            if retracted(event.event_id):
                continue
            if kind == GIVE:
                assert isinstance(event, GiveMade)
                self._add((event.contact_id,), event, kind, event.weight)
            elif kind == INTERACTION:
                assert isinstance(event, InteractionLogged)
                self._add(event.contact_ids, event, kind, 1)
            else:
                assert isinstance(event, IntroductionMade)
                self._add(event.contact_ids, event, kind, event.weight)
        for ask_id in state.asks:
            ask = state.ask(ask_id)
            if ask is None:
                continue
            made = ask.made
            self._add((made.contact_id,), made, ASK, made.weight, ask_id)
            if ask.resolution is not None and ask.outcome is not None:
                self.outcomes[ask_id] = ask.outcome
                self._add((made.contact_id,), ask.resolution, RESOLUTION, 1, ask_id, ask.outcome)

    def _add(
        self,
        contact_ids: tuple[str, ...],
        event: Event,
        kind: str,
        weight: int,
        ask_id: str | None = None,
        outcome: str | None = None,
    ) -> None:
        """One item per distinct surviving contact the event concerns (the hot path)."""
        at = event.occurred_at
        item = Item(
            local_day(at, event.utc_offset),
            at,
            event.hlc,
            event.event_id,
            kind,
            weight,
            event,
            ask_id,
            outcome,
        )
        survivors, items = self._survivors, self.items
        if len(contact_ids) == 1:
            target = items.get(survivors.get(contact_ids[0], ""))
            if target is not None:
                target.append(item)
            return
        seen: set[str] = set()
        for contact_id in contact_ids:
            survivor = survivors.get(contact_id, "")
            target = items.get(survivor)
            if target is not None and survivor not in seen:
                seen.add(survivor)
                target.append(item)

    def subjects_sorted(self) -> list[Subject]:
        """Every scored contact, by id (the order all output follows)."""
        return [self.subjects[cid] for cid in sorted(self.subjects)]


def items_before(days: list[int], day: int, start: int = 0) -> int:
    """How many of a contact's items fall on or before `day`, given its item days."""
    return bisect_right(days, day, start)


def yearly(details: Details) -> tuple[Occasion, ...]:
    """A contact's dates that come back every year: its birthday, then its occasions
    (`YYYY-MM-DD` or `--MM-DD`, ADR 0086), as month and day. A day no year has (month
    13, 30 February: the wire's pattern admits them, `recip` never writes them) is
    left out rather than failing every plan and feed of the log."""
    dated = [("birthday", details.birthday)] if details.birthday else []
    dated += [(o.label, o.date) for o in details.occasions]
    out = []
    for label, text in dated:
        month, day = int(text[-5:-3]), int(text[-2:])
        if 1 <= month <= 12 and 1 <= day <= calendar.monthrange(_LEAP_YEAR, month)[1]:
            out.append(Occasion(label=label, month=month, day=day))
    return tuple(out)


__all__ = ["DAY_MS", "History", "date_of", "day_of", "items_before", "local_day"]
