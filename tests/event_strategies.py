"""hypothesis strategies for single events of every type (not coherent histories).

Used by codec and store round-trip tests: every field takes values across its
whole valid range, including non-ASCII text and unset optional fields.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from msgspec import UNSET

from core import events as ev

ids = st.uuids().map(str)
text = st.text(min_size=1, max_size=40)
maybe_text = st.one_of(st.none(), text)
strings = st.lists(text, max_size=3).map(tuple)
hlcs = st.integers(min_value=0, max_value=(1 << 63) - 1)
times = st.integers(min_value=-(10**12), max_value=10**13)
offsets = st.integers(min_value=-1080, max_value=1080)
weights = st.integers(min_value=1, max_value=5)
cadences = st.one_of(st.none(), st.integers(min_value=1, max_value=36_500))


def _maybe_unset(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(UNSET), strategy)


def envelope() -> dict[str, st.SearchStrategy[Any]]:
    return {
        "event_id": ids,
        "device_id": ids,
        "seq": st.integers(min_value=1, max_value=10**9),
        "hlc": hlcs,
        "occurred_at": times,
        "utc_offset": offsets,
    }


PAYLOADS: dict[type[ev.Event], dict[str, st.SearchStrategy[Any]]] = {
    ev.ContactAdded: {
        "name": text,
        "emails": strings,
        "phones": strings,
        "org": maybe_text,
        "tags": strings,
        "circle": st.sampled_from(ev.CIRCLES),
        "cadence_days": cadences,
        "source": maybe_text,
    },
    ev.ContactEdited: {
        "contact_id": ids,
        "name": _maybe_unset(text),
        "emails": _maybe_unset(strings),
        "phones": _maybe_unset(strings),
        "org": _maybe_unset(maybe_text),
        "tags": _maybe_unset(strings),
        "circle": _maybe_unset(st.sampled_from(ev.CIRCLES)),
        "cadence_days": _maybe_unset(cadences),
    },
    ev.ContactArchived: {"contact_id": ids},
    ev.ContactRestored: {"contact_id": ids},
    ev.ContactsMerged: {"survivor_id": ids, "absorbed_id": ids},  # see `event_of`
    ev.InteractionLogged: {
        "contact_ids": st.lists(ids, min_size=1, max_size=4).map(tuple),
        "channel": st.sampled_from(ev.CHANNELS),
        "initiated_by": st.sampled_from(ev.INITIATORS),
        "note": st.text(max_size=60),
    },
    ev.AskMade: {"contact_id": ids, "what": text, "weight": weights},
    ev.AskResolved: {
        "ask_id": ids,
        "outcome": st.sampled_from(ev.OUTCOMES),
        "note": st.text(max_size=60),
    },
    ev.GiveMade: {
        "contact_id": ids,
        "what": text,
        "kind": st.sampled_from(ev.GIVE_KINDS),
        "weight": weights,
    },
    ev.IntroductionMade: {
        "contact_ids": st.tuples(ids, ids).filter(lambda pair: pair[0] != pair[1]),
        "note": st.text(max_size=60),
        "weight": weights,
    },
    ev.NoteAdded: {"contact_id": ids, "text": text},
    ev.EventRetracted: {"target_id": ids, "reason": text},
    ev.ContactDetailsSet: {
        "contact_id": ids,
        "birthday": _maybe_unset(st.none() | st.sampled_from(["1815-12-10", "--02-29"])),
        "occasions": _maybe_unset(
            st.lists(
                st.builds(ev.Occasion, label=text, date=st.just("2001-06-30")), max_size=2
            ).map(tuple)
        ),
        "title": _maybe_unset(st.none() | text),
        "org_units": _maybe_unset(st.lists(text, max_size=2).map(tuple)),
        "addresses": _maybe_unset(
            st.lists(st.builds(ev.Address, street=text, country=text), max_size=2).map(tuple)
        ),
        "profiles": _maybe_unset(
            st.lists(st.builds(ev.Profile, kind=st.just("linkedin"), url=text), max_size=2).map(
                tuple
            )
        ),
        "met": _maybe_unset(
            st.none() | st.builds(ev.HowWeMet, where=text, through=st.none() | ids)
        ),
    },
    ev.ContactForgotten: {"contact_ids": st.lists(ids, min_size=1, max_size=3).map(tuple)},
    ev.Sealed: {"key_id": ids, "box": st.binary(min_size=29, max_size=120)},
}

assert set(PAYLOADS) == set(ev.EVENT_TYPES), "every event type needs a strategy"


def event_of(cls: type[ev.Event]) -> st.SearchStrategy[ev.Event]:
    """Random valid events of one type."""
    payload = PAYLOADS[cls]
    if cls is ev.ContactsMerged:  # a contact merged into itself is invalid (ADR 0080)
        pair = st.tuples(payload["survivor_id"], payload["absorbed_id"]).filter(
            lambda p: p[0] != p[1]
        )
        return pair.flatmap(
            lambda p: st.builds(
                cls, **envelope(), survivor_id=st.just(p[0]), absorbed_id=st.just(p[1])
            )
        )
    return st.builds(cls, **envelope(), **payload)


any_event: st.SearchStrategy[ev.Event] = st.one_of([event_of(cls) for cls in ev.EVENT_TYPES])

#: Any event but a forget, which rewrites the others it concerns (ADR 0130): for
#: tests of storage and transport that expect every event back byte for byte.
kept_event: st.SearchStrategy[ev.Event] = st.one_of(
    [event_of(cls) for cls in ev.EVENT_TYPES if cls is not ev.ContactForgotten]
)
