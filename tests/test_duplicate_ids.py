"""Two different events claiming one id: the least `(device_id, seq)` counts.

Views are a function of the event *set* (ADR 0002), so whichever twin a replica
met first, every fold, every view and the persisted projections must come out the
same, and the same as if the inert twins had never been recorded.
"""

from __future__ import annotations

import os

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.events import ContactAdded, Event, GiveMade, InteractionLogged
from core.state import State
from projections import projector, views
from projections.fold import Fold
from projections.projector import Projector, _id_keys
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
    assert {c: sorted(r[1]) for c, r in fold.filed.items() if r[1]} == {
        c: sorted(r[1]) for c, r in clean.filed.items() if r[1]
    }
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
            inert = views_of.db.execute("SELECT position FROM view_inert").fetchall()
            assert inert == [(order.index(SEEN) + 1,)]


def test_id_keys_outlive_a_rebuild_and_tell_twins_from_key_collisions() -> None:
    other = msgspec.structs.replace(SEEN, event_id="y", seq=2, hlc=3 << 16)
    with log_db() as (path, log), Projector(path) as views_of:
        log.ingest([ADDED, SEEN])
        views_of.rebuild()
        keys = views_of.db.execute("SELECT position FROM view_key ORDER BY position")
        assert keys.fetchall() == [(1,), (2,)]
        # Pretend "y" shares the key of "c1" (odds 2**-61): not twins, nothing inert.
        (y_key,) = _id_keys([(3, other)])
        views_of.db.execute("UPDATE view_key SET prefix = ?, key = ? WHERE position = 1", y_key)
        log.ingest([other])
        views_of.catch_up()
        assert views_of.db.execute("SELECT * FROM view_inert").fetchall() == []
        assert persisted(path)[0] == views.summaries(Fold([ADDED, SEEN, other]))
        views_of.rebuild()  # keeps the key tables: it computes no key again
        held = views_of.db.execute("SELECT prefix, key FROM view_key WHERE position = 1")
        assert held.fetchone() == y_key


@settings(max_examples=60 if SOAK else 8, deadline=None, suppress_health_check=list(HealthCheck))
@given(twinned_arrival(), st.sampled_from([0.0, 0.5]))
def test_a_two_process_rebuild_leaves_the_inert_twins_out_too(
    case: tuple[list[Event], list[Event]], share: float
) -> None:
    events, arrival = case
    with log_db() as (path, log), Projector(path) as one:
        log.ingest(arrival)
        one.rebuild()
        expected = persisted_tables(path), persisted(path)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(projector, "PARALLEL_ABOVE", 1)
            patch.setattr(projector, "PARENT_SHARE", share)
            one.db.execute("DELETE FROM view_keyed")  # and key the log afresh, in bulk
            one.rebuild()
        assert (persisted_tables(path), persisted(path)) == expected
    assert expected[1][0] == views.summaries(Fold(winners(events)))
