"""The sync protocol: messages, wire formats and event validation, without HTTP.

One exchange does both directions. The device sends the events of its own stream
the server has not acknowledged (in seq order) and the cursor it has pulled up to;
the server stores them (all or nothing) and answers with the highest seq it now
holds for that device and one page of the owner's log after the cursor.

Why this shape:

- **Push is idempotent by (device, seq).** A re-sent event identical to the held
  one is skipped, so a lost response is repaired by sending the same request
  again; a gap or different content is refused (409) with what the server expects.
- **The cursor is the server's log position** (its order of arrival), never a
  device clock, so a pull can never skip an event that arrived late.
- **The device says which of its own events it holds** (`held_seq`), so the
  server leaves those out of the page but sends back any it lacks: a device that
  lost its database but kept its identity gets its own history back.

Both MessagePack and JSON are spoken, chosen by media type. Events travel as
`msgspec.Raw` so that the server can send stored MessagePack bytes as they are,
and the client can send its stored rows without re-encoding them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Final, Literal, TypeAlias

import msgspec
from msgspec import Meta, Raw, Struct

from core import codec, limits
from core.errors import CodecError, ReciprocityError
from core.events import SCHEMA_VERSION, TYPE_BY_NAME, AnyEvent, Event, OpaqueEvent, type_name
from core.log import LogEvent, row_of
from core.store import Row

Format: TypeAlias = Literal["msgpack", "json"]

#: What msgspec raises on bad input: its own errors, ValueError subclasses
#: (invalid UTF-8 in a MessagePack string is a UnicodeDecodeError), and
#: RecursionError (hostile nesting).
_BAD_INPUT: Final = codec.BAD_INPUT

MSGPACK: Final = "application/msgpack"
JSON: Final = "application/json"
_MSGPACK_TYPES: Final = ("application/msgpack", "application/x-msgpack", "application/vnd.msgpack")

#: Positions and sequence numbers are SQLite integers (signed 64 bits).
MAX_INT: Final = limits.MAX_INT
#: Largest page a device may ask for; the server may cap it lower.
MAX_LIMIT: Final = 10_000
DEFAULT_LIMIT: Final = 10_000
#: A push batch or a page stops growing past this many bytes of stored events:
#: half the server's default body limit, so that 10,000 long notes still fit.
MAX_BATCH_BYTES: Final = 8 * 1024 * 1024


class SyncRequest(Struct, kw_only=True):
    """What a device sends: its unacknowledged events and its pull position."""

    device_id: Annotated[str, Meta(min_length=1, max_length=64)]
    events: list[Raw] = []
    cursor: Annotated[int, Meta(ge=0, le=MAX_INT)] = 0
    #: Largest page to pull; 0 pushes only (the answer carries no events).
    limit: Annotated[int, Meta(ge=0, le=MAX_LIMIT)] = DEFAULT_LIMIT
    #: The highest seq of its own the device holds (None: it holds none the server
    #: should skip); the server leaves those out of the page.
    held_seq: Annotated[int, Meta(ge=0, le=MAX_INT)] | None = None


class SyncResponse(Struct, kw_only=True):
    """What the server answers: the ack, one page of others' events, the new cursor."""

    acked_seq: int
    events: list[Raw]
    cursor: int
    more: bool
    #: The server's wall clock (Unix ms), so that a device can tell its clock is off.
    server_time: int = 0


class ErrorBody(Struct, kw_only=True, omit_defaults=True):
    """Every refusal, in JSON: a stable code, a sentence, and what to do next."""

    error: str
    message: str
    device_id: str | None = None
    expected_seq: int | None = None
    event_id: str | None = None
    index: int | None = None


#: The id of an owner key (`sync.seal.OwnerKey.key_id`): 16 bytes, base64url.
KeyId = Annotated[str, Meta(pattern="^[A-Za-z0-9_-]{22}$")]


class EnrollRequest(Struct, kw_only=True, omit_defaults=True):
    token: Annotated[str, Meta(min_length=1, max_length=200)]
    device_id: Annotated[str, Meta(min_length=1, max_length=64)]
    device_name: Annotated[str, Meta(min_length=1, max_length=200)]
    #: The key id of the recovery phrase the device holds (end-to-end encrypted owners).
    key_id: KeyId | None = None
    #: Make the owner end-to-end encrypted under `key_id` (its first device only).
    e2e: bool = False


class EnrollResponse(Struct, kw_only=True):
    owner_id: str
    owner_name: str
    device_id: str
    device_token: str
    #: The owner's key id if it is end-to-end encrypted.
    key_id: str | None = None


class E2eRequest(Struct, kw_only=True):
    """Make the device's owner end-to-end encrypted under this key id."""

    key_id: KeyId


