"""Generate the conformance vectors of the browser client from the Python views.

The Python views are the reference (ADR 0010); the JavaScript views must give
the same answers (ADR 0090). This script writes, from the reference alone:

- `tests/conformance/vectors/*.json`: event sets (hand-written edge cases and
  hypothesis-generated multi-device histories with retractions, opposite merges,
  concurrent edits, twins and unknown types) with the expected contact listing,
  and for each as-of day the ledger, the going-cold view, the stats and the plan
  for that day (`scoring.plan`, ADR 0100, at each of `PLAN_LIMITS`), and the
  timeline of every contact;
- `tests/conformance/vectors/plan/*.json`: hand-written event sets for the plan
  alone (every kind of nudge, birthdays and occasions, the limit and the cap per
  kind), with the plans of each as-of day: they hold `ContactDetailsSet`
  events, of which the browser client reads only the dates;
- `web/client/casefold.js`: Python's `str.casefold` as a table, so that names
  sort the same in both languages;
- `web/client/personal.js` and `tests/conformance/redaction.json`: what
  forgetting a person rewrites (`tests/conformance/redaction.py`).

Run it after a change to the semantics, and commit what it writes:

    python -m tests.conformance.generate

Never edit the output by hand: `tests/test_conformance.py` checks every vector
against the Python views and the table against `str.casefold`.
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final

import msgspec
from hypothesis import strategies as st

from core import codec
from core.clock import pack
from core.events import (
    AskMade,
    AskResolved,
    ContactAdded,
    ContactArchived,
    ContactDetailsSet,
    ContactEdited,
    ContactRestored,
    ContactsMerged,
    Event,
    EventRetracted,
    GiveMade,
    InteractionLogged,
    IntroductionMade,
    NoteAdded,
    Occasion,
    OpaqueEvent,
)
from projections import views
from projections.contacts import contact_rows
from projections.fold import Fold
from scoring.history import History
from scoring.plan import DEFAULT_LIMIT, Plan, plan
from sync.protocol import event_from_wire

from ..strategies import AS_OF, BASE_MS, DAY_MS, histories, with_twins
from . import redaction

ROOT: Final = Path(__file__).resolve().parents[2]
VECTORS: Final = Path(__file__).resolve().parent / "vectors"
PLAN_VECTORS: Final = VECTORS / "plan"
#: The limits each day's plan is computed at: the default, one that cuts, one past the cap per kind.
PLAN_LIMITS: Final = (DEFAULT_LIMIT, 2, 12)
CASEFOLD_JS: Final = ROOT / "web" / "client" / "casefold.js"
#: How many hypothesis histories become vectors.
GENERATED: Final = 60
_FORMAT: Final = msgspec.json.Encoder()


# -- the reference ------------------------------------------------------------------------


def wire(event: Event | OpaqueEvent) -> bytes:
    """An event as the server sends it in JSON."""
    return codec.to_json(event)


def _day(text: str) -> int:
    return views.day_of(__import__("datetime").date.fromisoformat(text))


def plans(history: History, day: int) -> list[Plan]:
    """The plan for the end of `day` at each of `PLAN_LIMITS`."""
    return [plan(history, day, limit=limit) for limit in PLAN_LIMITS]


def expected(events: Sequence[Event | OpaqueEvent], as_of: Sequence[str]) -> dict[str, Any]:
    """Every view of `events`, computed by the Python reference."""
    fold = Fold(events)
    sums = views.summaries(fold)
    history = History(events)
    by_day: dict[str, Any] = {}
    for text in as_of:
        day = _day(text)
        by_day[text] = {
            "ledger": views.ledger(sums, day),
            "cold": views.cold(sums, day),
            "cold_all": views.cold(sums, day, everyone=True),
            "stats": views.stats(sums, day),
            "plans": plans(history, day),
        }
    ids = sorted(set(fold.added) | set(fold.groups()))
    timelines = {i: views.timeline(fold, fold.survivor(i)) for i in ids}
    return {
        "contacts": contact_rows(fold, include_all=True),
        "as_of": by_day,
        "timelines": timelines,
    }


def expected_plans(events: Sequence[Event | OpaqueEvent], as_of: Sequence[str]) -> dict[str, Any]:
    """The plans of `events` alone (a plan vector), computed by the Python reference."""
    history = History(events)
    return {"as_of": {text: {"plans": plans(history, _day(text))} for text in as_of}}


def document(
    name: str,
    about: str,
    events: Sequence[Event | OpaqueEvent],
    as_of: Sequence[str],
    expect_of: Callable[[Sequence[Event | OpaqueEvent], Sequence[str]], Any] = expected,
) -> bytes:
    """A vector file: one compact event per line (as on the wire), the expectations below."""
    lines = b",\n    ".join(wire(e) for e in events)
    expect = msgspec.json.format(_FORMAT.encode(expect_of(events, as_of)), indent=2)
    head = _FORMAT.encode({"name": name, "about": about, "as_of": list(as_of)})
    return (
        head[:-1]
        + b',\n  "events": [\n    '
        + lines
        + b'\n  ],\n  "expected": '
        + expect
        + b"\n}\n"
    )


def read_events(data: dict[str, Any]) -> list[Event | OpaqueEvent]:
    """The events of a loaded vector, decoded as the server would decode them."""
    return [event_from_wire(msgspec.json.encode(e), "json") for e in data["events"]]


# -- hand-written edge cases ------------------------------------------------------------------


class Builder:
    """Events with increasing HLCs; `day` counts from 2025-01-01 (UTC)."""

    D0: Final = 20089  # 2025-01-01

    def __init__(self) -> None:
        self.events: list[Event | OpaqueEvent] = []
        self.seqs: dict[str, int] = {}

    def env(
        self,
        day: float,
        device: str = "dev-a",
        *,
        offset: int = 0,
        hlc: int | None = None,
        event_id: str | None = None,
    ) -> dict[str, Any]:
        self.seqs[device] = self.seqs.get(device, 0) + 1
        n = len(self.events) + 1
        return {
            "event_id": event_id or f"0190{n:04d}-0000-7000-8000-{n:012d}",
            "device_id": device,
            "seq": self.seqs[device],
            "hlc": pack(1_740_000_000_000 + n * 1000, 0) if hlc is None else hlc,
            "occurred_at": int((self.D0 + day) * DAY_MS),
            "utc_offset": offset,
        }

    def add(self, cls: type[Event], day: float = 0, **kw: Any) -> Event:
        env_keys = ("device", "offset", "hlc", "event_id")
        env = self.env(day, **{k: kw.pop(k) for k in env_keys if k in kw})
        event = cls(**env, **kw)
        self.events.append(event)
        return event

    def contact(self, name: str, circle: str = "none") -> str:
        """The id of a new contact, added on day 0."""
        return self.add(ContactAdded, 0, name=name, circle=circle).event_id

    def unknown(self, type_name: str, day: float = 0, **fields: Any) -> OpaqueEvent:
        body = {"type": type_name, **self.env(day), "v": fields.pop("v", 1), **fields}
        event = event_from_wire(msgspec.json.encode(body), "json")
        assert isinstance(event, OpaqueEvent)
        self.events.append(event)
        return event


def case_empty() -> Builder:
    return Builder()


def case_retractions() -> Builder:
    b = Builder()
    ann = b.add(ContactAdded, 0, name="Ann", circle="close")
    met = b.add(InteractionLogged, 5, contact_ids=(ann.event_id,))
    ask = b.add(AskMade, 6, contact_id=ann.event_id, what="a loan", weight=4)
    b.add(AskResolved, 7, ask_id=ask.event_id, outcome="granted")
    gave = b.add(GiveMade, 8, contact_id=ann.event_id, what="advice", weight=2)
    first = b.add(EventRetracted, 9, target_id=met.event_id, reason="logged twice")
    b.add(EventRetracted, 10, target_id=first.event_id, reason="retracting a retraction: inert")
    b.add(EventRetracted, 11, target_id=ask.event_id, reason="never asked")
    # a retraction that arrives before its target (same set, any order)
    early = b.env(12, "dev-b")
    late_give = GiveMade(**b.env(13, "dev-c"), contact_id=ann.event_id, what="book", weight=3)
    b.events.append(EventRetracted(**early, target_id=late_give.event_id, reason="before"))
    b.events.append(late_give)
    b.add(EventRetracted, 14, target_id="0190ffff-0000-7000-8000-00000000dead", reason="unknown")
    del gave
    return b


def case_last_writer_wins() -> Builder:
    b = Builder()
    bob = b.add(ContactAdded, 0, name="Bob", circle="wider", hlc=pack(1_750_000_000_000, 5))
    cid = bob.event_id
    # older than the add: ignored for every field
    b.add(ContactEdited, 1, contact_id=cid, name="Too Old", hlc=pack(1_750_000_000_000, 1))
    same = pack(1_760_000_000_000, 0)
    for name, device, last in (("Bobby", "dev-a", "a"), ("Robert", "dev-b", "b")):
        event_id = f"01900000-0000-7000-8000-00000000000{last}"  # equal hlc: the id decides
        b.add(
            ContactEdited, 2, contact_id=cid, name=name, device=device, hlc=same, event_id=event_id
        )
    b.add(
        ContactEdited,
        3,
        contact_id=cid,
        circle="inner",
        cadence_days=7,
        org=None,
        emails=("bob@example.org", "r@example.org"),
        tags=("chess",),
    )
    b.add(ContactEdited, 4, contact_id=cid, cadence_days=None, phones=())
    b.add(ContactArchived, 5, contact_id=cid, device="dev-b")
    b.add(ContactRestored, 6, contact_id=cid, device="dev-a")
    cy = b.add(ContactAdded, 0, name="Cy", circle="distant")
    b.add(ContactRestored, 1, contact_id=cy.event_id, hlc=pack(1_760_000_000_000, 0))
    b.add(ContactArchived, 2, contact_id=cy.event_id, hlc=pack(1_760_000_000_000, 1))
    ask = b.add(AskMade, 7, contact_id=cid, what='it\'s a "favour"', weight=2)
    b.add(AskResolved, 8, ask_id=ask.event_id, outcome="declined", hlc=pack(1_770_000_000_000, 0))
    b.add(AskResolved, 8, ask_id=ask.event_id, outcome="granted", hlc=pack(1_769_000_000_000, 0))
    late = b.add(
        AskResolved,
        9,
        ask_id=ask.event_id,
        outcome="withdrawn",
        note="changed my mind",
        hlc=pack(1_771_000_000_000, 0),
    )
    b.add(EventRetracted, 10, target_id=late.event_id, reason="wrong ask")
    return b


def case_merges() -> Builder:
    b = Builder()
    a = b.add(ContactAdded, 0, name="Ada", circle="close").event_id
    a2 = b.add(ContactAdded, 1, name="Ada L.", circle="inner").event_id
    c = b.add(ContactAdded, 2, name="Charles", circle="wider").event_id
    d = b.add(ContactAdded, 3, name="Dee", circle="inner").event_id
    e = b.add(ContactAdded, 3, name="Eve", circle="close").event_id
    b.add(InteractionLogged, 10, contact_ids=(a, a2))  # one touch for the group
    b.add(IntroductionMade, 11, contact_ids=(a, a2), weight=3)
    b.add(GiveMade, 12, contact_id=a2, what="a referral", kind="referral", weight=2)
    same = pack(1_760_000_000_000, 0)
    b.add(ContactsMerged, 20, survivor_id=a, absorbed_id=a2, device="dev-a", hlc=same)
    b.add(ContactsMerged, 20, survivor_id=a2, absorbed_id=a, device="dev-b", hlc=same)
    b.add(ContactsMerged, 21, survivor_id=c, absorbed_id=d)  # a chain: d -> c -> e
    b.add(ContactsMerged, 22, survivor_id=e, absorbed_id=c)
    undone = b.add(ContactsMerged, 23, survivor_id=a, absorbed_id=e)
    b.add(EventRetracted, 24, target_id=undone.event_id, reason="not the same person")
    b.add(AskMade, 30, contact_id=d, what="call back", weight=1)
    b.add(NoteAdded, 31, contact_id=c, text="likes engines")
    return b


def case_twins() -> Builder:
    b = Builder()
    ann = b.add(
        ContactAdded, 0, name="Ann", device="dev-m", event_id="0190aaaa-0000-7000-8000-000000000001"
    )
    twin_id = "0190aaaa-0000-7000-8000-00000000000f"
    b.add(InteractionLogged, 3, contact_ids=(ann.event_id,), device="dev-m", event_id=twin_id)
    # a different event claiming the same id from a device that sorts first: it counts
    b.add(
        GiveMade,
        4,
        contact_id=ann.event_id,
        what="a gift",
        kind="gift",
        weight=5,
        device="dev-a",
        event_id=twin_id,
    )
    # and one from a device that sorts last: inert
    b.add(
        AskMade,
        5,
        contact_id=ann.event_id,
        what="ignored",
        weight=5,
        device="dev-z",
        event_id=twin_id,
    )
    # a twin of a contact: the least (device, seq) decides which name counts
    b.add(ContactAdded, 1, name="Not Ann", device="dev-z", event_id=ann.event_id)
    return b


def case_unknown_types() -> Builder:
    b = Builder()
    ann = b.add(ContactAdded, 0, name="Ann", circle="inner")
    b.unknown("MoodLogged", 1, contact_id=ann.event_id, mood="sunny", nested={"hlc": 5})
    b.unknown("GiveMade", 2, v=2, contact_id=ann.event_id, what="from the future", weight=5)
    b.unknown("ContactAdded", 3, v=9, name="Future Person")
    b.add(InteractionLogged, 4, contact_ids=(ann.event_id,), channel="call")
    return b


def case_going_cold() -> Builder:
    b = Builder()
    never = b.add(ContactAdded, 0, name="Never Touched", circle="inner")
    b.add(ContactAdded, 0, name="No Cadence", circle="none")
    own = b.add(ContactAdded, 0, name="Own Cadence", circle="none", cadence_days=10)
    late = b.add(ContactAdded, 200, name="Added Late", circle="close")
    warm = b.add(ContactAdded, 0, name="warm one", circle="close")
    b.add(InteractionLogged, 95, contact_ids=(warm.event_id,))
    b.add(InteractionLogged, 150, contact_ids=(warm.event_id, late.event_id))
    b.add(GiveMade, 92, contact_id=own.event_id, what="x", weight=1)
    b.add(AskMade, 99, contact_id=own.event_id, what="y", weight=5)
    # on the boundaries as of 2025-04-15 (day 104): warm/cooling at 3/4, cooling/cold past it
    quarter = b.add(ContactAdded, 0, name="Three Quarters", circle="none", cadence_days=4)
    b.add(InteractionLogged, 101, contact_ids=(quarter.event_id,))
    due = b.add(ContactAdded, 0, name="Due Today", circle="none", cadence_days=8)
    b.add(InteractionLogged, 96, contact_ids=(due.event_id,))
    over = b.add(ContactAdded, 0, name="One Day Over", circle="none", cadence_days=8)
    b.add(InteractionLogged, 95, contact_ids=(over.event_id,))
    for day in range(300, 700, 7):
        b.add(AskMade, day, contact_id=never.event_id, what=f"ask {day}", weight=1 + day % 5)
    return b


def case_local_days() -> Builder:
    b = Builder()
    far = b.add(ContactAdded, -20000, name="Pre-1970", circle="close", offset=-300)
    b.add(InteractionLogged, -19999.99, contact_ids=(far.event_id,), offset=-600)
    b.add(GiveMade, 10.98, contact_id=far.event_id, what="late evening", offset=60, weight=2)
    b.add(AskMade, 11.01, contact_id=far.event_id, what="just past midnight", offset=-1080)
    b.add(AskMade, 11.5, contact_id=far.event_id, what="east", offset=1080, weight=3)
    b.add(NoteAdded, 12, contact_id=far.event_id, text="a note is not a touch", offset=330)
    return b


def case_text() -> Builder:
    b = Builder()
    names = [
        "Straße",
        "STRASSE",
        "ς final",
        "Σίσυφος",
        "İstanbul",
        "ꭰꭱ Cherokee",
        "Ǆemal",
        "émile",
        "Emile",
        "😀 smile",
        "\uffff max bmp",
        "tab\there",
        "ﬁne",
    ]
    ids = [b.add(ContactAdded, i, name=n, circle="close").event_id for i, n in enumerate(names)]
    odd = b.add(ContactAdded, 1, name="Odd Id", event_id="ünïcode-id-😀-long-enough").event_id
    for i, cid in enumerate([*ids, odd]):
        b.add(
            AskMade,
            20 + i,
            contact_id=cid,
            what=[
                "it's",
                'say "hi"',
                "both ' and \"",
                "back\\slash",
                "bell\x07",
                "nbsp\u00a0",
                "zwsp\u200b",
                "line\u2028sep",
                "new\nline",
                "é",
                "😀",
            ][i % 11],
            weight=1 + i % 5,
        )
    b.add(
        ContactEdited,
        40,
        contact_id=ids[0],
        tags=("ü", "it's"),
        org='O\'Brien & "Co"',
        emails=("x@y.z",),
        name="Straße Two",
    )
    b.add(ContactEdited, 41, contact_id=ids[1], org=None, tags=())
    b.add(ContactsMerged, 42, survivor_id=odd, absorbed_id=ids[2])
    b.add(InteractionLogged, 43, contact_ids=(odd, "0190ffff-unknown-contact"), note="ünïcode ✓")
    return b


CASES: Final[dict[str, tuple[str, Callable[[], Builder]]]] = {
    "empty": ("no events at all", case_empty),
    "retractions": (
        "retractions, a retraction of a retraction, one before its target",
        case_retractions,
    ),
    "last-writer-wins": (
        "edits, flags and ask outcomes resolved on (hlc, event_id)",
        case_last_writer_wins,
    ),
    "merges": ("opposite merges, a chain, a retracted merge, a group counting once", case_merges),
    "twins": ("different events claiming one id: the least (device, seq) counts", case_twins),
    "unknown-types": (
        "unknown types and newer versions: kept, counted nowhere",
        case_unknown_types,
    ),
    "going-cold": (
        "never touched, no cadence, added after the as-of day, windows",
        case_going_cold,
    ),
    "local-days": ("local dates from offsets, before 1970, across midnight", case_local_days),
    "text": ("case folding, code point order, repr of quotes and control characters", case_text),
}
HAND_AS_OF: Final = ("2025-01-01", "2025-04-15", "2025-12-31", "2027-01-01")


# -- hand-written cases of the plan ------------------------------------------------------------


def case_plan_kinds() -> Builder:
    """Every kind of nudge but occasions, ties, the cap per kind and the limit."""
    b = Builder()
    for name in ("beth", "Alan", "carl", "Dora", "Émile"):  # equally cold: by name, 3 at most
        b.add(ContactAdded, 0, name=name, circle="wider")
    warm = b.contact("Warm", "inner")
    b.add(InteractionLogged, 70, contact_ids=(warm,))
    cooling = b.contact("Cooling", "close")
    b.add(GiveMade, 50, contact_id=cooling, what="a book", weight=1)

    def ask(contact_id: str, day: int, what: str, weight: int = 1, **answer: Any) -> None:
        made = b.add(AskMade, day, contact_id=contact_id, what=what, weight=weight)
        if answer:
            b.add(AskResolved, answer.pop("on", day + 1), ask_id=made.event_id, **answer)

    olga = b.contact("Olga")
    ask(olga, 10, "help moving\n  house", 3, outcome="granted", on=12)
    paul = b.contact("Paul")
    ask(paul, 20, "a lift", outcome="granted")
    b.add(GiveMade, 30, contact_id=paul, what="dinner", kind="gift", weight=1)  # paid back
    quinn = b.contact("Quinn")
    ask(quinn, 5, "favour 5", 5, outcome="declined")
    ask(quinn, 40, "favour 40", 4, outcome="declined")
    b.add(GiveMade, 41, contact_id=quinn, what="advice", kind="advice", weight=1)
    rita = b.contact("Rita")
    ask(
        rita, 40, "an introduction to someone at the observatory who\tknows about the 1910 comet", 2
    )
    ask(rita, 50, "a short one")
    ask(rita, 70, "too recent to chase")
    # answered before it was asked: owed, never open
    ask(b.contact("Uma"), 60, "dated after its answer", outcome="granted", on=55)
    vic = b.contact("Vic")
    oops = b.add(AskMade, 20, contact_id=vic, what="never asked", weight=5)
    b.add(EventRetracted, 21, target_id=oops.event_id, reason="wrong contact")
    gone = b.contact("Archived", "inner")
    b.add(AskMade, 10, contact_id=gone, what="left hanging", weight=2)
    b.add(ContactArchived, 11, contact_id=gone)
    wendy = b.contact("Wendy")
    walt = b.contact("Walt")
    b.add(AskMade, 30, contact_id=walt, what="asked of the absorbed", weight=1)
    b.add(ContactsMerged, 31, survivor_id=wendy, absorbed_id=walt)
    xia = b.contact("Xia", "close")
    b.add(IntroductionMade, 60, contact_ids=(xia, olga), weight=2)  # Olga is paid back on 60
    return b


def case_plan_occasions() -> Builder:
    """Birthdays and occasions: leap days, the year's end, ties, last writer wins."""
    b = Builder()

    def details(contact_id: str, day: float = 1, **kw: Any) -> Event:
        return b.add(ContactDetailsSet, day, contact_id=contact_id, **kw)

    details(b.contact("Ann"), birthday="1990-02-29")
    details(b.contact("Ben"), birthday="--01-02", title="Dr")
    cat = b.contact("Cat")
    details(cat, birthday="--03-01")
    details(cat, 2, birthday=None)  # cleared
    details(
        cat,
        3,
        occasions=(
            Occasion(label="name day", date="--03-01"),
            Occasion(label="Anniversary", date="2001-03-01"),
        ),
    )
    dan = b.contact("Dan")
    details(dan, birthday="--02-26", hlc=pack(1_790_000_000_000, 0))  # the latest write
    details(dan, birthday="--02-25", hlc=pack(1_780_000_000_000, 0))
    eve = b.contact("Eve")
    wrong = details(eve, birthday="--02-25")
    b.add(EventRetracted, 2, target_id=wrong.event_id, reason="not her birthday")
    fay = b.contact("Fay")
    details(fay, birthday="--02-25")
    b.add(ContactArchived, 2, contact_id=fay)
    hal = b.contact("Hal")
    gus = b.contact("Gus")
    details(gus, birthday="--02-25")  # the absorbed contact's details are not the survivor's
    b.add(ContactsMerged, 2, survivor_id=hal, absorbed_id=gus)
    details(
        b.contact("Ivy"), birthday="--03-05", occasions=(Occasion(label="gig", date="--12-31"),)
    )
    jo = b.contact("Jo", "inner")
    twin = "0190bbbb-0000-7000-8000-000000000001"
    b.add(InteractionLogged, 20, contact_ids=(jo,), device="dev-z", event_id=twin)  # inert
    details(jo, 1, birthday="--12-30", device="dev-a", event_id=twin)
    details(b.contact("Kim"), occasions=(Occasion(label="first met", date="2020-02-25"),))
    # days no year has (only a hand-written event holds them): left out, not a failure
    impossible = (Occasion(label="feb 30", date="--02-30"), Occasion(label="zero", date="--00-10"))
    details(b.contact("Lu"), birthday="--13-01", occasions=impossible)
    return b


