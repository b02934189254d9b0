"""The views' semantics on hand-made histories (ADR 0010), and the sample generator."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import pytest

from core.clock import pack
from core.events import (
    AskMade,
    AskResolved,
    ContactAdded,
    ContactArchived,
    ContactEdited,
    ContactsMerged,
    Event,
    EventRetracted,
    GiveMade,
    InteractionLogged,
    IntroductionMade,
)
from core.log import EventLog
from core.store import open_store
from projections import views
from projections.fold import Fold
from projections.views import compute, date_of, day_of
from sample.history import generate

DAY = 86_400_000
D0 = day_of(date(2025, 1, 1))


class History:
    """Builds events with increasing ids and HLCs; `day` is days after 2025-01-01."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def _env(self, day: float, device: str = "d1", offset: int = 0, hlc: int | None = None) -> Any:
        n = len(self.events) + 1
        return {
            "event_id": f"ev{n:04d}",
            "device_id": device,
            "seq": sum(1 for e in self.events if e.device_id == device) + 1,
            "hlc": pack(1_800_000_000_000 + n, 0) if hlc is None else hlc,
            "occurred_at": int((D0 + day) * DAY),
            "utc_offset": offset,
        }

    def add(self, event_type: type[Event], day: float = 0, **kw: Any) -> Event:
        env_keys = ("device", "offset", "hlc")
        env = self._env(day, **{k: kw.pop(k) for k in env_keys if k in kw})
        if "event_id" in kw:
            env["event_id"] = kw.pop("event_id")
        event = event_type(**env, **kw)
        self.events.append(event)
        return event

    def contact(self, name: str, circle: str = "close", day: float = 0, **kw: Any) -> str:
        return self.add(ContactAdded, day, name=name, circle=circle, **kw).event_id


def row(snapshot: views.Snapshot, name: str) -> views.LedgerRow:
    (found,) = [r for r in snapshot.ledger if r.name == name]
    return found


def test_ledger_counts_gives_asks_outcomes_and_introductions() -> None:
    h = History()
    a, b = h.contact("Ann"), h.contact("Ben")
    h.add(GiveMade, 10, contact_id=a, what="advice", weight=3)
    h.add(IntroductionMade, 20, contact_ids=(a, b), weight=2)
    ask1 = h.add(AskMade, 30, contact_id=a, what="x", weight=4).event_id
    h.add(AskResolved, 31, ask_id=ask1, outcome="granted")
    h.add(AskMade, 40, contact_id=a, what="y", weight=1)
    ask3 = h.add(AskMade, 50, contact_id=a, what="z", weight=2).event_id
    h.add(AskResolved, 51, ask_id=ask3, outcome="declined")
    h.add(AskResolved, 52, ask_id=ask3, outcome="withdrawn")  # later write wins
    wrong = h.add(GiveMade, 60, contact_id=a, what="typo", weight=5).event_id
    h.add(EventRetracted, 61, target_id=wrong, reason="mistake")
    snap = compute(h.events, D0 + 100)
    ann = row(snap, "Ann")
    assert (ann.gives, ann.give_weight, ann.asks, ann.ask_weight) == (2, 5, 3, 7)
    assert (ann.granted, ann.declined, ann.withdrawn, ann.unanswered, ann.open) == (1, 0, 1, 0, 1)
    assert ann.balance == -2
    assert ann.last_give == date_of(D0 + 20)
    assert ann.last_ask == date_of(D0 + 50)
    assert ann.last_touch == date_of(D0 + 50)
    assert ann.one_sided and not ann.only_asks
    ben = row(snap, "Ben")
    assert (ben.gives, ben.give_weight, ben.balance, ben.asks) == (1, 2, 2, 0)


