"""Persisted views: position bookkeeping, crash safety, incremental reads, late arrivals."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core import store
from core.errors import AmbiguousError, NotFoundError
from core.events import (
    AskMade,
    AskResolved,
    ContactsMerged,
    EventRetracted,
    GiveMade,
    InteractionLogged,
)
from core.log import EventLog
from core.store import open_store
from projections import schema, views
from projections.fold import Fold
from projections.projector import Projector
from projections.query import ContactRef, Views, resolve

from .test_projections_views import D0, History


@pytest.fixture
def log_path(tmp_path: Path) -> str:
    return str(tmp_path / "log.db")


def ingest(path: str, events: list) -> None:  # type: ignore[type-arg]
    store = open_store(path)
    try:
        EventLog(store).ingest(events)
    finally:
        store.close()


def summaries(path: str) -> list[views.Summary]:
    return asyncio.run(Views(path).summaries())


def test_views_record_the_position_they_reflect(log_path: str) -> None:
    h = History()
    a = h.contact("Ann")
    h.add(InteractionLogged, 1, contact_ids=(a,))
    ingest(log_path, h.events)
    with Projector(log_path) as p:
        assert p.position() is None
        assert p.catch_up() == 2
        assert p.position() == 2
        assert p.catch_up() == 0
    h.add(GiveMade, 2, contact_id=a, what="x", weight=2)
    ingest(log_path, h.events[-1:])
    (s,) = summaries(log_path)  # reads catch up first
    assert s.give_weight == 2
    with Projector(log_path) as p:
        assert p.position() == 3


def test_a_failed_catch_up_leaves_views_and_position_as_they_were(
    log_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = History()
    a = h.contact("Ann")
    ingest(log_path, h.events)
    before = summaries(log_path)
    h.add(GiveMade, 2, contact_id=a, what="x", weight=2)
    ingest(log_path, h.events[-1:])

    def broken(*args: object) -> None:
        raise RuntimeError("crash in the middle of a catch-up")

    # The last step of a catch-up fails: everything before it must roll back.
    monkeypatch.setattr(schema, "set_position", broken)
    with Projector(log_path) as p, pytest.raises(RuntimeError):
        p.catch_up()
    monkeypatch.undo()
    with Projector(log_path) as p:
        assert p.position() == 1
        for table in ("view_filed", "view_event"):  # the failed catch-up's rows rolled back
            assert p.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone() == (1,)
        assert p.db.execute("SELECT give_weight FROM view_summary").fetchall() == [(0,)]
    assert summaries(log_path) != before
    assert summaries(log_path)[0].give_weight == 2


def test_catch_up_reads_only_new_events(log_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    h = History()
    a = h.contact("Ann")
    for day in range(5):
        h.add(InteractionLogged, day, contact_ids=(a,))
    ingest(log_path, h.events)
    summaries(log_path)
    h.add(InteractionLogged, 9, contact_ids=(a,))
    ingest(log_path, h.events[-1:])
    seen: list[int] = []
    original = store.rows_after

    def spy(db: object, after: int = 0):  # type: ignore[no-untyped-def]
        seen.append(after)
        return original(db, after)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "rows_after", spy)
    with Projector(log_path) as p:
        assert p.catch_up() == 1
    assert seen == [6]


def test_late_retraction_and_merge_change_rows_computed_earlier(log_path: str) -> None:
    h = History()
    a, b = h.contact("Ann"), h.contact("Ben")
    give = h.add(GiveMade, 1, contact_id=a, what="x", weight=3)
    h.add(GiveMade, 2, contact_id=b, what="y", weight=1)
    ingest(log_path, h.events)
    assert {s.name: s.give_weight for s in summaries(log_path)} == {"Ann": 3, "Ben": 1}
    h.add(EventRetracted, 3, target_id=give.event_id, reason="no")
    ingest(log_path, h.events[-1:])
    assert {s.name: s.give_weight for s in summaries(log_path)} == {"Ann": 0, "Ben": 1}
    h.add(ContactsMerged, 4, survivor_id=a, absorbed_id=b)
    ingest(log_path, h.events[-1:])
    (only,) = summaries(log_path)
    assert (only.name, only.give_weight) == ("Ann", 1)
    refs = asyncio.run(Views(log_path).contacts())
    assert {r.contact_id: r.survivor for r in refs} == {a: a, b: a}
    # A retraction that arrives before its target: the target never counts.
    ghost_id = "ghost-give"
    early = EventRetracted(
        event_id="r-early",
        device_id="d9",
        seq=1,
        hlc=1,
        occurred_at=(D0 + 5) * 86_400_000,
        target_id=ghost_id,
        reason="x",
    )
    ingest(log_path, [early])
    late = GiveMade(
        event_id=ghost_id,
        device_id="d8",
        seq=1,
        hlc=2,
        occurred_at=(D0 + 5) * 86_400_000,
        contact_id=a,
        what="z",
        weight=5,
    )
    ingest(log_path, [late])
    (only,) = summaries(log_path)
    assert only.give_weight == 1
    with Projector(log_path) as p:
        p.rebuild()
    assert summaries(log_path) == views.summaries(Fold([*h.events, early, late]))


def test_schema_change_rebuilds(log_path: str) -> None:
    h = History()
    h.contact("Ann")
    ingest(log_path, h.events)
    summaries(log_path)
    with Projector(log_path) as p:
        p.db.execute("UPDATE view_meta SET value = 0 WHERE name = 'schema'")
        p.db.execute("DELETE FROM view_summary")
    assert [s.name for s in summaries(log_path)] == ["Ann"]


def test_rebuild_reports_progress(log_path: str) -> None:
    h = History()
    a = h.contact("Ann")
    for day in range(12):
        h.add(InteractionLogged, day, contact_ids=(a,))
    ingest(log_path, h.events)
    calls: list[tuple[int, int]] = []
    with Projector(log_path) as p:
        assert p.rebuild(lambda done, total: calls.append((done, total))) == 13
    assert calls[-1] == (13, 13)


def test_resolve_references() -> None:
    refs = [
        ContactRef("aaaa-1", "Ann", False, "aaaa-1"),
        ContactRef("aaab-2", "Ann", True, "aaab-2"),
        ContactRef("bbbb-3", "Ben", False, "aaaa-1"),
    ]
    assert resolve(refs, "bbbb-3").contact_id == "aaaa-1"  # absorbed -> survivor
    assert resolve(refs, "aaab").contact_id == "aaab-2"
    assert resolve(refs, "aaaa").contact_id == "aaaa-1"
    with pytest.raises(AmbiguousError):
        resolve(refs, "ann")
    # merged away: its name means its survivor, as in core.commands.find_contact
    assert resolve(refs, "Ben").contact_id == "aaaa-1"
    with pytest.raises(NotFoundError):
        resolve(refs, "Cy")


def test_late_resolutions_move_an_ask_between_outcomes(log_path: str) -> None:
    """Each step arrives in its own catch-up; views always equal the pure fold."""
    h = History()
    a = h.contact("Ann")
    ask = h.add(AskMade, 1, contact_id=a, what="x", weight=2).event_id
    other = h.add(AskMade, 1, contact_id=a, what="y", weight=1).event_id
    steps: list[list] = [list(h.events)]  # type: ignore[type-arg]
    declined = h.add(AskResolved, 2, ask_id=ask, outcome="declined")
    steps.append([declined])
    steps.append([h.add(AskResolved, 3, ask_id=ask, outcome="granted")])
    # Recorded earlier (lower HLC) on another device: it must not win.
    steps.append([h.add(AskResolved, 4, ask_id=ask, outcome="withdrawn", device="d2", hlc=1)])
    # A retraction arrives before the resolution it retracts.
    ghost = "late-resolution"
    steps.append([h.add(EventRetracted, 5, target_id=ghost, reason="no", device="d3")])
    late = h.add(AskResolved, 6, ask_id=other, outcome="unanswered", device="d4", event_id=ghost)
    steps.append([late])
    steps.append([h.add(AskResolved, 7, ask_id=other, outcome="granted")])
    for step in steps:
        ingest(log_path, step)
        done = [e for s in steps[: steps.index(step) + 1] for e in s]
        assert summaries(log_path) == views.summaries(Fold(done))
    (ann,) = summaries(log_path)
    assert (ann.granted, ann.declined, ann.withdrawn, ann.unanswered, ann.open) == (2, 0, 0, 0, 0)


def test_events_of_unknown_types_are_kept_but_ignored(log_path: str) -> None:
    import msgspec

    from core.events import OpaqueEvent

    h = History()
    a = h.contact("Ann")
    h.add(GiveMade, 1, contact_id=a, what="x", weight=2)
    envelope = {"event_id": "fut-1", "device_id": "d7", "seq": 1, "hlc": 5, "occurred_at": 0}
    future = OpaqueEvent(
        type="FutureThing",
        **envelope,  # type: ignore[arg-type]
        raw=msgspec.msgpack.encode({**envelope, "contact_id": a, "weight": 5}),
    )
    ingest(log_path, h.events)
    before = summaries(log_path)
    ingest(log_path, [future])  # the incremental path, then a rebuild: both skip it
    (incremental,) = summaries(log_path)
    assert [incremental] == before
    with Projector(log_path) as p:
        assert p.rebuild() == 3
        assert p.position() == 3
    assert summaries(log_path) == [incremental]
    assert incremental.give_weight == 2


def test_rows_of_newer_schema_versions_are_not_taken_at_face_value() -> None:
    import msgspec

    from core import codec
    from core.events import OpaqueEvent
    from projections.index import decode as _decode_rows

    h = History()
    h.contact("Ann")
    event = h.events[0]
    rows = [(1, "ContactAdded", codec.encode(event))]
    assert _decode_rows(rows) == [(1, event)]
    future = msgspec.structs.replace(event, v=2)  # written by a newer build
    newer = _decode_rows([*rows, (2, "ContactAdded", codec.encode(future))])
    assert newer[0] == (1, event)
    assert isinstance(newer[1][1], OpaqueEvent)  # kept opaque: the views ignore it
    envelope = {"event_id": "x", "device_id": "d", "seq": 1, "hlc": 1, "occurred_at": 0}
    unknown = _decode_rows([*rows, (3, "Later", msgspec.msgpack.encode(envelope))])
    assert isinstance(unknown[1][1], OpaqueEvent) and unknown[0] == (1, event)


def test_retractions_find_old_targets_whose_ids_later_events_repeat(log_path: str) -> None:
    """The index keeps no event ids: a retraction's target is looked up in the log,
    where newer events naming the same id (a resolution naming its ask, interactions
    naming their contact) must not be taken for it. One catch-up per step."""
    h = History()
    a, b = h.contact("Ann"), h.contact("Ben")
    ask = h.add(AskMade, 1, contact_id=a, what="x", weight=2).event_id
    granted = h.add(AskResolved, 2, ask_id=ask, outcome="granted")
    other = h.add(AskMade, 3, contact_id=b, what="y", weight=1).event_id
    h.add(AskResolved, 4, ask_id=other, outcome="declined")
    for day in range(5, 9):
        h.add(InteractionLogged, day, contact_ids=(a, b))
    steps: list[list] = [list(h.events)]  # type: ignore[type-arg]
    steps.append([h.add(EventRetracted, 10, target_id=ask, reason="no")])
    steps.append([h.add(EventRetracted, 11, target_id=granted.event_id, reason="no")])
    # Two in one catch-up: found in one scan, the missing one does not hide the other.
    steps.append(
        [
            h.add(EventRetracted, 12, target_id="never-arrives", reason="no"),
            h.add(EventRetracted, 13, target_id=b, reason="no"),
        ]
    )
    for i, step in enumerate(steps):
        ingest(log_path, step)
        done = [e for s in steps[: i + 1] for e in s]
        assert summaries(log_path) == views.summaries(Fold(done))
    (ann,) = summaries(log_path)
    assert (ann.asks, ann.granted, ann.open) == (0, 0, 0)
    with Projector(log_path) as p:
        p.rebuild()
    assert summaries(log_path) == views.summaries(Fold(h.events))


def test_a_fold_honours_a_retraction_in_any_order() -> None:
    """A retraction met after its target, or before it, retracts it all the same."""
    h = History()
    a = h.contact("Ann")
    give = h.add(GiveMade, 1, contact_id=a, what="x", weight=3)
    retraction = h.add(EventRetracted, 2, target_id=give.event_id, reason="no")
    assert isinstance(retraction, EventRetracted)
    late, early = Fold(), Fold()
    late.extend(enumerate(h.events, 1))
    early.extend(reversed(list(enumerate(h.events, 1))))
    assert views.summaries(late) == views.summaries(early) == views.summaries(Fold(h.events))
    assert views.summaries(late)[0].give_weight == 0


def test_a_rebuild_reads_rows_of_newer_versions_as_opaque(log_path: str) -> None:
    """A rebuild keeps rows of newer versions opaque, and the views ignore them."""
    import msgspec

    h = History()
    a = h.contact("Ann")
    h.add(GiveMade, 1, contact_id=a, what="x", weight=2)
    ingest(log_path, h.events)
    with Projector(log_path) as p:
        p.rebuild()
    before = summaries(log_path)
    give, added = h.events[1], h.events[0]
    newer = [
        msgspec.structs.replace(give, event_id="g2", device_id="d9", seq=1, v=2, weight=5),
        msgspec.structs.replace(added, event_id="c2", device_id="d9", seq=2, v=2, name="Zed"),
    ]
    ingest(log_path, newer)
    with Projector(log_path) as p:
        assert p.rebuild() == 4
    assert summaries(log_path) == before


def test_a_rebuild_reads_a_log_whose_positions_have_holes(
    log_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Positions are rowids: with a hole in them (at a page's start, middle or end),
    every event is still filed at its own position and none is shifted."""
    import sqlite3

    from core.events import OpaqueEvent, contacts_of

    h = History()
    ann, bob = h.contact("Ann"), h.contact("Bob")
    for day in range(1, 12):
        h.add(GiveMade, day, contact_id=ann if day % 2 else bob, what="x", weight=1 + day % 5)
    ingest(log_path, h.events)
    db = sqlite3.connect(log_path)
    db.execute("DELETE FROM stored_events WHERE rowid = 5")  # a hole no append makes
    db.commit()
    db.close()
    kept = [e for i, e in enumerate(h.events, start=1) if i != 5]
    for page in (3, 4, 100):  # holes at a page's start, middle and end
        monkeypatch.setattr(store, "READ_PAGE", page)
        with Projector(log_path) as p:
            assert p.rebuild() == len(kept)
            fetched = p.fetch(range(1, len(h.events) + 1))
        assert summaries(log_path) == views.summaries(Fold(kept))
        assert [position for position, _ in fetched] == [i for i in range(1, 14) if i != 5]
        db = sqlite3.connect(log_path)
        filed: dict[str, list[int]] = {}
        for contact, position in db.execute("SELECT contact_id, position FROM view_filed"):
            filed.setdefault(contact, []).append(position)
        db.close()
        by_position = dict(fetched)
        for contact, positions in filed.items():
            named = [
                p
                for p, e in by_position.items()
                if not isinstance(e, OpaqueEvent) and contact in contacts_of(e)
            ]
            assert positions == named


