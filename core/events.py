"""The immutable events of a relationship history.

Every fact Reciprocity knows is one of these events. They are never updated or
deleted: a correction is a new event (an edit, an archival, a retraction). All
event types share one envelope and form one tagged union (`AnyEvent`), so that a
single msgspec decoder reads any stored or transmitted event.

Times are integers so that they encode compactly and compare fast:

- `hlc` is a hybrid logical clock timestamp (see `core.clock`): when the event was
  recorded, ordering concurrent edits.
- `occurred_at` is when it happened in the world, in Unix milliseconds (UTC), and
  `utc_offset` the minutes east of UTC in which the person stated it. The local date
  of an event (what "last touch" means to a person) is therefore the same on every
  device, whatever time zone that device is in.
"""

from __future__ import annotations

from typing import Final, Literal, TypeAlias

import msgspec
from msgspec import UNSET, Struct, UnsetType

from .limits import (
    Cadence,
    ContactIds,
    ForgottenIds,
    Hlc,
    Id,
    Items,
    Kind,
    Label,
    LongText,
    Millis,
    Name,
    Offset,
    PartialDate,
    SealedBox,
    Seq,
    Short,
    Text,
    Url,
    Version,
    Weight,
    What,
)

Circle: TypeAlias = Literal["inner", "close", "wider", "distant", "none"]
Channel: TypeAlias = Literal["call", "meeting", "message", "email", "event", "other"]
Initiator: TypeAlias = Literal["me", "them"]
Outcome: TypeAlias = Literal["granted", "declined", "withdrawn", "unanswered"]
GiveKind: TypeAlias = Literal["advice", "referral", "favour", "gift", "support", "other"]

CIRCLES: Final[tuple[str, ...]] = ("inner", "close", "wider", "distant", "none")
CHANNELS: Final[tuple[str, ...]] = ("call", "meeting", "message", "email", "event", "other")
INITIATORS: Final[tuple[str, ...]] = ("me", "them")
OUTCOMES: Final[tuple[str, ...]] = ("granted", "declined", "withdrawn", "unanswered")
GIVE_KINDS: Final[tuple[str, ...]] = ("advice", "referral", "favour", "gift", "support", "other")

#: Default cadence in days of each circle; `none` never goes cold.
CIRCLE_CADENCE: Final[dict[str, int | None]] = {
    "inner": 14,
    "close": 30,
    "wider": 90,
    "distant": 180,
    "none": None,
}

# Every field's range is defined once, in `core.limits` (ADR 0080).
Strings = Items


class Event(Struct, frozen=True, kw_only=True, tag_field="type", gc=False):
    """The envelope every event carries.

    `event_id` is a UUIDv7 made on the recording device; the event that creates a
    thing (a contact, an ask) lends it its id. `device_id` and `seq` (gapless per
    device, from 1) identify the event's place in its device's stream, which is
    what sync and storage key on. `v` is the schema version of the event's type, so
    that old events can be upcast when a type evolves.

    `gc=False`: an event holds only strings, ints and tuples of them, so it can
    never be part of a reference cycle; untracked, events read into memory by the
    hundred thousand never make the collector walk them again and again.
    """

    event_id: Id
    device_id: Id
    seq: Seq
    hlc: Hlc
    occurred_at: Millis
    utc_offset: Offset = 0
    v: Version = 1


class ContactAdded(Event, frozen=True, kw_only=True, tag="ContactAdded"):
    name: Name
    emails: Strings = ()
    phones: Strings = ()
    org: Short | None = None
    tags: Strings = ()
    circle: Circle = "wider"
    cadence_days: Cadence | None = None
    source: Short | None = None


class ContactEdited(Event, frozen=True, kw_only=True, tag="ContactEdited"):
    """Changes only the fields that are set; each field resolves last-writer-wins."""

    contact_id: Id
    name: Name | UnsetType = UNSET
    emails: Strings | UnsetType = UNSET
    phones: Strings | UnsetType = UNSET
    org: Short | UnsetType | None = UNSET
    tags: Strings | UnsetType = UNSET
    circle: Circle | UnsetType = UNSET
    cadence_days: Cadence | UnsetType | None = UNSET


