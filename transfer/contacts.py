"""Contacts read from address books: their records and import identity.

A contact read from a vCard or a CSV row (a `ContactRecord`) is matched
(`transfer.plan`) against the contacts the log already holds, in this order (ADR 0062):

1. its `UID`: Reciprocity's own (`urn:uuid:<contact id>`), or an address book's
   own UID recorded by an earlier import of that card;
2. one of its email addresses or phone numbers;
3. its exact name (case and accents aside).

A step that finds one standing contact decides: the file's values are compared
with that contact's, and only what differs is recorded (a `ContactEdited` for the
core fields, a `ContactDetailsSet` for the details, a `NoteAdded` per new note).
An import never removes a value: lists (emails, phones, tags, addresses, URLs,
occasions, units) gain the file's new items, single values (name, organisation,
title, birthday) take the file's when it has one. A step that finds several
contacts adds nothing and reports a *possible duplicate*: only the person knows
which one is meant (merge them, then import again). A contact matching nothing is
added; one that looks like another contact new in the same file is added and
reported as a possible duplicate too.

Every contact added or updated records its *import identity* in its `source`:

    vcard:sha256-<32 hex digits>;uid=<card UID>;<file name>:<line>

The digest is taken over what the import keeps of the entry, never over the
file's layout, so that importing the same file again records nothing, even for a
contact since edited here (the person's later decisions stand), and re-exporting
an address book in which a card was merely reordered or re-timestamped changes
nothing. Identities recorded by earlier builds (over name, emails, phones and
organisation only) still count for entries that hold nothing more.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Final
from urllib.parse import quote, unquote

import msgspec

from core.events import (
    NoteAdded,
)
from core.state import NO_DETAILS, Contact, Details, State

_IDENTITY_RE: Final = re.compile(r"^[a-z]+:sha256-([0-9a-f]{32})(?:;|$)")
_UID_RE: Final = re.compile(r";uid=([^;]*)")
#: Phone numbers are compared on their last digits, which tolerates `+44 7700`
#: versus `07700`; shorter numbers (extensions, short codes) compare whole.
PHONE_TAIL: Final = 9
MIN_PHONE_DIGITS: Final = 5
#: Google's system groups, on every contact it exports: not tags a person chose.
SYSTEM_GROUPS: Final = frozenset({"mycontacts", "starred"})


class ContactRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One contact as read from a file, before it is matched against the log."""

    line: int
    name: str
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    org: str | None = None
    tags: tuple[str, ...] = ()
    circle: str | None = None
    cadence_days: int | None = None
    #: The id of a contact of this log (Reciprocity's own exports carry it).
    uid: str | None = None
    #: The entry's UID as the file has it (an iPhone's, Google's, or our own
    #: `urn:uuid:` one), remembered to match the entry next time.
    foreign_uid: str | None = None
    details: Details = NO_DETAILS
    notes: tuple[str, ...] = ()
    #: How-we-met's contact, as the file names it (an id of this log, or a name).
    met_through: str | None = None


def normal_name(name: str) -> str:
    """A name for comparison: Unicode-normalised, case-folded, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def phone_key(phone: str) -> str | None:
    """A phone number for comparison, or None if too short to mean anything."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) < MIN_PHONE_DIGITS:
        return None
    return digits[-PHONE_TAIL:]


def legacy_identity(record: ContactRecord) -> str:
    """The digest earlier builds recorded (over name, emails, phones, organisation)."""
    canonical = (
        normal_name(record.name),
        sorted(e.strip().casefold() for e in record.emails),
        sorted("".join(ch for ch in p if ch.isdigit() or ch == "+") for p in record.phones),
        normal_name(record.org or ""),
    )
    return hashlib.sha256(msgspec.msgpack.encode(canonical)).hexdigest()[:32]


def identity(record: ContactRecord) -> str:
    """The content digest that identifies an imported entry across imports."""
    if _holds_only_legacy(record):
        return legacy_identity(record)
    canonical = (
        legacy_identity(record),
        sorted(normal_name(t) for t in record.tags),
        record.circle,
        record.cadence_days,
        msgspec.to_builtins(record.details),
        sorted(record.notes),
        record.met_through,
    )
    return hashlib.sha256(msgspec.msgpack.encode(canonical)).hexdigest()[:32]


def _holds_only_legacy(record: ContactRecord) -> bool:
    return (
        record.details == NO_DETAILS
        and not record.notes
        and record.met_through is None
        and not record.tags
        and record.circle is None
        and record.cadence_days is None
    )


def source_of(
    kind: str, digest: str, file_name: str, line: int, foreign_uid: str | None = None
) -> str:
    """The `source` recorded on an imported contact (identity first, then origin)."""
    uid = f";uid={quote(foreign_uid, safe='')}" if foreign_uid else ""
    return f"{kind}:sha256-{digest}{uid};{file_name}:{line}"[:500]


def identity_of_source(source: str | None) -> str | None:
    """The digest in a recorded `source`, if it was written by an import."""
    if source is None:
        return None
    match = _IDENTITY_RE.match(source)
    return match.group(1) if match else None


def uid_of_source(source: str | None) -> str | None:
    """The address book's UID in a recorded `source`, if the entry had one."""
    if source is None or identity_of_source(source) is None:
        return None
    match = _UID_RE.search(source)
    return unquote(match.group(1)) if match else None


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


def notes_by_contact(state: State) -> dict[str, list[str]]:
    """The live notes of every contact (merged ones under their survivor), oldest first."""
    found: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for event in state.by_id.values():
        if isinstance(event, NoteAdded) and state.live(event):
            found[state.survivor(event.contact_id)].append(
                (event.occurred_at, event.event_id, event.text)
            )
    return {cid: [text for _, _, text in sorted(rows)] for cid, rows in found.items()}
