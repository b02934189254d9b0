"""Property tests: views are a function of the event set, and incremental == rebuild."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.days import local_day
from core.events import (
    AskMade,
    Event,
    GiveMade,
    InteractionLogged,
    IntroductionMade,
    contacts_of,
)
from core.log import EventLog
from core.state import State
from core.store import open_store
from projections import views
from projections.fold import Fold
from projections.projector import Projector
from projections.query import Views

from .strategies import AS_OF, SPAN_DAYS, arrivals, histories, history_and_arrival


def day(e: Event) -> int:
    return local_day(e.occurred_at, e.utc_offset)


#: `HYPOTHESIS_PROFILE=soak` runs every property many more times (minutes, not seconds).
SOAK = os.environ.get("HYPOTHESIS_PROFILE") == "soak"
MID = AS_OF - SPAN_DAYS // 2
FAST = settings(
    max_examples=3000 if SOAK else 150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SLOW = settings(
    max_examples=600 if SOAK else 40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def everything(events: list[Event]) -> tuple[object, ...]:
    """Every view of a set of events, as comparable data."""
    fold = Fold(events)
    sums = views.summaries(fold)
    timelines = {g: views.timeline(fold, g) for g in sorted(fold.groups())}
    return (
        views.snapshot(sums, AS_OF),
        views.snapshot(sums, MID),
        views.cold(sums, MID - 100, everyone=True),
        timelines,
    )


@FAST
@given(st.data())
def test_every_arrival_order_gives_the_same_views(data: st.DataObject) -> None:
    history = data.draw(histories())
    shuffled = data.draw(st.permutations(history))
    assert everything(shuffled) == everything(history)


@FAST
@given(st.data())
def test_fold_keeps_the_facts_state_keeps(data: st.DataObject) -> None:
    history = data.draw(histories())
    shuffled = data.draw(st.permutations(history))
    fold, state = Fold(shuffled), State(history)
    assert fold.contacts() == state.contacts()
    for ask_id in state.asks:
        ask = state.ask(ask_id)
        assert fold.outcome(ask_id) == (ask.outcome if ask else fold.outcome(ask_id))
    for contact_id in fold.about:
        assert fold.survivor(contact_id) == state.survivor(contact_id)


@FAST
@given(histories())
def test_applying_twice_changes_nothing(history: list[Event]) -> None:
    assert everything(history + history) == everything(history)


@contextmanager
def log_db() -> Iterator[tuple[str, EventLog]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "log.db")
        store = open_store(path)
        try:
            yield path, EventLog(store)
        finally:
            store.close()


def persisted(path: str) -> tuple[object, ...]:
    """Everything the persisted views hold, read through the async API."""
    reader = Views(path)

    async def read() -> tuple[object, ...]:
        sums = await reader.summaries()
        refs = await reader.contacts()
        timelines = {}
        for ref in refs:
            if not ref.absorbed:
                timelines[ref.contact_id] = (await reader.timeline(ref.contact_id))[1]
        return sums, refs, timelines

    return asyncio.run(read())


def persisted_tables(path: str) -> dict[str, list[tuple[object, ...]]]:
    """The stored view rows that do not depend on log positions."""
    with Projector(path) as projector:
        out = {}
        for table, order in (
            ("view_summary", "contact_id"),
            ("view_contact", "contact_id"),
            ("view_link", "contact_id"),
        ):
            out[table] = projector.db.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
        return out


@SLOW
@given(history_and_arrival(), st.data())
def test_incremental_catch_up_equals_rebuild(
    case: tuple[list[Event], list[Event]], data: st.DataObject
) -> None:
    history, arrival = case
    cuts = sorted(data.draw(st.sets(st.integers(1, len(arrival)), max_size=6)) | {len(arrival)})
    with log_db() as (path, log), Projector(path) as projector:
        projector.catch_up()  # views exist before the first event
        start = 0
        for cut in cuts:
            log.ingest(arrival[start:cut])
            projector.catch_up()
            start = cut
        assert projector.position() == log.position()
        incremental = persisted_tables(path)
        incremental_reads = persisted(path)
        projector.rebuild()
        assert persisted_tables(path) == incremental
        assert persisted(path) == incremental_reads
        sums = incremental_reads[0]
        fold = Fold(history)
        assert sums == views.summaries(fold)
        for contact_id, entries in incremental_reads[2].items():  # type: ignore[attr-defined]
            assert entries == views.timeline(fold, contact_id)


@SLOW
@given(st.data())
def test_catch_up_one_event_at_a_time(data: st.DataObject) -> None:
    history = data.draw(histories(max_steps=15))
    arrival = data.draw(arrivals(history))
    with log_db() as (path, log), Projector(path) as projector:
        for event in arrival:
            log.ingest([event])
            projector.catch_up()
        assert persisted(path)[0] == views.summaries(Fold(history))


def oracle_ledger(events: list[Event], as_of: int) -> list[views.LedgerRow]:
    """The ledger computed naively from `core.state.State`, as the issue words it."""
    state = State(events)
    unique = {e.event_id: e for e in events}.values()
    touch_types = (InteractionLogged, GiveMade, IntroductionMade, AskMade)
    rows = []
    for contact in state.active_contacts():
        group = set(state.absorbed_by(contact.id))
        touches = [
            e
            for e in unique
            if isinstance(e, touch_types) and state.live(e) and set(contacts_of(e)) & group
        ]
        gives = [e for e in touches if isinstance(e, GiveMade | IntroductionMade)]
        asks = [e for e in touches if isinstance(e, AskMade)]
        outcomes = [state.ask(a.event_id).outcome or "open" for a in asks]  # type: ignore[union-attr]
        recent = [
            e for e in touches if as_of - 365 < local_day(e.occurred_at, e.utc_offset) <= as_of
        ]
        recent_gives = sum(e.weight for e in recent if isinstance(e, GiveMade | IntroductionMade))
        recent_asks = sum(e.weight for e in recent if isinstance(e, AskMade))

        def last(items: list[Event]) -> str | None:
            return views.date_of(
                max((local_day(e.occurred_at, e.utc_offset) for e in items), default=None)
            )

        rows.append(
            views.LedgerRow(
                contact_id=contact.id,
                name=contact.name,
                gives=len(gives),
                give_weight=sum(e.weight for e in gives),
                asks=len(asks),
                ask_weight=sum(e.weight for e in asks),
                granted=outcomes.count("granted"),
                declined=outcomes.count("declined"),
                withdrawn=outcomes.count("withdrawn"),
                unanswered=outcomes.count("unanswered"),
                open=outcomes.count("open"),
                balance=sum(e.weight for e in gives) - sum(e.weight for e in asks),
                last_give=last(gives),  # type: ignore[arg-type]
                last_ask=last(asks),  # type: ignore[arg-type]
                last_touch=last(touches),  # type: ignore[arg-type]
                one_sided=recent_asks > recent_gives,
                only_asks=bool(recent) and all(isinstance(e, AskMade) for e in recent),
            )
        )
    rows.sort(key=lambda r: (r.name.casefold(), r.contact_id))
    return rows


@FAST
@given(histories(), st.integers(AS_OF - SPAN_DAYS, AS_OF))
def test_ledger_matches_a_naive_oracle_over_state(history: list[Event], as_of: int) -> None:
    assert views.ledger(views.summaries(Fold(history)), as_of) == oracle_ledger(history, as_of)