class ContactArchived(Event, frozen=True, kw_only=True, tag="ContactArchived"):
    contact_id: Id


class ContactRestored(Event, frozen=True, kw_only=True, tag="ContactRestored"):
    contact_id: Id


class ContactsMerged(Event, frozen=True, kw_only=True, tag="ContactsMerged"):
    """`absorbed`'s history now counts for `survivor`."""

    survivor_id: Id
    absorbed_id: Id

    def __post_init__(self) -> None:
        if self.survivor_id == self.absorbed_id:
            raise ValueError("a merge needs two different contacts (`absorbed_id`)")


class InteractionLogged(Event, frozen=True, kw_only=True, tag="InteractionLogged"):
    contact_ids: ContactIds
    channel: Channel = "other"
    initiated_by: Initiator = "me"
    note: Text = ""


class AskMade(Event, frozen=True, kw_only=True, tag="AskMade"):
    contact_id: Id
    what: What
    weight: Weight = 1


class AskResolved(Event, frozen=True, kw_only=True, tag="AskResolved"):
    ask_id: Id
    outcome: Outcome
    note: Text = ""


class GiveMade(Event, frozen=True, kw_only=True, tag="GiveMade"):
    contact_id: Id
    what: What
    kind: GiveKind = "other"
    weight: Weight = 1


class IntroductionMade(Event, frozen=True, kw_only=True, tag="IntroductionMade"):
    """A give to both contacts: each was introduced to the other."""

    contact_ids: tuple[Id, Id]
    note: Text = ""
    weight: Weight = 1

    def __post_init__(self) -> None:
        if self.contact_ids[0] == self.contact_ids[1]:
            raise ValueError("an introduction needs two different contacts (`contact_ids`)")


class NoteAdded(Event, frozen=True, kw_only=True, tag="NoteAdded"):
    contact_id: Id
    text: LongText


class Occasion(Struct, frozen=True, kw_only=True, gc=False):
    """A dated occasion of a contact's: an anniversary, or any label a person gives."""

    label: Label
    date: PartialDate


class Address(Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True):
    """A postal address, in vCard's seven parts, with its label (`home`, `work`)."""

    label: Short = ""
    po_box: Short = ""
    extended: Short = ""
    street: Short = ""
    locality: Short = ""
    region: Short = ""
    postcode: Short = ""
    country: Short = ""


class Profile(Struct, frozen=True, kw_only=True, gc=False):
    """A URL, or a social profile (`kind` is `linkedin`, `github`, ... or `url`)."""

    kind: Kind
    url: Url


class HowWeMet(Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True):
    """Where or at what event, when, and through whom (a contact's id) we met."""

    where: Short = ""
    on: PartialDate | None = None
    through: Id | None = None


class ContactDetailsSet(Event, frozen=True, kw_only=True, tag="ContactDetailsSet"):
    """Sets some of a contact's details; each field resolves last-writer-wins.

    A type of its own, not new fields of `ContactAdded`/`ContactEdited`, so that a
    build that predates it keeps it whole (opaque) instead of dropping the fields
    it does not know when it re-encodes a known type (ADR 0085).
    """

    contact_id: Id
    birthday: PartialDate | UnsetType | None = UNSET
    occasions: tuple[Occasion, ...] | UnsetType = UNSET
    title: Short | UnsetType | None = UNSET
    org_units: Strings | UnsetType = UNSET
    addresses: tuple[Address, ...] | UnsetType = UNSET
    profiles: tuple[Profile, ...] | UnsetType = UNSET
    met: HowWeMet | UnsetType | None = UNSET
    #: Where the values came from, when an import set them (`transfer.contacts`).
    source: Short | None = None


class EventRetracted(Event, frozen=True, kw_only=True, tag="EventRetracted"):
    """The only way to correct a mistake: the target stays in the log, inert."""

    target_id: Id
    reason: What