def test_flags_look_at_the_365_days_up_to_the_as_of_date() -> None:
    h = History()
    a = h.contact("Ann", day=-1000)
    h.add(GiveMade, -400, contact_id=a, what="big help", weight=5)
    h.add(AskMade, -365, contact_id=a, what="old", weight=1)  # exactly 365 days: outside
    h.add(AskMade, -10, contact_id=a, what="recent", weight=2)
    as_of = D0
    ann = row(compute(h.events, as_of), "Ann")
    assert ann.balance == 2 and ann.one_sided and ann.only_asks
    h.add(InteractionLogged, -5, contact_ids=(a,))
    ann = row(compute(h.events, as_of), "Ann")
    assert ann.one_sided and not ann.only_asks
    # Seen from a day before the give, nothing lies in the window at all.
    early = row(compute(h.events, D0 - 600), "Ann")
    assert not early.one_sided and not early.only_asks


def test_local_date_applies_the_events_own_offset() -> None:
    h = History()
    a = h.contact("Ann")
    # 23:30 UTC on day 10 is 00:30 on day 11 one hour east of UTC.
    h.add(InteractionLogged, 10 + 23.5 / 24, contact_ids=(a,), offset=60)
    assert row(compute(h.events, D0 + 20), "Ann").last_touch == date_of(D0 + 11)
    h2 = History()
    b = h2.contact("Ben")
    h2.add(InteractionLogged, 10 + 23.5 / 24, contact_ids=(b,), offset=0)
    assert row(compute(h2.events, D0 + 20), "Ben").last_touch == date_of(D0 + 10)


@pytest.mark.parametrize(
    ("since", "status", "overdue"),
    [(0, "warm", 0), (22, "warm", 0), (23, "cooling", 0), (30, "cooling", 0), (31, "cold", 1)],
)
def test_cold_status_thresholds(since: int, status: str, overdue: int) -> None:
    h = History()
    a = h.contact("Ann", circle="close")  # cadence 30: cooling from 22.5 days
    h.add(InteractionLogged, 100, contact_ids=(a,))
    (r,) = compute(h.events, D0 + 100 + since).cold
    assert (r.days_since, r.status, r.overdue_days, r.cadence_days) == (since, status, overdue, 30)


def test_cold_sorting_as_of_and_never_touched_contacts() -> None:
    h = History()
    a = h.contact("Ann", circle="inner", day=0)  # cadence 14
    b = h.contact("Ben", circle="distant", day=0)  # cadence 180
    h.contact("Cal", circle="close", day=50)  # never touched: counts from day 50
    h.contact("Dee", circle="none", day=0)  # no cadence: never listed
    h.contact("Eve", circle="wider", day=300)  # added after the as-of day
    h.add(InteractionLogged, 150, contact_ids=(a,))
    h.add(InteractionLogged, 10, contact_ids=(b,))
    h.add(InteractionLogged, 250, contact_ids=(a, b))  # after as-of: ignored
    rows = views.cold(views.summaries(Fold(h.events)), D0 + 200, everyone=True)
    assert [(r.name, r.status, r.days_since) for r in rows] == [
        ("Cal", "cold", 150),  # 150/30 = 5.0 cadences
        ("Ann", "cold", 50),  # 50/14 = 3.6
        ("Ben", "cold", 190),  # 190/180 = 1.06
    ]
    assert rows[0].last_touch is None
    assert not [r for r in views.cold(views.summaries(Fold(h.events)), D0 + 260) if r.name == "Ben"]


def test_merges_archives_and_edits() -> None:
    h = History()
    a, a2, b, c = h.contact("Ann"), h.contact("Ann (dup)"), h.contact("Ben"), h.contact("Cy")
    h.add(GiveMade, 5, contact_id=a2, what="help", weight=4)
    h.add(ContactsMerged, 6, survivor_id=a, absorbed_id=a2)
    # Two devices merge Ben and Cy in opposite directions at the same HLC.
    same = pack(1_900_000_000_000, 0)
    h.add(ContactsMerged, 7, survivor_id=b, absorbed_id=c, device="d1", hlc=same)
    h.add(ContactsMerged, 7, survivor_id=c, absorbed_id=b, device="d2", hlc=same)
    h.add(AskMade, 8, contact_id=b, what="x", weight=3)
    h.add(AskMade, 8, contact_id=c, what="y", weight=1)
    # An edit and an archival of Ann from two devices: both apply.
    h.add(ContactEdited, 9, contact_id=a, name="Annie", device="d1")
    archival = h.add(ContactArchived, 9, contact_id=a, device="d2").event_id
    fold = Fold(h.events)
    snap = views.snapshot(views.summaries(fold), D0 + 20)
    assert [r.name for r in snap.ledger] == ["Ben"] or [r.name for r in snap.ledger] == ["Cy"]
    (bc,) = snap.ledger
    assert (bc.asks, bc.ask_weight) == (2, 4)
    annie = fold.contact(a)
    assert annie is not None and annie.archived and annie.name == "Annie"
    assert not [r for r in snap.ledger if r.contact_id in (a, a2)]  # archived: no row
    h.add(EventRetracted, 11, target_id=archival, reason="oops")  # un-archives Ann
    annie_row = row(compute(h.events, D0 + 20), "Annie")
    assert annie_row.gives == 1 and annie_row.give_weight == 4  # the duplicate's give counts


