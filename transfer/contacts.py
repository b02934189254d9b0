"""Contacts read from address books: their import identity, and likely duplicates.

A contact read from a vCard or a CSV row becomes a `ContactAdded` event whose
`source` records where it came from and, first, its *import identity*:

    vcard:sha256-<32 hex digits>;<file name>:<line>

The digest is taken over what the import keeps of the contact (its name, emails,
phones and organisation, normalised), never over the file's layout, so that:

- importing the same file again adds nothing (every contact's identity is
  already recorded in the log, even if it was since edited, archived, merged or
  retracted: the person's later decisions stand);
- re-exporting an address book in which a card was merely reordered, re-photographed
  or re-timestamped (`REV`) does not import it again;
- the same person read from a vCard and from a CSV export of the same address
  book is recognised as already imported.

A card whose `UID` (or a CSV row whose `id`) is the id of a contact already in
this log is that contact (Reciprocity's own exports carry it), and is skipped.

Anything else that merely *looks* like an existing contact (the same email, the
same phone number, or the same name) is imported and reported as a likely
duplicate, never merged silently: only the person knows whether two Ann Lees
are one.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Final

import msgspec

from core import codec
from core.commands import Now, add_contact
from core.errors import CodecError, ValidationError
from core.events import ContactAdded, stamp
from core.state import Contact, State

from .errors import FileRefused

_IDENTITY_RE: Final = re.compile(r"^[a-z]+:sha256-([0-9a-f]{32})(?:;|$)")
#: Phone numbers are compared on their last digits, which tolerates `+44 7700`
#: versus `07700`; shorter numbers (extensions, short codes) compare whole.
PHONE_TAIL: Final = 9
MIN_PHONE_DIGITS: Final = 5
#: Google's system groups, on every contact it exports: not tags a person chose.
SYSTEM_GROUPS: Final = frozenset({"mycontacts", "starred"})


class ContactRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One contact as read from a file, before validation against the log."""

    line: int
    name: str
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    org: str | None = None
    tags: tuple[str, ...] = ()
    circle: str | None = None
    cadence_days: int | None = None
    uid: str | None = None


class Duplicate(msgspec.Struct, frozen=True, kw_only=True):
    """A new contact that looks like another one (existing, or new in the same file)."""

    line: int
    name: str
    #: The new contact's id; None when it was not added (`skip_duplicates`).
    contact_id: str | None
    other_id: str
    other_name: str
    reason: str
    other_is_new: bool


class ContactImport(msgspec.Struct, kw_only=True):
    """What importing a file's contacts will do (and, once appended, did)."""

    drafts: list[ContactAdded] = msgspec.field(default_factory=list)
    #: (line, name, id of the contact it already is)
    already: list[tuple[int, str, str]] = msgspec.field(default_factory=list)
    #: (line, first line with the same content)
    repeated: list[tuple[int, int]] = msgspec.field(default_factory=list)
    duplicates: list[Duplicate] = msgspec.field(default_factory=list)
    #: lines of entries with nothing to import (no name, email, phone or organisation)
    empty: list[int] = msgspec.field(default_factory=list)


def normal_name(name: str) -> str:
    """A name for comparison: Unicode-normalised, case-folded, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def phone_key(phone: str) -> str | None:
    """A phone number for comparison, or None if too short to mean anything."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) < MIN_PHONE_DIGITS:
        return None
    return digits[-PHONE_TAIL:]


def identity(record: ContactRecord) -> str:
    """The content digest that identifies an imported contact across imports."""
    canonical = (
        normal_name(record.name),
        sorted(e.strip().casefold() for e in record.emails),
        sorted("".join(ch for ch in p if ch.isdigit() or ch == "+") for p in record.phones),
        normal_name(record.org or ""),
    )
    return hashlib.sha256(msgspec.msgpack.encode(canonical)).hexdigest()[:32]


def source_of(kind: str, digest: str, file_name: str, line: int) -> str:
    """The `source` recorded on an imported contact (identity first, then origin)."""
    return f"{kind}:sha256-{digest};{file_name}:{line}"


def identity_of_source(source: str | None) -> str | None:
    """The digest in a recorded `source`, if it was written by an import."""
    if source is None:
        return None
    match = _IDENTITY_RE.match(source)
    return match.group(1) if match else None


Key = tuple[str, str, str]  # (kind, normalised value, value as written)