def test_current_views_are_read_without_the_write_lock(log_path: str) -> None:
    """While another connection holds SQLite's write lock (a push being stored), a
    read of views that hold every event neither waits for it nor fails."""
    import sqlite3

    h = History()
    a = h.contact("Ann")
    h.add(GiveMade, 1, contact_id=a, what="x", weight=2)
    ingest(log_path, h.events)
    expected = summaries(log_path)
    writer = sqlite3.connect(log_path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        with Projector(log_path) as p:
            p.db.execute("PRAGMA busy_timeout = 0")  # any attempt to lock fails at once
            assert p.catch_up() == 0
        assert summaries(log_path) == expected
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_read_catches_up_once(log_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    h = History()
    a = h.contact("Ann")
    h.add(GiveMade, 1, contact_id=a, what="x", weight=2)
    ingest(log_path, h.events)
    calls: list[int] = []
    original = Projector.catch_up

    def counted(self: Projector, *args: object) -> int:
        calls.append(1)
        return original(self)

    monkeypatch.setattr(Projector, "catch_up", counted)
    views_of = Views(log_path)
    for read in (
        views_of.ledger(D0 + 5, "Ann"),
        views_of.cold(D0 + 5),
        views_of.stats(D0 + 5),
        views_of.timeline("Ann"),
    ):
        calls.clear()
        asyncio.run(read)
        assert calls == [1]
