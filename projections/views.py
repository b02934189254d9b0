"""The views, as pure functions of a set of events (see ADR 0010).

Everything here is computed from a `Fold` and nothing else, so that a view never
depends on the order in which events arrived. The persisted views store
`Summary` records, the date-independent part of a contact's views, and derive
the date-dependent parts (window flags, going-cold status) at read time with the
same functions as here. Dates are local day numbers (`core.days`).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

import msgspec

from core.clock import physical_ms
from core.days import Day, day_of, local_day
from core.days import iso_day as date_of
from core.events import (
    CIRCLES,
    AskMade,
    AskResolved,
    ContactAdded,
    ContactArchived,
    ContactEdited,
    ContactRestored,
    ContactsMerged,
    Event,
    EventRetracted,
    GiveMade,
    InteractionLogged,
    IntroductionMade,
    NoteAdded,
    OpaqueEvent,
    type_name,
)

from .fold import Fold
from .touches import ASK_BIT, DAY_SHIFT, GIVE_BIT, TOUCH_TYPES, WEIGHT_MASK, first_code, touch_code

__all__ = ["Day", "date_of", "day_of"]  # re-exported: the CLI and the server read dates here
#: The window of the `one_sided` and `only_asks` flags, in days before the as-of day.
WINDOW_DAYS: Final = 365
#: One-sided relationships listed by `stats`.
TOP_ONE_SIDED: Final = 5


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    """The date-independent facts of one active contact (its whole merge group).

    `touches` holds the touch code (`projections.touches`: local day, kind, weight) of
    every live touch, sorted, so that they are in day order: the window flags and
    the going-cold status for any as-of day are a bisection and a short walk.
    """

    contact_id: str
    name: str
    circle: str
    cadence_days: int | None
    added_day: Day
    gives: int = 0
    give_weight: int = 0
    asks: int = 0
    ask_weight: int = 0
    granted: int = 0
    declined: int = 0
    withdrawn: int = 0
    unanswered: int = 0
    open: int = 0
    last_give: Day | None = None
    last_ask: Day | None = None
    last_touch: Day | None = None
    touches: tuple[int, ...] = ()


class LedgerRow(msgspec.Struct, frozen=True, kw_only=True):
    contact_id: str
    name: str
    gives: int
    give_weight: int
    asks: int
    ask_weight: int
    granted: int
    declined: int
    withdrawn: int
    unanswered: int
    open: int
    balance: int
    last_give: str | None
    last_ask: str | None
    last_touch: str | None
    one_sided: bool
    only_asks: bool


class ColdRow(msgspec.Struct, frozen=True, kw_only=True):
    contact_id: str
    name: str
    circle: str
    cadence_days: int
    last_touch: str | None
    days_since: int
    status: str
    overdue_days: int


class TimelineEntry(msgspec.Struct, frozen=True, kw_only=True):
    event_id: str
    type: str
    device_id: str
    recorded_at: str
    occurred_at: str
    date: str
    summary: str
    contact_ids: tuple[str, ...]
    retracted: bool
    retracted_by: tuple[str, ...] = ()


class Stats(msgspec.Struct, frozen=True, kw_only=True):
    as_of: str
    contacts: int
    circles: dict[str, int]
    warm: int
    cooling: int
    cold: int
    gives: int
    give_weight: int
    asks: int
    ask_weight: int
    open_asks: int
    most_one_sided: list[LedgerRow]


# -- summaries ------------------------------------------------------------------------


def summarize(fold: Fold, survivor_id: str) -> Summary | None:
    """The summary of an active contact's group, or None if it has no rows.

    One event counts once for a group even if it names two of its members (an
    interaction with a contact and its duplicate is one touch).
    """
    contact = fold.contact(survivor_id)
    if contact is None or not contact.active:
        return None
    members = fold.members(survivor_id)
    events: Iterable[Event] = fold.about.get(survivor_id, ())
    if len(members) > 1:  # an event naming two members counts once
        events = {e.event_id: e for m in members for e in fold.about.get(m, ())}.values()
    retracted = fold.retractions  # touches are never retractions: any retraction counts
    live = [e for e in events if type(e) in TOUCH_TYPES and e.event_id not in retracted]
    totals = dict.fromkeys(_TOTALS, 0)
    for e in live:
        if type(e) is AskMade:
            totals[fold.outcome(e.event_id) or "open"] += 1
    codes = [touch_code(e) for e in live]
    return _finish(
        Summary(
            contact_id=survivor_id,
            name=contact.name,
            circle=contact.circle,
            cadence_days=contact.effective_cadence,
            added_day=local_day(contact.added.occurred_at, contact.added.utc_offset),
        ),
        sorted(codes),
        totals,
    )


def add_touches(summary: Summary, touches: Sequence[Event]) -> Summary:
    """`summary` with more live touches of its group counted (asks among them open).

    The incremental path for the common case: the new touches are not retracted,
    not already counted, and no resolution of their asks is known yet. Because a
    summary is a sum over touches, this equals summarizing the union.
    """
    new = [touch_code(e) for e in touches]
    totals = {name: getattr(summary, name) for name in _TOTALS}
    totals["open"] += sum(1 for e in touches if type(e) is AskMade)
    return _finish(summary, sorted([*summary.touches, *new]), totals, _counts(new, summary))


_TOTALS: Final = (
    "gives",
    "give_weight",
    "asks",
    "ask_weight",
    "granted",
    "declined",
    "withdrawn",
    "unanswered",
    "open",
)
#: What `_counts` sums over touch codes, and the last give and ask days.
_Counts = tuple[int, int, int, int, Day | None, Day | None]
_NONE: Final[_Counts] = (0, 0, 0, 0, None, None)


def _counts(codes: Iterable[int], start: Summary | None = None) -> _Counts:
    """Gives, give weight, asks, ask weight, last give day and last ask day of
    `codes`, counted on from those of `start`."""
    gives, give_weight, asks, ask_weight, last_give, last_ask = _NONE
    if start is not None:
        gives, give_weight, asks, ask_weight = (
            start.gives,
            start.give_weight,
            start.asks,
            start.ask_weight,
        )
        last_give, last_ask = start.last_give, start.last_ask
    for code in codes:
        day = code >> DAY_SHIFT
        if code & ASK_BIT:
            asks += 1
            ask_weight += code & WEIGHT_MASK
            if last_ask is None or day > last_ask:
                last_ask = day
        elif code & GIVE_BIT:
            gives += 1
            give_weight += code & WEIGHT_MASK
            if last_give is None or day > last_give:
                last_give = day
    return gives, give_weight, asks, ask_weight, last_give, last_ask


def _finish(
    base: Summary, codes: list[int], totals: dict[str, int], counts: _Counts | None = None
) -> Summary:
    """`base` with its touch codes (sorted) and totals; `counts` as `_counts(codes)`."""
    gives, give_weight, asks, ask_weight, last_give, last_ask = counts or _counts(codes)
    totals.update(gives=gives, give_weight=give_weight, asks=asks, ask_weight=ask_weight)
    return msgspec.structs.replace(
        base,
        last_give=last_give,
        last_ask=last_ask,
        last_touch=codes[-1] >> DAY_SHIFT if codes else None,
        touches=tuple(codes),
        **totals,
    )


def summaries(fold: Fold) -> list[Summary]:
    """Summaries of every active contact, by contact id."""
    out = []
    for survivor_id in sorted(fold.groups()):
        summary = summarize(fold, survivor_id)
        if summary is not None:
            out.append(summary)
    return out


# -- date-dependent views -------------------------------------------------------------


def window(touches: Sequence[int], as_of: Day) -> tuple[int, int, int, int]:
    """(give_weight, ask_weight, touches, ask_touches) over (as_of - 365, as_of]."""
    give = ask = count = ask_count = 0
    end = bisect.bisect_left(touches, first_code(as_of + 1))
    start = bisect.bisect_left(touches, first_code(as_of - WINDOW_DAYS + 1), 0, end)
    for code in touches[start:end]:
        count += 1
        if code & ASK_BIT:
            ask += code & WEIGHT_MASK
            ask_count += 1
        elif code & GIVE_BIT:
            give += code & WEIGHT_MASK
    return give, ask, count, ask_count


def ledger_row(s: Summary, as_of: Day) -> LedgerRow:
    """A contact's ledger row; the flags look at the 365 days up to `as_of`."""
    give, ask, touches, ask_touches = window(s.touches, as_of)
    return LedgerRow(
        contact_id=s.contact_id,
        name=s.name,
        gives=s.gives,
        give_weight=s.give_weight,
        asks=s.asks,
        ask_weight=s.ask_weight,
        granted=s.granted,
        declined=s.declined,
        withdrawn=s.withdrawn,
        unanswered=s.unanswered,
        open=s.open,
        balance=s.give_weight - s.ask_weight,
        last_give=date_of(s.last_give),
        last_ask=date_of(s.last_ask),
        last_touch=date_of(s.last_touch),
        one_sided=ask > give,
        only_asks=touches > 0 and touches == ask_touches,
    )


