"""The event log of one replica (a device, or one owner's log on the server).

Two ways in:

- `append` records this device's own events: it assigns each its `device_id`,
  the next gapless `seq` and an `hlc` tick, atomically with the write (a
  concurrent writer in another process makes the insert fail on the primary key;
  we re-read and retry, so no two events ever share a `(device, seq)`).
- `ingest` stores events recorded elsewhere: idempotently (events already held
  are compared byte for byte and skipped), refusing different content for a
  `(device, seq)` already held, refusing gaps in a device's sequence, and all or
  nothing, optionally with a tracking record (the pull cursor) in the same
  transaction.

Reads come in log order (the order this replica learned of events), from any
position, or per device stream.

The clock's floor is kept exact across processes: before stamping, the log
observes every event written since it last looked (inside the append's own
transaction). Reading the log in order is looking: `read` observes the rows it
passes, so a command that folds the log and then appends reads it once, not
twice. A checkpoint in `recip_meta` bounds how much of the log an append must
scan when nothing was read first.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Final

import msgspec

from . import codec, redaction
from .clock import Clock, physical_ms
from .errors import CodecError, ConflictError, SequenceGapError, StoreError
from .events import NAME_BY_TYPE, ContactForgotten, Event, OpaqueEvent, type_name
from .ids import new_ids
from .state import State
from .store import (
    Contention,
    IntegrityError,
    Notification,
    Row,
    Store,
    StoredEvent,
    Tracking,
)

PAGE: Final = 2000
_CHECKPOINT: Final = "clock"
_CHECKPOINT_EVERY: Final = 20_000
_RETRIES: Final = 50
_GAP_RECHECKS: Final = 2
_MAX_ID: Final = 64  # `events.Id`: what a stamped device id must satisfy
_FORGET_TOPIC: Final = NAME_BY_TYPE[ContactForgotten]

LogEvent = Event | OpaqueEvent


def stored_form(event: LogEvent) -> StoredEvent:
    """The row that stores an event: its device stream, seq, type name and bytes."""
    if isinstance(event, OpaqueEvent):
        return StoredEvent(event.device_id, event.seq, event.type, event.raw)
    return StoredEvent(event.device_id, event.seq, type_name(event), codec.encode(event))


def row_of(event: LogEvent) -> Row:
    """`stored_form` as a plain row: (device id, seq, type name, bytes)."""
    if isinstance(event, OpaqueEvent):
        return (event.device_id, event.seq, event.type, event.raw)
    return (event.device_id, event.seq, type_name(event), codec.encode(event))


class _Stamp(msgspec.Struct):
    """The one field of a stored event that ingesting needs: its timestamp."""

    hlc: int


_STAMP: Final = msgspec.msgpack.Decoder(_Stamp)


def in_batch_order(new: list[Row], batch: Sequence[Row]) -> list[Row]:
    """`new` (rows of `batch`) in the order the batch offered them.

    So that a replica that ingests an export (or a pulled page) holds it in the
    same log order as its source, and re-exports it line for line; the per-device
    seq order is kept even for a batch that listed a device's events out of
    order, because log order must never show a device's seq 2 before its seq 1.
    """
    if len(new) < 2:
        return new
    wanted = {(r[0], r[1]) for r in new}
    ordered: list[Row] = []
    last: dict[str, int] = {}
    for row in batch:
        key = (row[0], row[1])
        if key in wanted:
            wanted.discard(key)
            if last.get(row[0], 0) > row[1]:
                break  # a device's seqs out of order in the batch: the slow path
            last[row[0]] = row[1]
            ordered.append(row)
    else:
        return ordered
    first_index: dict[tuple[str, int], int] = {}
    for index, row in enumerate(batch):
        first_index.setdefault((row[0], row[1]), index)
    queues: dict[str, list[Row]] = defaultdict(list)
    for row in sorted(new, key=lambda r: r[1], reverse=True):
        queues[row[0]].append(row)
    slots = sorted(first_index[(r[0], r[1])] for r in new)
    return [queues[batch[slot][0]].pop() for slot in slots]


def _forgets(row: Row) -> tuple[str, ...]:
    event = codec.decode(row[2], row[3])
    return () if isinstance(event, OpaqueEvent) else redaction.forgotten_by(event)


def _redacted_bytes(row: Row) -> bytes | None:
    """The bytes of an offered row once redacted (how a forgetting replica holds it)."""
    event = codec.decode(row[2], row[3])
    if isinstance(event, OpaqueEvent):
        return None
    return codec.encode(redaction.redact(event))


class EventLog:
    """Append, ingest and read the events of one replica."""

    def __init__(self, store: Store, device_id: str | None = None, *, clock: Clock | None = None):
        if device_id is not None and not 1 <= len(device_id) <= _MAX_ID:
            raise StoreError(f"invalid device id {device_id!r}: 1 to {_MAX_ID} characters")
        self.store = store
        self.device_id = device_id
        self.clock = clock or Clock()
        self._lock = threading.RLock()
        #: True once this log was seen to have forgotten no one; a forget stored by
        #: anyone (seen by `_stamp`) or by us clears it. Spares each append a read.
        self._none_forgotten = False
        self._next_seq = 1
        self._scanned = 0
        checkpoint = store.get_meta(_CHECKPOINT)
        if checkpoint is not None:
            self._scanned, floor = checkpoint
            self.clock.observe(floor)
        if device_id is not None:
            last = store.last_in_stream(device_id)
            if last is not None:
                self._next_seq = last.originator_version + 1
                self.clock.observe(codec.decode(last.topic, last.state).hlc)
        # No scan here: `append` observes what it has not seen in its own
        # transaction, and `read` observes as it goes (a fold is a catch-up).

    # -- writing -------------------------------------------------------------

    def append(self, drafts: Sequence[Event]) -> list[Event]:
        """Record this device's own events; returns them as stored.

        Each event is checked against its schema before it is stored (a strict
        decode of its bytes): an event built in code that broke a constraint
        would otherwise be stored and make the log unreadable.
        """
        if self.device_id is None:
            raise StoreError("this log has no device of its own to append for")
        if not drafts:
            return []
        with self._lock:
            for attempt in range(_RETRIES):
                try:
                    events, positions = self.store.append_after(
                        self._scanned, lambda seen: self._stamp(seen, drafts)
                    )
                except (IntegrityError, Contention):
                    # Another writer took these seqs: re-read and retry after a
                    # short random pause so that contending writers spread out.
                    self._refresh_seq()
                    time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                    continue
                self._next_seq += len(events)
                self._advance(positions)
                forgets = [c for e in events for c in redaction.forgotten_by(e)]
                forgotten = set() if self._none_forgotten else self.store.forgotten()
                self._none_forgotten = not forgotten and not forgets
                if forgotten and any(redaction.concerns(e, forgotten) for e in events):
                    forgets += forgotten  # recorded about someone already forgotten
                self._forget(sorted(set(forgets)))
                return events
        raise StoreError("could not append: the log kept changing under us; try again")

    def _stamp(
        self, seen: Sequence[Notification], drafts: Sequence[Event]
    ) -> tuple[list[Event], list[Row]]:
        """Observe what others wrote since we looked, then stamp our drafts."""
        self._observe(seen)
        if any(n.topic == _FORGET_TOPIC for n in seen):
            self._none_forgotten = False
        device_id = self.device_id
        assert device_id is not None
        first = self.clock.tick_many(len(drafts))
        ids = new_ids(len(drafts), physical_ms(first))
        seq = self._next_seq
        replace = msgspec.structs.replace
        events = [
            replace(
                draft,
                event_id=draft.event_id or ids[i],
                device_id=device_id,
                seq=seq + i,
                hlc=first + i,
            )
            for i, draft in enumerate(drafts)
        ]
        rows = codec.encode_rows(device_id, events)
        codec.check_rows(rows)  # never store what could not be read back
        return events, rows

    def ingest(
        self, events: Iterable[LogEvent], *, tracking: Tracking | None = None
    ) -> list[LogEvent]:
        """Store events recorded elsewhere; returns those that were new.

        All or nothing: a conflict or a gap raises and stores nothing (not even
        the tracking record). The events are stored as `row_of` encodes them.
        """
        batch = list(events)
        by_key = {(e.device_id, e.seq): e for e in batch}
        new = self.ingest_rows([row_of(e) for e in batch], tracking=tracking)
        return [by_key[(row[0], row[1])] for row in new]

    def ingest_rows(self, rows: Sequence[Row], *, tracking: Tracking | None = None) -> list[Row]:
        """Store rows of events recorded elsewhere; returns the new ones, in log order.

        The sync path: the wire carries events as stored bytes, so storing them
        needs no event objects. The caller must have validated every row (a strict
        decode of `state` as `topic`, which sync's wire decoding does): this
        method compares bytes and reads only each new row's timestamp.
        Same guarantees as `ingest`: idempotent (a row already held with the same
        topic and bytes is skipped), conflicts and gaps refused, all or nothing,
        the tracking record in the same transaction.
        """
        with self._lock:
            for attempt in range(_RETRIES):
                try:
                    new = self._new_rows(rows)
                except SequenceGapError:
                    # The held rows and the stream's end are two reads: a writer in
                    # another process (a second server worker storing the same batch)
                    # can commit between them and fake a gap. A real gap persists.
                    if attempt >= _GAP_RECHECKS:
                        raise
                    continue
                own, foreign = self._latest(new)
                forgets = [row for row in new if row[2] == _FORGET_TOPIC]
                new, late = self._redact_incoming(new, forgets)
                try:
                    positions = self.store.insert_rows(new, tracking)
                except IntegrityError:
                    if tracking is not None and tracking.notification_id <= self.store.tracking(
                        tracking.application_name
                    ):
                        tracking = None  # another process already recorded this pull
                    continue
                if own:
                    self.clock.observe(own)
                    self._refresh_seq()
                if foreign:
                    self.clock.receive(foreign)
                self._advance(positions)
                if forgets or late:
                    # A late event may be the target of a retraction or the ask of
                    # a resolution stored before it: redact the log as a whole.
                    contacts = {c for row in forgets for c in _forgets(row)}
                    self._forget(sorted(contacts | (self.store.forgotten() if late else set())))
                return new
        raise StoreError("could not ingest: the log kept changing under us; try again")

    def _latest(self, new: Sequence[Row]) -> tuple[int, int]:
        """The greatest timestamps among new rows: (this device's, other devices').

        Read before the rows are stored, so that bytes without a readable `hlc`
        are refused before anything is written. Observing a batch's greatest
        timestamps is the same as observing each in turn (both only ever raise
        the clock), and far cheaper.
        """
        me, decode = self.device_id, _STAMP.decode
        own = foreign = 0
        for row in new:
            try:
                hlc = decode(row[3]).hlc
            except codec.BAD_INPUT as exc:
                raise CodecError(f"device {row[0]} seq {row[1]}: unreadable event: {exc}") from exc
            if row[0] == me:
                own = max(own, hlc)
            else:
                foreign = max(foreign, hlc)
        return own, foreign

    def _new_rows(self, batch: Sequence[Row]) -> list[Row]:
        """The rows of `batch` not yet held; raises on conflicts and gaps."""
        by_device: dict[str, dict[int, Row]] = defaultdict(dict)
        for row in batch:
            device_id, seq = row[0], row[1]
            seen = by_device[device_id].get(seq)
            if seen is not None and (seen[2], seen[3]) != (row[2], row[3]):
                raise ConflictError(f"two different events claim device {device_id} seq {seq}")
            by_device[device_id][seq] = row
        new: list[Row] = []
        in_order = True  # does the batch list each device's seqs ascending?
        for device_id, by_seq in by_device.items():
            offered = list(by_seq)
            seqs = sorted(offered)
            in_order = in_order and seqs == offered
            if seqs[0] < 1:
                raise SequenceGapError(
                    f"device {device_id}: sequence numbers start at 1", device_id, 1
                )
            last = self.store.last_in_stream(device_id)
            last_seq = last.originator_version if last else 0
            if seqs[0] == last_seq + 1 and seqs[-1] == last_seq + len(seqs):
                new.extend(by_seq[seq] for seq in seqs)  # the usual case: all new, no gap
                continue
            new.extend(self._check_held(device_id, by_seq, seqs, last_seq))
        if in_order and len(new) == len(batch):
            return list(batch)  # every row new, once each, already in a valid log order
        return in_batch_order(new, batch)

    def _check_held(
        self, device_id: str, by_seq: dict[int, Row], seqs: list[int], last_seq: int
    ) -> list[Row]:
        """One device's new rows of a batch reaching into what is held, or a refusal."""
        held = {
            s.originator_version: s
            for s in self.store.stream(device_id, gt=seqs[0] - 1, lte=min(seqs[-1], last_seq))
        }
        new: list[Row] = []
        expected = last_seq + 1
        for seq in seqs:
            row = by_seq[seq]
            existing = held.get(seq)
            if existing is not None:
                if (existing.state != row[3] or existing.topic != row[2]) and not (
                    existing.topic == row[2] and _redacted_bytes(row) == existing.state
                ):
                    raise ConflictError(
                        f"device {device_id} seq {seq} is already held with different "
                        f"content (held {existing.topic}, offered {row[2]}); "
                        "events are immutable"
                    )
                continue
            if seq != expected:
                raise SequenceGapError(
                    f"device {device_id}: expected seq {expected}, got {seq}",
                    device_id,
                    expected,
                )
            new.append(row)
            expected += 1
        return new

    # -- forgetting (ADR 0130) --------------------------------------------------

    def _redact_incoming(self, new: list[Row], forgets: Sequence[Row]) -> tuple[list[Row], bool]:
        """New rows with the events about already forgotten contacts redacted.

        An event about a forgotten person can arrive after the forget (recorded
        offline before it): it is stored redacted, as its sender's copy will be
        once the sender pulls the forget.
        """
        forgotten = self.store.forgotten()
        if not forgotten and not forgets:
            return new, False
        events = [codec.decode(row[2], row[3]) for row in new]
        known = [e for e in events if isinstance(e, Event)]
        contacts = {c for e in known for c in redaction.forgotten_by(e)}
        ids = forgotten | redaction.forgotten_ids(known, contacts | forgotten)
        if ids - forgotten:
            # Remembered before the rows are stored: a retraction or resolution of
            # one of these events arriving in a later batch is then recognised.
            self.store.remember_forgotten(sorted(ids - forgotten))
        late = bool(forgotten) and bool(ids - forgotten)
        out: list[Row] = []
        for row, event in zip(new, events, strict=True):
            if isinstance(event, Event) and redaction.concerns(event, ids):
                out.append((row[0], row[1], row[2], codec.encode(redaction.redact(event))))
            else:
                out.append(row)
        return out, late

    def forget(self, contact_ids: Sequence[str]) -> int:
        """Redact every held event about these contacts (idempotent); returns how many."""
        with self._lock:
            return self._forget(contact_ids)

    def _forget(self, contact_ids: Sequence[str]) -> int:
        if not contact_ids:
            return 0
        self._none_forgotten = False
        contacts = set(contact_ids)
        ids = redaction.forgotten_ids((e for _, e in self._rows()), contacts)
        rewrites: list[Row] = []
        for row, event in self._rows():
            if not redaction.concerns(event, ids):
                continue
            redacted = codec.encode(redaction.redact(event))
            if redacted != row[3]:
                rewrites.append((row[0], row[1], row[2], redacted))
        self.store.redact(rewrites, sorted(ids))
        return len(rewrites)

    def _rows(self) -> Iterator[tuple[Row, Event]]:
        """Every stored row of a known type with its event, in log order."""
        after = 0
        while page := self.store.notifications(after, PAGE):
            for n in page:
                event = codec.decode(n.topic, n.state)
                if isinstance(event, Event):
                    yield (str(n.originator_id), n.originator_version, n.topic, n.state), event
            after = page[-1].id

    # -- reading -------------------------------------------------------------

    def read(self, after: int = 0, *, limit: int | None = None) -> Iterator[tuple[int, LogEvent]]:
        """(position, event) pairs after a position, in log order."""
        remaining = limit
        while remaining is None or remaining > 0:
            page = PAGE if remaining is None else min(PAGE, remaining)
            rows = self.store.notifications(after, page)
            if not rows:
                return
            decoded = [(row.id, codec.decode(row.topic, row.state)) for row in rows]
            self._observe_read(decoded)
            yield from decoded
            after = rows[-1].id
            if remaining is not None:
                remaining -= len(rows)
            if len(rows) < page:
                return

    def events(self) -> Iterator[LogEvent]:
        """Every event in log order."""
        for _, event in self.read():
            yield event

    def about(self, contact_id: str) -> list[Event]:
        """Every event concerning a contact (merges and retractions included)."""
        return State(self.events()).concerning(contact_id)

    def stream(
        self, device_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[LogEvent]:
        """One device's events with seq greater than `after_seq`, in seq order."""
        lte = None if limit is None else after_seq + limit
        rows = self.store.stream(device_id, gt=after_seq, lte=lte)
        return [codec.decode(r.topic, r.state) for r in rows]

    def last_seq(self, device_id: str | None = None) -> int:
        """The highest seq held for a device (this device by default); 0 if none."""
        target = device_id or self.device_id
        if target is None:
            return 0
        last = self.store.last_in_stream(target)
        return last.originator_version if last else 0

    def position(self) -> int:
        """The highest log position."""
        return self.store.max_position()

    def tracking(self, upstream: str) -> int:
        """The cursor recorded for an upstream (0 if never pulled)."""
        return self.store.tracking(upstream)

    # -- clock and sequence bookkeeping -----------------------------------------

    def _observe(self, rows: Sequence[Notification]) -> None:
        """Raise the clock (and our next seq) past rows written by anyone."""
        for row in rows:
            event = codec.decode(row.topic, row.state)
            if event.device_id == self.device_id:
                self.clock.observe(event.hlc)
                self._next_seq = max(self._next_seq, event.seq + 1)
            else:
                self.clock.receive(event.hlc)
            self._scanned = row.id

    def _observe_read(self, page: Sequence[tuple[int, LogEvent]]) -> None:
        """Observe a page `read` decoded, from where our scan stands.

        The clock only keeps maxima, so a page is observed as its greatest own and
        greatest foreign timestamp: two clock calls per page, not per event.
        """
        with self._lock:
            scanned, me = self._scanned, self.device_id
            own_hlc = own_seq = foreign_hlc = 0
            for position, event in page:
                if position != scanned + 1:
                    if position <= scanned:
                        continue
                    break  # a hole (read from further on): observe nothing beyond
                scanned = position
                if event.device_id == me:
                    own_hlc = max(own_hlc, event.hlc)
                    own_seq = max(own_seq, event.seq)
                else:
                    foreign_hlc = max(foreign_hlc, event.hlc)
            if scanned == self._scanned:
                return
            self.clock.observe(own_hlc)
            if foreign_hlc:
                self.clock.receive(foreign_hlc)
            self._next_seq = max(self._next_seq, own_seq + 1)
            self._scanned = scanned

    def _advance(self, positions: Sequence[int] | None) -> None:
        """Move the scanned mark past our own insert if nothing came in between."""
        if positions and positions[0] == self._scanned + 1:
            last = positions[-1]
            if last - positions[0] == len(positions) - 1:
                before = self._scanned
                self._scanned = last
                if last // _CHECKPOINT_EVERY != before // _CHECKPOINT_EVERY:
                    self.store.put_meta(_CHECKPOINT, self._scanned, self.clock.last)

    def _refresh_seq(self) -> None:
        if self.device_id is not None:
            self._next_seq = self.last_seq(self.device_id) + 1
