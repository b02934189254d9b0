"""Planning an import: match each entry to the log's contacts, then add or update.

The rules are in `transfer.contacts`' docstring and ADR 0087: matching by UID,
then email or phone, then exact name; an update records only what differs and
never removes a value; several matches, or a contact the same file already
updated, make a possible duplicate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Final

import msgspec

from core import codec
from core.commands import Now, add_contact
from core.errors import CodecError, ValidationError
from core.events import (
    ContactAdded,
    ContactDetailsSet,
    ContactEdited,
    Event,
    HowWeMet,
    NoteAdded,
    stamp,
    type_name,
)
from core.ids import new_id, short_id
from core.names import fold
from core.state import DETAILS, NO_DETAILS, Contact, Details, State

from .contacts import (
    ContactRecord,
    identity,
    identity_of_source,
    legacy_identity,
    notes_by_contact,
    phone_key,
    source_of,
    uid_of_source,
)
from .errors import FileRefused

#: Possible duplicates listed by name; the rest are counted.
SHOWN_DUPLICATES: Final = 20
MAX_NOTE: Final = 20_000


class Duplicate(msgspec.Struct, frozen=True, kw_only=True):
    """An entry that matches several contacts, or looks like another new one."""

    line: int
    name: str
    #: The new contact's id; None when it was not added.
    contact_id: str | None
    others: list[tuple[str, str]]
    reason: str
    other_is_new: bool


class Change(msgspec.Struct, frozen=True):
    """One field an import changes: its name, and its value before and after (as text)."""

    field: str
    before: str
    after: str


class Update(msgspec.Struct, frozen=True, kw_only=True):
    """An existing contact an entry updates, and what changes."""

    line: int
    name: str
    contact_id: str
    changes: list[Change]


class ContactImport(msgspec.Struct, kw_only=True):
    """What importing a file's contacts will do (and, once appended, did)."""

    drafts: list[Event] = msgspec.field(default_factory=list)
    #: (line, name, new contact id)
    added: list[tuple[int, str, str]] = msgspec.field(default_factory=list)
    updated: list[Update] = msgspec.field(default_factory=list)
    #: (line, name, id of the contact it already is)
    unchanged: list[tuple[int, str, str]] = msgspec.field(default_factory=list)
    #: (line, first line with the same content)
    repeated: list[tuple[int, int]] = msgspec.field(default_factory=list)
    duplicates: list[Duplicate] = msgspec.field(default_factory=list)
    #: lines of entries with nothing to import (no name, email, phone or organisation)
    empty: list[int] = msgspec.field(default_factory=list)
    #: properties or columns the model cannot hold -> how many times they were met
    skipped: dict[str, int] = msgspec.field(default_factory=dict)


Key = tuple[str, str, str]  # (kind, normalised value, value as written)


