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
_ENVELOPE: Final = msgspec.msgpack.Decoder(OpaqueEvent)
_RAW: Final = msgspec.msgpack.Decoder()


def encode(event: Event) -> bytes:
    """The MessagePack bytes stored for an event (deterministic for equal events)."""
    return _ENCODER.encode(event)


def decode(topic: str, state: bytes) -> Event | OpaqueEvent:
    """Decode stored bytes; unknown types come back as `OpaqueEvent`."""
    decoder = _DECODERS.get(topic)
    if decoder is None:
        return decode_opaque(topic, state)
    try:
        event: Event = decoder.decode(state)
    except (msgspec.MsgspecError, ValueError) as exc:
        return _decode_old(topic, state, exc)
    if event.v > SCHEMA_VERSION[topic]:
        return decode_opaque(topic, state)  # written by a newer build: keep it intact
    if event.v != SCHEMA_VERSION[topic]:
        return _decode_old(topic, state, None)
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
        fields = _RAW.decode(state)
        if not isinstance(fields, dict):
            raise CodecError(f"{topic} event is not a map")
        fields["type"] = topic
        envelope = msgspec.convert(fields, OpaqueEvent)
    except (msgspec.MsgspecError, ValueError) as exc:
        raise CodecError(f"cannot read the envelope of a {topic} event: {exc}") from exc
    return msgspec.structs.replace(envelope, raw=state)


def _decode_old(topic: str, state: bytes, error: Exception | None) -> Event | OpaqueEvent:
    """Slow path: upcast an event stored under an older schema version.

    A version newer than this build's comes back opaque (kept, forwarded, not shown),
    like an unknown type: an older replica must not lose what a newer one wrote.
    """
    try:
        fields = _RAW.decode(state)
    except (msgspec.MsgspecError, ValueError) as exc:
        raise CodecError(f"corrupt {topic} event: {exc}") from exc
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
    except msgspec.ValidationError as exc:
        cause = f"{exc}" if error is None else f"{exc} (as stored: {error})"
        raise CodecError(f"invalid {topic} event: {cause}") from exc


def decode_any(state: bytes) -> Event:
    """Decode MessagePack bytes of any known type, by its own tag."""
    try:
        event: Event = _UNION_MSGPACK.decode(state)
    except (msgspec.MsgspecError, ValueError) as exc:
        raise CodecError(f"invalid event: {exc}") from exc
    return event


def to_json(event: Event | OpaqueEvent) -> bytes:
    """An event as JSON: every envelope field, the type tag first."""
    if isinstance(event, OpaqueEvent):
        fields = _RAW.decode(event.raw)
        fields["type"] = event.type
        return _JSON_ENCODER.encode(fields)
    return _JSON_ENCODER.encode(event)


def from_json(data: bytes | str) -> Event:
    """Decode one JSON event of a known type (strict)."""
    try:
        event: Event = _UNION_JSON.decode(data)
    except (msgspec.MsgspecError, ValueError) as exc:
        raise CodecError(f"invalid event: {exc}") from exc
    return event


__all__ = [
    "UPCASTERS",
    "decode",
    "decode_any",
    "decode_opaque",
    "encode",
    "from_json",
    "to_json",
    "type_name",
]
