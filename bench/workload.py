"""The sync workload both systems replicate: D devices, each with N recorded events.

The same events go to both sides of the comparison. Each device is a real
Reciprocity home (device.json + log.db) whose log holds its N events, appended
through `EventLog.append` exactly as `recip` records them; for the peer, the same
events are written out as JSON lines, one document per event, keyed by event id.
Building the workload is setup: no benchmark times it.

The events come from `sample.history` (the realistic generator of the
projections issue) when it is available, else from the small generator below, so
the sync benchmarks work before and after it lands.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cli.home import Home
from core import codec
from core.days import DAY_MS
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
from core.log import EventLog

#: Events appended per transaction while building a device's log.
CHUNK: Final = 1000

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
    start = _EPOCH_MS - 730 * DAY_MS
    for i in range(count):
        when = start + (i * 730 * DAY_MS) // max(count, 1)
        envelope: dict[str, Any] = {
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


def _realistic() -> Callable[..., Iterator[Event]] | None:
    """The realistic generator, `sample.history.generate`."""
    from sample.history import generate

    return generate


def generator_name() -> str:
    """Which generator made the workload (reported with the results)."""
    return "sample.history.generate" if _realistic() else "bench.workload.simple_drafts"


def _record(log: EventLog, device_id: str, events: int, seed: int) -> Iterator[Event]:
    """Record `events` events into a fresh device log; yields them as stored.

    The realistic generator yields stamped events for the device id it is given,
    so they are ingested as they are; the simple generator yields drafts, which
    the log stamps as `recip` would.
    """
    generate = _realistic()
    if generate is not None:
        history = generate(seed, devices=1, events=events, device_ids=[device_id])
        for chunk in _chunks(history, CHUNK):
            log.ingest(chunk)
            yield from chunk
        return
    for chunk in _chunks(simple_drafts(events, seed), CHUNK):
        yield from log.append(chunk)


def build_devices(root: Path, devices: int, events: int, *, seed: int = 7) -> list[DeviceHome]:
    """Create `devices` homes under `root`, each holding `events` recorded events."""
    built = []
    for d in range(devices):
        home = Home(root / f"device-{d}")
        config = home.init(f"bench-{d}", now_iso="2026-01-01T00:00:00Z")
        log = home.open_log()
        jsonl = root / f"device-{d}.jsonl"
        count = 0
        try:
            with jsonl.open("wb") as out:
                for event in _record(log, config.device_id, events, seed + d):
                    out.write(codec.to_json(event) + b"\n")
                    count += 1
        finally:
            log.store.close()
        built.append(DeviceHome(home.path, config.device_id, jsonl, count))
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