class _Index:
    """Contacts by the keys that suggest two entries are one person."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)

    def add(self, contact_id: str, name: str, keys: Iterable[Key]) -> None:
        for kind, value, _ in keys:
            self._by_key[(kind, value)].append((contact_id, name))

    def matches(self, keys: Iterable[Key]) -> tuple[dict[str, str], dict[str, list[str]]]:
        """Other contacts sharing a key: (id -> name, id -> reasons)."""
        names: dict[str, str] = {}
        reasons: dict[str, list[str]] = defaultdict(list)
        for kind, value, shown in keys:
            for contact_id, name in self._by_key.get((kind, value), ()):
                names[contact_id] = name
                reason = "same name" if kind == "name" else f"same {kind} ({shown})"
                if reason not in reasons[contact_id]:
                    reasons[contact_id].append(reason)
        return names, reasons


def _keys(name: str, emails: Sequence[str], phones: Sequence[str]) -> list[Key]:
    keys = [("name", fold(name), name)]
    keys += [("email", e.strip().casefold(), e) for e in emails]
    for phone in phones:
        digits = phone_key(phone)
        if digits is not None:
            keys.append(("phone", digits, phone))
    return keys


class _Known:
    """What the log already holds that an import matches against."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.digests: dict[str, str] = {}
        self.uids: dict[str, str] = {}
        for event in state.by_id.values():
            if isinstance(event, ContactAdded | ContactDetailsSet) and event.source:
                contact_id = event.event_id if isinstance(event, ContactAdded) else event.contact_id
                digest = identity_of_source(event.source)
                if digest is not None:
                    self.digests.setdefault(digest, contact_id)
                uid = uid_of_source(event.source)
                if uid is not None:
                    self.uids.setdefault(uid, contact_id)
        self.contacts = {c.id: c for c in state.contacts()}
        #: the file's ids of its entries (our export's UIDs) -> the contacts they are here
        self.file_ids: dict[str, str] = {}
        self._notes: dict[str, list[str]] | None = None
        self.by_contact = _Index()
        self.by_name = _Index()
        for c in self.contacts.values():
            if not c.absorbed:
                keys = _keys(c.name, c.emails, c.phones)
                self.by_contact.add(c.id, c.name, keys[1:])
                self.by_name.add(c.id, c.name, keys[:1])

    def notes(self) -> dict[str, list[str]]:
        """Live notes by contact (survivors), read once when an update first needs them."""
        if self._notes is None:
            self._notes = notes_by_contact(self.state)
        return self._notes

    def standing(self, contact_id: str) -> Contact | None:
        """The contact an id now means (its survivor), if it stands."""
        found = self.contacts.get(contact_id)
        if found is None:
            return None
        return self.contacts.get(found.survivor)

    def match(self, record: ContactRecord, keys: list[Key]) -> Match:
        """The contacts the entry matches at the first step that matches any, and why."""
        for uid, why in ((record.uid, "same id"), (record.foreign_uid, "same UID")):
            if uid is None:
                continue
            direct = uid if why == "same id" and uid in self.contacts else self.uids.get(uid)
            found = self.standing(direct) if direct is not None else None
            if found is not None:
                return Match([found], why, merged=found.id != direct)
        for index, step in ((self.by_contact, keys[1:]), (self.by_name, keys[:1])):
            names, reasons = index.matches(step)
            standing = {c.id: c for i in sorted(names) if (c := self.standing(i)) is not None}
            if standing:
                why = "; ".join(sorted({r for i in names for r in reasons[i]}))
                return Match(list(standing.values()), why)
        return Match([], "")


class Match(msgspec.Struct, frozen=True):
    """The contacts an entry matched, why, and whether through a merged-away contact."""

    contacts: list[Contact]
    why: str
    merged: bool = False


def plan_import(
    state: State,
    records: Sequence[ContactRecord],
    *,
    kind: str,
    source: str,
    now: Now,
    circle: str | None = None,
    skip_duplicates: bool = False,
    skipped: dict[str, int] | None = None,
) -> ContactImport:
    """Match every record against the log; plan what to add and what to change.

    Raises `FileRefused` at the first record that does not make a valid contact;
    then nothing is to be appended.
    """
    plan = ContactImport(skipped=dict(skipped or {}))
    known = _Known(state)
    fresh = _Index()
    seen_in_file: dict[str, int] = {}
    claimed: dict[str, int] = {}  # existing contact -> the line that matched it
    pending: list[tuple[ContactRecord, str]] = []  # added: details wait for every id
    file_name = source.rsplit("/", 1)[-1]
    for record in records:
        digest = identity(record)
        if digest in seen_in_file:
            plan.repeated.append((record.line, seen_in_file[digest]))
            continue
        seen_in_file[digest] = record.line
        if not record.name:
            plan.empty.append(record.line)
            continue
        origin = source_of(kind, digest, file_name, record.line, record.foreign_uid)
        try:
            keys = _keys(record.name, record.emails, record.phones)
            match = known.match(record, keys)
            matched, why = match.contacts, match.why
            if len(matched) > 1:
                others = [(c.id, c.name) for c in matched]
                plan.duplicates.append(
                    Duplicate(
                        line=record.line,
                        name=record.name,
                        contact_id=None,
                        others=others,
                        reason=why,
                        other_is_new=False,
                    )
                )
                continue
            if (
                matched
                and len(matched) == 1
                and (digest in known.digests or legacy_identity(record) in known.digests)
            ):
                plan.unchanged.append((record.line, record.name, matched[0].id))
                if record.uid is not None:
                    known.file_ids[record.uid] = matched[0].id
                continue
            if matched and matched[0].id in claimed:
                plan.duplicates.append(
                    Duplicate(
                        line=record.line,
                        name=record.name,
                        contact_id=None,
                        others=[(matched[0].id, matched[0].name)],
                        reason=f"{why}, as line {claimed[matched[0].id]} of this file",
                        other_is_new=False,
                    )
                )
                continue
            if matched:
                (contact,) = matched
                claimed[contact.id] = record.line
                if record.uid is not None:
                    known.file_ids[record.uid] = contact.id
                _plan_update(plan, state, known, record, contact, now, origin, merged=match.merged)
                continue
            if digest in known.digests:  # imported before, since retracted: stays so
                plan.unchanged.append((record.line, record.name, known.digests[digest]))
                continue
            if _plan_add(plan, known, fresh, record, now, origin, circle, skip_duplicates):
                pending.append((record, plan.added[-1][2]))
        except (ValidationError, CodecError) as exc:
            raise FileRefused(source, record.line, f"{record.name!r}: {exc}") from None
    for record, contact_id in pending:
        try:
            plan.drafts += _plan_added_details(known, record, contact_id, now)
        except (ValidationError, CodecError) as exc:
            raise FileRefused(source, record.line, f"{record.name!r}: {exc}") from None
    return plan


