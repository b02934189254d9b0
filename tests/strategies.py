"""Reusable hypothesis strategies: valid random relationship histories.

`histories()` draws a list of fully stamped events, as several devices would
have recorded them, in each device's recording order:

- every device's events have gapless `seq` from 1 and strictly increasing `hlc`;
- HLCs are drawn from a narrow range, so events of different devices often tie
  (ties are broken by `event_id`, as `core.state` specifies);
- ids are short and unique (`e0001`, ...), contacts are few (so that events pile
  up on the same contacts), and every reference points at an event of the
  history (though arrival order may deliver the reference first);
- besides single events, compound steps produce the hard cases on purpose:
  the same pair merged in opposite directions by two devices, merge chains,
  concurrent edits of the same field with equal HLCs, an edit and an archival
  from two devices, conflicting resolutions of one ask, retractions of any
  earlier event (a retraction of a retraction included).

`arrivals(history)` draws an order in which one replica could receive the
history through sync (each device's events in `seq` order, devices interleaved
arbitrarily); `st.permutations(history)` gives arbitrary orders for pure folds.

`AS_OF` is a day number just after the last possible event, for date-dependent
views; `BASE_MS` is the first possible `occurred_at`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
from hypothesis import strategies as st

from core.clock import pack
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
)

DAY_MS: Final = 86_400_000
#: 2024-01-01T00:00:00Z.
BASE_MS: Final = 1_704_067_200_000
#: Events occur within this many days after BASE_MS.
SPAN_DAYS: Final = 800
AS_OF: Final = BASE_MS // DAY_MS + SPAN_DAYS + 1
OFFSETS: Final = (0, 60, -300, 840, -600)
CIRCLES: Final = ("inner", "close", "wider", "distant", "none")
OUTCOMES: Final = ("granted", "declined", "withdrawn", "unanswered")

SINGLE_STEPS: Final = (
    "add",
    "edit",
    "archive",
    "restore",
    "merge",
    "interaction",
    "ask",
    "resolve",
    "give",
    "introduce",
    "note",
    "retract",
)
COMPOUND_STEPS: Final = ("opposite_merges", "concurrent_edits", "edit_and_archive")


@dataclass
class _Builder:
    """Accumulates stamped events of several devices."""

    devices: list[str]
    events: list[Event] = field(default_factory=list)
    seqs: dict[str, int] = field(default_factory=dict)
    hlcs: dict[str, int] = field(default_factory=dict)
    contacts: list[str] = field(default_factory=list)
    asks: list[str] = field(default_factory=list)

    def envelope(self, device: str, hlc_ms: int, day: int, minute: int, offset: int) -> Any:
        seq = self.seqs.get(device, 0) + 1
        self.seqs[device] = seq
        hlc = max(self.hlcs.get(device, 0) + 1, pack(BASE_MS + hlc_ms, 0))
        self.hlcs[device] = hlc
        return {
            "event_id": f"e{len(self.events) + 1:04d}",
            "device_id": device,
            "seq": seq,
            "hlc": hlc,
            "occurred_at": BASE_MS + day * DAY_MS + minute * 60_000,
            "utc_offset": offset,
        }

    def add(self, event: Event) -> Event:
        self.events.append(event)
        if isinstance(event, ContactAdded):
            self.contacts.append(event.event_id)
        if isinstance(event, AskMade):
            self.asks.append(event.event_id)
        return event


@st.composite
def histories(
    draw: st.DrawFn,
    *,
    max_devices: int = 3,
    max_contacts: int = 4,
    max_steps: int = 25,
    compound: bool = True,
) -> list[Event]:
    """A valid random history of up to `max_steps` steps (see the module doc)."""
    devices = [f"dev{i}" for i in range(draw(st.integers(1, max_devices)))]
    b = _Builder(devices)
    steps = SINGLE_STEPS + (COMPOUND_STEPS if compound else ())
    count = draw(st.integers(1, max_steps))
    for i in range(count):
        kind = "add" if i == 0 else draw(st.sampled_from(steps))
        if kind == "add" and len(b.contacts) >= max_contacts:
            kind = "interaction"
        _step(draw, b, kind)
    return b.events


def _env(draw: st.DrawFn, b: _Builder, device: str | None = None, hlc_ms: int | None = None) -> Any:
    return b.envelope(
        device if device is not None else draw(st.sampled_from(b.devices)),
        hlc_ms if hlc_ms is not None else draw(st.integers(0, 40)) * 1000,
        draw(st.integers(0, SPAN_DAYS)),
        draw(st.integers(0, 1439)),
        draw(st.sampled_from(OFFSETS)),
    )


def _contact(draw: st.DrawFn, b: _Builder) -> str:
    return draw(st.sampled_from(b.contacts))


def _step(draw: st.DrawFn, b: _Builder, kind: str) -> None:
    if kind == "add":
        b.add(
            ContactAdded(
                **_env(draw, b),
                name=draw(st.sampled_from(("Ada", "Bo", "Cy", "Dee", "ada"))),
                circle=draw(st.sampled_from(CIRCLES)),
                cadence_days=draw(st.none() | st.integers(1, 200)),
            )
        )
    elif kind == "edit":
        field_name = draw(st.sampled_from(("name", "circle", "cadence_days")))
        b.add(
            ContactEdited(**_env(draw, b), contact_id=_contact(draw, b), **_edit(draw, field_name))
        )
    elif kind == "archive":
        b.add(ContactArchived(**_env(draw, b), contact_id=_contact(draw, b)))
    elif kind == "restore":
        b.add(ContactRestored(**_env(draw, b), contact_id=_contact(draw, b)))
    elif kind == "merge":
        if len(b.contacts) < 2:
            return
        pair = draw(st.lists(st.sampled_from(b.contacts), min_size=2, max_size=2, unique=True))
        b.add(ContactsMerged(**_env(draw, b), survivor_id=pair[0], absorbed_id=pair[1]))
    elif kind == "interaction":
        ids = draw(st.lists(st.sampled_from(b.contacts), min_size=1, max_size=3, unique=True))
        b.add(InteractionLogged(**_env(draw, b), contact_ids=tuple(ids)))
    elif kind == "ask":
        b.add(
            AskMade(
                **_env(draw, b),
                contact_id=_contact(draw, b),
                what="a favour",
                weight=draw(st.integers(1, 5)),
            )
        )
    elif kind == "resolve":
        if not b.asks:
            return
        b.add(
            AskResolved(
                **_env(draw, b),
                ask_id=draw(st.sampled_from(b.asks)),
                outcome=draw(st.sampled_from(OUTCOMES)),
            )
        )
    elif kind == "give":
        b.add(
            GiveMade(
                **_env(draw, b),
                contact_id=_contact(draw, b),
                what="help",
                weight=draw(st.integers(1, 5)),
            )
        )
    elif kind == "introduce":
        if len(b.contacts) < 2:
            return
        pair = draw(st.lists(st.sampled_from(b.contacts), min_size=2, max_size=2, unique=True))
        b.add(
            IntroductionMade(
                **_env(draw, b), contact_ids=(pair[0], pair[1]), weight=draw(st.integers(1, 5))
            )
        )
    elif kind == "note":
        b.add(NoteAdded(**_env(draw, b), contact_id=_contact(draw, b), text="n"))
    elif kind == "retract":
        target = draw(st.sampled_from([e.event_id for e in b.events]))
        b.add(EventRetracted(**_env(draw, b), target_id=target, reason="mistake"))
    elif kind == "opposite_merges":
        if len(b.contacts) < 2 or len(b.devices) < 2:
            return
        x, y = draw(st.lists(st.sampled_from(b.contacts), min_size=2, max_size=2, unique=True))
        d1, d2 = draw(st.lists(st.sampled_from(b.devices), min_size=2, max_size=2, unique=True))
        at = draw(st.integers(0, 40)) * 1000
        b.add(ContactsMerged(**_env(draw, b, d1, at), survivor_id=x, absorbed_id=y))
        b.add(ContactsMerged(**_env(draw, b, d2, at), survivor_id=y, absorbed_id=x))
    elif kind == "concurrent_edits":
        contact = _contact(draw, b)
        field_name = draw(st.sampled_from(("name", "circle", "cadence_days")))
        at = draw(st.integers(0, 40)) * 1000
        for device in b.devices[:2]:
            b.add(
                ContactEdited(
                    **_env(draw, b, device, at), contact_id=contact, **_edit(draw, field_name)
                )
            )
    elif kind == "edit_and_archive":
        contact = _contact(draw, b)
        at = draw(st.integers(0, 40)) * 1000
        d1 = b.devices[0]
        d2 = b.devices[-1]
        b.add(ContactEdited(**_env(draw, b, d1, at), contact_id=contact, **_edit(draw, "circle")))
        b.add(ContactArchived(**_env(draw, b, d2, at), contact_id=contact))


def _edit(draw: st.DrawFn, field_name: str) -> dict[str, Any]:
    if field_name == "name":
        return {"name": draw(st.sampled_from(("Ada", "Bea", "Cy", "Zed")))}
    if field_name == "circle":
        return {"circle": draw(st.sampled_from(CIRCLES))}
    return {"cadence_days": draw(st.none() | st.integers(1, 200))}


@st.composite
def arrivals(draw: st.DrawFn, history: list[Event]) -> list[Event]:
    """An order in which a replica could receive `history` through sync.

    Each device's events stay in `seq` order (the log refuses gaps); devices
    interleave arbitrarily.
    """
    queues: dict[str, list[Event]] = {}
    for event in history:
        queues.setdefault(event.device_id, []).append(event)
    order: list[Event] = []
    while queues:
        device = draw(st.sampled_from(sorted(queues)))
        order.append(queues[device].pop(0))
        if not queues[device]:
            del queues[device]
    return order


@st.composite
def history_and_arrival(draw: st.DrawFn, /, **kwargs: Any) -> tuple[list[Event], list[Event]]:
    """A history and one sync arrival order of it."""
    history = draw(histories(**kwargs))
    return history, draw(arrivals(history))


#: Devices that record twins: one sorts before every history device, one after, so
#: a twin may win or lose against the event whose id it claims.
TWIN_DEVICES: Final = ("a-twin", "z-twin")


@st.composite
def with_twins(draw: st.DrawFn, history: list[Event], max_twins: int = 4) -> list[Event]:
    """`history` plus up to `max_twins` *different* events that claim the id of one
    of its events (a buggy or hostile client): each a copy of a random event of the
    history (the target itself included, so same-type twins are common) under the
    target's id, recorded on a twin device (or on a history device, after its own
    events) with its own gapless seqs."""
    seqs: dict[str, int] = {}
    hlcs: dict[str, int] = {}
    for event in history:
        seqs[event.device_id] = max(seqs.get(event.device_id, 0), event.seq)
        hlcs[event.device_id] = max(hlcs.get(event.device_id, 0), event.hlc)
    twins: list[Event] = []
    devices = sorted({*TWIN_DEVICES, *seqs})
    for _ in range(draw(st.integers(1, max_twins))):
        target = draw(st.sampled_from(history))
        source = draw(st.sampled_from(history))
        device = draw(st.sampled_from(devices))
        seqs[device] = seqs.get(device, 0) + 1
        hlc = max(hlcs.get(device, 0) + 1, pack(BASE_MS + draw(st.integers(0, 5000)), 0))
        hlcs[device] = hlc
        twin = msgspec.structs.replace(
            source,
            event_id=target.event_id,
            device_id=device,
            seq=seqs[device],
            hlc=hlc,
            occurred_at=draw(st.sampled_from((source.occurred_at, target.occurred_at + DAY_MS))),
        )
        twins.append(twin)
    return history + twins


def winners(events: list[Event]) -> list[Event]:
    """The events that count: of those sharing an id, the least `(device_id, seq)`."""
    best: dict[str, Event] = {}
    for event in events:
        held = best.get(event.event_id)
        if held is None or (event.device_id, event.seq) < (held.device_id, held.seq):
            best[event.event_id] = event
    return list(best.values())
