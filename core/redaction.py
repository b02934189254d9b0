"""Forgetting a person: the redacted form of the events about forgotten contacts.

A `ContactForgotten` event names contacts; every replica that holds it rewrites
the events about them in place (ADR 0130), keeping their envelope, ids, kinds,
dates and weights and erasing every personal field. What is personal is read
from the schema, not listed here: a text field (or tuple of texts) is personal
unless its type is marked structural (`core.limits.STRUCTURAL`, the `Id` type);
enums, numbers and ids are kept. A collection of structs holding a personal
field is personal as a whole; a single such struct (how we met) is redacted
field by field, so that the ids in it (whom we met through) are kept. So a field
added to an event later is forgotten without touching this module.

The redacted form of an event is a pure function of the event, so every replica
(devices, the server) computes the same bytes, and a device re-offering its
unredacted original can be recognised (`is_redaction_of`).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable
from typing import Any, Final, TypeVar

import msgspec
import msgspec.inspect as mi
from msgspec import UNSET

from .events import (
    AskResolved,
    ContactForgotten,
    Event,
    EventRetracted,
    contacts_of,
)

S = TypeVar("S", bound=msgspec.Struct)

#: What a required personal text becomes (it must stay non-empty to stay valid).
PLACEHOLDER: Final = "(forgotten)"


def _is_structural(t: mi.Type) -> bool:
    if isinstance(t, mi.Metadata):
        return bool((t.extra or {}).get("structural")) or _is_structural(t.type)
    return not isinstance(t, mi.StrType)


class Nested(msgspec.Struct, frozen=True):
    """The redacted value of a field holding one struct: the struct, redacted."""

    cls: type[msgspec.Struct]


def _is_personal(t: mi.Type) -> bool:
    """A text, or a collection/optional of texts or of structs holding one, that is
    not marked structural."""
    if isinstance(t, mi.Metadata):
        if (t.extra or {}).get("structural"):
            return False
        return _is_personal(t.type)
    if isinstance(t, mi.StrType):
        return True
    if isinstance(t, mi.StructType):
        return bool(personal_fields(t.cls))
    if isinstance(t, mi.VarTupleType | mi.ListType | mi.SetType | mi.FrozenSetType):
        return _is_personal(t.item_type)
    if isinstance(t, mi.TupleType):
        return any(_is_personal(item) for item in t.item_types)
    if isinstance(t, mi.UnionType):
        return any(_is_personal(member) for member in t.types)
    return False


def _one_struct(t: mi.Type) -> type[msgspec.Struct] | None:
    """The struct type a field holds directly (optional or unset aside), if any."""
    if isinstance(t, mi.Metadata):
        return _one_struct(t.type)
    if isinstance(t, mi.StructType):
        return t.cls
    if isinstance(t, mi.UnionType):
        found = [c for c in map(_one_struct, t.types) if c is not None]
        return found[0] if len(found) == 1 else None
    return None


@functools.cache
def personal_fields(cls: type[msgspec.Struct]) -> tuple[tuple[str, Any], ...]:
    """(name, redacted value) of each personal field of an event type (or struct).

    The value is `Nested` for a field holding one struct with personal fields.
    """
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    defaults = {f.name: f.default for f in msgspec.structs.fields(cls)}
    out: list[tuple[str, Any]] = []
    for field in info.fields:
        nested = _one_struct(field.type)
        if nested is not None and personal_fields(nested):
            out.append((field.name, Nested(nested)))
            continue
        if not _is_personal(field.type):
            continue
        default = defaults[field.name]
        out.append((field.name, PLACEHOLDER if default is msgspec.NODEFAULT else default))
    return tuple(out)


def _scrub(value: S) -> S:
    """A struct with its personal fields erased, recursively."""
    changes: dict[str, Any] = {}
    for name, target in personal_fields(type(value)):
        current = getattr(value, name)
        if current is UNSET:
            continue
        if isinstance(target, Nested):
            new = _scrub(current) if isinstance(current, msgspec.Struct) else current
        else:
            new = target
        if current != new:
            changes[name] = new
    return msgspec.structs.replace(value, **changes) if changes else value


def redact(event: Event) -> Event:
    """The event with every personal field erased (unset fields stay unset)."""
    return _scrub(event)


def concerns(event: Event, forgotten: Collection[str]) -> bool:
    """Whether an event is about a forgotten contact (`forgotten`: `forgotten_ids`)."""
    if isinstance(event, AskResolved):
        return event.ask_id in forgotten
    if isinstance(event, EventRetracted):
        return event.target_id in forgotten
    return any(c in forgotten for c in contacts_of(event))


def forgotten_ids(events: Iterable[Event], contacts: Collection[str]) -> set[str]:
    """The ids whose events are forgotten: the contacts and the events about them.

    The event ids let a later resolution (of an ask to them) or retraction (of
    an event about them) be recognised without the event it names at hand.
    """
    ids = set(contacts)
    resolutions: list[AskResolved] = []
    for event in events:
        if isinstance(event, AskResolved):
            resolutions.append(event)
        elif any(c in contacts for c in contacts_of(event)):
            ids.add(event.event_id)
    ids.update(r.event_id for r in resolutions if r.ask_id in ids)
    return ids


def forgotten_by(event: Event) -> tuple[str, ...]:
    """The contact ids an event forgets (none unless it is a `ContactForgotten`)."""
    return tuple(event.contact_ids) if isinstance(event, ContactForgotten) else ()