def _checked(draft: Event) -> Event:
    """The schema's bounds (a 501-character tag); the device id is stamped at append."""
    codec.check(type_name(draft), codec.encode(stamp(draft, device_id="-", seq=1)))
    return draft


def _envelope(now: Now) -> dict[str, Any]:
    return {
        "event_id": new_id(now.unix_ms),
        "device_id": "",
        "seq": 0,
        "hlc": 0,
        "occurred_at": now.unix_ms,
        "utc_offset": now.utc_offset,
    }


def _through(known: _Known, record: ContactRecord) -> str | None:
    """How-we-met's contact, if the file names one this log holds or adds."""
    if record.met_through is None:
        return None
    if record.met_through in known.file_ids:
        return known.file_ids[record.met_through]
    found = known.standing(record.met_through)
    if found is None:
        ids = [c.id for c in known.contacts.values() if fold(c.name) == fold(record.met_through)]
        found = known.standing(ids[0]) if len(ids) == 1 else None
    return found.id if found is not None else None


def _plan_add(
    plan: ContactImport,
    known: _Known,
    fresh: _Index,
    record: ContactRecord,
    now: Now,
    origin: str,
    circle: str | None,
    skip_duplicates: bool,
) -> bool:
    """Plan adding the entry; False when it is left out (`skip_duplicates`)."""
    added = add_contact(
        now,
        record.name,
        emails=record.emails,
        phones=record.phones,
        org=record.org,
        tags=record.tags,
        circle=record.circle or circle or "wider",
        cadence_days=record.cadence_days,
        source=origin,
    )
    _checked(added)
    keys = _keys(added.name, added.emails, added.phones)
    names, reasons = fresh.matches(keys)
    if names:
        plan.duplicates.append(
            Duplicate(
                line=record.line,
                name=added.name,
                contact_id=None if skip_duplicates else added.event_id,
                others=sorted(names.items()),
                reason="; ".join(sorted({r for i in names for r in reasons[i]})),
                other_is_new=True,
            )
        )
        if skip_duplicates:
            return False
    fresh.add(added.event_id, added.name, keys)
    plan.drafts.append(added)
    plan.added.append((record.line, added.name, added.event_id))
    if record.uid is not None:
        known.file_ids[record.uid] = added.event_id
    return True


def _plan_added_details(
    known: _Known, record: ContactRecord, contact_id: str, now: Now
) -> list[Event]:
    """The details and notes of a contact the import adds (once every entry is known,
    so that how-we-met may name a contact added from a later line)."""
    drafts: list[Event] = []
    details = _with_through(record.details, _through(known, record), NO_DETAILS.met)
    fields = {
        k: getattr(details, k) for k in DETAILS if getattr(details, k) != getattr(NO_DETAILS, k)
    }
    if fields:
        drafts.append(
            _checked(ContactDetailsSet(**_envelope(now), contact_id=contact_id, **fields))
        )
    for text in dict.fromkeys(_note_texts(record.notes)):
        drafts.append(_checked(_note(now, contact_id, text)))
    return drafts


def _note_texts(notes: Iterable[str]) -> list[str]:
    """Notes as recorded: line ends normalised, surrounding space and empty ones dropped."""
    texts = (n.replace("\r\n", "\n").replace("\r", "\n").strip() for n in notes)
    return [t for t in texts if t]


def _note(now: Now, contact_id: str, text: str) -> NoteAdded:
    return NoteAdded(**_envelope(now), contact_id=contact_id, text=text.strip()[:MAX_NOTE])


def _with_through(details: Details, through: str | None, held: HowWeMet | None) -> Details:
    """The file's how-we-met, with its contact resolved; parts already held stay."""
    met = details.met
    if met is None and through is None:
        return details
    met = met or HowWeMet()
    held = held or HowWeMet()
    merged = HowWeMet(
        where=held.where or met.where,
        on=held.on or met.on,
        through=held.through or through,
    )
    return msgspec.structs.replace(details, met=merged)


