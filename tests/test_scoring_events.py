"""Event builders and hypothesis strategies for the scoring and replay tests.

Histories here exercise everything replay must resolve as a set: touches of every
kind across time zones, asks with (sometimes conflicting) outcomes, merges in
chains and in opposite directions, retractions of anything (retractions too),
edits of cadences and archivals. Ids and clocks are drawn, never random, so that
hypothesis can replay and shrink every example.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

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
    NoteAdded,
)
from core.state import State

#: The loaded hypothesis profile's example budget (conftest: `HYPOTHESIS_PROFILE`);
#: the scoring and replay properties scale theirs from it.
BUDGET: int = settings().max_examples
DAY_MS = 86_400_000
#: 2020-01-01, so that generated histories look like recent ones.
BASE_DAY = 18_262
OFFSETS = (-600, -300, 0, 60, 330, 840)


class Builder:
    """Makes events with explicit times and deterministic ids."""

    def __init__(self, device: str = "dev-a") -> None:
        self.device = device
        self.count = 0

    def envelope(
        self, day: int, *, minute: int = 720, offset: int = 0, hlc: int | None = None
    ) -> dict[str, Any]:
        """`day` is a local date (days since 1970), `minute` the local minute of it."""
        self.count += 1
        occurred = (BASE_DAY + day) * DAY_MS + minute * 60_000 - offset * 60_000
        return {
            "event_id": f"{self.device}-{self.count:05d}",
            "device_id": self.device,
            "seq": self.count,
            "hlc": self.count if hlc is None else hlc,
            "occurred_at": occurred,
            "utc_offset": offset,
        }

    def contact(
        self, day: int, name: str, *, circle: Any = "close", cadence: int | None = None, **kw: Any
    ) -> ContactAdded:
        return ContactAdded(
            **self.envelope(day, **kw), name=name, circle=circle, cadence_days=cadence
        )

    def talk(self, day: int, *contacts: ContactAdded | str, **kw: Any) -> InteractionLogged:
        return InteractionLogged(**self.envelope(day, **kw), contact_ids=_ids(contacts))

    def give(self, day: int, contact: ContactAdded | str, weight: int = 1, **kw: Any) -> GiveMade:
        return GiveMade(
            **self.envelope(day, **kw), contact_id=_ids([contact])[0], what="help", weight=weight
        )

    def introduce(
        self, day: int, a: ContactAdded | str, b: ContactAdded | str, **kw: Any
    ) -> IntroductionMade:
        first, second = _ids([a, b])
        return IntroductionMade(**self.envelope(day, **kw), contact_ids=(first, second))

    def ask(self, day: int, contact: ContactAdded | str, weight: int = 1, **kw: Any) -> AskMade:
        return AskMade(
            **self.envelope(day, **kw),
            contact_id=_ids([contact])[0],
            what="a favour",
            weight=weight,
        )

    def resolve(self, day: int, ask: AskMade | str, outcome: Any, **kw: Any) -> AskResolved:
        ask_id = ask if isinstance(ask, str) else ask.event_id
        return AskResolved(**self.envelope(day, **kw), ask_id=ask_id, outcome=outcome)

    def merge(
        self, day: int, survivor: ContactAdded | str, absorbed: ContactAdded | str, **kw: Any
    ) -> ContactsMerged:
        keep, gone = _ids([survivor, absorbed])
        return ContactsMerged(**self.envelope(day, **kw), survivor_id=keep, absorbed_id=gone)

    def retract(self, day: int, target: Event | str, **kw: Any) -> EventRetracted:
        target_id = target if isinstance(target, str) else target.event_id
        return EventRetracted(**self.envelope(day, **kw), target_id=target_id, reason="mistake")

    def edit_cadence(
        self, day: int, contact: ContactAdded | str, cadence: int | None, **kw: Any
    ) -> ContactEdited:
        return ContactEdited(
            **self.envelope(day, **kw), contact_id=_ids([contact])[0], cadence_days=cadence
        )

    def archive(self, day: int, contact: ContactAdded | str, **kw: Any) -> ContactArchived:
        return ContactArchived(**self.envelope(day, **kw), contact_id=_ids([contact])[0])

    def note(self, day: int, contact: ContactAdded | str, **kw: Any) -> NoteAdded:
        return NoteAdded(**self.envelope(day, **kw), contact_id=_ids([contact])[0], text="hi")


def _ids(contacts: Sequence[ContactAdded | str]) -> tuple[str, ...]:
    return tuple(c if isinstance(c, str) else c.event_id for c in contacts)


@st.composite
def histories(draw: st.DrawFn, max_contacts: int = 5, max_events: int = 30) -> list[Event]:
    """A random valid-looking history (a set: order is meaningless)."""
    b = Builder()
    times = st.fixed_dictionaries(
        {
            "minute": st.integers(0, 1439),
            "offset": st.sampled_from(OFFSETS),
            # Small clocks make equal hlcs (ties broken by event id) common.
            "hlc": st.integers(1, 40),
        }
    )
    day = st.integers(0, 400)
    contacts = [
        b.contact(
            draw(day),
            f"person {i}",
            circle=draw(st.sampled_from(["inner", "close", "wider", "distant", "none"])),
            cadence=draw(st.none() | st.integers(1, 120)),
            **draw(times),
        )
        for i in range(draw(st.integers(1, max_contacts)))
    ]
    ids = [c.event_id for c in contacts]
    # Now and then a reference to a contact that was never added.
    contact = st.sampled_from([*ids, *ids, "ghost"])
    events: list[Event] = list(contacts)
    asks: list[AskMade] = []
    for _ in range(draw(st.integers(0, max_events))):
        kind = draw(
            st.sampled_from(
                [
                    "talk",
                    "talk",
                    "give",
                    "intro",
                    "ask",
                    "resolve",
                    "merge",
                    "edit",
                    "archive",
                    "note",
                ]
            )
        )
        when = draw(day)
        kw = draw(times)
        if kind == "talk":
            people = draw(st.lists(contact, min_size=1, max_size=3, unique=True))
            events.append(b.talk(when, *people, **kw))
        elif kind == "give":
            events.append(b.give(when, draw(contact), draw(st.integers(1, 5)), **kw))
        elif kind == "intro":
            pair = draw(st.lists(contact, min_size=2, max_size=2, unique=True))
            events.append(b.introduce(when, pair[0], pair[1], **kw))
        elif kind == "ask":
            asks.append(b.ask(when, draw(contact), draw(st.integers(1, 5)), **kw))
            events.append(asks[-1])
        elif kind == "resolve" and asks:
            target = draw(st.sampled_from(asks))
            outcome = draw(st.sampled_from(["granted", "declined", "withdrawn", "unanswered"]))
            events.append(b.resolve(max(when, 0), target, outcome, **kw))
        elif kind == "merge" and len(ids) > 1:
            pair = draw(st.lists(st.sampled_from(ids), min_size=2, max_size=2, unique=True))
            events.append(b.merge(when, pair[0], pair[1], **kw))
        elif kind == "edit":
            events.append(
                b.edit_cadence(
                    when, draw(st.sampled_from(ids)), draw(st.none() | st.integers(1, 90)), **kw
                )
            )
        elif kind == "archive":
            events.append(b.archive(when, draw(st.sampled_from(ids)), **kw))
        elif kind == "note":
            events.append(b.note(when, draw(st.sampled_from(ids)), **kw))
    targets: list[Event] = draw(
        st.lists(st.sampled_from(events), max_size=4, unique_by=lambda e: e.event_id)
    )
    for victim in targets:
        events.append(b.retract(draw(day), victim, **draw(times)))
    if draw(st.booleans()) and any(isinstance(e, EventRetracted) for e in events):
        retraction = next(e for e in events if isinstance(e, EventRetracted))
        events.append(b.retract(draw(day), retraction, **draw(times)))
    return events


@settings(max_examples=max(1, BUDGET * 3 // 10))
@given(histories())
def test_generated_histories_are_consistent(events: list[Event]) -> None:
    """The generator makes unique ids, and every survivor is a contact that was added."""
    assert len({e.event_id for e in events}) == len(events)
    state = State(events)
    for contact in state.contacts():
        assert contact.survivor in state.added
