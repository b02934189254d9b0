"""The current state of a network, as a pure function of the *set* of its events.

Devices sync late and out of order, so nothing here may depend on the order in
which events were applied. Every rule is stated over the set:

- **Retraction.** An event is retracted if any `EventRetracted` targets it. A
  retraction may arrive before its target. Retractions themselves cannot be
  retracted (a retraction aimed at one is inert); to undo a mistaken retraction,
  record the fact again.
- **Last writer wins.** Contact fields, the archived flag and an ask's outcome each
  resolve to the write with the greatest `(hlc, event_id)`: the HLC orders
  causally related writes, the event id breaks ties deterministically.
  `ContactAdded` counts as a write of every field.
- **Merges.** Each absorbed contact follows its latest effective merge (by
  `(hlc, event_id)`). If those links form a cycle (two devices merging the same pair
  in opposite directions), the oldest link of the cycle is dropped. A contact's
  survivor is found by following links to the end; an absorbed contact's history
  counts for its survivor.
- **One event per id.** Two *different* events (different `(device_id, seq)`)
  may claim one `event_id` (a buggy or hostile client; UUIDv7s never collide).
  Of those, the one with the least `(device_id, seq)` counts; the others are inert
  in every view (they stay in the log, sync and export like any event; events of
  unknown types, `OpaqueEvent`, take no part: they count nowhere here). When a
  smaller-keyed twin arrives after the other was applied, the other's facts are
  withdrawn (`withdraw`: a rare path, linear in what it must search).

`State.apply` only records facts (O(1) per event); resolution happens lazily on
read and is cached until the next `apply`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from msgspec import UNSET

from .events import (
    CIRCLE_CADENCE,
    AskMade,
    AskResolved,
    ContactAdded,
    ContactArchived,
    ContactEdited,
    ContactRestored,
    ContactsMerged,
    Event,
    EventRetracted,
    OpaqueEvent,
    contacts_of,
)

Key = tuple[int, str]
EDITABLE = ("name", "emails", "phones", "org", "tags", "circle", "cadence_days")


def key(event: Event) -> Key:
    """The total, deterministic order of writes: HLC, then event id."""
    return (event.hlc, event.event_id)


def displaces(event: Event, held: Event) -> bool:
    """Whether `event` takes the place of `held`, a different event with its id:
    of events sharing an id, the least `(device_id, seq)` counts (ADR 0002)."""
    return (event.device_id, event.seq) < (held.device_id, held.seq)


def _drop(lists: dict[str, list[Any]], name: str, event: Event) -> None:
    """Remove `event` (by identity) from `lists[name]`, and the key once empty (an
    empty list must not read as a fact: `is_retracted` tests the key)."""
    kept = [e for e in lists.get(name, ()) if e is not event]
    if kept:
        lists[name] = kept
    else:
        lists.pop(name, None)


@dataclass(frozen=True)
class Contact:
    """A contact as it stands now (resolved over the whole event set)."""

    id: str
    name: str
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    org: str | None
    tags: tuple[str, ...]
    circle: str
    cadence_days: int | None
    archived: bool
    survivor: str
    added: ContactAdded

    @property
    def absorbed(self) -> bool:
        """Whether this contact was merged into another."""
        return self.survivor != self.id

    @property
    def active(self) -> bool:
        """Shown in views: neither archived nor merged away."""
        return not self.archived and not self.absorbed

    @property
    def effective_cadence(self) -> int | None:
        """Own cadence, else the circle's default; None never goes cold."""
        if self.cadence_days is not None:
            return self.cadence_days
        return CIRCLE_CADENCE.get(self.circle)


@dataclass(frozen=True)
class Ask:
    """An ask with its resolved outcome (None while open)."""

    id: str
    made: AskMade
    contact_id: str
    outcome: str | None
    resolution: AskResolved | None

    @property
    def open(self) -> bool:
        return self.outcome is None


