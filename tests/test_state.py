"""The set-semantics state: the same set of events gives the same state, always."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from core import events as ev
from core.state import State

CONTACTS = [f"c{i}" for i in range(4)]


def make(cls: type[ev.Event], event_id: str, hlc: int, **fields: Any) -> ev.Event:
    return cls(event_id=event_id, device_id="d", seq=1, hlc=hlc, occurred_at=hlc, **fields)


@st.composite
def histories(draw: st.DrawFn) -> list[ev.Event]:
    """Contacts c0..c3 plus random edits, flags, merges, asks and retractions among them."""
    out: list[ev.Event] = [
        make(ev.ContactAdded, c, draw(st.integers(0, 5)), name=c) for c in CONTACTS
    ]
    n = draw(st.integers(0, 14))
    for i in range(n):
        hlc = draw(st.integers(0, 8))  # small range: many ties on hlc
        eid = f"e{i:02d}"
        kind = draw(st.sampled_from(["edit", "archive", "restore", "merge", "ask", "resolve"]))
        c = draw(st.sampled_from(CONTACTS))
        if kind == "edit":
            out.append(
                make(ev.ContactEdited, eid, hlc, contact_id=c, name=draw(st.sampled_from("xyz")))
            )
        elif kind == "archive":
            out.append(make(ev.ContactArchived, eid, hlc, contact_id=c))
        elif kind == "restore":
            out.append(make(ev.ContactRestored, eid, hlc, contact_id=c))
        elif kind == "merge":
            other = draw(st.sampled_from([o for o in CONTACTS if o != c]))
            out.append(make(ev.ContactsMerged, eid, hlc, survivor_id=c, absorbed_id=other))
        elif kind == "ask":
            out.append(make(ev.AskMade, eid, hlc, contact_id=c, what="w"))
        else:
            out.append(
                make(
                    ev.AskResolved,
                    eid,
                    hlc,
                    ask_id=f"e{draw(st.integers(0, 13)):02d}",
                    outcome=draw(st.sampled_from(ev.OUTCOMES)),
                )
            )
    ids = [e.event_id for e in out]
    for j in range(draw(st.integers(0, 4))):
        out.append(
            make(
                ev.EventRetracted,
                f"r{j}",
                draw(st.integers(0, 8)),
                target_id=draw(st.sampled_from(ids)),
                reason="oops",
            )
        )
    return out


def snapshot(state: State) -> Any:
    return (
        [(c.id, c.name, c.archived, c.survivor) for c in state.contacts()],
        [(a.id, a.outcome, a.contact_id) for a in (state.ask(i) for i in sorted(state.asks)) if a],
        {c: [e.event_id for e in state.concerning(c)] for c in CONTACTS},
    )


@given(histories(), st.randoms())
def test_state_is_a_function_of_the_set(events: list[ev.Event], rnd: random.Random) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    twice = shuffled + shuffled[: len(shuffled) // 2]  # duplicates change nothing
    assert snapshot(State(events)) == snapshot(State(twice))


@given(histories())
def test_every_contact_has_exactly_one_survivor_and_survivors_are_not_absorbed(
    events: list[ev.Event],
) -> None:
    state = State(events)
    for c in CONTACTS:
        s = state.survivor(c)
        assert state.survivor(s) == s  # following links terminates at a root


def test_opposite_merges_resolve_to_one_survivor() -> None:
    a, b = (make(ev.ContactAdded, c, 1, name=c) for c in ("a", "b"))
    ab = make(ev.ContactsMerged, "m1", 5, survivor_id="a", absorbed_id="b")
    ba = make(ev.ContactsMerged, "m2", 7, survivor_id="b", absorbed_id="a")
    state = State([a, b, ab, ba])
    # the cycle's oldest link (b -> a, from m1) is dropped: the later merge stands
    assert state.survivor("a") == "b" and state.survivor("b") == "b"


def test_merge_chain_follows_to_the_end() -> None:
    adds = [make(ev.ContactAdded, c, 1, name=c) for c in "abc"]
    m1 = make(ev.ContactsMerged, "m1", 2, survivor_id="b", absorbed_id="a")
    m2 = make(ev.ContactsMerged, "m2", 3, survivor_id="c", absorbed_id="b")
    state = State([*adds, m2, m1])
    assert {state.survivor(c) for c in "abc"} == {"c"}
    assert state.absorbed_by("c") == ["a", "b", "c"]


def test_retraction_before_its_target_and_retracted_merge() -> None:
    a, b = (make(ev.ContactAdded, c, 1, name=c) for c in ("a", "b"))
    merge = make(ev.ContactsMerged, "m", 2, survivor_id="a", absorbed_id="b")
    undo = make(ev.EventRetracted, "r", 3, target_id="m", reason="wrong person")
    state = State([undo, a, b, merge])
    assert state.survivor("b") == "b"
    assert state.is_retracted("m")


def test_a_retraction_cannot_be_retracted() -> None:
    a = make(ev.ContactAdded, "a", 1, name="a")
    r1 = make(ev.EventRetracted, "r1", 2, target_id="a", reason="x")
    r2 = make(ev.EventRetracted, "r2", 3, target_id="r1", reason="y")
    state = State([a, r1, r2])
    assert state.contact("a") is None
    assert not state.is_retracted("r1")


def test_concurrent_edit_and_archive_both_apply_and_ties_break_on_event_id() -> None:
    a = make(ev.ContactAdded, "a", 1, name="Ann")
    e1 = make(ev.ContactEdited, "e1", 5, contact_id="a", name="Anne")
    e2 = make(ev.ContactEdited, "e2", 5, contact_id="a", name="Annie")  # same hlc
    arch = make(ev.ContactArchived, "x", 4, contact_id="a")
    for order in ([a, e1, e2, arch], [arch, e2, e1, a]):
        contact = State(order).contact("a")
        assert contact is not None
        assert contact.name == "Annie" and contact.archived
