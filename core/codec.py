"""msgspec codecs for events: MessagePack for storage, JSON for people and peers.

The stored `topic` of an event is its stable type name (`ContactAdded`), never a
Python import path, so renaming or moving a class never breaks stored data. The
stored `state` is the MessagePack encoding of the whole event, envelope included,
so one row is one complete, self-describing event.

Decoding is strict (types, ranges, literals are checked) and has a fast path: a
per-type decoder picked by topic. An event whose schema version is older than the
current one goes through the registered upcasters first. An event whose type is
unknown to this build decodes to `OpaqueEvent`, keeping its exact bytes.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any, Final

import msgspec

from .errors import CodecError
from .events import (
    NAME_BY_TYPE,
    SCHEMA_VERSION,
    TYPE_BY_NAME,
    AnyEvent,
    Event,
    OpaqueEvent,
    type_name,
)
from .limits import MAX_ID, Hlc, Id, Millis, Offset, Seq, Version, plain_problem

#: (type name, from version) -> function turning that version's fields into the next's.
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: Final[dict[tuple[str, int], Upcaster]] = {}

_ENCODER: Final = msgspec.msgpack.Encoder()
_JSON_ENCODER: Final = msgspec.json.Encoder()
_DECODERS: Final[dict[str, msgspec.msgpack.Decoder[Any]]] = {
    name: msgspec.msgpack.Decoder(cls) for name, cls in TYPE_BY_NAME.items()
}
_UNION_MSGPACK: Final = msgspec.msgpack.Decoder(AnyEvent)
_UNION_JSON: Final = msgspec.json.Decoder(AnyEvent)
_RAW: Final = msgspec.msgpack.Decoder()
#: What a bad input can make msgspec raise: its own errors, ValueError subclasses
#: (invalid UTF-8), and RecursionError for hostile nesting.
BAD_INPUT: Final = (msgspec.MsgspecError, ValueError, RecursionError)


class _Envelope(msgspec.Struct, kw_only=True):
    """The envelope of any stored event, as loose as what older builds stored."""

    event_id: str
    device_id: str
    seq: int
    hlc: int
    occurred_at: int
    utc_offset: int = 0
    v: int = 1


class _AdmittedEnvelope(msgspec.Struct, kw_only=True):
    """The envelope an event of any type must have to come in (`core.limits`)."""

    event_id: Id
    device_id: Id
    seq: Seq
    hlc: Hlc
    occurred_at: Millis
    utc_offset: Offset = 0
    v: Version = 1


_LOOSE: Final = msgspec.msgpack.Decoder(_Envelope)
_ADMITTED: Final = msgspec.msgpack.Decoder(_AdmittedEnvelope)


def encode(event: Event) -> bytes:
    """The MessagePack bytes stored for an event (deterministic for equal events)."""
    return _ENCODER.encode(event)


def decode(topic: str, state: bytes) -> Event | OpaqueEvent:
    """Decode stored bytes; unknown types come back as `OpaqueEvent`.

    Reading never refuses what a log holds: an event this build cannot read (out
    of today's limits, stored before they existed; or bytes without a readable
    envelope, whose identity then reads as empty) comes back opaque with its
    `problem`, for views to skip and `recip doctor` to list. No door admits it
    (`admit`).
    """
    decoder = _DECODERS.get(topic)
    try:
        if decoder is None:
            return decode_opaque(topic, state)
        try:
            event: Event = decoder.decode(state)
        except BAD_INPUT as exc:
            return _decode_other(topic, state, exc)
        if event.v > SCHEMA_VERSION[topic]:
            return decode_opaque(topic, state)  # written by a newer build: keep it intact
        if event.v != SCHEMA_VERSION[topic]:
            return _decode_other(topic, state, None)
        return event
    except CodecError as exc:  # not even an envelope: bytes no door let in, or corruption
        return OpaqueEvent(
            type=topic,
            event_id="",
            device_id="",
            seq=0,
            hlc=0,
            occurred_at=0,
            raw=state,
            problem=str(exc),
        )


def _decode_other(topic: str, state: bytes, error: Exception | None) -> Event | OpaqueEvent:
    try:
        return _decode_old(topic, state, error)
    except CodecError as exc:
        return msgspec.structs.replace(decode_opaque(topic, state), problem=str(exc))


def admit(event: Event | OpaqueEvent) -> Event | OpaqueEvent:
    """The event, if it may come into a log through any door; else `CodecError`.

    An `Event` was decoded strictly, so its fields are within `core.limits`. An
    `OpaqueEvent` comes in only if it is of a type (or version) this build does
    not know, its envelope is within the limits, and its fields are plain data
    that MessagePack and JSON both carry (ADR 0080).
    """
    if isinstance(event, Event):
        return event
    if event.problem is not None:
        raise CodecError(event.problem)
    if not 1 <= len(event.type) <= MAX_ID:
        raise CodecError(f"event type {event.type[:80]!r}: 1 to {MAX_ID} characters")
    try:
        _ADMITTED.decode(event.raw)
        problem = plain_problem(_RAW.decode(event.raw))
    except BAD_INPUT as exc:
        raise CodecError(f"invalid envelope on a {event.type} event: {exc}") from None
    if problem is not None:
        raise CodecError(f"{event.type} event is not plain data: {problem}")
    return event


def check(topic: str, state: bytes) -> None:
    """Refuse bytes that a strict reader of `topic` would not accept.

    msgspec checks constraints (ranges, lengths, literals) when decoding, not when a
    Struct is built, so an event built in code could break one and, once stored, make
    the log unreadable. Appending runs every new event through this first.
    """
    decoder = _DECODERS.get(topic)
    if decoder is None:
        raise CodecError(f"unknown event type {topic!r}")
    try:
        decoder.decode(state)
    except (msgspec.MsgspecError, ValueError) as exc:
        raise CodecError(f"invalid {topic} event: {exc}") from exc


def encode_rows(device_id: str, events: Sequence[Event]) -> list[tuple[str, int, str, bytes]]:
    """Stored rows (device, seq, topic, state) for one device's events: the hot path."""
    names, enc = NAME_BY_TYPE, _ENCODER.encode
    return [(device_id, e.seq, names[type(e)], enc(e)) for e in events]