class State:
    """Facts gathered from events, resolved on demand."""

    def __init__(self, events: Iterable[Event | OpaqueEvent] = ()) -> None:
        self.by_id: dict[str, Event] = {}
        self.added: dict[str, ContactAdded] = {}
        self.edits: dict[str, list[ContactEdited]] = defaultdict(list)
        self.flags: dict[str, list[ContactArchived | ContactRestored]] = defaultdict(list)
        self.merges: dict[str, ContactsMerged] = {}
        self.asks: dict[str, AskMade] = {}
        self.resolutions: dict[str, list[AskResolved]] = defaultdict(list)
        self.retractions: dict[str, list[EventRetracted]] = defaultdict(list)
        self._cache: dict[str, Any] = {}
        for event in events:
            self.apply(event)

    def apply(self, event: Event | OpaqueEvent) -> None:
        """Record one event's facts. Idempotent; order does not matter (a twin
        sharing the id of an applied event displaces it or is inert, `displaces`)."""
        if isinstance(event, OpaqueEvent):
            return
        if event.event_id in self.by_id:
            held = self.by_id[event.event_id]
            if not displaces(event, held):
                return  # the same event again, or an inert twin
            self.withdraw(held)
        self._cache.clear()
        self.by_id[event.event_id] = event
        if isinstance(event, ContactAdded):
            self.added[event.event_id] = event
        elif isinstance(event, ContactEdited):
            self.edits[event.contact_id].append(event)
        elif isinstance(event, ContactArchived | ContactRestored):
            self.flags[event.contact_id].append(event)
        elif isinstance(event, ContactsMerged):
            self.merges[event.event_id] = event
        elif isinstance(event, AskMade):
            self.asks[event.event_id] = event
        elif isinstance(event, AskResolved):
            self.resolutions[event.ask_id].append(event)
        elif isinstance(event, EventRetracted):
            self.retractions[event.target_id].append(event)

    def withdraw(self, event: Event) -> None:
        """Undo `apply(event)`: its twin with a smaller `(device_id, seq)` arrived."""
        self._cache.clear()
        del self.by_id[event.event_id]
        if isinstance(event, ContactAdded):
            del self.added[event.event_id]
        elif isinstance(event, ContactEdited):
            _drop(self.edits, event.contact_id, event)
        elif isinstance(event, ContactArchived | ContactRestored):
            _drop(self.flags, event.contact_id, event)
        elif isinstance(event, ContactsMerged):
            del self.merges[event.event_id]
        elif isinstance(event, AskMade):
            del self.asks[event.event_id]
        elif isinstance(event, AskResolved):
            _drop(self.resolutions, event.ask_id, event)
        elif isinstance(event, EventRetracted):
            _drop(self.retractions, event.target_id, event)

    # -- retraction ------------------------------------------------------------

    def is_retracted(self, event_id: str) -> bool:
        """Whether an effective retraction targets this event."""
        if event_id not in self.retractions:
            return False
        target = self.by_id.get(event_id)
        return not isinstance(target, EventRetracted)

    def live(self, event: Event) -> bool:
        """Whether an event takes effect in views (not retracted, not a retraction)."""
        return not isinstance(event, EventRetracted) and not self.is_retracted(event.event_id)

    # -- merges ------------------------------------------------------------------

    def survivor(self, contact_id: str) -> str:
        """The contact whose history now includes `contact_id`'s (itself if not merged)."""
        links = self._links()
        seen = contact_id
        while seen in links:
            seen = links[seen]
        return seen

    def _links(self) -> dict[str, str]:
        cached: dict[str, str] | None = self._cache.get("links")
        if cached is not None:
            return cached
        latest: dict[str, ContactsMerged] = {}
        for merge in self.merges.values():
            if not self.live(merge) or merge.absorbed_id == merge.survivor_id:
                continue
            held = latest.get(merge.absorbed_id)
            if held is None or key(merge) > key(held):
                latest[merge.absorbed_id] = merge
        links = {absorbed: m.survivor_id for absorbed, m in latest.items()}
        # Break cycles: walk each chain; on meeting a node of the current walk,
        # drop the oldest link of that cycle. Deterministic: depends only on the set.
        for start in sorted(links):
            path: list[str] = []
            on_path: set[str] = set()
            node = start
            while node in links and node not in on_path:
                path.append(node)
                on_path.add(node)
                node = links[node]
            if node in on_path:
                cycle = path[path.index(node) :]
                oldest = min(cycle, key=lambda n: key(latest[n]))
                del links[oldest]
        self._cache["links"] = links
        return links

    def absorbed_by(self, survivor_id: str) -> list[str]:
        """Every contact whose survivor is `survivor_id` (itself included)."""
        return sorted(c for c in self.added if self.survivor(c) == survivor_id)

    # -- contacts ------------------------------------------------------------------

    def contact(self, contact_id: str) -> Contact | None:
        """A contact's resolved state, or None if it was never added (or retracted)."""
        added = self.added.get(contact_id)
        if added is None or self.is_retracted(contact_id):
            return None
        fields: dict[str, Any] = {name: getattr(added, name) for name in EDITABLE}
        stamps: dict[str, Key] = dict.fromkeys(EDITABLE, key(added))
        for edit in self.edits.get(contact_id, ()):
            if not self.live(edit):
                continue
            for name in EDITABLE:
                value = getattr(edit, name)
                if value is not UNSET and key(edit) > stamps[name]:
                    fields[name] = value
                    stamps[name] = key(edit)
        archived = False
        flag_key: Key | None = None
        for flag in self.flags.get(contact_id, ()):
            if self.live(flag) and (flag_key is None or key(flag) > flag_key):
                archived = isinstance(flag, ContactArchived)
                flag_key = key(flag)
        return Contact(
            id=contact_id,
            archived=archived,
            survivor=self.survivor(contact_id),
            added=added,
            **fields,
        )

    def contacts(self) -> list[Contact]:
        """Every contact ever added and not retracted, archived and absorbed ones too."""
        out = []
        for contact_id in sorted(self.added):
            contact = self.contact(contact_id)
            if contact is not None:
                out.append(contact)
        return out

    def active_contacts(self) -> list[Contact]:
        """Contacts shown in views: not archived, not merged away."""
        return [c for c in self.contacts() if c.active]

    # -- asks ------------------------------------------------------------------------

    def ask(self, ask_id: str) -> Ask | None:
        """An ask with its outcome, or None if unknown or retracted."""
        made = self.asks.get(ask_id)
        if made is None or self.is_retracted(ask_id):
            return None
        resolution = self.resolution(ask_id)
        return Ask(
            id=ask_id,
            made=made,
            contact_id=self.survivor(made.contact_id),
            outcome=None if resolution is None else resolution.outcome,
            resolution=resolution,
        )

    def resolution(self, ask_id: str) -> AskResolved | None:
        """An ask's latest live resolution by (hlc, event_id), if any."""
        best: AskResolved | None = None
        for candidate in self.resolutions.get(ask_id, ()):
            if self.live(candidate) and (best is None or key(candidate) > key(best)):
                best = candidate
        return best

    def outcome(self, ask_id: str) -> str | None:
        """An ask's outcome (None while open), whether or not the ask is retracted."""
        resolution = self.resolution(ask_id)
        return None if resolution is None else resolution.outcome

    def open_asks(self) -> list[Ask]:
        """Asks not yet resolved, oldest first."""
        asks = [self.ask(ask_id) for ask_id in sorted(self.asks)]
        return [a for a in asks if a is not None and a.open]

    # -- history -----------------------------------------------------------------------

    def concerning(self, contact_id: str) -> list[Event]:
        """Every event about a contact, its absorbed contacts included, retracted or not.

        That is: events naming the contact (or a contact merged into it), resolutions
        of asks made of it, and retractions of any of those. Ordered by when they
        occurred, then by `(hlc, event_id)`.
        """
        target = self.survivor(contact_id)
        direct: dict[str, Event] = {}
        for event in self.by_id.values():
            ids: tuple[str, ...] = contacts_of(event)
            if isinstance(event, AskResolved):
                made = self.asks.get(event.ask_id)
                ids = (made.contact_id,) if made is not None else ()
            if any(self.survivor(i) == target for i in ids):
                direct[event.event_id] = event
        # Retractions of those events, not of these retractions (as the timeline
        # view does): walking `retractions` itself would pick up a retraction of a
        # retraction or not depending on which target arrived first.
        for event_id in list(direct):
            for retraction in self.retractions.get(event_id, ()):
                direct[retraction.event_id] = retraction
        return sorted(direct.values(), key=lambda e: (e.occurred_at, e.hlc, e.event_id))
