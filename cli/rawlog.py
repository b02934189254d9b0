"""`recip events`: the raw log, every event with every envelope field, in log order.

`--json` writes one array and `--jsonl` one event per line; each object is the
event exactly as `core.codec.to_json` renders what is stored, plus its log
`position`, streamed in chunks so that a big log is never held whole. The table
(for people) adds a one-line summary with contact names resolved.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import Final

import click
import msgspec

from core.codec import to_json
from core.errors import ValidationError
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
    type_name,
)
from core.ids import short_id
from core.state import DETAILS, EDITABLE, State

from .contacts import contact_name
from .context import Session, open_session
from .home import DeviceConfig
from .output import Column, local_time, print_table, recorded_time

#: Events written to stdout per chunk when streaming `recip events --json`.
STREAM_CHUNK: Final = 1000


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON array of every event.")
@click.option("--jsonl", is_flag=True, help="One JSON event per line (streams big logs).")
@click.pass_context
def events(ctx: click.Context, as_json: bool, jsonl: bool) -> None:
    """The raw log: every event with every envelope field, in log order.

    JSON objects are the events exactly as `core.codec.to_json` renders what is
    stored, plus their log `position`.
    """
    if as_json and jsonl:
        raise ValidationError("choose --json or --jsonl, not both")
    if as_json or jsonl:
        with open_session(ctx, fold=False) as session:
            _stream_json(session, array=as_json)
        return
    with open_session(ctx, fold=False) as session:
        held = list(session.log.read())
        own = session.device
    state = State(event for _, event in held)
    print_table(
        [
            Column("pos", justify="right"),
            Column("type", no_wrap=True),
            Column("event id", no_wrap=True),
            Column("device", no_wrap=True),
            Column("seq", justify="right"),
            Column("recorded", no_wrap=True),
            Column("occurred", no_wrap=True),
            Column("summary"),
        ],
        (
            [
                str(position),
                event.type if isinstance(event, OpaqueEvent) else type_name(event),
                event.event_id,
                device_label(event.device_id, own),
                str(event.seq),
                recorded_time(event.hlc),
                local_time(event.occurred_at, event.utc_offset),
                summary(state, event),
            ]
            for position, event in held
        ),
        empty='the log is empty: add a contact (recip contact add "NAME") '
        "or import an address book (recip import FILE)",
    )


def device_label(device_id: str, own: DeviceConfig) -> str:
    """This device by its name; another by the random tail of its id.

    (A UUIDv7's head is its creation time, so two devices set up the same minute
    share it; the tail tells them apart.)
    """
    return own.name if device_id == own.device_id else f"…{device_id[-8:]}"


def _stream_json(session: Session, *, array: bool) -> None:
    """Write every event as JSON in chunks, never holding the whole log.

    Each object is `to_json`'s bytes with `"position"` spliced in before the
    closing brace: the stored rendering is kept byte for byte, not re-encoded.
    """
    sys.stdout.flush()
    out = sys.stdout.buffer
    separator = b"," if array else b"\n"
    if array:
        out.write(b"[")
    first = True
    for chunk in _chunks(session):
        data = separator.join(
            b'%b,"position":%d}' % (to_json(event)[:-1], position) for position, event in chunk
        )
        if array:
            out.write(data if first else b"," + data)
        else:
            out.write(data + b"\n")
        first = False
    if array:
        out.write(b"]\n")
    out.flush()


def _chunks(session: Session) -> Iterator[list[tuple[int, Event | OpaqueEvent]]]:
    chunk: list[tuple[int, Event | OpaqueEvent]] = []
    for item in session.log.read():
        chunk.append(item)
        if len(chunk) >= STREAM_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _names(state: State, ids: Sequence[str]) -> str:
    return ", ".join(contact_name(state, i) for i in ids)


def summary(state: State, event: Event | OpaqueEvent) -> str:
    """One line saying what an event records, with contact names resolved."""
    text = _describe(state, event)
    if not isinstance(event, OpaqueEvent) and state.is_retracted(event.event_id):
        text = f"(retracted) {text}"
    return text


def _describe(state: State, e: Event | OpaqueEvent) -> str:
    if isinstance(e, OpaqueEvent):
        if e.problem is not None:
            return f"not shown: {e.problem} (see 'recip doctor')"
        return f"unknown event type {e.type} (kept as is)"
    if isinstance(e, ContactAdded):
        return f"added {e.name} ({e.circle})"
    if isinstance(e, ContactEdited):
        changed = [f for f in EDITABLE if getattr(e, f) is not msgspec.UNSET]
        return f"edited {contact_name(state, e.contact_id)}: {', '.join(changed)}"
    if isinstance(e, ContactArchived):
        return f"archived {contact_name(state, e.contact_id)}"
    if isinstance(e, ContactRestored):
        return f"restored {contact_name(state, e.contact_id)}"
    if isinstance(e, ContactsMerged):
        return (
            f"merged {contact_name(state, e.absorbed_id)} into {contact_name(state, e.survivor_id)}"
        )
    if isinstance(e, InteractionLogged):
        by = "" if e.initiated_by == "me" else " (they reached out)"
        return f"{e.channel} with {_names(state, e.contact_ids)}{by}" + (
            f": {e.note}" if e.note else ""
        )
    if isinstance(e, AskMade):
        return f"asked {contact_name(state, e.contact_id)}: {e.what} (w{e.weight})"
    if isinstance(e, AskResolved):
        made = state.asks.get(e.ask_id)
        what = made.what if made is not None else short_id(e.ask_id)
        return f"ask '{what}' {e.outcome}" + (f": {e.note}" if e.note else "")
    if isinstance(e, GiveMade):
        return f"gave {contact_name(state, e.contact_id)} {e.kind}: {e.what} (w{e.weight})"
    if isinstance(e, IntroductionMade):
        return f"introduced {_names(state, e.contact_ids)} (w{e.weight})" + (
            f": {e.note}" if e.note else ""
        )
    if isinstance(e, NoteAdded):
        return f"note on {contact_name(state, e.contact_id)}: {e.text}"
    if isinstance(e, EventRetracted):
        return f"retracted {short_id(e.target_id)}: {e.reason}"
    if isinstance(e, ContactDetailsSet):
        fields = ", ".join(f for f in DETAILS if getattr(e, f) is not msgspec.UNSET)
        return f"details of {contact_name(state, e.contact_id)}: {fields or 'imported'}"
    return type_name(e)
