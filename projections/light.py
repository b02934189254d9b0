"""Partial event Structs for a rebuild: only the fields the fold reads.

A rebuild decodes every row of the log, and most rows are interactions, gives
and notes, whose free text (notes, `what`), channel, device id and seq no view
needs. msgspec skips the fields a Struct does not declare without building
Python objects for them, so decoding into these lighter Structs costs less than
decoding the full events (the baseline of `bench/replay.py` decodes the full
ones). They are untracked by the cyclic GC (`gc=False`: they hold only strings
and ints), which spares the collector a million live objects.

The schema version is declared as a `Literal` of the type's current version, so
the decoder itself refuses a row of any other version: the caller then decodes
that page with the full decoders (`core.codec.decode`: upcasting, opaque rows),
with no per-row version check in Python on the fast path.

Only the fold's inlined paths (`projections.fold.Fold.extend`) and the handlers
it falls back to read these; nothing else ever sees them.
"""

from __future__ import annotations

from typing import Final, Literal

from msgspec import Struct

from core.events import SCHEMA_VERSION, Outcome
from core.limits import ContactIds, Hlc, Id, Millis, Offset, Weight

# One Literal per type's current version (all 1 today); the assert at the end
# makes a version bump fail loudly until these follow it.
V1 = Literal[1]
# The ranges are `core.limits`' (ADR 0080): a row out of them fails here and is then
# decoded in full, where it comes back opaque (skipped by the fold).


class _Light(Struct, frozen=True, kw_only=True, gc=False, tag_field="type"):
    event_id: Id
    v: V1 = 1


class _Dated(_Light, frozen=True, kw_only=True, gc=False):
    occurred_at: Millis
    utc_offset: Offset = 0


class _Weighted(_Dated, frozen=True, kw_only=True, gc=False):
    contact_id: Id
    weight: Weight = 1


class LightInteraction(_Dated, frozen=True, kw_only=True, gc=False, tag="InteractionLogged"):
    """An `InteractionLogged` as the fold sees it."""

    contact_ids: ContactIds


class LightGive(_Weighted, frozen=True, kw_only=True, gc=False, tag="GiveMade"):
    """A `GiveMade` as the fold sees it."""


class LightAsk(_Weighted, frozen=True, kw_only=True, gc=False, tag="AskMade"):
    """An `AskMade` as the fold sees it (kept in `Fold.asks`: its contact, its id)."""


class LightIntroduction(_Dated, frozen=True, kw_only=True, gc=False, tag="IntroductionMade"):
    """An `IntroductionMade` as the fold sees it (a give to both contacts)."""

    contact_ids: tuple[Id, Id]
    weight: Weight = 1

    def __post_init__(self) -> None:
        if self.contact_ids[0] == self.contact_ids[1]:  # as `IntroductionMade` refuses
            raise ValueError("an introduction needs two different contacts")


class LightNote(_Light, frozen=True, kw_only=True, gc=False, tag="NoteAdded"):
    """A `NoteAdded` as the fold sees it (filed, never a touch)."""

    contact_id: Id


class LightResolution(_Light, frozen=True, kw_only=True, gc=False, tag="AskResolved"):
    """An `AskResolved` as the fold sees it: what an ask's outcome needs (the LWW
    key `(hlc, event_id)` and the outcome)."""

    hlc: Hlc
    ask_id: Id
    outcome: Outcome


#: Stored topic -> the light Struct decoded in its place during a rebuild.
LIGHT: Final[dict[str, type[Struct]]] = {
    "InteractionLogged": LightInteraction,
    "GiveMade": LightGive,
    "NoteAdded": LightNote,
    "IntroductionMade": LightIntroduction,
    "AskMade": LightAsk,
    "AskResolved": LightResolution,
}
LIGHT_TYPES: Final = frozenset(LIGHT.values())

assert all(SCHEMA_VERSION[topic] == 1 for topic in LIGHT), "update the light Structs' V1"