def check_rows(rows: Sequence[tuple[str, int, str, bytes]]) -> None:
    """`check` for many rows; a failure names the row's device and seq."""
    decoders = _DECODERS
    try:
        for _, _, topic, state in rows:
            decoders[topic].decode(state)
    except (KeyError, msgspec.MsgspecError, ValueError):
        for device_id, seq, topic, state in rows:
            try:
                check(topic, state)
            except CodecError as exc:
                raise CodecError(f"device {device_id} seq {seq}: {exc}") from exc
        raise


def decode_opaque(topic: str, state: bytes) -> OpaqueEvent:
    """Keep an unknown event's envelope and its exact bytes."""
    try:
        e = _LOOSE.decode(state)
    except BAD_INPUT as exc:
        raise CodecError(f"cannot read the envelope of a {topic} event: {exc}") from None
    return OpaqueEvent(
        type=topic,
        event_id=e.event_id,
        device_id=e.device_id,
        seq=e.seq,
        hlc=e.hlc,
        occurred_at=e.occurred_at,
        utc_offset=e.utc_offset,
        v=e.v,
        raw=state,
    )


def _decode_old(topic: str, state: bytes, error: Exception | None) -> Event | OpaqueEvent:
    """Slow path: upcast an event stored under an older schema version.

    A version newer than this build's comes back opaque (kept, forwarded, not shown),
    like an unknown type: an older replica must not lose what a newer one wrote.
    """
    try:
        fields = _RAW.decode(state)
    except BAD_INPUT as exc:
        raise CodecError(f"corrupt {topic} event: {exc}") from None
    if not isinstance(fields, dict):
        raise CodecError(f"corrupt {topic} event: not a map")
    current = SCHEMA_VERSION[topic]
    version = fields.get("v", 1)
    if isinstance(version, int) and version > current:
        return decode_opaque(topic, state)
    if not isinstance(version, int) or version < 1:
        raise CodecError(f"{topic} event has invalid schema version {version!r}")
    while version < current:
        upcaster = UPCASTERS.get((topic, version))
        if upcaster is None:
            raise CodecError(f"no upcaster for {topic} from version {version}")
        fields = upcaster(fields)
        version += 1
        fields["v"] = version
    try:
        return msgspec.convert(fields, TYPE_BY_NAME[topic])
    except (msgspec.ValidationError, RecursionError) as exc:
        same = error is None or str(error) == str(exc)
        cause = f"{exc}" if same else f"{exc} (as stored: {error})"
        raise CodecError(f"invalid {topic} event: {cause}") from exc


def decode_any(state: bytes) -> Event:
    """Decode MessagePack bytes of any known type, by its own tag."""
    try:
        event: Event = _UNION_MSGPACK.decode(state)
    except BAD_INPUT as exc:
        raise CodecError(f"invalid event: {exc}") from exc
    return event


def to_json(event: Event | OpaqueEvent) -> bytes:
    """An event as JSON: every envelope field, the type tag first.

    An opaque event whose fields JSON cannot express (stored before ADR 0080
    kept such events out) is written as its envelope and `"$raw"`, the base64
    of its stored bytes, as the JSON Lines export writes it (ADR 0060).
    """
    if isinstance(event, OpaqueEvent):
        try:
            fields = _RAW.decode(event.raw)
            fields["type"] = event.type
            return _JSON_ENCODER.encode(fields)
        except (*BAD_INPUT, TypeError, OverflowError):
            return _JSON_ENCODER.encode(
                {
                    "type": event.type,
                    **{name: getattr(event, name) for name in _Envelope.__struct_fields__},
                    "$raw": base64.b64encode(event.raw).decode("ascii"),
                }
            )
    return _JSON_ENCODER.encode(event)


def from_json(data: bytes | str) -> Event:
    """Decode one JSON event of a known type (strict)."""
    try:
        event: Event = _UNION_JSON.decode(data)
    except BAD_INPUT as exc:
        raise CodecError(f"invalid event: {exc}") from exc
    return event


__all__ = [
    "UPCASTERS",
    "admit",
    "decode",
    "decode_any",
    "decode_opaque",
    "encode",
    "from_json",
    "to_json",
    "type_name",
]