class ReplaceRequest(Struct, kw_only=True):
    """Sealed redacted rows to swap in for the rows the server holds (`sync.reseal`)."""

    device_id: Annotated[str, Meta(min_length=1, max_length=64)]
    events: list[Raw]


class ReplaceResponse(Struct, kw_only=True):
    """How many rows were swapped, and how many the server held already as sent
    (or does not hold yet: they arrive redacted with the device's next push)."""

    replaced: int
    unchanged: int


class RotateRequest(Struct, kw_only=True):
    """Replace the owner's key id (the current one, so that two rotations cannot cross)."""

    key_id: KeyId
    new_key_id: KeyId


class E2eStatus(Struct, kw_only=True):
    """Whether the owner is end-to-end encrypted (its key id) or not (null)."""

    key_id: str | None


class DeviceInfo(Struct, kw_only=True):
    device_id: str
    name: str
    enrolled_at: int
    revoked_at: int | None = None
    last_seq: int = 0


class DevicesResponse(Struct, kw_only=True):
    devices: list[DeviceInfo]


def find_device(devices: Sequence[DeviceInfo], ref: str) -> DeviceInfo:
    """The device `ref` names: its id, an unambiguous id prefix, or its name.

    Shared by the server (which revokes) and the CLI (which checks first), so both
    read a reference the same way. When a name or prefix fits several devices but
    only one of them is still active, it means that one: a phone reinstalled under
    its old name is the phone a person has in mind, not the one revoked last year.
    """
    matches = [d for d in devices if d.device_id == ref] or [
        d for d in devices if d.device_id.startswith(ref) or d.name == ref
    ]
    active = [d for d in matches if d.revoked_at is None]
    if len(matches) > 1 and len(active) == 1:
        matches = active
    if not matches:
        raise Refusal(404, "not_found", f"no device of yours matches {ref!r}")
    if len(matches) > 1:
        names = ", ".join(f"{d.device_id} ({d.name})" for d in matches)
        raise Refusal(409, "ambiguous", f"{ref!r} matches several devices: {names}")
    return matches[0]


class RevokeRequest(Struct, kw_only=True):
    device: Annotated[str, Meta(min_length=1, max_length=200)]


class Refusal(ReciprocityError):
    """A request the server will not apply, with its HTTP status and stable code.

    Raised by the server's logic and re-raised by clients from an error body, so
    that in-process and HTTP transports report exactly the same thing.
    """

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.details = {k: v for k, v in details.items() if v is not None}

    @property
    def expected_seq(self) -> int | None:
        value = self.details.get("expected_seq")
        return value if isinstance(value, int) else None

    def body(self) -> ErrorBody:
        return ErrorBody(error=self.code, message=str(self), **self.details)

    @classmethod
    def from_body(cls, status: int, data: bytes) -> Refusal:
        """Rebuild a refusal from an error body (any status, any garbage)."""
        try:
            body = _ERROR_DECODER.decode(data)
        except _BAD_INPUT:
            text = data[:200].decode("utf-8", "replace").strip() or "no details"
            return cls(status, "http_error", f"server answered {status}: {text}")
        return cls(
            status,
            body.error,
            body.message,
            device_id=body.device_id,
            expected_seq=body.expected_seq,
            event_id=body.event_id,
            index=body.index,
        )


_ERROR_DECODER: Final = msgspec.json.Decoder(ErrorBody)


# -- formats --------------------------------------------------------------------