class _Index:
    """Contacts by the keys that suggest two entries are one person."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], list[tuple[str, str, bool]]] = defaultdict(list)

    def add(self, contact_id: str, name: str, keys: Iterable[Key], new: bool) -> None:
        for kind, value, _ in keys:
            self._by_key[(kind, value)].append((contact_id, name, new))

    def matches(self, keys: Iterable[Key]) -> dict[str, tuple[str, str, bool]]:
        """Other contacts sharing a key: id -> (name, reasons, is new)."""
        names: dict[str, tuple[str, bool]] = {}
        reasons: dict[str, list[str]] = defaultdict(list)
        for kind, value, shown in keys:
            for contact_id, name, new in self._by_key.get((kind, value), ()):
                names[contact_id] = (name, new)
                reason = "same name" if kind == "name" else f"same {kind} ({shown})"
                if reason not in reasons[contact_id]:
                    reasons[contact_id].append(reason)
        return {cid: (name, ", ".join(reasons[cid]), new) for cid, (name, new) in names.items()}


def _keys(name: str, emails: Sequence[str], phones: Sequence[str]) -> list[Key]:
    keys = [("name", normal_name(name), name)]
    keys += [("email", e.strip().casefold(), e) for e in emails]
    for phone in phones:
        digits = phone_key(phone)
        if digits is not None:
            keys.append(("phone", digits, phone))
    return keys


def plan_import(
    state: State,
    records: Sequence[ContactRecord],
    *,
    kind: str,
    source: str,
    now: Now,
    circle: str | None = None,
    skip_duplicates: bool = False,
) -> ContactImport:
    """Turn records into `ContactAdded` drafts, validating every one first.

    Raises `FileRefused` at the first record that does not make a valid contact;
    then nothing is to be appended.
    """
    plan = ContactImport()
    imported: dict[str, str] = {}
    for added in state.added.values():
        digest = identity_of_source(added.source)
        if digest is not None:
            imported.setdefault(digest, added.event_id)
    index = _Index()
    for contact in state.contacts():
        if not contact.absorbed:
            index.add(contact.id, contact.name, _contact_keys(contact), new=False)
    seen_in_file: dict[str, int] = {}
    file_name = source.rsplit("/", 1)[-1]
    for record in records:
        if record.uid is not None and record.uid in state.added:
            plan.already.append((record.line, record.name, record.uid))
            continue
        digest = identity(record)
        if digest in imported:
            plan.already.append((record.line, record.name, imported[digest]))
            continue
        if digest in seen_in_file:
            plan.repeated.append((record.line, seen_in_file[digest]))
            continue
        seen_in_file[digest] = record.line
        if not record.name:
            plan.empty.append(record.line)
            continue
        try:
            draft = add_contact(
                now,
                record.name,
                emails=record.emails,
                phones=record.phones,
                org=record.org,
                tags=record.tags,
                circle=record.circle or circle or "wider",
                cadence_days=record.cadence_days,
                source=source_of(kind, digest, file_name, record.line),
            )
            # Bounds only the schema states (a 501-character tag); the device id is
            # stamped at append, so a placeholder stands in for it here.
            codec.check("ContactAdded", codec.encode(stamp(draft, device_id="-", seq=1)))
        except (ValidationError, CodecError) as exc:
            raise FileRefused(source, record.line, f"{record.name!r}: {exc}") from None
        keys = _keys(draft.name, draft.emails, draft.phones)
        looks_like = index.matches(keys)
        skip = bool(looks_like) and skip_duplicates
        for other_id, (other_name, reason, other_new) in looks_like.items():
            plan.duplicates.append(
                Duplicate(
                    line=record.line,
                    name=draft.name,
                    contact_id=None if skip else draft.event_id,
                    other_id=other_id,
                    other_name=other_name,
                    reason=reason,
                    other_is_new=other_new,
                )
            )
        if skip:
            continue
        index.add(draft.event_id, draft.name, keys, new=True)
        plan.drafts.append(draft)
    return plan


def _contact_keys(contact: Contact) -> list[Key]:
    return _keys(contact.name, contact.emails, contact.phones)


def display_name(
    full: str | None,
    parts: Sequence[str],
    org: str | None,
    emails: Sequence[str],
    phones: Sequence[str],
) -> str | None:
    """The best name an address book entry offers, or None if it offers nothing.

    Phone books hold entries with only a company, or only a number: those are
    named after what they have, as the phone itself shows them.
    """
    for candidate in (full, " ".join(p.strip() for p in parts if p and p.strip()), org):
        if candidate and candidate.strip():
            return candidate.strip()
    if emails:
        return emails[0]
    if phones:
        return phones[0]
    return None


def split_values(cell: str) -> list[str]:
    """Several values in one cell, as Google Contacts writes them: `a ::: b`."""
    return [part.strip() for part in cell.split(":::") if part.strip()]


def clean_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Tags a person chose: without Google's system groups, `* ` marks and repeats."""
    kept = (t.removeprefix("* ").strip() for t in tags)
    return tuple(dict.fromkeys(t for t in kept if t and t.casefold() not in SYSTEM_GROUPS))


def contact_rows(state: State, *, archived: bool) -> list[Contact]:
    """The contacts an export lists: active ones (and archived ones if asked), by name."""
    chosen = [c for c in state.contacts() if not c.absorbed and (archived or not c.archived)]
    return sorted(chosen, key=lambda c: (normal_name(c.name), c.id))
