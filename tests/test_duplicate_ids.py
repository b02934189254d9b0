"""Two different events claiming one id: the least `(device_id, seq)` counts.

Views are a function of the event *set* (ADR 0002), so whichever twin a replica
met first, every fold, every view and the persisted projections must come out the
same, and the same as if the inert twins had never been recorded.
"""

from __future__ import annotations

import os

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.events import ContactAdded, Event, GiveMade, InteractionLogged
from core.state import State
from projections import views
from projections.fold import Fold
from projections.projector import Projector
from scoring.history import History

from .strategies import TWIN_DEVICES, arrivals, histories, winners, with_twins
from .test_projections_props import everything, log_db, persisted, persisted_tables

SOAK = os.environ.get("HYPOTHESIS_PROFILE") == "soak"
FAST = settings(
    max_examples=3000 if SOAK else 150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


#: A contact, an interaction with it, and a give claiming the interaction's id from
#: a device that sorts first (so the give counts, whichever arrived first).
ADDED = ContactAdded(event_id="c1", device_id="d1", seq=1, hlc=1 << 16, occurred_at=0, name="Ann")
SEEN = InteractionLogged(
    event_id="x", device_id="d2", seq=1, hlc=2 << 16, occurred_at=0, contact_ids=("c1",)
)
GAVE = GiveMade(
    event_id="x", device_id="d1", seq=2, hlc=3 << 16, occurred_at=0, contact_id="c1", what="a"
)


def twinned() -> st.SearchStrategy[list[Event]]:
    return histories().flatmap(with_twins)


def state_view(state: State) -> tuple[object, ...]:
    """What `State` resolves, as comparable data."""
    asks = [state.ask(a) for a in sorted(state.asks)]
    contacts = state.contacts()
    concerning = {c.id: state.concerning(c.id) for c in contacts}
    retracted = sorted(i for i in state.by_id if state.is_retracted(i))
    return contacts, asks, concerning, retracted, sorted(state.by_id.items())


@FAST
@given(st.data())
def test_state_is_order_free_and_ignores_inert_twins(data: st.DataObject) -> None:
    events = data.draw(twinned())
    shuffled = data.draw(st.permutations(events))
    expected = state_view(State(winners(events)))
    assert state_view(State(shuffled)) == expected
    assert state_view(State(events + shuffled)) == expected


@FAST
@given(st.data())
def test_views_are_order_free_and_ignore_inert_twins(data: st.DataObject) -> None:
    events = data.draw(twinned())
    shuffled = data.draw(st.permutations(events))
    expected = everything(winners(events))
    assert everything(shuffled) == expected
    assert everything(shuffled + events) == expected


@FAST
@given(st.data())
def test_fold_keeps_what_state_keeps_with_twins(data: st.DataObject) -> None:
    events = data.draw(twinned())
    shuffled = data.draw(st.permutations(events))
    fold = Fold(shuffled)
    assert state_view(fold) == state_view(State(events))
    clean = Fold(winners(events))

    def filed(f: Fold) -> dict[str, list[tuple[str, str, int]]]:
        return {
            c: sorted((e.event_id, e.device_id, e.seq) for e in events)
            for c, events in f.about.items()
            if events
        }

    assert filed(fold) == filed(clean)
    assert fold.groups() == clean.groups()


@FAST
@given(st.data())
def test_scoring_history_ignores_inert_twins(data: st.DataObject) -> None:
    events = data.draw(twinned())
    shuffled = data.draw(st.permutations(events))
    got, expected = History(shuffled), History(winners(events))
    assert got.subjects == expected.subjects
    assert got.active == expected.active
    assert got.items == expected.items
    assert got.outcomes == expected.outcomes


def test_a_smaller_twin_arriving_late_withdraws_the_other() -> None:
    expected = views.summaries(Fold([ADDED, GAVE]))
    assert expected[0].gives == 1 and expected[0].last_touch == 0
    for order in ([ADDED, SEEN, GAVE], [GAVE, ADDED, SEEN], [SEEN, GAVE, ADDED]):
        fold = Fold(order)
        assert fold.by_id["x"] is GAVE
        assert views.summaries(fold) == expected
        assert sorted(e.event_id for e in views.concerning(fold, "c1")) == ["c1", "x"]
        assert State(order).concerning("c1") == [ADDED, GAVE]


SLOW = settings(
    max_examples=400 if SOAK else 30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def twinned_arrival() -> st.SearchStrategy[tuple[list[Event], list[Event]]]:
    return twinned().flatmap(lambda events: st.tuples(st.just(events), arrivals(events)))


@SLOW
@given(twinned_arrival(), st.data())
def test_persisted_views_catch_up_and_rebuild_agree_with_twins(
    case: tuple[list[Event], list[Event]], data: st.DataObject
) -> None:
    events, arrival = case
    cuts = sorted(data.draw(st.sets(st.integers(1, len(arrival)), max_size=6)) | {len(arrival)})
    fold = Fold(winners(events))
    with log_db() as (path, log), Projector(path) as projector:
        projector.catch_up()
        start = 0
        for cut in cuts:
            log.ingest(arrival[start:cut])
            projector.catch_up()
            start = cut
        incremental, incremental_reads = persisted_tables(path), persisted(path)
        projector.rebuild()
        assert persisted_tables(path) == incremental
        assert persisted(path) == incremental_reads
    assert incremental_reads[0] == views.summaries(fold)
    for contact_id, entries in incremental_reads[2].items():  # type: ignore[attr-defined]
        assert entries == views.timeline(fold, contact_id)


@SLOW
@given(twinned_arrival(), st.data())
def test_two_replicas_meeting_twins_in_opposite_orders_converge(
    case: tuple[list[Event], list[Event]], data: st.DataObject
) -> None:
    """One replica ingests the twin devices' streams last, the other first (each
    device's events in seq order), catching up after every batch."""
    events, arrival = case
    late = sorted(arrival, key=lambda e: e.device_id in TWIN_DEVICES)
    early = sorted(arrival, key=lambda e: e.device_id not in TWIN_DEVICES)
    results = []
    for order in (late, early):
        with log_db() as (path, log), Projector(path) as projector:
            step = data.draw(st.integers(1, 4))
            for start in range(0, len(order), step):
                log.ingest(order[start : start + step])
                projector.catch_up()
            results.append((persisted_tables(path), persisted(path)))
    assert results[0] == results[1]
    assert results[0][1][0] == views.summaries(Fold(winners(events)))


def test_rebuild_leaves_the_inert_twin_out_whatever_the_log_order() -> None:
    expected = views.summaries(Fold([ADDED, GAVE]))
    for order in ([ADDED, SEEN, GAVE], [SEEN, ADDED, GAVE]):
        with log_db() as (path, log), Projector(path) as views_of:
            log.ingest(order)
            views_of.rebuild()
            assert persisted(path)[0] == expected
            held = views_of.db.execute("SELECT position FROM view_event WHERE event_id = 'x'")
            assert held.fetchall() == [(order.index(GAVE) + 1,)]


def test_a_twin_is_a_key_collision_and_other_ids_are_not() -> None:
    other = msgspec.structs.replace(SEEN, event_id="y", seq=2, hlc=3 << 16)
    with log_db() as (path, log), Projector(path) as views_of:
        log.ingest([ADDED, SEEN])
        views_of.catch_up()
        log.ingest([other])  # a new id: caught up incrementally
        views_of.catch_up()
        assert persisted(path)[0] == views.summaries(Fold([ADDED, SEEN, other]))
        log.ingest([GAVE])  # claims SEEN's id, and counts (ADR 0002)
        views_of.catch_up()
        assert persisted(path)[0] == views.summaries(Fold([ADDED, GAVE, other]))
        rows = views_of.db.execute("SELECT event_id, position FROM view_event ORDER BY 1")
        assert rows.fetchall() == [("c1", 1), ("x", 4), ("y", 3)]