PLAN_CASES: Final[dict[str, tuple[str, Callable[[], Builder], tuple[str, ...]]]] = {
    "kinds": (
        "cold and cooling, owed, one-sided, open asks; ties, the cap per kind, the limit",
        case_plan_kinds,
        ("2025-01-20", "2025-02-20", "2025-03-15", "2025-07-01", "2026-02-01"),
    ),
    "occasions": (
        "birthdays and occasions: leap days, the year's end, ties, last writer wins, twins, "
        "days no year has",
        case_plan_occasions,
        ("2025-02-25", "2025-03-01", "2025-12-28", "2028-02-27"),
    ),
}


# -- hypothesis-generated histories -------------------------------------------------------------

_ALPHABET: Final = st.characters(exclude_categories=("Cs", "Cn", "Co"))
_TEXT: Final = st.text(_ALPHABET, min_size=1, max_size=12)


@st.composite
def _unknowns(draw: st.DrawFn, history: list[Event]) -> list[Event | OpaqueEvent]:
    """`history` plus a few events of unknown types (or newer versions) from a new device."""
    out: list[Event | OpaqueEvent] = list(history)
    targets = [e.event_id for e in history]
    for seq in range(1, draw(st.integers(0, 3)) + 1):
        body = {
            "type": draw(st.sampled_from(("MoodLogged", "GiveMade", "EventRetracted"))),
            "event_id": draw(st.sampled_from([*targets, f"u{seq:04d}"])),
            "device_id": "u-device",
            "seq": seq,
            "hlc": pack(BASE_MS + seq, 0),
            "occurred_at": BASE_MS + seq * DAY_MS,
            "utc_offset": 0,
            "v": 2,
            "target_id": draw(st.sampled_from(targets)),
        }
        out.append(event_from_wire(msgspec.json.encode(body), "json"))
    return out