def format_of(content_type: str | None) -> Format:
    """The wire format named by a Content-Type; refuses anything else (415)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in _MSGPACK_TYPES:
        return "msgpack"
    if media == JSON or media.endswith("+json"):
        return "json"
    raise Refusal(
        415,
        "unsupported_media_type",
        f"Content-Type {content_type or '(none)'!r} is not supported: send {MSGPACK} or {JSON}",
    )


def accepted_format(accept: str | None, default: Format) -> Format:
    """The response format a client accepts (its request's format if it does not say)."""
    if not accept:
        return default
    media = [part.split(";", 1)[0].strip().lower() for part in accept.split(",")]
    for item in media:
        if item in _MSGPACK_TYPES:
            return "msgpack"
        if item == JSON:
            return "json"
    return default


def media_type(fmt: Format) -> str:
    return MSGPACK if fmt == "msgpack" else JSON


def encode(message: Struct, fmt: Format) -> bytes:
    if fmt == "msgpack":
        return _MSGPACK_ENCODER.encode(message)
    return _JSON_ENCODER.encode(message)


_MSGPACK_ENCODER: Final = msgspec.msgpack.Encoder()
_JSON_ENCODER: Final = msgspec.json.Encoder()
_DECODERS: Final[dict[tuple[type[Any], Format], Any]] = {}


def decode(data: bytes, message: type[Any], fmt: Format) -> Any:
    """Decode one message strictly; a malformed body is a 400 naming the problem."""
    decoder = _DECODERS.get((message, fmt))
    if decoder is None:
        if fmt == "msgpack":
            decoder = msgspec.msgpack.Decoder(message)
        else:  # `1.0` is an integer to JSON Schema, hence to /openapi.json (ADR 0080)
            decoder = msgspec.json.Decoder(message, strict=False)
        _DECODERS[(message, fmt)] = decoder
    try:
        return decoder.decode(data)
    except _BAD_INPUT as exc:
        raise Refusal(400, "malformed", f"malformed {message.__name__} ({fmt}): {exc}") from None


def fitting(sizes: Iterable[int], budget: int = MAX_BATCH_BYTES) -> int:
    """How many leading items of these sizes fit in `budget` bytes (at least one)."""
    total = count = 0
    for size in sizes:
        total += size
        if total > budget and count:
            break
        count += 1
    return count


# -- events on the wire ---------------------------------------------------------------


class _Peek(Struct):
    """Just enough of an event to tell an unknown or newer type from a broken one."""

    type: str
    v: int = 1


# JSON is decoded leniently (`strict=False`): an integral float (`1.0`) is an integer
# to JSON Schema, so /openapi.json allows it; the event is stored canonically.
_UNION: Final[dict[Format, Any]] = {
    "msgpack": msgspec.msgpack.Decoder(AnyEvent),
    "json": msgspec.json.Decoder(AnyEvent, strict=False),
}
_PEEK: Final[dict[Format, Any]] = {
    "msgpack": msgspec.msgpack.Decoder(_Peek),
    "json": msgspec.json.Decoder(_Peek, strict=False),
}
#: Envelope fields of an event of an unknown type that must be integers.
_INTEGERS: Final = ("seq", "hlc", "occurred_at", "utc_offset", "v")
_ANY_JSON: Final = msgspec.json.Decoder()


def event_from_wire(raw: bytes | Raw, fmt: Format) -> LogEvent:
    """One event as sent: validated if its type is known, opaque if it is newer.

    An event whose type (or schema version) this build does not know is kept as
    `OpaqueEvent` with its exact MessagePack bytes, so that it can be stored and
    forwarded (ADR 0033). An event of a known type that does not validate raises
    `CodecError` naming the field.
    """
    data = bytes(raw)
    try:
        event: Event = _UNION[fmt].decode(data)
    except _BAD_INPUT as exc:
        return codec.admit(_unknown_or_invalid(data, fmt, exc))
    if event.v != SCHEMA_VERSION[type_name(event)]:
        # Older: upcast through the codec. Newer: opaque (keeps unknown fields).
        return codec.admit(codec.decode(type_name(event), _as_msgpack(data, fmt)))
    return event


def _unknown_or_invalid(data: bytes, fmt: Format, error: Exception) -> LogEvent:
    try:
        peek = _PEEK[fmt].decode(data)
    except _BAD_INPUT:
        raise CodecError(f"not an event: {error}") from None
    known = peek.type in TYPE_BY_NAME
    if known and peek.v <= SCHEMA_VERSION[peek.type]:
        if peek.v < SCHEMA_VERSION[peek.type]:
            return codec.decode(peek.type, _as_msgpack(data, fmt))
        raise CodecError(f"invalid {peek.type} event: {error}")
    stored = _as_msgpack(data, fmt)
    try:
        return codec.decode_opaque(peek.type, stored)
    except CodecError as exc:
        raise CodecError(f"invalid envelope: {exc}") from None


def _as_msgpack(data: bytes, fmt: Format) -> bytes:
    """The MessagePack form an event is stored in (JSON is converted once, if it is
    plain data: a number MessagePack cannot hold is refused here)."""
    if fmt == "msgpack":
        return data
    try:
        fields = _ANY_JSON.decode(data)
    except _BAD_INPUT as exc:
        raise CodecError(f"not an event: {exc}") from None
    if isinstance(fields, dict):
        for name in _INTEGERS:
            value = fields.get(name)
            if isinstance(value, float) and value.is_integer():
                fields[name] = int(value)  # then checked like any integer
    problem = limits.plain_problem(fields)
    if problem is not None:
        raise CodecError(f"not plain data: {problem}")
    return _MSGPACK_ENCODER.encode(fields)


def stored_to_wire(topic: str, state: bytes, fmt: Format) -> Raw:
    """A stored row as it goes on the wire: the bytes as they are for MessagePack."""
    if fmt == "msgpack":
        return Raw(state)
    return Raw(codec.to_json(codec.decode(topic, state)))


def event_to_wire(event: LogEvent, fmt: Format) -> Raw:
    """An event as it goes on the wire (tests and the JSON path)."""
    if fmt == "msgpack":
        if isinstance(event, OpaqueEvent):
            return Raw(event.raw)
        return Raw(codec.encode(event))
    return Raw(codec.to_json(event))


class _TypedRequest(Struct, kw_only=True):
    events: list[AnyEvent] = []


class _TypedResponse(Struct, kw_only=True):
    events: list[AnyEvent]


_TYPED: Final[dict[tuple[type[Any], Format], Any]] = {
    **{
        (kind, "msgpack"): msgspec.msgpack.Decoder(kind) for kind in (_TypedRequest, _TypedResponse)
    },
    **{
        (kind, "json"): msgspec.json.Decoder(kind, strict=False)
        for kind in (_TypedRequest, _TypedResponse)
    },
}


def decode_request(body: bytes, fmt: Format) -> tuple[SyncRequest, list[LogEvent]]:
    """A sync request and its validated events (see `events_from_wire`)."""
    request: SyncRequest = decode(body, SyncRequest, fmt)
    return request, _batch(body, _TypedRequest, request.events, fmt)


def decode_response(body: bytes, fmt: Format) -> tuple[SyncResponse, list[LogEvent]]:
    """A sync response and its validated events."""
    response: SyncResponse = decode(body, SyncResponse, fmt)
    return response, _batch(body, _TypedResponse, response.events, fmt)


def decode_response_rows(body: bytes, fmt: Format) -> tuple[SyncResponse, list[Row]]:
    """A sync response and its events as rows to store (`EventLog.ingest_rows`).

    Every event is strictly decoded here (the one validation before storage).
    When the page is MessagePack and every event is of the current schema, the
    rows keep the bytes as sent: they are the server's stored bytes, which it
    stored in their canonical encoding, so re-encoding would only reproduce
    them. Anything else (JSON, older or unknown events) is stored as `row_of`
    encodes the decoded event, as `EventLog.ingest` would.
    """
    response: SyncResponse = decode(body, SyncResponse, fmt)
    raws = response.events
    if not raws:
        return response, []
    try:
        return response, _pulled_rows(body, raws, fmt)
    except Refusal as refusal:
        raise Refusal(
            refusal.status,
            refusal.code,
            f"the server sent an event this device refuses to store: {refusal}",
            **refusal.details,
        ) from None


def _pulled_rows(body: bytes, raws: list[Raw], fmt: Format) -> list[Row]:
    if fmt == "msgpack":
        try:
            typed: list[Event] = _TYPED[(_TypedResponse, fmt)].decode(body).events
        except _BAD_INPUT:
            typed = []
        if typed and all(e.v == SCHEMA_VERSION[type_name(e)] for e in typed):
            return [
                (e.device_id, e.seq, type_name(e), bytes(raw))
                for e, raw in zip(typed, raws, strict=True)
            ]
    return [row_of(e) for e in events_from_wire(raws, fmt)]


def _batch(body: bytes, typed: type[Any], raws: list[Raw], fmt: Format) -> list[LogEvent]:
    """Fast path: the whole batch in one typed decode, when every event is current.

    Anything else (an unknown type, another schema version, an invalid event) takes
    the event-by-event path, which keeps unknown events opaque and names the bad one.
    """
    if not raws:
        return []
    try:
        events: list[Event] = _TYPED[(typed, fmt)].decode(body).events
    except _BAD_INPUT:
        return events_from_wire(raws, fmt)
    if all(e.v == SCHEMA_VERSION[type_name(e)] for e in events):
        return list(events)
    return events_from_wire(raws, fmt)


class _Id(Struct):
    event_id: str


def events_from_wire(raws: Sequence[Raw], fmt: Format) -> list[LogEvent]:
    """Decode a batch; the first bad event refuses the whole batch (422, its index,
    its id when it has one, and the field at fault)."""
    events: list[LogEvent] = []
    for index, raw in enumerate(raws):
        try:
            events.append(event_from_wire(raw, fmt))
        except CodecError as exc:
            try:
                event_id: str | None = _IDS[fmt].decode(raw).event_id
            except _BAD_INPUT:
                event_id = None
            named = f" ({event_id[:64]})" if event_id else ""
            raise Refusal(
                422,
                "invalid_event",
                f"event #{index}{named} of the batch: {exc}; nothing of the batch was stored",
                index=index,
                event_id=event_id[:64] if event_id else None,
            ) from None
    return events


_IDS: Final[dict[Format, Any]] = {
    "msgpack": msgspec.msgpack.Decoder(_Id),
    "json": msgspec.json.Decoder(_Id),
}