def _union(held: Sequence[Any], new: Sequence[Any], key: Any = None) -> tuple[Any, ...]:
    """`held`, then the items of `new` it lacks (compared by `key`)."""
    key = key or (lambda v: v)
    have = {key(v) for v in held}
    out = list(held)
    for value in new:
        if key(value) not in have:
            have.add(key(value))
            out.append(value)
    return tuple(out)


def _plan_update(
    plan: ContactImport,
    state: State,
    known: _Known,
    record: ContactRecord,
    contact: Contact,
    now: Now,
    origin: str,
    *,
    merged: bool = False,
) -> None:
    """Plan the edits that bring `contact` up to the entry (never removing a value).

    A name stands in for a missing one (an entry named by its number) or comes from
    a card of a contact since merged into `contact`: neither renames it."""
    core: dict[str, Any] = {}
    stand_in = {record.org, *record.emails, *record.phones}
    renames = not merged and record.name not in stand_in
    if renames and fold(record.name) != fold(contact.name):
        core["name"] = record.name.strip()
    core["emails"] = _union(contact.emails, record.emails, lambda e: e.strip().casefold())
    core["phones"] = _union(contact.phones, record.phones, lambda p: phone_key(p) or p)
    if record.org and record.org.strip() != (contact.org or ""):
        core["org"] = record.org.strip()
    core["tags"] = _union(contact.tags, record.tags, fold)
    if record.circle is not None:
        core["circle"] = record.circle
    if record.cadence_days is not None:
        core["cadence_days"] = record.cadence_days
    core = {k: v for k, v in core.items() if getattr(contact, k) != v}
    held = contact.details
    new = _with_through(record.details, _through(known, record), held.met)
    detail: dict[str, Any] = {
        "occasions": _union(held.occasions, new.occasions),
        "org_units": _union(held.org_units, new.org_units, fold),
        "addresses": _union(held.addresses, new.addresses),
        "profiles": _union(held.profiles, new.profiles, lambda p: p.url),
        "met": new.met if new.met is not None else held.met,
    }
    for name in ("birthday", "title"):
        value = getattr(new, name)
        if value:
            detail[name] = value
    detail = {k: v for k, v in detail.items() if getattr(held, k) != v}
    noted = set(known.notes().get(contact.id, ()))
    notes = [t for t in dict.fromkeys(_note_texts(record.notes)) if t not in noted]
    if not core and not detail and not notes:
        plan.unchanged.append((record.line, record.name, contact.id))
        return
    changes = [Change(k, _shown(getattr(contact, k)), _shown(v)) for k, v in core.items()]
    changes += [Change(k, _shown(getattr(held, k)), _shown(v)) for k, v in detail.items()]
    changes += [Change("note", "", text) for text in notes]
    if core:
        plan.drafts.append(_checked(ContactEdited(**_envelope(now), contact_id=contact.id, **core)))
    plan.drafts.append(
        _checked(
            ContactDetailsSet(**_envelope(now), contact_id=contact.id, source=origin, **detail)
        )
    )
    plan.drafts += [_checked(_note(now, contact.id, text)) for text in notes]
    plan.updated.append(
        Update(line=record.line, name=contact.name, contact_id=contact.id, changes=changes)
    )


def _shown(value: Any) -> str:
    """A field's value as text for a person (no Python reprs)."""
    if value is None or value == ():
        return "-"
    if isinstance(value, tuple | list):
        return ", ".join(_shown(v) for v in value)
    if isinstance(value, msgspec.Struct):
        parts = [str(v) for v in msgspec.structs.astuple(value) if v not in ("", None)]
        return " ".join(parts)
    return str(value)


def duplicate_lines(duplicates: Sequence[Duplicate]) -> list[str]:
    """At most `SHOWN_DUPLICATES` possible duplicates, one line each."""
    out = []
    for dup in duplicates[:SHOWN_DUPLICATES]:
        others = ", ".join(f"{name} ({short_id(i)})" for i, name in dup.others)
        if dup.contact_id is None and not dup.other_is_new and len(dup.others) == 1:
            what = f"matches {others}, not imported"
        elif dup.contact_id is None and not dup.other_is_new:
            what = f"matches {len(dup.others)} contacts, not imported: {others}"
        else:
            added = f"added as {short_id(dup.contact_id)}" if dup.contact_id else "not added"
            what = f"{added}; looks like new {others}"
        out.append(f"  line {dup.line}: {dup.name!r} {what} ({dup.reason})")
    return out