def test_timeline_shows_everything_about_the_group_marked() -> None:
    h = History()
    a, a2 = h.contact("Ann"), h.contact("Ann 2")
    ask = h.add(AskMade, 3, contact_id=a2, what="lift", weight=1).event_id
    h.add(AskResolved, 4, ask_id=ask, outcome="granted")
    slip = h.add(InteractionLogged, 2, contact_ids=(a,)).event_id
    retraction = h.add(EventRetracted, 5, target_id=slip, reason="wrong person").event_id
    h.add(ContactsMerged, 6, survivor_id=a, absorbed_id=a2)
    other = h.contact("Ben")
    h.add(GiveMade, 7, contact_id=other, what="not about Ann")
    entries = views.timeline(Fold(h.events), a)
    assert [e.type for e in entries] == [
        "ContactAdded",
        "ContactAdded",
        "InteractionLogged",
        "AskMade",
        "AskResolved",
        "EventRetracted",
        "ContactsMerged",
    ]
    (struck,) = [e for e in entries if e.retracted]
    assert struck.event_id == slip and struck.retracted_by == (retraction,)
    assert [e.occurred_at for e in entries] == sorted(e.occurred_at for e in entries)


def test_sample_is_deterministic_valid_and_sized() -> None:
    first = list(generate(3, contacts=60, years=3, devices=3))
    assert first == list(generate(3, contacts=60, years=3, devices=3))
    assert first != list(generate(4, contacts=60, years=3, devices=3))
    kinds = Counter(type(e).__name__ for e in first)
    for kind in ("ContactAdded", "InteractionLogged", "AskMade", "AskResolved", "GiveMade"):
        assert kinds[kind] > 0, kind
    assert len({e.device_id for e in first}) == 3
    hlcs = [e.hlc for e in first]
    assert hlcs == sorted(set(hlcs))
    capped = list(generate(3, contacts=60, years=3, events=500))
    assert len(capped) == 500
    store = open_store(":memory:")
    log = EventLog(store)
    assert len(log.ingest(first)) == len(first)  # gapless, consistent: the log accepts it


def test_sample_has_merges_and_retractions_at_scale() -> None:
    history = list(generate(11, contacts=400, years=6))
    kinds = Counter(type(e).__name__ for e in history)
    assert kinds["ContactsMerged"] > 0 and kinds["EventRetracted"] > 0
    snap = compute(history, day_of(date(2026, 1, 1)))
    assert {r.status for r in snap.cold} == {"warm", "cooling", "cold"}
    assert any(r.one_sided for r in snap.ledger)


def test_touches_before_1970_count() -> None:
    h = History()
    a = h.contact("Ann", day=-30_000)
    before_epoch = day_of(date(1969, 12, 31)) - D0
    h.add(GiveMade, before_epoch + 0.5, contact_id=a, what="old favour", weight=3)
    h.add(AskMade, before_epoch + 0.5, contact_id=a, what="old ask", weight=2)
    ann = row(compute(h.events, day_of(date(1970, 6, 1))), "Ann")
    assert (ann.give_weight, ann.ask_weight) == (3, 2)
    assert ann.last_give == ann.last_ask == ann.last_touch == "1969-12-31"
    assert not ann.one_sided and not ann.only_asks