class ContactForgotten(Event, frozen=True, kw_only=True, tag="ContactForgotten"):
    """Every replica erases the personal fields of the events about these contacts.

    The ids are the forgotten contact and those merged into it; the event itself
    carries nothing personal (see `core.redaction`, ADR 0130).
    """

    contact_ids: ForgottenIds


class Sealed(Event, frozen=True, kw_only=True, tag="Sealed"):
    """An event of an end-to-end encrypted owner, as the server holds it (ADR 0135).

    The envelope is the sealed event's own (its id, device, seq and HLC, so that
    the server can still check gaps and retries); `occurred_at` is the HLC's wall
    time, never the event's. `box` is the nonce, the AES-256-GCM ciphertext of the
    event's JSON and its tag, with the envelope and `key_id` as associated data.
    Only devices holding the owner key open it (`sync.seal`); nothing folds it.
    """

    key_id: Id
    box: SealedBox


AnyEvent: TypeAlias = (
    ContactAdded
    | ContactEdited
    | ContactArchived
    | ContactRestored
    | ContactsMerged
    | InteractionLogged
    | AskMade
    | AskResolved
    | GiveMade
    | IntroductionMade
    | NoteAdded
    | EventRetracted
    | ContactDetailsSet
    | ContactForgotten
    | Sealed
)

EVENT_TYPES: Final[tuple[type[Event], ...]] = (
    ContactAdded,
    ContactEdited,
    ContactArchived,
    ContactRestored,
    ContactsMerged,
    InteractionLogged,
    AskMade,
    AskResolved,
    GiveMade,
    IntroductionMade,
    NoteAdded,
    EventRetracted,
    ContactDetailsSet,
    ContactForgotten,
    Sealed,
)

#: Stable type name (the union tag, and the stored topic) -> class.
TYPE_BY_NAME: Final[dict[str, type[Event]]] = {
    str(cls.__struct_config__.tag): cls for cls in EVENT_TYPES
}

NAME_BY_TYPE: Final[dict[type[Event], str]] = {cls: name for name, cls in TYPE_BY_NAME.items()}

#: Current schema version of each type; bump it together with an upcaster.
SCHEMA_VERSION: Final[dict[str, int]] = dict.fromkeys(TYPE_BY_NAME, 1)


def type_name(event: Event) -> str:
    """The stable name of an event's type: its union tag and its stored topic."""
    return NAME_BY_TYPE[type(event)]


def contacts_of(event: Event) -> tuple[str, ...]:
    """The ids of the contacts an event is directly about (before merges)."""
    if isinstance(event, ContactAdded):
        return (event.event_id,)
    if isinstance(
        event, ContactEdited | ContactArchived | ContactRestored | AskMade | GiveMade | NoteAdded
    ):
        return (event.contact_id,)
    if isinstance(event, InteractionLogged | IntroductionMade):
        return tuple(event.contact_ids)
    if isinstance(event, ContactsMerged):
        return (event.survivor_id, event.absorbed_id)
    if isinstance(event, ContactDetailsSet):
        through = event.met.through if isinstance(event.met, HowWeMet) else None
        if through is not None and through != event.contact_id:
            return (event.contact_id, through)
        return (event.contact_id,)
    return ()


def stamp(event: Event, **envelope: int | str) -> Event:
    """A copy of `event` with envelope fields replaced (used when appending)."""
    return msgspec.structs.replace(event, **envelope)


class OpaqueEvent(Struct, frozen=True, kw_only=True, gc=False):
    """An event of a type this build does not know (recorded by a newer client).

    It keeps its envelope, so that it can be stored, deduplicated and forwarded,
    and its exact bytes, so that nothing of it is lost; views ignore it.

    A stored event of a known type that this build cannot read (written before a
    limit existed, ADR 0080) is read as one too, with `problem` saying why: views
    skip it instead of failing, and `recip doctor` lists it.
    """

    type: str
    event_id: str
    device_id: str
    seq: int
    hlc: int
    occurred_at: int
    utc_offset: int = 0
    v: int = 1
    raw: bytes = b""
    problem: str | None = None
