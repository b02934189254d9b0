"""Persisted views beside the event log, kept up to date incrementally (ADR 0011).

The views live in `view_*` tables of the device's `log.db`, next to the
eventsourcing tables, with the log position they reflect in `view_meta`. Every
write (catch-up or rebuild) happens in one `BEGIN IMMEDIATE` transaction that
also moves the position, so after a crash the views are exactly as of their
position, never ahead of or behind it.

Catch-up reads only the events after the stored position. Views are a function
of the *set* of events, and a late event (a retraction, a merge, a resolution of
an old ask) can change rows computed long ago, so catch-up does not fold deltas:
it keeps an index of which log positions concern which contact and recomputes the
rows of every contact group the new events touch, from exactly the events that
concern it. That is sound because a group's rows depend only on:

- the events naming its members (filed under each member in `view_index`, with
  the resolutions of their asks filed under the ask's contact),
- every merge and every retraction (few; kept in `view_merge`, `view_retraction`).

Tables:

- `view_meta(name, value)`: `position`, `schema`;
- `view_summary`: one `Summary` per active contact (the ledger/cold source);
- `view_contact`: every added contact with its name, archived flag and survivor
  (for lookups by name and for timelines of archived or merged contacts);
- `view_index(contact_id, ask_ids, resolved, positions)`: chunks (one per
  contact per catch-up; one per contact after a rebuild) of the positions
  (little-endian int64 blob) of the events concerning a contact id as named in
  events, the ids (`,a,b,`) of its asks and `ask:position` of their resolutions.
  Appending a chunk never rewrites the contact's earlier ones. No event ids: a
  retraction's target is looked up in the log (`_find`);
- `view_pending`: resolutions whose ask has not arrived yet;
- `view_merge`, `view_retraction`: positions of every merge and retraction;
- `view_link`: absorbed contact id -> its final survivor;

Kept across rebuilds (they depend on the log alone, not on what views mean):

- `view_key(prefix, key, position)`: a stable key of every event id in the log
  (`_id_keys`: its first bytes, so that recent UUIDv7s index side by side, and a
  61-bit hash; the primary key) and the position of the event that counts for it:
  how a catch-up or a rebuild notices, by one insert per event, an event claiming
  the id of another (ADR 0002's one-event-per-id rule);
- `view_inert`: positions of inert twins (events whose id a smaller
  `(device_id, seq)` claims too): never filed, never folded;
- `view_keyed(name, value)`: `position` (keys are recorded up to it), `modulus`
  and `types` (what the keys were made with).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import multiprocessing
import sqlite3
import sys
from array import array
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, MutableSequence, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from multiprocessing.connection import Connection
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any, Final, Literal, Union

import msgspec

from core import codec
from core.errors import StoreError
from core.events import (
    OUTCOMES,
    SCHEMA_VERSION,
    TYPE_BY_NAME,
    AskMade,
    AskResolved,
    ContactsMerged,
    Event,
    EventRetracted,
    GiveMade,
    InteractionLogged,
    IntroductionMade,
    NoteAdded,
    OpaqueEvent,
    contacts_of,
)
from core.state import key
from core.store import REDACTIONS, values_insert

from .fold import Fold
from .light import LIGHT
from .views import Summary, add_touches, summarize

#: Events whose effect on views is purely additive (see `Projector._incremental`).
_PLAIN: Final = frozenset({InteractionLogged, GiveMade, IntroductionMade, AskMade})

#: Bump when the view tables or their meaning change: a mismatch triggers a rebuild.
SCHEMA: Final = 7
#: `hash` of an int is the int modulo this (2**61 - 1 on 64-bit builds): the same in
#: every process, unlike a string's. Keys made elsewhere mean a rebuild.
KEY_MODULUS: Final = sys.hash_info.modulus
PAGE: Final = 5000
_IN_CHUNK: Final = 500
#: Catch-up of more new events than this (and than the log already had) rebuilds.
REBUILD_ABOVE: Final = 50_000

Progress = Callable[[int, int], None]

_TABLES: Final = (
    "CREATE TABLE view_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TABLE view_summary (contact_id TEXT PRIMARY KEY, name TEXT NOT NULL, "
    "circle TEXT NOT NULL, cadence_days INTEGER, added_day INTEGER NOT NULL, "
    "gives INTEGER NOT NULL, give_weight INTEGER NOT NULL, asks INTEGER NOT NULL, "
    "ask_weight INTEGER NOT NULL, granted INTEGER NOT NULL, declined INTEGER NOT NULL, "
    "withdrawn INTEGER NOT NULL, unanswered INTEGER NOT NULL, open INTEGER NOT NULL, "
    "last_give INTEGER, last_ask INTEGER, last_touch INTEGER, touches BLOB NOT NULL)",
    "CREATE TABLE view_contact (contact_id TEXT PRIMARY KEY, name TEXT NOT NULL, "
    "archived INTEGER NOT NULL, survivor TEXT NOT NULL)",
    # ask_ids first: small, so finding an ask's owner never reads the big columns.
    "CREATE TABLE view_index (contact_id TEXT NOT NULL, ask_ids TEXT NOT NULL, "
    "resolved TEXT NOT NULL, positions BLOB NOT NULL)",
    "CREATE TABLE view_pending (event_id TEXT PRIMARY KEY, ask_id TEXT NOT NULL, "
    "position INTEGER NOT NULL)",
    "CREATE TABLE view_merge (position INTEGER PRIMARY KEY, event_id TEXT NOT NULL)",
    "CREATE TABLE view_retraction (position INTEGER PRIMARY KEY, target_id TEXT NOT NULL)",
    "CREATE TABLE view_link (contact_id TEXT PRIMARY KEY, survivor TEXT NOT NULL)",
)
TABLE_NAMES: Final = tuple(sql.split()[2] for sql in _TABLES)
_KEY_TABLES: Final = (
    # Keyed by the id key itself (no rowid, no second index): one B-tree insert per
    # event, and the keys of a log's first rebuild, nearly in prefix (time) order,
    # are written almost as appends.
    "CREATE TABLE IF NOT EXISTS view_key (prefix INTEGER NOT NULL, key INTEGER NOT NULL, "
    "position INTEGER NOT NULL, PRIMARY KEY (prefix, key)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS view_inert (position INTEGER PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS view_keyed (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)
KEY_TABLE_NAMES: Final = ("view_key", "view_inert", "view_keyed")
#: Rows of `view_key` per INSERT statement (900 parameters, under SQLite's old 999).
_KEYS_PER_INSERT: Final = 300
_INDEX_BY_CONTACT: Final = "CREATE INDEX view_index_contact ON view_index (contact_id)"
SUMMARY_COLUMNS: Final = (
    "contact_id, name, circle, cadence_days, added_day, gives, give_weight, asks, "
    "ask_weight, granted, declined, withdrawn, unanswered, open, last_give, last_ask, "
    "last_touch, touches"
)


# -- encoding helpers --------------------------------------------------------------------


def pack(values: Iterable[int], typecode: str = "q") -> bytes:
    """Little-endian packed integers (portable across machines)."""
    if isinstance(values, array) and values.typecode == typecode and sys.byteorder == "little":
        return values.tobytes()
    packed = array(typecode, values)
    if sys.byteorder == "big":  # pragma: no cover - no big-endian CI
        packed.byteswap()
    return packed.tobytes()


def unpack(blob: bytes, typecode: str = "q") -> array[int]:
    packed = array(typecode)
    packed.frombytes(blob)
    if sys.byteorder == "big":  # pragma: no cover
        packed.byteswap()
    return packed


def summary_row(s: Summary) -> tuple[Any, ...]:
    return (
        s.contact_id,
        s.name,
        s.circle,
        s.cadence_days,
        s.added_day,
        s.gives,
        s.give_weight,
        s.asks,
        s.ask_weight,
        s.granted,
        s.declined,
        s.withdrawn,
        s.unanswered,
        s.open,
        s.last_give,
        s.last_ask,
        s.last_touch,
        pack(s.touches),
    )


def summary_from_row(row: Sequence[Any]) -> Summary:
    return Summary(
        contact_id=row[0],
        name=row[1],
        circle=row[2],
        cadence_days=row[3],
        added_day=row[4],
        gives=row[5],
        give_weight=row[6],
        asks=row[7],
        ask_weight=row[8],
        granted=row[9],
        declined=row[10],
        withdrawn=row[11],
        unanswered=row[12],
        open=row[13],
        last_give=row[14],
        last_ask=row[15],
        last_touch=row[16],
        touches=tuple(unpack(row[17])),
    )


def _index_row(contact_id: str, f: _Filed) -> tuple[str, str, str, bytes]:
    return contact_id, _ids(f.ask_ids), _ids(f.resolved), pack(f.positions)


#: The types of events that have id keys (all but `OpaqueEvent`), light ones included.
_LIGHT_OR_KNOWN: Final = frozenset(LIGHT.values()) | frozenset(TYPE_BY_NAME.values())
_FIRST: Final = itemgetter(0)
_SECOND: Final = itemgetter(1)
_LITTLE: Final[Literal["little"]] = "little"
_EVENT_ID: Final = attrgetter("event_id")
_BIG: Final[Literal["big"]] = "big"
_PREFIX: Final = itemgetter(slice(0, 7))
IdKey = tuple[int, int]


def _id_keys(page: Iterable[tuple[int, Any]]) -> list[IdKey]:
    """A stable key per event id of a page of (position, event), all in C: the id's
    first 7 bytes as an int (recent UUIDv7s share them: their index entries sit
    side by side, so a catch-up's inserts touch few pages), and `hash` of all its
    bytes read as one int. Equal ids give equal keys in every process; two
    different ids share one with odds of about 2**-61 (then `_settle` leaves them
    be)."""
    return list(zip(*_key_columns(page), strict=True))


def _key_columns(page: Iterable[tuple[int, Any]]) -> tuple[Iterator[int], Iterator[int]]:
    """`_id_keys` as two columns (prefixes, hashes), to extend arrays with in C."""
    encoded = list(map(str.encode, map(_EVENT_ID, map(_SECOND, page))))
    return (
        map(int.from_bytes, map(_PREFIX, encoded), repeat(_BIG)),
        map(hash, map(int.from_bytes, encoded, repeat(_LITTLE))),
    )


class Keys:
    """Id keys of rows a rebuild reads, gathered as it reads them (no second pass
    over the log): parallel arrays of prefixes, hashes and positions."""

    def __init__(self) -> None:
        self.prefixes, self.hashes, self.positions = array("q"), array("q"), array("q")

    def add(self, page: Sequence[tuple[int, Any]], keyed: int) -> None:
        """The keys of a page's events after position `keyed` (unknown types have none)."""
        if (
            page
            and page[0][0] > keyed
            and _LIGHT_OR_KNOWN.issuperset(map(type, map(_SECOND, page)))
        ):
            fresh: Sequence[tuple[int, Any]] = page  # the usual page: every row new, known
        else:
            fresh = [pe for pe in page if pe[0] > keyed and not isinstance(pe[1], OpaqueEvent)]
        prefixes, hashes = _key_columns(fresh)
        self.prefixes.extend(prefixes)
        self.hashes.extend(hashes)
        self.positions.extend(map(_FIRST, fresh))

    def rows(self) -> Iterator[tuple[int, int, int]]:
        """(prefix, hash, position) rows of `view_key`."""
        return zip(self.prefixes, self.hashes, self.positions, strict=True)

    def to_bytes(self) -> tuple[bytes, bytes, bytes]:
        return self.prefixes.tobytes(), self.hashes.tobytes(), self.positions.tobytes()

    @classmethod
    def from_bytes(cls, prefixes: bytes, hashes: bytes, positions: bytes) -> Keys:
        keys = cls()
        keys.prefixes.frombytes(prefixes)
        keys.hashes.frombytes(hashes)
        keys.positions.frombytes(positions)
        return keys


class _Envelope(msgspec.Struct):
    """The one field of a stored event that finding inert twins needs."""

    event_id: str


_ENVELOPE: Final = msgspec.msgpack.Decoder(_Envelope)


def _ids(ids: Iterable[str]) -> str:
    """The `,a,b,` form, searchable exactly with instr(text, ',' || id || ',')."""
    joined = ",".join(ids)
    return f",{joined}," if joined else ","


@dataclass
class _Filed:
    """New index entries for one contact, gathered during a catch-up."""

    positions: MutableSequence[int] = field(default_factory=list)
    ask_ids: list[str] = field(default_factory=list)
    #: `ask_id:position` of each resolution filed here.
    resolved: list[str] = field(default_factory=list)


#: The schema version shared by every event type, if they all share one.
_ONE_VERSION: Final = (
    next(iter(set(SCHEMA_VERSION.values()))) if len(set(SCHEMA_VERSION.values())) == 1 else None
)
_DECODERS: Final = {name: msgspec.msgpack.Decoder(cls) for name, cls in TYPE_BY_NAME.items()}
#: A rebuild's decoder: one tagged union of light Structs for the commonest types
#: (see `.light`) and full ones for the rest. It reads each row's type from the
#: event's own tag, so a rebuild selects no `topic` column: one Python string and
#: one dictionary lookup fewer per row (a quarter of the time spent fetching).
REBUILD_DECODER: Final = msgspec.msgpack.Decoder(
    Union[  # noqa: UP007 - a union built from a tuple of classes
        tuple(LIGHT.get(name, cls) for name, cls in TYPE_BY_NAME.items())
    ]
)


def _decode_rows(rows: list[tuple[int, str, bytes]]) -> list[tuple[int, Event | OpaqueEvent]]:
    """Decode stored rows: per-type msgspec decoders in one comprehension (the fast
    path, nearly every page); `codec.decode` (upcasting, opaque types) for any row
    of an unknown type, an invalid body, or an older schema version."""
    decoders = _DECODERS
    try:
        out: list[tuple[int, Event | OpaqueEvent]] = [
            (p, decoders[t].decode(s)) for p, t, s in rows
        ]
    except (KeyError, msgspec.DecodeError):
        return [(p, codec.decode(t, s)) for p, t, s in rows]
    if _ONE_VERSION is not None and {e.v for _, e in out} == {_ONE_VERSION}:
        return out  # every type is at one version, and so is every row of this page
    versions = SCHEMA_VERSION
    for i in [i for i, (_, e) in enumerate(out) if e.v != versions[rows[i][1]]]:
        position, topic, state = rows[i]
        out[i] = (position, codec.decode(topic, state))
    return out


#: Rows whose events only file entries under their contacts (no `State` facts):
#: the part of a rebuild a second process can fold (`TouchFolder`).
_IN_TOUCH: Final = "topic IN ('InteractionLogged', 'GiveMade', 'NoteAdded', 'IntroductionMade')"
#: Logs of at least this many rows rebuild in two processes.
PARALLEL_ABOVE: Final = 200_000
#: The share of the log's rows (from the start) the rebuilding process folds in
#: full; of the rest it folds only what is not a touch (about a fifth), while a
#: second process folds their touches. Balanced for the sample history, where
#: touches are four fifths of the events, counting the second process's start.
PARENT_SHARE: Final = 0.33


def dense_pages(db: sqlite3.Connection, head: int) -> Iterator[list[tuple[int, Any]]]:
    """Every row up to `head` in decoded pages of (position, event), for a rebuild.

    Positions are rowids, and the log never deletes, so a range of rowids is
    nearly always dense: a page is then read as `state` alone and its positions
    are the range itself (an integer column fewer to fetch per row, a fifth of the
    fetch). A range with a hole is read again with its rowids.
    """
    dense = "SELECT state FROM stored_events WHERE rowid BETWEEN ? AND ? ORDER BY rowid"
    sparse = "SELECT rowid, state FROM stored_events WHERE rowid BETWEEN ? AND ? ORDER BY rowid"
    low = 1
    while low <= head:
        high = min(low + PAGE - 1, head)
        states: list[tuple[Any, ...]] = db.execute(dense, (low, high)).fetchall()
        if len(states) == high - low + 1:
            positions: Sequence[int] = range(low, high + 1)
        else:
            rows = db.execute(sparse, (low, high)).fetchall()
            positions, states = [r[0] for r in rows], [r[1:] for r in rows]
        if states:
            yield decode_light(db, positions, states, "")
        low = high + 1


def filtered_pages(
    db: sqlite3.Connection, after: int, head: int, where: str
) -> Iterator[list[tuple[int, Any]]]:
    """The rows in `(after, head]` that satisfy `where`, in decoded pages."""
    cursor = db.execute(
        "SELECT rowid, state FROM stored_events WHERE rowid > ? AND rowid <= ? "
        f"AND {where} ORDER BY rowid",
        (after, head),
    )
    while rows := cursor.fetchmany(PAGE):
        yield decode_light(db, [r[0] for r in rows], [r[1:] for r in rows], f"AND {where}")


def decode_light(
    db: sqlite3.Connection, positions: Sequence[int], states: list[tuple[Any, ...]], where: str
) -> list[tuple[int, Any]]:
    """A rebuild's page, decoded by `REBUILD_DECODER`; a page it refuses (a type
    this build does not know, another schema version, a broken row) is read again
    (the same rows: `where` is the page's filter) with topics and decoded in full,
    as `Projector.scan` decodes."""
    decode = REBUILD_DECODER.decode
    try:
        out = [(p, decode(row[0])) for p, row in zip(positions, states, strict=True)]
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass
    else:
        if _ONE_VERSION is not None and {e.v for _, e in out} == {_ONE_VERSION}:
            return out
    full = db.execute(
        f"SELECT rowid, topic, state FROM stored_events WHERE rowid BETWEEN ? AND ? {where} "
        "ORDER BY rowid",
        (positions[0], positions[-1]),
    ).fetchall()
    return _decode_rows(full)


def without(page: list[tuple[int, Any]], inert: Collection[int]) -> list[tuple[int, Any]]:
    """A page without the inert twins (ADR 0002: a rare case; the page itself if none)."""
    return [pe for pe in page if pe[0] not in inert] if inert else page


class _Filings(msgspec.Struct, frozen=True):
    """What a `TouchFolder` process sends back: per contact id, the positions and
    codes it filed (`array("q")` bytes, parallel), and how many rows it read."""

    filed: dict[str, tuple[bytes, bytes]]
    rows: int
    #: Id keys (prefixes, hashes, positions: parallel `array("q")` bytes) of the rows
    #: it read after the keyed position (`_id_keys`).
    keys: tuple[bytes, bytes, bytes]


class TouchFolder:
    """A second process folding the touches of a rebuild's later rows.

    Touches (interactions, gives, notes, introductions: four fifths of a typical
    log) only file entries under their contacts, and the order of a contact's
    entries carries no meaning (positions and codes are parallel; readers sort),
    so a process of its own can fold them from its own read-only connection and
    send back per-contact arrays, which are appended to the rebuilding fold: the
    same `Fold.extend` code, on rows the rebuilding process does not read. It reads
    while the rebuild holds the write lock, so it sees exactly the rows up to `head`.
    Spawned (not forked), so it is safe in a threaded server. If it fails in any
    way, `merge_into` folds those rows in the rebuilding process instead.
    """

    def __init__(self, path: str, after: int, head: int) -> None:
        """Start the process; it waits for `start` (it starts up meanwhile)."""
        self.after, self.head = after, head
        context = multiprocessing.get_context("spawn")
        self._pipe, theirs = context.Pipe()
        self._process = context.Process(
            target=fold_touches, args=(path, after, head, theirs), daemon=True
        )
        self._process.start()
        theirs.close()  # only the child holds its end now: its exit ends `recv` with EOF

    def start(
        self, retracted: Collection[str], inert: Collection[int] = (), keyed: int | None = None
    ) -> None:
        """Let it fold, coding the touches retracted up front and leaving the inert
        twins out, as the rebuild does; and key the rows after `keyed` it reads
        (none if None)."""
        self.keyed = keyed
        message = (sorted(retracted), sorted(inert), -1 if keyed is None else keyed)
        with contextlib.suppress(OSError):  # if it is gone, `merge_into` folds its rows
            self._pipe.send_bytes(msgspec.msgpack.encode(message))

    def close(self) -> None:
        """Stop it (a rebuild that failed): it must not outlive the rebuild."""
        self._pipe.close()
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()

    def merge_into(
        self, fold: Fold, db: sqlite3.Connection, inert: Collection[int] = ()
    ) -> tuple[int, Keys]:
        """Append the helper's filings to `fold` (or fold its rows here); returns the
        rows read and the id keys of those after the keyed position."""
        filings: _Filings | None
        try:
            filings = msgspec.msgpack.decode(self._pipe.recv_bytes(), type=_Filings)
        except (EOFError, OSError, msgspec.DecodeError):
            filings = None
        finally:
            self._pipe.close()
            self._process.join()
        if filings is None or self._process.exitcode != 0:
            done, keys = 0, Keys()
            for page in filtered_pages(db, self.after, self.head, _IN_TOUCH):
                if self.keyed is not None:
                    keys.add(page, self.keyed)
                fold.extend(without(page, inert), once=True)
                done += len(page)
            return done, keys
        for contact_id, (positions, codes) in filings.filed.items():
            record = fold.filed[contact_id]
            record[0].frombytes(positions)
            record[2].frombytes(codes)
        fold.changed()
        return filings.rows, Keys.from_bytes(*filings.keys)


def fold_touches(path: str, after: int, head: int, pipe: Connection) -> None:
    """`TouchFolder`'s process: fold the touch rows of `(after, head]`, send the filings."""
    db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    gc.disable()
    try:
        retracted, inert, keyed = msgspec.msgpack.decode(
            pipe.recv_bytes(), type=tuple[list[str], list[int], int]
        )
        fold = Fold(keep_events=False, retracted=frozenset(retracted))
        leave_out = frozenset(inert)
        keys = Keys()
        rows = 0
        for page in filtered_pages(db, after, head, _IN_TOUCH):
            if keyed >= 0:
                keys.add(page, keyed)
            fold.extend(without(page, leave_out), once=True)
            rows += len(page)
        filed = {c: (r[0].tobytes(), r[2].tobytes()) for c, r in fold.filed.items()}
        pipe.send_bytes(msgspec.msgpack.encode(_Filings(filed, rows, keys.to_bytes())))
    finally:
        pipe.close()
        db.close()


# -- the projector ---------------------------------------------------------------------------


class Projector:
    """Owns the view tables of one log database (synchronous; writes)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        self.db.execute("PRAGMA journal_mode=WAL")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Projector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- entry points ------------------------------------------------------------------

    def position(self) -> int | None:
        """The log position the views reflect (None if never built)."""
        if not self._has_views():
            return None
        row = self.db.execute("SELECT value FROM view_meta WHERE name = 'position'").fetchone()
        return None if row is None else int(row[0])

    def catch_up(self, progress: Progress | None = None) -> int:
        """Bring the views up to the end of the log; returns the events folded in.

        Builds them from scratch when they are missing, of an older schema, or far
        behind (a rebuild is then cheaper than recomputing most groups).
        """
        redacted = self._has_views() and max(self._meta("redactions"), 0) != self._redactions()
        with self._write():
            done = self._catch_up(progress)
        if redacted:
            self._scrub()
        return done

    def _catch_up(self, progress: Progress | None) -> int:
        if not self._current():
            return self._rebuild(progress)
        position = self._meta("position")
        head = self._head()
        if head <= position:
            return 0
        if head - position > REBUILD_ABOVE and head - position > position:
            return self._rebuild(progress)
        return self._incremental(position)

    def _scrub(self) -> None:
        """After views of redacted events were rebuilt: leave no old page behind.

        The rebuilt views hold no forgotten text, but the pages the old rows
        used are free pages of the file (and WAL frames) until VACUUM rewrites it.
        """
        self.db.execute("VACUUM")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def rebuild(self, progress: Progress | None = None) -> int:
        """Drop every view table and build them again from the whole log."""
        with self._write():
            return self._rebuild(progress)

    # -- transactions -------------------------------------------------------------------

    def _write(self) -> _Transaction:
        return _Transaction(self.db)

    def _has_views(self) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='view_meta'"
        ).fetchone()
        return row is not None

    def _current(self) -> bool:
        return (
            self._has_views()
            and self._meta("schema") == SCHEMA
            and max(self._meta("redactions"), 0) == self._redactions()
        )

    def _redactions(self) -> int:
        """How many times the log was redacted (ADR 0130): views of older bytes are stale."""
        row = self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='recip_meta'"
        ).fetchone()
        if row is None:
            return 0
        row = self.db.execute(
            "SELECT value FROM recip_meta WHERE name = ?", (REDACTIONS,)
        ).fetchone()
        return 0 if row is None else int(row[0])

    def _meta(self, name: str) -> int:
        row = self.db.execute("SELECT value FROM view_meta WHERE name = ?", (name,)).fetchone()
        return -1 if row is None else int(row[0])

    def _set_position(self, position: int) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO view_meta (name, value) VALUES ('position', ?)", (position,)
        )

    def _head(self) -> int:
        if not self._log_exists():
            return 0
        row = self.db.execute("SELECT MAX(rowid) FROM stored_events").fetchone()
        return int(row[0] or 0)

    def _log_exists(self) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='stored_events'"
        ).fetchone()
        return row is not None

    # -- reading the log ------------------------------------------------------------------

    def scan(self, after: int = 0) -> Iterator[list[tuple[int, Event | OpaqueEvent]]]:
        """Pages of (position, event) after a position, in log order."""
        if not self._log_exists():
            return
        cursor = self.db.execute(
            "SELECT rowid, topic, state FROM stored_events WHERE rowid > ? ORDER BY rowid",
            (after,),
        )
        while rows := cursor.fetchmany(PAGE):
            yield _decode_rows(rows)

    def fetch(self, positions: Iterable[int]) -> list[tuple[int, Event | OpaqueEvent]]:
        """The events at the given log positions."""
        wanted = sorted(set(positions))
        out: list[tuple[int, Event | OpaqueEvent]] = []
        for i in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[i : i + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT rowid, topic, state FROM stored_events WHERE rowid IN ({marks})", chunk
            ).fetchall()
            out.extend((p, codec.decode(t, s)) for p, t, s in rows)
        return out

    # -- rebuild --------------------------------------------------------------------------

    def _rebuild(self, progress: Progress | None) -> int:
        for name in TABLE_NAMES:
            self.db.execute(f"DROP TABLE IF EXISTS {name}")
        for sql in _TABLES:
            self.db.execute(sql)
        self.db.execute("INSERT INTO view_meta VALUES ('schema', ?)", (SCHEMA,))
        self.db.execute("INSERT INTO view_meta VALUES ('redactions', ?)", (self._redactions(),))
        head = self._head()
        split = int(head * PARENT_SHARE) if head >= PARALLEL_ABOVE else head
        helper = None
        if split < head:
            try:
                helper = TouchFolder(self.path, split, head)
            except OSError:  # no process to be had (limits): fold everything here
                split = head
        done = 0
        # The fold only grows, and holds no cycles: the cyclic collector's repeated
        # passes over a million live objects would cost more than the fold itself.
        collecting = gc.isenabled()
        gc.disable()
        try:
            keyed = self._keyed(head)  # the key tables exist, and are of this build
            inert = {p for (p,) in self.db.execute("SELECT position FROM view_inert")}
            retracted = self._retracted_ids(inert)
            fold = Fold(keep_events=False, retracted=retracted)
            # Rows not keyed yet (none, usually; all, in a log's first rebuild) are
            # keyed from the pages the fold reads, by each process.
            keys = Keys() if keyed < head else None
            pages: Iterable[list[tuple[int, Any]]] = dense_pages(self.db, split)
            if helper is not None:
                helper.start(retracted, inert, keyed if keys is not None else None)
                pages = itertools.chain(
                    pages, filtered_pages(self.db, split, head, f"NOT {_IN_TOUCH}")
                )
            for page in pages:
                if keys is not None:
                    keys.add(page, keyed)
                fold.extend(without(page, inert), once=True)
                done += len(page)
                if progress is not None:
                    progress(done, head)
            if keys is not None:  # record this process's keys while the helper folds
                self._record_keys(keys)
            if helper is not None:
                rows, theirs = helper.merge_into(fold, self.db, inert)
                helper = None
                done += rows
                if keys is not None:
                    self._record_keys(theirs)
                if progress is not None:
                    progress(done, head)
            if keys is not None:
                self.db.execute("INSERT OR REPLACE INTO view_keyed VALUES ('position', ?)", (head,))
            now_inert = {p for (p,) in self.db.execute("SELECT position FROM view_inert")}
            if now_inert != inert:  # rare: twins among rows just keyed: fold again without them
                del fold
                return self._rebuild(progress)
            self._write_all(fold)
        finally:
            if helper is not None:
                helper.close()
            if collecting:
                gc.enable()
        self._set_position(head if done else 0)
        return done

    def _retracted_ids(self, inert: Collection[int] = ()) -> set[str]:
        """Targets of every retraction in the log (but inert twins): one cheap pass
        before a rebuild, so that the fold never codes a retracted touch."""
        if not self._log_exists():
            return set()
        rows = self.db.execute(
            "SELECT rowid, topic, state FROM stored_events WHERE topic = 'EventRetracted'"
        ).fetchall()
        return {
            e.target_id
            for p, e in _decode_rows(rows)
            if isinstance(e, EventRetracted) and p not in inert
        }

    def _record_keys(self, keys: Keys) -> bool:
        """Record id keys in `view_key`, many rows per statement; a statement that
        stored fewer rows than it offered met keys already held, and its rows go to
        `_settle` (the rare path). Returns whether a twin was found."""
        rows = list(keys.rows())
        found = False
        for start in range(0, len(rows), _KEYS_PER_INSERT):
            part = rows[start : start + _KEYS_PER_INSERT]
            before = self.db.total_changes
            self.db.execute(
                values_insert("view_key", 3, len(part), verb="INSERT OR IGNORE"),
                list(itertools.chain.from_iterable(part)),
            )
            if self.db.total_changes - before != len(part):
                found |= self._settle([(r[0], r[1]) for r in part], [r[2] for r in part])
        return found

    def _keyed(self, head: int) -> int:
        """The log position up to which `view_key` holds every event's id key; the
        key tables are started over if they were made with another `hash` or another
        set of event types, or for a longer log than this one."""
        for sql in _KEY_TABLES:
            self.db.execute(sql)
        meta = dict(self.db.execute("SELECT name, value FROM view_keyed").fetchall())
        made = {"modulus": KEY_MODULUS, "types": len(TYPE_BY_NAME)}
        if any(meta.get(n) != v for n, v in made.items()) or meta.get("position", 0) > head:
            for name in KEY_TABLE_NAMES:
                self.db.execute(f"DELETE FROM {name}")
            self.db.executemany("INSERT INTO view_keyed VALUES (?, ?)", made.items())
            return 0
        return int(meta.get("position", 0))

    def _key(self, pairs: Sequence[tuple[int, Any]]) -> bool:
        """Record the id keys of (position, event) pairs after the keyed position (a
        catch-up's new events); returns whether one claims the id of another event
        (`_settle` then records the inert ones)."""
        if not pairs:
            return False
        self.db.execute("INSERT OR REPLACE INTO view_keyed VALUES ('position', ?)", (pairs[-1][0],))
        keys = Keys()
        keys.add(pairs, 0)
        return self._record_keys(keys)

    def _settle(self, keys: list[IdKey], positions: list[int]) -> bool:
        """For each new event whose key was held by another: if both ids are equal,
        keep the one with the least `(device_id, seq)` in `view_key` and record the
        other in `view_inert` (two ids sharing a key, odds about 2**-61, are left be).
        Returns whether any twin was found."""
        held: dict[IdKey, int] = {}
        for id_key in set(keys):
            (held[id_key],) = self.db.execute(
                "SELECT position FROM view_key WHERE prefix = ? AND key = ?", id_key
            ).fetchone()
        found = False
        for id_key, position in zip(keys, positions, strict=True):
            if held[id_key] == position:
                continue
            rows = self.db.execute(
                "SELECT rowid, originator_id, originator_version, state FROM stored_events "
                "WHERE rowid IN (?, ?)",
                (held[id_key], position),
            ).fetchall()
            ids = {int(r[0]): _ENVELOPE.decode(r[3]).event_id for r in rows}
            if len(ids) < 2 or ids[held[id_key]] != ids[position]:
                continue
            first, second = sorted((str(r[1]), int(r[2]), int(r[0])) for r in rows)
            held[id_key] = first[2]
            self.db.execute(
                "UPDATE view_key SET position = ? WHERE prefix = ? AND key = ?", (first[2], *id_key)
            )
            self.db.execute("INSERT OR IGNORE INTO view_inert VALUES (?)", (second[2],))
            found = True
        return found

    def _write_all(self, fold: Fold) -> None:
        """Write every table from a fold of the whole log."""
        filed: dict[str, _Filed] = {
            contact_id: _Filed(array("q", record[0])) for contact_id, record in fold.filed.items()
        }
        for contact_id, ask_ids in fold.asks_by_contact().items():
            filed.setdefault(contact_id, _Filed()).ask_ids = ask_ids
        pending: list[tuple[str, str, int]] = []
        position_of = fold.position_of
        for ask_id, resolutions in fold.resolutions.items():
            ask = fold.asks.get(ask_id)
            if ask is None:
                pending.extend((r.event_id, ask_id, position_of[r.event_id]) for r in resolutions)
                continue
            entry = filed.get(ask.contact_id)
            if entry is None:
                entry = filed[ask.contact_id] = _Filed()
            for r in resolutions:
                where = position_of[r.event_id]
                entry.positions.append(where)
                entry.resolved.append(f"{ask_id}:{where}")
        self.db.executemany(
            "INSERT INTO view_index VALUES (?, ?, ?, ?)",
            (_index_row(c, f) for c, f in filed.items()),
        )
        self.db.executemany("INSERT INTO view_pending VALUES (?, ?, ?)", pending)
        self.db.executemany(
            "INSERT INTO view_merge VALUES (?, ?)",
            ((fold.position_of[m], m) for m in fold.merges),
        )
        self.db.executemany(
            "INSERT INTO view_retraction VALUES (?, ?)",
            (
                (fold.position_of[r.event_id], target)
                for target, rs in fold.retractions.items()
                for r in rs
            ),
        )
        self.db.execute(_INDEX_BY_CONTACT)
        groups = fold.groups()
        self._write_groups(fold, groups, groups)

    def _write_groups(
        self, fold: Fold, groups: dict[str, list[str]], recompute: Iterable[str]
    ) -> None:
        """(Re)write the summary, contact and link rows of the given groups."""
        summaries, contacts, links = [], [], []
        for survivor_id in recompute:
            summary = summarize(fold, survivor_id)
            if summary is not None:
                summaries.append(summary_row(summary))
            for member in groups.get(survivor_id, ()):
                if member != survivor_id:
                    links.append((member, survivor_id))
                contact = fold.contact(member)
                if contact is not None:
                    contacts.append((member, contact.name, int(contact.archived), survivor_id))
        marks = ",".join("?" * 18)
        self.db.executemany(f"INSERT OR REPLACE INTO view_summary VALUES ({marks})", summaries)
        self.db.executemany("INSERT OR REPLACE INTO view_contact VALUES (?, ?, ?, ?)", contacts)
        self.db.executemany("INSERT OR REPLACE INTO view_link VALUES (?, ?)", links)

    # -- incremental catch-up ------------------------------------------------------------------

    def _incremental(self, position: int) -> int:
        """Fold the events after `position` into the views.

        Three paths. Plain touches (interactions, gives, introductions, asks with
        no known resolution) are *added* to their group's summary (`add_touches`),
        and a resolution of an ask indexed earlier *moves* the ask between
        outcomes (`_change_outcomes`): together nearly every event, at a cost
        proportional to the new events. Everything else (contacts added, edited,
        archived, merged; retractions; changed merge links; resolutions that
        waited for their ask) marks the groups it concerns for a full recompute
        from their indexed events, which the other two paths then leave alone.
        """
        new = [pe for page in self.scan(position) for pe in page]
        if self._keyed(position) != position or self._key(new):
            return self._rebuild(None)  # rare: an event claims another's id (or no keys)
        filed: dict[str, _Filed] = defaultdict(_Filed)
        full: set[str] = set()
        plain: list[Event] = []
        merges_changed = False
        batch_asks: dict[str, str] = {}
        resolutions: list[tuple[int, AskResolved]] = []
        retractions: list[tuple[int, EventRetracted]] = []
        for where, event in new:
            if isinstance(event, OpaqueEvent):
                continue
            cls = type(event)
            if cls is AskResolved:
                resolutions.append((where, event))  # type: ignore[arg-type]
                continue
            if cls is EventRetracted:
                retractions.append((where, event))  # type: ignore[arg-type]
                continue
            contacts = list(dict.fromkeys(contacts_of(event)))
            if cls is ContactsMerged:
                merges_changed = True
                self.db.execute(
                    "INSERT OR IGNORE INTO view_merge VALUES (?, ?)", (where, event.event_id)
                )
            if cls in _PLAIN:
                plain.append(event)
            elif cls is not NoteAdded:
                full.update(contacts)
            for contact_id in contacts:
                entry = filed[contact_id]
                entry.positions.append(where)
                if cls is AskMade:
                    entry.ask_ids.append(event.event_id)
                    batch_asks[event.event_id] = contact_id
        # Resolutions go under their ask's contact, or wait for the ask.
        # Resolutions of asks indexed before are folded as outcome changes (below).
        owners = self._ask_owners({r.ask_id for _, r in resolutions} - set(batch_asks))
        later: dict[str, list[AskResolved]] = defaultdict(list)
        for where, resolution in resolutions:
            owner = batch_asks.get(resolution.ask_id) or owners.get(resolution.ask_id)
            if owner is None:
                self.db.execute(
                    "INSERT OR IGNORE INTO view_pending VALUES (?, ?, ?)",
                    (resolution.event_id, resolution.ask_id, where),
                )
                continue
            filed[owner].positions.append(where)
            filed[owner].resolved.append(f"{resolution.ask_id}:{where}")
            if resolution.ask_id in batch_asks:
                full.add(owner)
            else:
                later[resolution.ask_id].append(resolution)
        for ask_id, owner in batch_asks.items():
            waiting = self.db.execute(
                "SELECT event_id, position FROM view_pending WHERE ask_id = ?", (ask_id,)
            ).fetchall()
            for _, where in waiting:
                filed[owner].positions.append(where)
                filed[owner].resolved.append(f"{ask_id}:{where}")
                full.add(owner)
            if waiting:
                self.db.execute("DELETE FROM view_pending WHERE ask_id = ?", (ask_id,))
        self._append_index(filed)
        # A retraction concerns whatever its target concerns (if the target is here yet).
        for where, retraction in retractions:
            self.db.execute(
                "INSERT OR IGNORE INTO view_retraction VALUES (?, ?)",
                (where, retraction.target_id),
            )
            if self._is_merge(retraction.target_id):
                merges_changed = True
        full.update(self._owners({r.target_id for _, r in retractions}))
        old_links = dict(self.db.execute("SELECT contact_id, survivor FROM view_link").fetchall())
        links = self._resolve_links() if merges_changed else old_links
        for contact_id in set(old_links) | set(links):
            if old_links.get(contact_id) != links.get(contact_id):
                full.add(contact_id)
        groups = {links.get(c, c) for c in full} | {old_links.get(c, c) for c in full}
        groups = self._recompute(groups, links)
        self._add_plain(plain, groups, links)
        self._change_outcomes(later, owners, position, groups, links)
        self._set_position(new[-1][0] if new else position)
        return len(new)

    def _change_outcomes(
        self,
        later: dict[str, list[AskResolved]],
        owners: dict[str, str],
        position: int,
        skip: set[str],
        links: dict[str, str],
    ) -> None:
        """Move asks from their old outcome to their new one in their group's summary.

        An ask's outcome is the latest live resolution by (hlc, event_id); its
        earlier resolutions (at or before `position`) are found in its contact's
        index and fetched, so this costs the ask's resolutions, not the contact's
        history.
        """
        if not later:
            return
        retracted = {r[0] for r in self.db.execute("SELECT target_id FROM view_retraction")}
        changes: dict[str, list[tuple[str | None, str | None]]] = defaultdict(list)
        for ask_id, resolutions in later.items():
            owner = owners[ask_id]
            survivor = links.get(owner, owner)
            if survivor in skip or ask_id in retracted:
                continue
            earlier: list[int] = []
            for (text,) in self.db.execute(
                "SELECT resolved FROM view_index WHERE contact_id = ?", (owner,)
            ):
                for entry in text.split(","):
                    held, _, where = entry.rpartition(":")
                    if held == ask_id and int(where) <= position:
                        earlier.append(int(where))
            before = [
                e
                for _, e in self.fetch(earlier)
                if isinstance(e, AskResolved) and e.event_id not in retracted
            ]
            after = before + [r for r in resolutions if r.event_id not in retracted]
            old = max(before, key=key, default=None)
            new = max(after, key=key, default=None)
            if old is not new:
                changes[survivor].append(
                    (None if old is None else old.outcome, None if new is None else new.outcome)
                )
        for survivor, moves in changes.items():
            row = self.db.execute(
                f"SELECT {SUMMARY_COLUMNS} FROM view_summary WHERE contact_id = ?", (survivor,)
            ).fetchone()
            if row is None:
                continue  # not active: a full recompute counts it when it becomes so
            summary = summary_from_row(row)
            totals = {o: getattr(summary, o) for o in (*OUTCOMES, "open")}
            for old_outcome, new_outcome in moves:
                totals[old_outcome or "open"] -= 1
                totals[new_outcome or "open"] += 1
            self._put_summary(msgspec.structs.replace(summary, **totals))

    def _put_summary(self, summary: Summary) -> None:
        marks = ",".join("?" * 18)
        self.db.execute(
            f"INSERT OR REPLACE INTO view_summary VALUES ({marks})", summary_row(summary)
        )

    def _add_plain(self, plain: list[Event], skip: set[str], links: dict[str, str]) -> None:
        """Add plain touches to the summaries of groups not recomputed in full."""
        if not plain:
            return
        retracted = {r[0] for r in self.db.execute("SELECT target_id FROM view_retraction")}
        by_group: dict[str, list[Event]] = defaultdict(list)
        for event in plain:
            if event.event_id in retracted:
                continue  # its retraction arrived first
            for survivor in dict.fromkeys(links.get(c, c) for c in contacts_of(event)):
                if survivor not in skip:
                    by_group[survivor].append(event)
        for survivor, touches in by_group.items():
            row = self.db.execute(
                f"SELECT {SUMMARY_COLUMNS} FROM view_summary WHERE contact_id = ?", (survivor,)
            ).fetchone()
            if row is None:
                continue  # not active: its rows appear when a full recompute makes it so
            self._put_summary(add_touches(summary_from_row(row), touches))

    def _ask_owners(self, ask_ids: set[str]) -> dict[str, str]:
        """Ask id -> the contact its ask is filed under, for those already indexed.

        One pass over the (small) ask id column, however many resolutions came in.
        """
        if not ask_ids:
            return {}
        wanted = {f",{a},": a for a in ask_ids}
        found: dict[str, str] = {}
        for contact_id, text in self.db.execute("SELECT contact_id, ask_ids FROM view_index"):
            if len(text) > 1:
                for marked, ask_id in wanted.items():
                    if marked in text:
                        found[ask_id] = contact_id
        return found

    def _owners(self, event_ids: set[str]) -> set[str]:
        """The contacts the given events are filed under (none for those not in the
        log yet).

        The index keeps no event ids (a rebuild would pay for a million of them to
        serve the rare retraction), so the events are looked up in the log itself.
        """
        owners: set[str] = set()
        asks: set[str] = set()
        for event in self._find(event_ids):
            if isinstance(event, AskResolved):  # filed under its ask's contact, if known
                asks.add(event.ask_id)
            elif not isinstance(event, OpaqueEvent):
                owners.update(contacts_of(event))
        owners.update(self._ask_owners(asks).values())
        return owners

    def _find(self, event_ids: set[str]) -> list[Event | OpaqueEvent]:
        """The events with these ids that are in the log, in one scan newest first
        (a retraction usually corrects something recent), ending at the oldest one
        found (or at the start of the log if one is missing).

        SQLite's `instr` over the stored bytes picks the candidate rows (an id's
        bytes also occur in events that refer to it); decoding tells which one *is*
        a wanted event. One candidate per query (`LIMIT 1`): a cursor steps one
        row ahead, which would scan on to the next match, often the start of the log.
        """
        found: list[Event | OpaqueEvent] = []
        ids = sorted(event_ids)
        inert = {p for (p,) in self.db.execute("SELECT position FROM view_inert")}
        for start in range(0, len(ids), _IN_CHUNK):
            wanted = set(ids[start : start + _IN_CHUNK])
            needles = [i.encode() for i in sorted(wanted)]
            test = " OR ".join(["instr(state, ?) > 0"] * len(needles))
            below = self._head() + 1
            while wanted:
                row = self.db.execute(
                    "SELECT rowid, topic, state FROM stored_events "
                    f"WHERE rowid < ? AND ({test}) ORDER BY rowid DESC LIMIT 1",
                    (below, *needles),
                ).fetchone()
                if row is None:
                    break  # the rest are not in the log (yet)
                below, topic, state = row
                event = codec.decode(topic, state)
                if event.event_id in wanted and below not in inert:
                    wanted.discard(event.event_id)
                    found.append(event)
        return found

    def _is_merge(self, event_id: str) -> bool:
        row = self.db.execute("SELECT 1 FROM view_merge WHERE event_id = ?", (event_id,))
        return row.fetchone() is not None

    def _append_index(self, filed: dict[str, _Filed]) -> None:
        """Add one chunk row per contact: appending never rewrites what is stored."""
        self.db.executemany(
            "INSERT INTO view_index VALUES (?, ?, ?, ?)",
            (_index_row(c, f) for c, f in filed.items()),
        )

    def _global_positions(self) -> list[int]:
        """Positions of every merge and retraction: inputs to every group's rows."""
        rows = self.db.execute(
            "SELECT position FROM view_merge UNION SELECT position FROM view_retraction"
        ).fetchall()
        return [int(r[0]) for r in rows]

    def _resolve_links(self) -> dict[str, str]:
        """Absorbed id -> final survivor, from every merge and retraction (State's rule)."""
        fold = Fold(e for _, e in self.fetch(self._global_positions()))
        ids = {c for m in fold.merges.values() for c in (m.survivor_id, m.absorbed_id)}
        return {c: s for c in sorted(ids) if (s := fold.survivor(c)) != c}

    def _recompute(self, survivors: set[str], links: dict[str, str]) -> set[str]:
        """Recompute the rows of the given groups from the events that concern them;
        returns the survivors recomputed."""
        survivors = {links.get(s, s) for s in survivors}
        if not survivors:
            return survivors
        members: dict[str, list[str]] = {s: [s] for s in survivors}
        for absorbed, survivor in sorted(links.items()):
            if survivor in members:
                members[survivor].append(absorbed)
        everyone = [m for group in members.values() for m in group]
        positions = set(self._global_positions())
        for i in range(0, len(everyone), _IN_CHUNK):
            chunk = everyone[i : i + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            for (blob,) in self.db.execute(
                f"SELECT positions FROM view_index WHERE contact_id IN ({marks})", chunk
            ):
                positions.update(unpack(blob))
        retracted = {r[0] for r in self.db.execute("SELECT target_id FROM view_retraction")}
        fold = Fold(keep_events=False, retracted=retracted)
        fold.extend(self.fetch(positions), once=True)  # distinct rows: distinct events
        groups = fold.groups()
        for chunk_start in range(0, len(everyone), _IN_CHUNK):
            chunk = everyone[chunk_start : chunk_start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            for table in ("view_summary", "view_contact", "view_link"):
                self.db.execute(f"DELETE FROM {table} WHERE contact_id IN ({marks})", chunk)
        self._write_groups(fold, groups, sorted(survivors))
        return survivors


def scrub_views(path: str | Path) -> None:
    """Rebuild a log file's views if a redaction made them stale (none: nothing)."""
    with Projector(path) as projector:
        if projector._has_views():
            projector.catch_up()


class _Transaction:
    """`BEGIN IMMEDIATE` ... `COMMIT`, rolled back on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot lock the views for writing: {exc}") from exc

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")
