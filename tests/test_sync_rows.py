"""Pulled pages as rows: `protocol.decode_response_rows` stores what `ingest` would."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec import Raw

from core import codec
from core.log import LogEvent, row_of
from sync import protocol
from sync.protocol import Format, Refusal, SyncResponse

from .event_strategies import any_event


def page(raws: list[Raw], fmt: Format) -> bytes:
    response = SyncResponse(acked_seq=0, events=raws, cursor=len(raws), more=False)
    return protocol.encode(response, fmt)


@settings(max_examples=60, deadline=None)
@given(st.lists(any_event, max_size=6), st.sampled_from(["msgpack", "json"]))
def test_rows_are_the_rows_ingest_would_store(events: list[LogEvent], fmt: Format) -> None:
    """Server-stored (canonical) bytes in either format give exactly `row_of` of each event."""
    stored = [row_of(e) for e in events]
    body = page([protocol.stored_to_wire(r[2], r[3], fmt) for r in stored], fmt)
    response, rows = protocol.decode_response_rows(body, fmt)
    assert rows == stored
    assert response.cursor == len(events)


def test_an_event_of_an_unknown_type_keeps_its_exact_bytes() -> None:
    raw = msgspec.msgpack.encode(
        {
            "type": "FromTheFuture",
            "event_id": "e",
            "device_id": "d",
            "seq": 1,
            "hlc": 5,
            "occurred_at": 0,
            "v": 1,
            "extra": [1, 2],
        }
    )
    _, rows = protocol.decode_response_rows(page([Raw(raw)], "msgpack"), "msgpack")
    assert rows == [("d", 1, "FromTheFuture", raw)]
    assert codec.decode("FromTheFuture", rows[0][3]).hlc == 5


@pytest.mark.parametrize("fmt", ["msgpack", "json"])
def test_an_invalid_event_refuses_the_whole_page(fmt: Format) -> None:
    from core import events as ev

    good = ev.NoteAdded(
        event_id="e1", device_id="d", seq=1, hlc=1, occurred_at=0, contact_id="c", text="ok"
    )
    bad = msgspec.structs.replace(good, seq=-3)  # msgspec checks ranges only when decoding
    raws = [protocol.event_to_wire(good, fmt), protocol.event_to_wire(bad, fmt)]
    with pytest.raises(Refusal) as refused:
        protocol.decode_response_rows(page(raws, fmt), fmt)
    assert (refused.value.status, refused.value.details.get("index")) == (422, 1)
