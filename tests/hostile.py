"""hypothesis strategies for hostile events: what an attacker, a buggy client or an old
log may hand a door (ADR 0080).

An event starts from a valid one (or an unknown type with a valid envelope), then
some of its fields are replaced by boundary and out-of-range values, every scalar
MessagePack and JSON can carry (bytes, extension values, timestamps, NaN and
infinities, integers beyond 64 bits), deep nesting, or fields a schema does not
have. `wire` encodes one in a format, or says it cannot be sent in it.
"""

from __future__ import annotations

import datetime
from typing import Any, Final

import msgspec
from hypothesis import strategies as st

from core import limits
from core.events import EVENT_TYPES, type_name
from tests.event_strategies import event_of

INT_EDGES: Final = (
    0,
    -1,
    1,
    2**31,
    2**53 + 1,
    limits.MAX_INT,
    limits.MAX_INT + 1,
    2**64 - 1,
    2**64,
    -(2**63),
    -(2**63) - 1,
    10**30,
    -(10**30),
    limits.EARLIEST_MS - 1,
    limits.EARLIEST_MS,
    limits.LATEST_MS,
    limits.LATEST_MS + 1,
    limits.MAX_OFFSET + 1,
    -limits.MAX_OFFSET - 1,
)
TEXT_EDGES: Final = (
    "",
    " ",
    "[/]",
    "[bold]x",
    "\x00\x1b[31m",
    "é" * (limits.MAX_ITEM + 1),
    "x" * (limits.MAX_NOTE + 1),
    "\u202e\u0301",
)

scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(INT_EDGES),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(INT_EDGES).map(float),  # integral floats: integers to JSON Schema
    st.sampled_from(TEXT_EDGES),
    st.text(max_size=20),
    st.binary(max_size=8),
    st.builds(msgspec.msgpack.Ext, st.integers(-128, 127), st.binary(max_size=4)),
    st.datetimes(timezones=st.just(datetime.UTC)),
)
values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


class Deep(msgspec.Struct, frozen=True):
    """A list nested `depth` deep: written into the bytes by `wire` (encoders refuse to
    build what is deeper than their stack)."""

    depth: int


_MARK: Final = "__deep__"


@st.composite
def hostile_event(draw: st.DrawFn, device_id: str, seq: int, contact_id: str) -> dict[str, Any]:
    """A dict of event fields, about `contact_id`, mostly at the `seq` a door expects."""
    cls = draw(st.sampled_from(EVENT_TYPES))
    base: dict[str, Any] = msgspec.to_builtins(draw(event_of(cls)))
    base["type"] = type_name(draw(event_of(cls)))
    for field in ("contact_id", "survivor_id", "ask_id", "target_id"):
        if field in base:
            base[field] = contact_id
    if "absorbed_id" in base and draw(st.booleans()):
        base["absorbed_id"] = contact_id  # a contact merged into itself: must be refused
    base.update(device_id=device_id, seq=seq, hlc=draw(st.integers(0, 2**40)))
    if draw(st.booleans()):
        base["type"] = draw(st.sampled_from(["FutureThing", "x" * 65, "", "ContactAdded"]))
        base["v"] = draw(st.sampled_from([1, 2, 99, 0, -1]))
    for _ in range(draw(st.integers(0, 3))):
        field = draw(st.sampled_from([*base, "extra", "occurred_at", "hlc", "seq"]))
        base[field] = draw(values)
    if draw(st.integers(0, 9)) == 0:
        base["deep"] = Deep(draw(st.sampled_from([limits.MAX_DEPTH, limits.MAX_DEPTH + 1, 5_000])))
    if draw(st.integers(0, 4)) == 0:
        base["seq"] = seq  # most events reach field checks, not the sequence check
    return base


def wire(fields: dict[str, Any], fmt: str) -> bytes | None:
    """The event in a wire format, or None when that format cannot carry it."""
    deep = fields.get("deep")
    if isinstance(deep, Deep):
        fields = {**fields, "deep": _MARK}
    try:
        data = msgspec.msgpack.encode(fields) if fmt == "msgpack" else msgspec.json.encode(fields)
    except (TypeError, OverflowError, ValueError, RecursionError):
        return None
    if isinstance(deep, Deep):
        if fmt == "msgpack":
            mark, inner = msgspec.msgpack.encode(_MARK), b"\x91" * deep.depth + b"\xc0"
        else:
            mark, inner = (
                msgspec.json.encode(_MARK),
                b"[" * deep.depth + b"null" + b"]" * deep.depth,
            )
        data = data.replace(mark, inner, 1)
    return data