@st.composite
def _texts(draw: st.DrawFn, history: list[Event | OpaqueEvent]) -> list[Event | OpaqueEvent]:
    """Names, whats and notes replaced by arbitrary text (case folding, repr)."""
    out: list[Event | OpaqueEvent] = []
    for e in history:
        named = isinstance(e, ContactAdded) or (
            isinstance(e, ContactEdited) and e.name is not msgspec.UNSET
        )
        if isinstance(e, ContactAdded | ContactEdited) and draw(st.booleans()) and named:
            e = msgspec.structs.replace(e, name=draw(_TEXT))
        if isinstance(e, AskMade | GiveMade) and draw(st.booleans()):
            e = msgspec.structs.replace(e, what=draw(_TEXT))
        out.append(e)
    return out


def _histories() -> st.SearchStrategy[list[Event | OpaqueEvent]]:
    base = histories(max_devices=3, max_contacts=5, max_steps=40).filter(lambda h: len(h) >= 8)
    return (
        base.flatmap(lambda h: st.one_of(st.just(h), with_twins(h)))
        .flatmap(_unknowns)
        .flatmap(_texts)
        .flatmap(st.permutations)
    )


#: The seed of the generated histories: the one hypothesis derived from the
#: function that drew them first, so that the committed vectors stay as they are.
_HISTORIES_SEED: Final = int(
    "19267529552221190107804807577437848256363122707651697787059696541824946312547"
    "154482557848655275341988130029975641404"
)