def ledger(summaries: Iterable[Summary], as_of: Day) -> list[LedgerRow]:
    """Ledger rows by name (case-insensitive), then id."""
    rows = [ledger_row(s, as_of) for s in summaries]
    rows.sort(key=lambda r: (r.name.casefold(), r.contact_id))
    return rows


def last_touch_on(s: Summary, as_of: Day) -> Day | None:
    """The latest touch day on or before `as_of`."""
    i = bisect.bisect_left(s.touches, first_code(as_of + 1))
    return s.touches[i - 1] >> DAY_SHIFT if i else None


def cold_row(s: Summary, as_of: Day) -> ColdRow | None:
    """Going-cold status as of a day; None without a cadence or if added later.

    A contact never touched counts from the day it was added (ADR 0010).
    """
    if s.cadence_days is None or s.added_day > as_of:
        return None
    last = last_touch_on(s, as_of)
    since = as_of - (s.added_day if last is None else last)
    cadence = s.cadence_days
    if 4 * since < 3 * cadence:
        status = "warm"
    elif since <= cadence:
        status = "cooling"
    else:
        status = "cold"
    return ColdRow(
        contact_id=s.contact_id,
        name=s.name,
        circle=s.circle,
        cadence_days=cadence,
        last_touch=date_of(last),
        days_since=since,
        status=status,
        overdue_days=max(0, since - cadence),
    )


