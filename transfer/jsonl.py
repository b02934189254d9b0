"""The event log as JSON Lines: the faithful export, and its import.

One event per line, in log order, every envelope field included, exactly as
`core.codec.to_json` writes it. What a replica stores for an event is its
MessagePack bytes, and replicas compare those bytes to tell a re-delivery from a
conflict; so an import must store exactly the bytes the exporting replica held,
or a later sync with a device that holds the original would be refused.

For almost every event the JSON line determines those bytes: decoding it and
re-encoding gives them back. When it does not, the line also carries the stored
bytes, base64-encoded, under the key `$raw` (a name no event field can have):

- events this build keeps opaque (`OpaqueEvent`: an unknown type, or a known type
  at a newer schema version, recorded by a newer client), whose fields may hold
  what JSON cannot express (binary, extension types, float32);
- stored events whose bytes differ from this build's encoding of them (e.g. an
  older schema version that is upcast when read).

The import is strict (unknown fields of a schema this build knows, wrong types,
invalid schema versions are refused with their line number) and all or nothing:
every line is parsed and the whole file checked against the log before anything
is stored, and then it is stored in one `EventLog.ingest` transaction, which
skips what the log already holds (so importing a file twice changes nothing) and
refuses different content for a `(device, seq)` already held and gaps in a
device's sequence.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from typing import Any, Final

import msgspec

from core import codec
from core.errors import CodecError, ConflictError, SequenceGapError
from core.events import SCHEMA_VERSION, TYPE_BY_NAME, Event, OpaqueEvent, type_name
from core.limits import plain_problem
from core.log import PAGE, EventLog, LogEvent, stored_form

from .errors import FileRefused

RAW_KEY: Final = "$raw"
#: Types every supported older build knows. An older build turns the JSON of a type
#: it does not know into MessagePack generically, which can differ from this build's
#: bytes (a map header); such a line also carries its bytes (ADR 0085).
OLDER_BUILDS_KNOW: Final = frozenset(
    {
        "ContactAdded",
        "ContactEdited",
        "ContactArchived",
        "ContactRestored",
        "ContactsMerged",
        "InteractionLogged",
        "AskMade",
        "AskResolved",
        "GiveMade",
        "IntroductionMade",
        "NoteAdded",
        "EventRetracted",
    }
)
_RAW_MARK: Final = b'"$raw"'
_ENVELOPE: Final = ("type", "event_id", "device_id", "seq", "hlc")
_JSON: Final = msgspec.json.Encoder()
_JSON_DICT: Final = msgspec.json.Decoder(dict[str, Any])
_MSGPACK: Final = msgspec.msgpack.Encoder()
_MSGPACK_ANY: Final = msgspec.msgpack.Decoder()

Progress = Callable[[int], None]


# -- export ---------------------------------------------------------------------


def export_lines(log: EventLog) -> Iterator[bytes]:
    """Every event of the log as one JSON line (newline included), in log order."""
    after = 0
    while True:
        rows = log.store.notifications(after, PAGE)
        for row in rows:
            yield line_for(row.topic, row.state) + b"\n"
        if len(rows) < PAGE:
            return
        after = rows[-1].id


def line_for(topic: str, state: bytes) -> bytes:
    """The JSON line of one stored event (without the newline)."""
    event = codec.decode(topic, state)
    if isinstance(event, Event) and codec.encode(event) == state:
        line = codec.to_json(event)
        if topic in OLDER_BUILDS_KNOW or _MSGPACK.encode(_JSON_DICT.decode(line)) == state:
            return line
    raw = base64.b64encode(state).decode("ascii")
    try:
        fields = _MSGPACK_ANY.decode(state)
        readable: dict[str, Any] = {"type": topic}
        if isinstance(fields, dict):
            readable.update((k, v) for k, v in fields.items() if k != "type")
        readable[RAW_KEY] = raw
        return _JSON.encode(readable)
    except (*codec.BAD_INPUT, TypeError, OverflowError):
        # Fields JSON cannot express (extension types), or bytes a log written before
        # ADR 0080 may hold: keep the envelope readable, the bytes exact.
        return _JSON.encode(
            {
                "type": topic,
                **{name: getattr(event, name) for name in _ENVELOPE[1:]},
                "occurred_at": event.occurred_at,
                "utc_offset": event.utc_offset,
                "v": event.v,
                RAW_KEY: raw,
            }
        )


# -- import ---------------------------------------------------------------------


class Parsed(msgspec.Struct, frozen=True):
    """The events of a file, each with the line it came from."""

    events: list[LogEvent]
    lines: list[int]


class ImportResult(msgspec.Struct, frozen=True):
    """What an import did: how many events the file held, how many were new."""

    total: int
    new: int
    devices: int


def parse(data: bytes, source: str, *, progress: Progress | None = None) -> Parsed:
    """Read every line of an export; refuses the first bad one, by number."""
    events: list[LogEvent] = []
    lines: list[int] = []
    raw_lines = data.split(b"\n")
    for number, line in enumerate(raw_lines, start=1):
        if progress is not None and number % 1000 == 0:
            progress(1000)
        line = line.strip()
        if not line:
            continue
        try:
            event = codec.admit(parse_line(line))
        except (CodecError, ValueError) as exc:
            raise FileRefused(source, number, str(exc)) from None
        if event.seq < 1:
            raise FileRefused(source, number, "seq must be 1 or more (sequences start at 1)")
        events.append(event)
        lines.append(number)
    if progress is not None:
        progress(len(raw_lines) % 1000)
    _check_within(events, lines, source)
    return Parsed(events, lines)


def parse_line(line: bytes) -> LogEvent:
    """One event from one JSON line (strict: see the module docstring)."""
    if _RAW_MARK not in line:
        try:
            event = codec.from_json(line)
        except CodecError:
            event = None
        if (
            event is not None
            and event.v == SCHEMA_VERSION[type_name(event)]
            and codec.to_json(event) == line
        ):
            return event
    return _parse_slow(line)


def _parse_slow(line: bytes) -> LogEvent:
    """Hand-edited lines, other schema versions, unknown types, `$raw` lines."""
    try:
        fields = _JSON_DICT.decode(line)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ValueError(f"not a JSON object: {exc}") from None
    topic = fields.get("type")
    if not isinstance(topic, str) or not topic:
        raise ValueError("no event type (the 'type' field)")
    problem = plain_problem(fields)
    if problem is not None:  # e.g. an integer MessagePack cannot hold (ADR 0080)
        raise ValueError(f"not plain data: {problem}")
    if RAW_KEY in fields:
        raw = _raw_bytes(fields.pop(RAW_KEY))
        stored = codec.decode(topic, raw)
        _check_envelope(fields, stored)
        if isinstance(stored, Event) and codec.encode(stored) == raw:
            return stored
        return _exact(topic, stored, raw)
    known = TYPE_BY_NAME.get(topic)
    version = fields.get("v", 1)
    newer = isinstance(version, int) and version > SCHEMA_VERSION.get(topic, version)
    if known is not None and not newer:  # a newer schema may well have more fields
        unknown = sorted(set(fields) - {"type", *known.__struct_fields__})
        if unknown == ["position"]:  # a line of `recip events --jsonl`, not of an export
            raise ValueError(
                "unknown field 'position': this is `recip events` output; "
                "back up with `recip export --format jsonl`"
            )
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r} for a {topic} event")
    raw = _MSGPACK.encode(fields)
    stored = codec.decode(topic, raw)
    if isinstance(stored, Event) and fields.get("v", 1) == stored.v:
        return stored  # current schema: store this build's canonical encoding
    return _exact(topic, stored, raw)


def _exact(topic: str, stored: LogEvent, raw: bytes) -> OpaqueEvent:
    """An event to be stored as exactly `raw` (opaque, or an older schema)."""
    envelope = stored if isinstance(stored, OpaqueEvent) else codec.decode_opaque(topic, raw)
    return msgspec.structs.replace(envelope, raw=raw)


def _raw_bytes(value: object) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{RAW_KEY} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"{RAW_KEY} is not valid base64: {exc}") from None


def _check_envelope(fields: dict[str, Any], stored: LogEvent) -> None:
    """A line's readable envelope must agree with the bytes it carries."""
    for name in _ENVELOPE:
        if name == "type":
            held: object = stored.type if isinstance(stored, OpaqueEvent) else type_name(stored)
        else:
            held = getattr(stored, name)
        if name in fields and fields[name] != held:
            raise ValueError(
                f"field {name!r} is {fields[name]!r} but the event's {RAW_KEY} bytes say {held!r}"
            )


