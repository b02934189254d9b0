"""Pulled pages as rows: `protocol.decode_response_rows` stores what `ingest` would."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec import Raw

from core import codec
from core import events as ev
from core.log import LogEvent, row_of
from server.inprocess import LocalTransport
from server.service import ServerConfig, SyncService
from sync import protocol
from sync.protocol import Format, Refusal, SyncResponse
from tests.test_sync_replica import pair

from .event_strategies import kept_event


def page(raws: list[Raw], fmt: Format) -> bytes:
    response = SyncResponse(acked_seq=0, events=raws, cursor=len(raws), more=False)
    return protocol.encode(response, fmt)


@settings(max_examples=60, deadline=None)
@given(st.lists(kept_event, max_size=6), st.sampled_from(["msgpack", "json"]))
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
    good = ev.NoteAdded(
        event_id="e1", device_id="d", seq=1, hlc=1, occurred_at=0, contact_id="c", text="ok"
    )
    bad = msgspec.structs.replace(good, seq=-3)  # msgspec checks ranges only when decoding
    raws = [protocol.event_to_wire(good, fmt), protocol.event_to_wire(bad, fmt)]
    with pytest.raises(Refusal) as refused:
        protocol.decode_response_rows(page(raws, fmt), fmt)
    assert (refused.value.status, refused.value.details.get("index")) == (422, 1)


@given(st.lists(st.integers(0, 5_000), max_size=30), st.integers(1, 20_000))
def test_fitting_takes_the_longest_prefix_within_budget_but_never_nothing(
    sizes: list[int], budget: int
) -> None:
    n = protocol.fitting(sizes, budget)
    assert n == len(sizes) or sum(sizes[: n + 1]) > budget
    assert sum(sizes[:n]) <= budget or n == 1
    assert (n >= 1) == bool(sizes)


class Recording:
    """A transport that keeps the size of every request and response it carries."""

    def __init__(self, inner: LocalTransport) -> None:
        self.inner = inner
        self.format: Format = inner.format
        self.sizes: list[tuple[int, int]] = []

    def exchange(self, body: bytes) -> bytes:
        answer = self.inner.exchange(body)
        self.sizes.append((len(body), len(answer)))
        return answer


def test_batches_and_pages_of_long_events_stay_under_the_byte_budget(tmp_path: Path) -> None:
    """500 notes of 20,000 characters (10 MB): more than one push and one page each way."""
    service = SyncService(ServerConfig(data=tmp_path / "server"))
    replicas = pair(service, tmp_path)
    for replica in replicas:
        replica.push_batch = protocol.DEFAULT_LIMIT
        replica.transport = Recording(cast(LocalTransport, replica.transport))
    laptop, phone = replicas
    text = "x" * 20_000
    laptop.log.append(
        [
            ev.NoteAdded(
                event_id="", device_id="", seq=0, hlc=0, occurred_at=0, contact_id="c", text=t
            )
            for t in [text] * 500
        ]
    )
    try:
        assert laptop.sync().pushed == 500
        assert phone.sync().pulled == 500
        assert [e.event_id for e in phone.log.events()] == [e.event_id for e in laptop.log.events()]
        for replica in replicas:
            sizes = cast(Recording, replica.transport).sizes
            assert max(max(pair) for pair in sizes) < protocol.MAX_BATCH_BYTES + 100_000
        assert len(cast(Recording, laptop.transport).sizes) >= 2
        assert len(cast(Recording, phone.transport).sizes) >= 2
    finally:
        for replica in replicas:
            replica.log.store.close()
        service.close()