_URGENCY: Final = {"cold": 0, "cooling": 1, "warm": 2}


def cold(summaries: Iterable[Summary], as_of: Day, *, everyone: bool = False) -> list[ColdRow]:
    """Cooling and cold contacts (every contact with a cadence if `everyone`).

    Most urgent first: cold before cooling before warm, and within each, by how
    far along their cadence they are (days since / cadence), then by name.
    """
    rows = [r for s in summaries if (r := cold_row(s, as_of)) is not None]
    if not everyone:
        rows = [r for r in rows if r.status != "warm"]
    rows.sort(
        key=lambda r: (
            _URGENCY[r.status],
            -r.days_since / r.cadence_days,
            r.name.casefold(),
            r.contact_id,
        )
    )
    return rows


def stats(summaries: Sequence[Summary], as_of: Day) -> Stats:
    """Network totals as of a day."""
    circles = dict.fromkeys(CIRCLES, 0)
    for s in summaries:
        circles[s.circle] = circles.get(s.circle, 0) + 1
    statuses = Counter(r.status for r in cold(summaries, as_of, everyone=True))
    rows = ledger(summaries, as_of)
    one_sided = sorted(
        (r for r in rows if r.balance < 0), key=lambda r: (r.balance, r.name.casefold())
    )
    return Stats(
        as_of=date_of(as_of) or "",
        contacts=len(summaries),
        circles=circles,
        warm=statuses["warm"],
        cooling=statuses["cooling"],
        cold=statuses["cold"],
        gives=sum(s.gives for s in summaries),
        give_weight=sum(s.give_weight for s in summaries),
        asks=sum(s.asks for s in summaries),
        ask_weight=sum(s.ask_weight for s in summaries),
        open_asks=sum(s.open for s in summaries),
        most_one_sided=one_sided[:TOP_ONE_SIDED],
    )


# -- timeline ---------------------------------------------------------------------------


def concerning(fold: Fold, survivor_id: str) -> list[Event]:
    """Every event about a contact's group: its members' events, resolutions of
    their asks, and retractions of any of these. Unordered, without duplicates."""
    found: dict[str, Event] = {}
    for member in fold.members(survivor_id):
        for event in fold.about.get(member, ()):
            found[event.event_id] = event
            if isinstance(event, AskMade):
                for resolution in fold.resolutions.get(event.event_id, ()):
                    found[resolution.event_id] = resolution
    for event in list(found.values()):
        for retraction in fold.retractions.get(event.event_id, ()):
            found[retraction.event_id] = retraction
    return list(found.values())


def timeline(
    fold: Fold, survivor_id: str, names: Mapping[str, str] | None = None
) -> list[TimelineEntry]:
    """A contact's full history, oldest first (occurred_at, then hlc, then event id).

    Retracted events stay, marked, with the retractions that retracted them.
    `names` gives the current name of every contact (other contacts named by an
    event need not be in `fold`); by default names come from `fold`.
    """
    if names is None:
        names = {c.id: c.name for c in fold.contacts()}
    events = sorted(concerning(fold, survivor_id), key=lambda e: (e.occurred_at, *_key(e)))
    return [_entry(fold, e, names) for e in events]


def _key(event: Event) -> tuple[int, str]:
    return (event.hlc, event.event_id)


def _iso(unix_ms: int, offset_minutes: int) -> str:
    tz = UTC if offset_minutes == 0 else timezone(timedelta(minutes=offset_minutes))
    return datetime.fromtimestamp(unix_ms / 1000, tz).isoformat(timespec="seconds")


