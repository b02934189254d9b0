"""The sync workload both systems replicate: D devices, each with N recorded events.

The same events go to both sides of the comparison. Each device is a real
Reciprocity home (device.json + log.db) whose log holds its N events, appended
through `EventLog.append` exactly as `recip` records them; for the peer, the same
events are written out as JSON lines, one document per event, keyed by event id.
Building the workload is setup: no benchmark times it.

The events come from `projections.sample` (the realistic generator of the
projections issue) when it is available, else from the small generator below, so
the sync benchmarks work before and after it lands.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cli.home import Home
from core import codec
from core.events import (
    CHANNELS,
    GIVE_KINDS,
    AskMade,
    ContactAdded,
    Event,
    GiveMade,
    InteractionLogged,
    NoteAdded,
)
from core.ids import new_id

#: Events appended per transaction while building a device's log.
CHUNK: Final = 1000
_DAY_MS: Final = 86_400_000
#: A fixed "now" (2026-01-01T00:00Z) so that every run builds comparable histories.
_EPOCH_MS: Final = 1_767_225_600_000


@dataclass(frozen=True)
class DeviceHome:
    """One device of the workload: its home and its events as JSON lines."""

    home: Path
    device_id: str
    jsonl: Path
    events: int


def simple_drafts(count: int, seed: int) -> Iterator[Event]:
    """`count` valid draft events of one person's history, deterministic per seed.

    One contact per twenty events, the rest interactions, asks, gives and notes
    about contacts already added, spread over the two years before `_EPOCH_MS`.
    """
    rng = random.Random(seed)
    contacts: list[str] = []
    start = _EPOCH_MS - 730 * _DAY_MS
    for i in range(count):
        when = start + (i * 730 * _DAY_MS) // max(count, 1)
        envelope = {
            "event_id": new_id(when),
            "device_id": "",
            "seq": 0,
            "hlc": 0,
            "occurred_at": when,
            "utc_offset": 60,
        }
        roll = rng.random()
        if not contacts or roll < 0.05:
            event: Event = ContactAdded(
                **envelope, name=f"Contact {seed}-{len(contacts)}", tags=("bench",)
            )
            contacts.append(event.event_id)
        elif roll < 0.70:
            event = InteractionLogged(
                **envelope,
                contact_ids=(rng.choice(contacts),),
                channel=rng.choice(CHANNELS),  # type: ignore[arg-type]
                note="caught up over coffee",
            )
        elif roll < 0.80:
            event = AskMade(**envelope, contact_id=rng.choice(contacts), what="an introduction")
        elif roll < 0.92:
            event = GiveMade(
                **envelope,
                contact_id=rng.choice(contacts),
                what="reviewed their draft",
                kind=rng.choice(GIVE_KINDS),  # type: ignore[arg-type]
                weight=rng.randint(1, 5),
            )
        else:
            event = NoteAdded(**envelope, contact_id=rng.choice(contacts), text="likes hiking")
        yield event


def generator() -> Callable[[int, int], Iterator[Event]]:
    """The realistic generator if it has landed, else `simple_drafts`."""
    try:
        from projections import sample  # type: ignore[attr-defined]
    except ImportError:
        return simple_drafts
    drafts = getattr(sample, "drafts", None)
    return drafts if callable(drafts) else simple_drafts


def build_devices(root: Path, devices: int, events: int, *, seed: int = 7) -> list[DeviceHome]:
    """Create `devices` homes under `root`, each holding `events` recorded events."""
    make = generator()
    built = []
    for d in range(devices):
        home = Home(root / f"device-{d}")
        config = home.init(f"bench-{d}", now_iso="2026-01-01T00:00:00Z")
        log = home.open_log()
        jsonl = root / f"device-{d}.jsonl"
        try:
            with jsonl.open("wb") as out:
                for chunk in _chunks(make(events, seed + d), CHUNK):
                    for event in log.append(chunk):
                        out.write(codec.to_json(event) + b"\n")
        finally:
            log.store.close()
        built.append(DeviceHome(home.path, config.device_id, jsonl, events))
    return built


def _chunks(items: Iterator[Event], size: int) -> Iterator[Sequence[Event]]:
    chunk: list[Event] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
