"""Forgetting for an end-to-end encrypted owner: the server gets the redacted rows sealed.

The server cannot redact what it cannot read (ADR 0130, ADR 0135). So a device
whose log was redacted (it forgot someone, or pulled a forget) seals the
redacted rows again and sends them as *replacements* of the rows the server
holds under the same `(device, seq)`: the server swaps the bytes in place and
scrubs its file. Sealing is deterministic and redaction is a pure function of
the event, so every device sends the very same bytes: a replacement sent twice,
or by two devices, changes nothing the second time.

A device remembers the redaction count it last sent replacements for (per
server), so the whole-log scan runs once per forget, not once per sync.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import msgspec

from core.log import EventLog
from core.store import REDACTIONS, Row

from . import protocol
from .protocol import Format, ReplaceRequest, ReplaceResponse
from .seal import OwnerKey

_SENT: Final = "resealed:"
_PAGE: Final = 5000


class _Id(msgspec.Struct):
    event_id: str


_ID: Final = msgspec.msgpack.Decoder(_Id)


def due(log: EventLog, upstream: str) -> bool:
    """Whether the log was redacted since this device last sent replacements."""
    done = log.store.get_meta(_SENT + upstream)
    now = log.store.get_meta(REDACTIONS)
    return now is not None and (done is None or done[1] != now[1])


def redacted_rows(log: EventLog) -> list[Row]:
    """Every row of the log that forgetting rewrote (its event id is forgotten)."""
    forgotten = log.store.forgotten()
    return [row for row in all_rows(log) if _ID.decode(row[3]).event_id in forgotten]


def send(
    log: EventLog,
    key: OwnerKey,
    upstream: str,
    post: Callable[[bytes], bytes],
    fmt: Format = "msgpack",
) -> int:
    """Send the sealed redacted rows if due; how many rows the server replaced."""
    if log.device_id is None or not due(log, upstream):
        return 0
    counted = log.store.get_meta(REDACTIONS)
    replaced = replace(log, key, redacted_rows(log), post, fmt)
    if counted is not None:
        log.store.put_meta(_SENT + upstream, counted[0], counted[1])
    return replaced


def all_rows(log: EventLog) -> list[Row]:
    """Every row of the log (a rotation seals them all again)."""
    rows: list[Row] = []
    after = 0
    while page := log.store.notifications(after, _PAGE):
        rows += [(str(r.originator_id), r.originator_version, r.topic, r.state) for r in page]
        after = page[-1].id
    return rows


def replace(
    log: EventLog,
    key: OwnerKey,
    rows: list[Row],
    post: Callable[[bytes], bytes],
    fmt: Format = "msgpack",
) -> int:
    """Seal `rows` under `key` and send them as replacements; how many were replaced."""
    assert log.device_id is not None
    sealed = [key.sealed_row(row) for row in rows]
    replaced = 0
    while sealed:
        count = protocol.fitting(len(row[3]) for row in sealed)
        batch, sealed = sealed[:count], sealed[count:]
        events = [protocol.stored_to_wire(row[2], row[3], fmt) for row in batch]
        request = ReplaceRequest(device_id=log.device_id, events=events)
        answer: ReplaceResponse = protocol.decode(
            post(protocol.encode(request, fmt)), ReplaceResponse, fmt
        )
        replaced += answer.replaced
    return replaced
