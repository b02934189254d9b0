"""A realistic, seeded relationship history: for demos, tests and benchmarks.

`generate` yields fully stamped events (several devices, gapless `seq` per
device, strictly increasing `hlc`, deterministic UUIDv7 ids) in the order they
were recorded, so the output can go straight into `EventLog.ingest`, or, for a
fresh log and speed, `write_fast`. The same seed and parameters always give the
same events, byte for byte.

The shape of the history:

- contacts across circles (inner 3%, close 12%, wider 35%, distant 35%, none 15%;
  a few with their own cadence), added over the first two thirds of the span;
- touches per contact at about the circle's cadence with log-normal noise; some
  relationships fade (touches become rare after a point, so they go cold);
- each touch is an interaction (most), a give, an ask (weighted, resolved days
  later: granted, declined, withdrawn, unanswered, or left open), an
  introduction with another contact, or a note; "takers" mostly ask;
- a few duplicates that are later merged, retractions of mistaken entries, edits
  of circles, archivals and restorations.

`events=N` calibrates the touch rate to reach about N events and stops at N.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final, cast

from core.clock import pack
from core.days import DAY_MS
from core.events import (
    AskMade,
    AskResolved,
    Channel,
    Circle,
    ContactAdded,
    ContactArchived,
    ContactEdited,
    ContactRestored,
    ContactsMerged,
    Event,
    EventRetracted,
    GiveKind,
    GiveMade,
    InteractionLogged,
    IntroductionMade,
    NoteAdded,
)
from core.ids import new_id
from core.log import stored_form
from core.store import Store

CIRCLE_SHARE: Final = (("inner", 3), ("close", 12), ("wider", 35), ("distant", 35), ("none", 15))
#: Mean days between touches per circle (people keep up, roughly).
MEAN_GAP: Final = {"inner": 9.0, "close": 22.0, "wider": 65.0, "distant": 140.0, "none": 300.0}
OFFSETS: Final = (60, 0, -300, 120, 330, -480)
_FIRST = (
    "Ada Alan Amira Ana Arjun Bea Bruno Carla Chen Dara Diego Elif Emil Eva Farah Felix Gia "
    "Hana Hugo Ines Ivan Jade Jonas Kai Kenji Lea Leo Lina Luca Maya Milo Nadia Nico Noor "
    "Omar Pia Priya Quinn Rafa Rosa Sami Sara Tariq Theo Uma Vera Wen Yara Yusuf Zoe"
)
FIRST: Final = tuple(_FIRST.split())
_LAST = (
    "Abbott Bauer Berg Costa Dahl Diaz Eze Fischer Garcia Haas Ito Jansen Kaur Keller Kim "
    "Larsen Lopez Moreau Mori Nagy Novak Okafor Olsen Park Petrov Quist Rossi Sato Schmidt "
    "Silva Singh Tan Torres Ueda Vogel Wagner Weber Xu Yilmaz Zhou"
)
LAST: Final = tuple(_LAST.split())
ORGS: Final = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", None, None, None)
CHANNELS: Final[tuple[Channel, ...]] = (
    "call",
    "meeting",
    "message",
    "message",
    "email",
    "event",
    "other",
)
GIVES: Final = (
    ("advice", "advice on the job offer"),
    ("referral", "referred to a recruiter"),
    ("favour", "helped with the move"),
    ("gift", "birthday present"),
    ("support", "listened after the breakup"),
    ("favour", "lent the car"),
    ("advice", "reviewed the CV"),
)
ASKS: Final = (
    "borrow the drill",
    "intro to their manager",
    "feedback on my talk",
    "help moving",
    "a reference letter",
    "look after the cat",
    "advice on a landlord dispute",
)
OUTCOMES: Final = (("granted", 55), ("declined", 15), ("withdrawn", 10), ("unanswered", 10))


@dataclass
class _Person:
    id: str
    name: str
    circle: str
    gap: float
    added_at: int
    fade_at: int
    taker: bool
    alive: bool = True
    absorbed: bool = False


@dataclass
class _Stamper:
    """Assigns devices, gapless seqs and increasing HLCs, in recording order."""

    rng: random.Random
    device_ids: Sequence[str]
    offsets: Sequence[int]
    end_ms: int
    seqs: list[int] = field(default_factory=list)
    last_hlc: int = 0

    def __post_init__(self) -> None:
        self.seqs = [0] * len(self.device_ids)

    def envelope(self, occurred_at: int, device: int | None = None) -> dict[str, Any]:
        if device is None:
            device = 0 if len(self.device_ids) == 1 or self.rng.random() < 0.7 else None
            if device is None:
                device = self.rng.randrange(1, len(self.device_ids))
        self.seqs[device] += 1
        recorded = min(self.end_ms, occurred_at + self.rng.randrange(0, 3 * 3_600_000))
        self.last_hlc = max(self.last_hlc + 1, pack(recorded, 0))
        return {
            "event_id": new_id(recorded, self.rng),
            "device_id": self.device_ids[device],
            "seq": self.seqs[device],
            "hlc": self.last_hlc,
            "occurred_at": occurred_at,
            "utc_offset": self.offsets[device],
        }


def _pick(rng: random.Random, weighted: Sequence[tuple[str, int]]) -> str:
    return rng.choices([k for k, _ in weighted], [w for _, w in weighted])[0]


def _end_ms(end: date | datetime | int | None) -> int:
    if end is None:
        end = date(2026, 1, 1)
    if isinstance(end, int):
        return end
    if isinstance(end, datetime):
        return int(end.timestamp() * 1000)
    return int(datetime(end.year, end.month, end.day, 18, tzinfo=UTC).timestamp() * 1000)


def generate(
    seed: int,
    *,
    contacts: int = 2000,
    years: float = 10.0,
    end: date | datetime | int | None = None,
    devices: int = 1,
    events: int | None = None,
    device_ids: Sequence[str] | None = None,
) -> Iterator[Event]:
    """Yield a seeded history, in recording order, ending at `end` (default 2026-01-01).

    `device_ids` names the devices (default: made from the seed); `events` caps
    the count and calibrates the touch rate to reach it.
    """
    if contacts < 2:
        raise ValueError("a sample network needs at least 2 contacts")
    rng = random.Random(seed)
    end_ms = _end_ms(end)
    start_ms = end_ms - int(years * 365.25 * DAY_MS)
    span = end_ms - start_ms
    ids = list(device_ids) if device_ids else [new_id(start_ms, rng) for _ in range(devices)]
    stamper = _Stamper(rng, ids, [OFFSETS[i % len(OFFSETS)] for i in range(len(ids))], end_ms)

    people: list[_Person] = []
    for i in range(contacts):
        circle = _pick(rng, CIRCLE_SHARE)
        added = start_ms if i < contacts // 10 else start_ms + int(rng.random() * span * 0.66)
        fade = added + int(rng.random() * span) if rng.random() < 0.25 else end_ms + 1
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        people.append(_Person("", name, circle, MEAN_GAP[circle], added, fade, rng.random() < 0.08))
    intensity = 1.0
    if events is not None:
        expected = sum((end_ms - p.added_at) / DAY_MS / p.gap for p in people) * 1.15
        intensity = max(0.05, events / max(expected, 1.0)) * 1.3

    queue: list[tuple[int, int, str, Any]] = []
    counter = 0

    def later(at: int, kind: str, payload: Any) -> None:
        nonlocal counter
        if at <= end_ms:
            counter += 1
            heapq.heappush(queue, (at, counter, kind, payload))

    for index, person in enumerate(people):
        later(person.added_at, "add", index)

    emitted = 0
    alive: list[int] = []
    while queue and (events is None or emitted < events):
        at, _, kind, payload = heapq.heappop(queue)
        out = _step(rng, stamper, people, alive, at, kind, payload, later, intensity, span)
        for event in out:
            yield event
            emitted += 1
            if events is not None and emitted >= events:
                return


def _step(
    rng: random.Random,
    stamper: _Stamper,
    people: list[_Person],
    alive: list[int],
    at: int,
    kind: str,
    payload: Any,
    later: Any,
    intensity: float,
    span: int,
) -> list[Event]:
    """Handle one scheduled happening; returns the events it records."""
    env = stamper.envelope
    if kind == "add":
        person: _Person = people[payload]
        added = ContactAdded(
            **env(at),
            name=person.name,
            emails=(f"{person.name.lower().replace(' ', '.')}@example.org",),
            org=rng.choice(ORGS),
            circle=cast(Circle, person.circle),
            cadence_days=rng.choice((7, 21, 45)) if rng.random() < 0.05 else None,
        )
        person.id = added.event_id
        alive.append(payload)
        later(at + _gap(rng, person, at, intensity), "touch", payload)
        roll = rng.random()
        if roll < 0.01:
            later(at + int(rng.random() * span * 0.2), "duplicate", payload)
        elif roll < 0.04:
            later(at + int(rng.random() * span * 0.5), "edit", payload)
        elif roll < 0.06:
            later(at + int(rng.random() * span * 0.5), "archive", payload)
        return [added]
    if kind == "touch":
        person = people[payload]
        if not person.alive or person.absorbed:
            return []
        later(at + _gap(rng, person, at, intensity), "touch", payload)
        event = _touch(rng, env(at), person, people, alive, later, at)
        if rng.random() < 0.003:
            later(at + rng.randrange(60_000, DAY_MS), "retract", event.event_id)
        return [event]
    if kind == "resolve":
        ask_id, outcome = payload
        return [AskResolved(**env(at), ask_id=ask_id, outcome=outcome)]
    if kind == "retract":
        return [EventRetracted(**env(at), target_id=payload, reason="logged by mistake")]
    if kind == "duplicate":
        person = people[payload]
        if not person.alive or person.absorbed:
            return []
        twin = _Person("", person.name, person.circle, person.gap, at, at, False)
        people.append(twin)
        added = ContactAdded(
            **env(at),
            name=person.name,
            circle=cast(Circle, person.circle),
            source="import",
        )
        twin.id = added.event_id
        out: list[Event] = [added]
        out.append(InteractionLogged(**env(at + 60_000), contact_ids=(twin.id,), channel="email"))
        later(at + rng.randrange(DAY_MS, 60 * DAY_MS), "merge", (payload, len(people) - 1))
        return out
    if kind == "merge":
        keep, gone = people[payload[0]], people[payload[1]]
        if not keep.alive or keep.absorbed:
            return []
        gone.absorbed = True
        return [ContactsMerged(**env(at), survivor_id=keep.id, absorbed_id=gone.id)]
    if kind == "edit":
        person = people[payload]
        if not person.alive or person.absorbed:
            return []
        circle = rng.choice([c for c, _ in CIRCLE_SHARE if c != person.circle])
        person.circle = circle
        person.gap = MEAN_GAP[circle]
        return [ContactEdited(**env(at), contact_id=person.id, circle=cast(Circle, circle))]
    if kind == "archive":
        person = people[payload]
        if not person.alive or person.absorbed:
            return []
        person.alive = False
        if rng.random() < 0.3:
            later(at + rng.randrange(30 * DAY_MS, 400 * DAY_MS), "restore", payload)
        return [ContactArchived(**env(at), contact_id=person.id)]
    if kind == "restore":
        person = people[payload]
        person.alive = True
        later(at + _gap(rng, person, at, intensity), "touch", payload)
        return [ContactRestored(**env(at), contact_id=person.id)]
    raise AssertionError(f"unknown happening {kind}")


def _gap(rng: random.Random, person: _Person, at: int, intensity: float) -> int:
    gap = person.gap / intensity * rng.lognormvariate(-0.125, 0.5)
    if at >= person.fade_at:
        gap *= 5
    return max(3_600_000, int(gap * DAY_MS))


def _touch(
    rng: random.Random,
    envelope: dict[str, Any],
    person: _Person,
    people: list[_Person],
    alive: list[int],
    later: Any,
    at: int,
) -> Event:
    roll = rng.random()
    ask_share = 0.35 if person.taker else 0.09
    give_share = 0.02 if person.taker else 0.12
    if roll < ask_share:
        ask = AskMade(**envelope, contact_id=person.id, what=rng.choice(ASKS), weight=_weight(rng))
        if rng.random() < 0.9:
            outcome = _pick(rng, OUTCOMES)
            later(at + rng.randrange(DAY_MS, 30 * DAY_MS), "resolve", (ask.event_id, outcome))
        return ask
    roll -= ask_share
    if roll < give_share:
        kind, what = rng.choice(GIVES)
        return GiveMade(
            **envelope,
            contact_id=person.id,
            what=what,
            kind=cast(GiveKind, kind),
            weight=_weight(rng),
        )
    roll -= give_share
    if roll < 0.03:
        other = people[rng.choice(alive)]
        if other.id != person.id and other.alive and not other.absorbed:
            return IntroductionMade(
                **envelope, contact_ids=(person.id, other.id), weight=_weight(rng)
            )
    if roll < 0.07:
        return NoteAdded(**envelope, contact_id=person.id, text="likes hiking; two kids")
    return InteractionLogged(
        **envelope,
        contact_ids=(person.id,),
        channel=rng.choice(CHANNELS),
        initiated_by="me" if rng.random() < 0.6 else "them",
    )


def _weight(rng: random.Random) -> int:
    return rng.choices((1, 2, 3, 4, 5), (40, 30, 15, 10, 5))[0]


def write_fast(store: Store, events: Iterable[Event], *, batch: int = 10_000) -> int:
    """Store generated events with the recorder's bulk insert; returns the count.

    For filling a *fresh* log quickly (benchmarks, demos): it skips the per-event
    checks of `EventLog.ingest`, which `generate`'s output does not need (gapless
    seqs per device, unique ids). A clash with events already stored raises the
    library's `IntegrityError` and rolls back that batch.
    """
    total = 0
    rows = []
    for event in events:
        rows.append(stored_form(event))
        if len(rows) >= batch:
            store.insert(rows)
            total += len(rows)
            rows = []
    if rows:
        store.insert(rows)
        total += len(rows)
    return total