def _entry(fold: Fold, event: Event, names: Mapping[str, str]) -> TimelineEntry:
    retracted = fold.is_retracted(event.event_id)
    by = tuple(sorted(r.event_id for r in fold.retractions.get(event.event_id, ())))
    return TimelineEntry(
        event_id=event.event_id,
        type=type_name(event),
        device_id=event.device_id,
        recorded_at=_iso(physical_ms(event.hlc), 0),
        occurred_at=_iso(event.occurred_at, event.utc_offset),
        date=date_of(local_day(event.occurred_at, event.utc_offset)) or "",
        summary=describe(fold, event, names),
        contact_ids=_contacts(fold, event),
        retracted=retracted,
        retracted_by=by if retracted else (),
    )


def _contacts(fold: Fold, event: Event) -> tuple[str, ...]:
    if isinstance(event, AskResolved):
        ask = fold.asks.get(event.ask_id)
        return () if ask is None else (ask.contact_id,)
    if isinstance(event, EventRetracted):
        target = fold.by_id.get(event.target_id)
        return () if target is None else _contacts(fold, target)
    if isinstance(event, ContactAdded):
        return (event.event_id,)
    if isinstance(event, InteractionLogged | IntroductionMade):
        return tuple(event.contact_ids)
    if isinstance(event, ContactsMerged):
        return (event.survivor_id, event.absorbed_id)
    return (str(getattr(event, "contact_id", "")),)


def describe(fold: Fold, event: Event | OpaqueEvent, names: Mapping[str, str]) -> str:
    """One line saying what an event recorded, for people."""

    def _name(_: Fold, contact_id: str) -> str:
        return names.get(contact_id, contact_id[:8])

    if isinstance(event, ContactAdded):
        return f"added {event.name} ({event.circle})"
    if isinstance(event, ContactEdited):
        fields = {
            f: getattr(event, f)
            for f in ("name", "emails", "phones", "org", "tags", "circle", "cadence_days")
            if getattr(event, f) is not msgspec.UNSET
        }
        return "edited " + ", ".join(f"{k}={v!r}" for k, v in fields.items())
    if isinstance(event, ContactArchived):
        return f"archived {_name(fold, event.contact_id)}"
    if isinstance(event, ContactRestored):
        return f"restored {_name(fold, event.contact_id)}"
    if isinstance(event, ContactsMerged):
        return (
            f"merged {_name(fold, event.absorbed_id)} ({event.absorbed_id[:8]}) into "
            f"{_name(fold, event.survivor_id)} ({event.survivor_id[:8]})"
        )
    if isinstance(event, InteractionLogged):
        people = ", ".join(_name(fold, c) for c in event.contact_ids)
        note = f": {event.note}" if event.note else ""
        return f"{event.channel} with {people} (by {event.initiated_by}){note}"
    if isinstance(event, AskMade):
        outcome = fold.outcome(event.event_id) or "open"
        return f"asked {_name(fold, event.contact_id)}: {event.what} (w{event.weight}, {outcome})"
    if isinstance(event, AskResolved):
        ask = fold.asks.get(event.ask_id)
        what = ask.what if ask is not None else event.ask_id[:8]
        return f"ask {what!r} {event.outcome}" + (f": {event.note}" if event.note else "")
    if isinstance(event, GiveMade):
        return f"gave {_name(fold, event.contact_id)}: {event.what} ({event.kind}, w{event.weight})"
    if isinstance(event, IntroductionMade):
        a, b = (_name(fold, c) for c in event.contact_ids)
        return f"introduced {a} and {b} (w{event.weight})"
    if isinstance(event, NoteAdded):
        return f"note: {event.text}"
    if isinstance(event, EventRetracted):
        target = fold.by_id.get(event.target_id)
        what = type_name(target) if target is not None else "event"
        return f"retracted {what} {event.target_id[:8]}: {event.reason}"
    return f"{getattr(event, 'type', 'event')}"


# -- all at once ---------------------------------------------------------------------------


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Every date-dependent view of a set of events as of one day."""

    ledger: list[LedgerRow]
    cold: list[ColdRow]
    stats: Stats


def snapshot(sums: Sequence[Summary], as_of: Day) -> Snapshot:
    return Snapshot(
        ledger=ledger(sums, as_of), cold=cold(sums, as_of, everyone=True), stats=stats(sums, as_of)
    )


def compute(events: Iterable[Event | OpaqueEvent], as_of: Day) -> Snapshot:
    """The views of a set of events, computed from scratch in memory (the reference)."""
    return snapshot(summaries(Fold(events)), as_of)