def _check_within(events: list[LogEvent], lines: list[int], source: str) -> None:
    """No two lines may claim the same (device, seq) with different content."""
    seen: dict[tuple[str, int], int] = {}
    for index, event in enumerate(events):
        slot = (event.device_id, event.seq)
        first = seen.setdefault(slot, index)
        if first != index and stored_form(events[first]).state != stored_form(event).state:
            raise FileRefused(
                source,
                lines[index],
                f"device {event.device_id} seq {event.seq} differs from line {lines[first]} "
                "(two different events cannot share a place in a device's sequence)",
            )


def import_into(log: EventLog, parsed: Parsed, source: str) -> ImportResult:
    """Ingest parsed events in one transaction; refusals name the line at fault."""
    try:
        new = log.ingest(parsed.events)
    except ConflictError:
        raise _locate_conflict(log, parsed, source) from None
    except SequenceGapError as exc:
        raise _locate_gap(parsed, source, exc) from None
    devices = len({e.device_id for e in parsed.events})
    return ImportResult(total=len(parsed.events), new=len(new), devices=devices)


def _locate_conflict(log: EventLog, parsed: Parsed, source: str) -> FileRefused:
    for event, line in zip(parsed.events, parsed.lines, strict=True):
        held = log.store.stream(event.device_id, gt=event.seq - 1, lte=event.seq)
        if held and held[0].state != stored_form(event).state:
            return FileRefused(
                source,
                line,
                f"this log already holds a different event as device {event.device_id} "
                f"seq {event.seq} (events are immutable; is this an export of another "
                "history that reused this device's id?)",
            )
    return FileRefused(source, None, "the log changed during the import; try again")


def _locate_gap(parsed: Parsed, source: str, exc: SequenceGapError) -> FileRefused:
    offending = [
        (line, event.seq)
        for event, line in zip(parsed.events, parsed.lines, strict=True)
        if event.device_id == exc.device_id and event.seq >= exc.expected_seq
    ]
    if not offending:
        return FileRefused(source, None, str(exc))
    line, seq = min(offending, key=lambda pair: pair[1])
    return FileRefused(
        source,
        line,
        f"device {exc.device_id} seq {seq} leaves a gap: the next event of that device "
        f"must be seq {exc.expected_seq}",
    )