def generated(count: int) -> list[list[Event | OpaqueEvent]]:
    """`count` histories, the same ones on every run of one hypothesis version."""
    return redaction.examples(_histories(), count, seed=_HISTORIES_SEED)


def generated_as_of() -> tuple[str, ...]:
    base = BASE_MS // DAY_MS
    return tuple(views.date_of(d) or "" for d in (base + 100, base + 400, AS_OF))


# -- case folding ----------------------------------------------------------------------------------


def casefold_module() -> str:
    """`web/client/casefold.js`: every code point whose casefold is not itself."""
    folds = {
        chr(cp): chr(cp).casefold()
        for cp in range(sys.maxunicode + 1)
        if not 0xD800 <= cp <= 0xDFFF and chr(cp).casefold() != chr(cp)
    }
    body = msgspec.json.encode(folds).decode()
    return (
        "// Generated by tests/conformance/generate.py from Python's str.casefold "
        f"(Unicode {unicodedata.unidata_version}): do not edit.\n"
        "/** @type {Record<string, string>} */\n"
        f"export const FOLDS = {body};\n"
    )


# -- writing --------------------------------------------------------------------------------------


def all_documents() -> dict[str, bytes]:
    """File name -> content of every vector."""
    out: dict[str, bytes] = {}
    for name, (about, build) in CASES.items():
        out[f"case-{name}.json"] = document(name, about, build().events, HAND_AS_OF)
    for name, (about, build, as_of) in PLAN_CASES.items():
        doc = document(name, about, build().events, as_of, expected_plans)
        out[f"plan/case-{name}.json"] = doc
    for i, history in enumerate(generated(GENERATED), 1):
        name = f"generated-{i:03d}"
        about = "a hypothesis-generated multi-device history"
        out[f"{name}.json"] = document(name, about, history, generated_as_of())
    return out


def main(argv: Iterable[str] = ()) -> None:
    PLAN_VECTORS.mkdir(parents=True, exist_ok=True)
    for stale in [*VECTORS.glob("*.json"), *PLAN_VECTORS.glob("*.json")]:
        stale.unlink()
    docs = all_documents()
    for name, content in docs.items():
        (VECTORS / name).write_bytes(content)
    CASEFOLD_JS.write_text(casefold_module(), encoding="utf-8")
    # the views' vectors (the plan vectors in `plan/` are the plan's alone)
    vectors = {
        name: read_events(msgspec.json.decode(doc)) for name, doc in docs.items() if "/" not in name
    }
    redaction.REDACTION_JSON.write_bytes(redaction.redaction_document(vectors))
    redaction.PERSONAL_JS.write_text(redaction.personal_module(), encoding="utf-8")
    print(
        f"wrote {len(docs)} vectors to {VECTORS}, {CASEFOLD_JS}, "
        f"{redaction.REDACTION_JSON} and {redaction.PERSONAL_JS}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
