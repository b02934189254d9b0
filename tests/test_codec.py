"""The storage and wire codecs: exact round trips, strict decoding, upcasting."""

from __future__ import annotations

import contextlib

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import codec
from core import events as ev
from core.errors import CodecError

from .event_strategies import any_event, event_of


@given(any_event)
def test_msgpack_round_trip_is_exact(event: ev.Event) -> None:
    state = codec.encode(event)
    decoded = codec.decode(ev.type_name(event), state)
    assert decoded == event
    assert type(decoded) is type(event)
    assert codec.encode(decoded) == state  # byte for byte


@given(any_event)
def test_union_decoder_reads_any_type(event: ev.Event) -> None:
    assert codec.decode_any(codec.encode(event)) == event


@given(any_event)
def test_json_round_trip(event: ev.Event) -> None:
    text = codec.to_json(event)
    assert codec.from_json(text) == event
    assert msgspec.json.decode(text)["type"] == ev.type_name(event)


@given(any_event)
def test_topic_is_the_stable_type_name(event: ev.Event) -> None:
    assert ev.type_name(event) == type(event).__name__
    assert ev.TYPE_BY_NAME[ev.type_name(event)] is type(event)


@given(event_of(ev.AskMade))
def test_unknown_type_is_kept_opaque_with_exact_bytes(event: ev.Event) -> None:
    state = codec.encode(event)
    opaque = codec.decode("FutureThing", state)
    assert isinstance(opaque, ev.OpaqueEvent)
    assert opaque.type == "FutureThing"
    assert (opaque.event_id, opaque.device_id, opaque.seq, opaque.hlc) == (
        event.event_id,
        event.device_id,
        event.seq,
        event.hlc,
    )
    assert opaque.raw == state


def test_invalid_values_are_refused() -> None:
    base = {
        "type": "AskMade",
        "event_id": "e",
        "device_id": "d",
        "seq": 1,
        "hlc": 1,
        "occurred_at": 1,
        "contact_id": "c",
        "what": "a lift",
    }
    for bad in (
        {"weight": 6},
        {"weight": 0},
        {"what": ""},
        {"seq": -1},
        {"occurred_at": -(10**13)},
    ):
        # Reading what a log holds never fails: the event comes back opaque, with
        # its problem (ADR 0080); no door lets it in.
        stored = codec.decode("AskMade", msgspec.msgpack.encode({**base, **bad}))
        assert isinstance(stored, ev.OpaqueEvent)
        assert stored.problem and next(iter(bad)) in stored.problem
        with pytest.raises(CodecError, match=next(iter(bad))):
            codec.admit(stored)
    for garbage in (msgspec.msgpack.encode({**base, "hlc": "x"}), b"\xc1", b"\x91" * 5000):
        stored = codec.decode("AskMade", garbage)  # no readable envelope: still read
        assert isinstance(stored, ev.OpaqueEvent) and stored.problem and stored.raw == garbage
        with pytest.raises(CodecError):
            codec.admit(stored)
    with pytest.raises(CodecError):
        codec.from_json(b'{"type": "Nope", "event_id": "e"}')


def test_upcaster_runs_for_old_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    """A type at version 2 reads version-1 data through its upcaster."""
    old = {
        "type": "NoteAdded",
        "event_id": "e",
        "device_id": "d",
        "seq": 1,
        "hlc": 1,
        "occurred_at": 1,
        "v": 1,
        "contact_id": "c",
        "body": "renamed field",
    }

    def rename(fields: dict[str, object]) -> dict[str, object]:
        fields["text"] = fields.pop("body")
        return fields

    monkeypatch.setitem(ev.SCHEMA_VERSION, "NoteAdded", 2)
    monkeypatch.setitem(codec.UPCASTERS, ("NoteAdded", 1), rename)
    event = codec.decode("NoteAdded", msgspec.msgpack.encode(old))
    assert isinstance(event, ev.NoteAdded)
    assert event.text == "renamed field"
    assert event.v == 2


@given(event_of(ev.NoteAdded))
def test_newer_version_than_this_build_is_kept_opaque(event: ev.Event) -> None:
    """Written by a newer build: kept intact (stored, forwarded), not shown (ADR 0033)."""
    fields = msgspec.to_builtins(event)
    fields["v"] = 99
    fields["added_in_v99"] = "x"
    state = msgspec.msgpack.encode(fields)
    decoded = codec.decode("NoteAdded", state)
    assert isinstance(decoded, ev.OpaqueEvent)
    assert (decoded.type, decoded.v, decoded.raw) == ("NoteAdded", 99, state)


@given(st.binary(max_size=64))
def test_garbage_never_escapes_as_another_error(blob: bytes) -> None:
    with contextlib.suppress(CodecError):
        codec.decode("GiveMade", blob)
