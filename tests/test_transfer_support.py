"""Helpers for the transfer tests: homes, random histories, view comparisons.

(Named `test_transfer_*` so that it sits with the tests it serves; it holds no
tests itself.)
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import settings
from hypothesis import strategies as st

from cli.home import Home
from core import commands
from core.errors import ReciprocityError
from core.events import CHANNELS, GIVE_KINDS, OUTCOMES, OpaqueEvent
from core.ids import new_id
from core.log import EventLog
from core.state import Contact, State
from core.store import open_store
from tests.conftest import Recip

BASE_MS = 1_700_000_000_000


def examples(n: int) -> settings:
    """`n` examples normally; the loaded profile's count under a soak profile."""
    loaded = settings().max_examples
    return settings(max_examples=n if loaded <= 100 else loaded)


DAY_MS = 86_400_000


def make_home(path: Path, name: str = "test") -> Home:
    """An initialised home (what `recip init` makes)."""
    home = Home(path)
    home.init(name, now_iso="2026-01-01T00:00:00Z")
    return home


def stored_rows(log: EventLog) -> set[tuple[str, int, str, bytes]]:
    """Every stored event as (device, seq, type, bytes): what must survive a round trip."""
    rows: set[tuple[str, int, str, bytes]] = set()
    for device, last in log.store.streams().items():
        for row in log.store.stream(device, gt=0, lte=last):
            rows.add((str(row.originator_id), row.originator_version, row.topic, row.state))
    return rows


def contacts_of(runner: Recip) -> list[Contact]:
    """Every contact in a runner's home, as its state resolves them."""
    log = Home(runner.home).open_log()
    try:
        return State(log.events()).contacts()
    finally:
        log.store.close()


def rows_of(runner: Recip) -> set[tuple[str, int, str, bytes]]:
    """The stored rows of a runner's home (to show that a refusal stored nothing)."""
    log = Home(runner.home).open_log()
    try:
        return stored_rows(log)
    finally:
        log.store.close()


def view_summary(state: State) -> dict[str, Any]:
    """What the views are made of, as comparable plain data."""
    asks = [state.ask(a) for a in sorted(state.asks)]
    return {
        "contacts": [
            (c.id, c.name, c.emails, c.phones, c.org, c.tags, c.circle, c.archived, c.survivor)
            for c in state.contacts()
        ],
        "asks": [(a.id, a.contact_id, a.outcome) for a in asks if a is not None],
        "live": sorted(e.event_id for e in state.by_id.values() if state.live(e)),
    }


# -- random histories ---------------------------------------------------------------

Step = tuple[int, str, int, int, str]

steps = st.lists(
    st.tuples(
        st.integers(0, 2),  # device
        st.sampled_from(
            [
                "add",
                "add",
                "interact",
                "ask",
                "resolve",
                "give",
                "intro",
                "note",
                "edit",
                "archive",
                "restore",
                "merge",
                "retract",
                "opaque",
            ]
        ),
        st.integers(0, 50),  # which thing
        st.integers(0, 30),  # days ago / weight seed
        st.text(
            alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]),
            min_size=1,
            max_size=12,
        ).filter(str.strip),
    ),
    max_size=30,
)


@dataclass
class History:
    """A multi-device history recorded into one store (as a replica would hold it)."""

    store_path: Path
    devices: list[EventLog]
    reader: EventLog


def record_history(directory: Path, plan: list[Step]) -> History:
    """Record `plan` through the real commands and log, on up to three devices."""
    path = directory / "source.db"
    store = open_store(str(path))
    devices = [EventLog(store, new_id()) for _ in range(3)]
    reader = EventLog(store, None)
    now_ms = BASE_MS
    opaque_device = new_id()
    opaque_seq = 0
    for device, action, pick, days, text in plan:
        now_ms += 3_600_000
        now = commands.Now(now_ms, 60)
        when = None if days == 0 else _iso(now_ms - days * DAY_MS)
        state = State(reader.events())
        contacts = [c for c in state.contacts() if c.active]
        asks = sorted(state.asks)
        events = sorted(state.by_id)

        def contact(k: int, contacts: list[Any] = contacts) -> str:
            return str(contacts[k % len(contacts)].id)

        try:
            if action == "add" or not contacts:
                draft: Any = commands.add_contact(
                    now, text, emails=[f"p{pick}@example.org"] if pick % 3 else []
                )
            elif action == "interact":
                draft = commands.log_interaction(
                    state, now, [contact(pick)], channel=CHANNELS[pick % 6], note=text, when=when
                )
            elif action == "ask":
                draft = commands.make_ask(
                    state, now, contact(pick), text, weight=1 + days % 5, when=when
                )
            elif action == "resolve" and asks:
                draft = commands.resolve_ask(state, now, asks[pick % len(asks)], OUTCOMES[days % 4])
            elif action == "give":
                draft = commands.make_give(
                    state, now, contact(pick), text, kind=GIVE_KINDS[pick % 6], when=when
                )
            elif action == "intro":
                draft = commands.introduce(state, now, contact(pick), contact(pick + 1))
            elif action == "note":
                draft = commands.add_note(state, now, contact(pick), text)
            elif action == "edit":
                draft = commands.edit_contact(state, now, contact(pick), name=text + "!")
            elif action == "archive":
                draft = commands.archive_contact(state, now, contact(pick))
            elif action == "restore":
                archived = [c for c in state.contacts() if c.archived]
                if not archived:
                    continue
                draft = commands.restore_contact(state, now, archived[pick % len(archived)].id)
            elif action == "merge":
                draft = commands.merge_contacts(state, now, contact(pick), contact(pick + 1))
            elif action == "retract" and events:
                draft = commands.retract(state, now, events[pick % len(events)], text)
            elif action == "opaque":
                opaque_seq += 1
                reader.ingest([future_event(opaque_device, opaque_seq, now_ms, text)])
                continue
            else:
                continue
        except ReciprocityError:
            continue
        devices[device].append([draft])
    return History(path, devices, reader)


def future_event(device_id: str, seq: int, at_ms: int, text: str) -> OpaqueEvent:
    """An event of a type this build does not know, of plain data (ADR 0080).

    Its bytes use a float32, which a trip through JSON turns into a float64: only
    the `$raw` bytes reproduce what the newer client stored.
    """
    fields = {
        "type": "FutureThingHappened",
        "event_id": new_id(at_ms),
        "device_id": device_id,
        "seq": seq,
        "hlc": at_ms << 16,
        "occurred_at": at_ms,
        "utc_offset": 0,
        "v": 3,
        "blob": text,
        "nested": {"items": [1, None, True, {"deeper": text}]},
    }
    # a float32 1.5 (0xca): JSON reads it back as a float64
    raw = msgspec.msgpack.encode(fields) + b"\xa5ratio\xca\x3f\xc0\x00\x00"
    raw = bytes([raw[0] + 1]) + raw[1:]  # one more key in the fixmap
    return OpaqueEvent(
        type="FutureThingHappened",
        event_id=str(fields["event_id"]),
        device_id=device_id,
        seq=seq,
        hlc=at_ms << 16,
        occurred_at=at_ms,
        v=3,
        raw=raw,
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _iso(unix_ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(unix_ms / 1000, UTC).isoformat()
