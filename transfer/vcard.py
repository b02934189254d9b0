"""vCard: reading address books (2.1, 3.0, 4.0) and writing contacts as vCard 4.0.

Parsing is `vobject`'s (see ADR 0060): line unfolding, vCard 2.1 quoted-printable
with soft line breaks and charsets, 2.1's bare type parameters (`TEL;CELL:`),
escaped commas and semicolons, base64 photos. This module only decides what of a
card becomes a contact:

- name: `FN`, else the parts of `N`, else `ORG`, else the first email or phone;
- every `EMAIL` and `TEL` (a `tel:` URI is reduced to its number), in order;
- organisation: the first component of `ORG`; tags: `CATEGORIES`;
- `UID` `urn:uuid:<id>` when it names a contact of this log (our own export);
- `X-RECIPROCITY-CIRCLE` and `X-RECIPROCITY-CADENCE`, which our export writes.

Photos, addresses, birthdays and notes are read (so a broken one is reported)
but not kept: Reciprocity does not store them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

import vobject
from vobject.base import ParseError, VObjectError

from core.events import CIRCLES
from core.state import Contact

from .contacts import ContactRecord, clean_tags, display_name
from .errors import FileRefused

CIRCLE_PROPERTY: Final = "X-RECIPROCITY-CIRCLE"
CADENCE_PROPERTY: Final = "X-RECIPROCITY-CADENCE"
_UUID_URN: Final = "urn:uuid:"

Progress = Callable[[int], None]


def parse(text: str, source: str, *, progress: Progress | None = None) -> list[ContactRecord]:
    """Every card of a file; refuses the file at the first line that cannot be read."""
    starts = _component_lines(text)
    records: list[ContactRecord] = []
    done_line = 0
    cards = vobject.readComponents(text, allowQP=True)
    while True:
        card_line = starts[len(records)] if len(records) < len(starts) else None
        try:
            component = next(cards)
        except StopIteration:
            break
        except ParseError as exc:
            line = getattr(exc, "lineNumber", None)
            reason = str(getattr(exc, "msg", exc))
            if card_line is not None and line is not None and int(line) > card_line:
                reason += f" (in the card that begins at line {card_line})"
            at = max(1, int(line)) if line is not None else card_line
            raise FileRefused(source, at, reason) from None
        except (VObjectError, ValueError, LookupError, TypeError) as exc:
            reason = f"cannot read the card that begins here: {exc}"
            raise FileRefused(source, card_line, reason) from None
        if component.name != "VCARD":
            raise FileRefused(source, card_line, f"a {component.name} is not a vCard")
        line = card_line or 1
        try:
            record = _record(component, line)
        except (ValueError, TypeError, AttributeError) as exc:
            raise FileRefused(source, line, f"cannot read this card: {exc}") from None
        records.append(record)
        if progress is not None:
            progress(line - done_line)
            done_line = line
    if progress is not None:
        progress(text.count("\n") + 1 - done_line)
    if len(records) != len(starts):
        raise FileRefused(source, None, "the BEGIN lines do not match the cards read")
    return records


def _component_lines(text: str) -> list[int]:
    """The line on which each top-level component (card) begins."""
    starts: list[int] = []
    depth = 0
    for number, line in enumerate(text.split("\n"), start=1):
        word = line.strip().upper()
        if word.startswith("BEGIN:"):
            if depth == 0:
                starts.append(number)
            depth += 1
        elif word.startswith("END:"):
            depth = max(0, depth - 1)
    return starts


def _record(card: Any, line: int) -> ContactRecord:
    lines = card.contents
    emails = [v for v in _texts(lines.get("email", ())) if v]
    phones = [_phone(v) for v in _texts(lines.get("tel", ())) if _phone(v)]
    org = _first(lines.get("org", ()))
    full = _first(lines.get("fn", ()))
    parts = _name_parts(lines.get("n", ()))
    name = display_name(full, parts, org, emails, phones) or ""
    tags = clean_tags(t for c in lines.get("categories", ()) for t in _listed(c.value))
    uid = _first(lines.get("uid", ()))
    circle = _first(lines.get(CIRCLE_PROPERTY.lower(), ()))
    cadence = _first(lines.get(CADENCE_PROPERTY.lower(), ()))
    if circle is not None and circle not in CIRCLES:
        raise ValueError(f"{CIRCLE_PROPERTY} {circle!r} is not one of {', '.join(CIRCLES)}")
    if cadence is not None and not cadence.isdigit():
        raise ValueError(f"{CADENCE_PROPERTY} {cadence!r} is not a number of days")
    return ContactRecord(
        line=line,
        name=name,
        emails=tuple(emails),
        phones=tuple(phones),
        org=org,
        tags=tags,
        circle=circle,
        cadence_days=int(cadence) if cadence is not None else None,
        uid=uid[len(_UUID_URN) :] if uid and uid.lower().startswith(_UUID_URN) else None,
    )


def _texts(lines: Iterable[Any]) -> list[str]:
    return [_text(line.value).strip() for line in lines]


def _text(value: object) -> str:
    """A property value as one string (structured values joined by spaces)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return " ".join(_text(v) for v in value if v)
    if isinstance(value, bytes):
        raise ValueError("binary value where text was expected")
    return str(value)


def _first(lines: Iterable[Any]) -> str | None:
    for line in lines:
        value = line.value
        if isinstance(value, list | tuple):
            value = next((v for v in value if isinstance(v, str) and v.strip()), "")
        text = _text(value).strip()
        if text:
            return text
    return None


def _listed(value: object) -> list[str]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return [str(v).strip() for v in items if str(v).strip()]


def _name_parts(lines: Iterable[Any]) -> list[str]:
    for line in lines:
        name = line.value
        if isinstance(name, vobject.vcard.Name):
            ordered = (name.prefix, name.given, name.additional, name.family, name.suffix)
            return [_text(part) for part in ordered if part]
        if isinstance(name, str):
            family, _, rest = name.partition(";")
            given = rest.split(";", 1)[0]
            return [given, family]
    return []


def _phone(value: str) -> str:
    value = value.strip()
    if value.lower().startswith("tel:"):
        value = value[4:].split(";", 1)[0]
    return value


# -- export -----------------------------------------------------------------------


def export(contacts: Iterable[Contact]) -> str:
    """Contacts as vCard 4.0 text (CRLF lines, folded at 75 octets, as RFC 6350 says).

    Each card carries `UID:urn:uuid:<contact id>`, so importing the file back into
    this log recognises every contact instead of adding it twice.
    """
    return "".join(_card(contact) for contact in contacts)


def _card(contact: Contact) -> str:
    card = vobject.vCard()
    card.add("version").value = "4.0"
    card.add("uid").value = _UUID_URN + contact.id
    card.add("fn").value = contact.name
    for email in contact.emails:
        card.add("email").value = email
    for phone in contact.phones:
        tel = card.add("tel")
        tel.value = phone
        tel.params["VALUE"] = ["text"]
    if contact.org:
        card.add("org").value = [contact.org]
    if contact.tags:
        card.add("categories").value = list(contact.tags)
    card.add(CIRCLE_PROPERTY.lower()).value = contact.circle
    if contact.cadence_days is not None:
        card.add(CADENCE_PROPERTY.lower()).value = str(contact.cadence_days)
    text: str = card.serialize()
    return "\r\n".join(_fold(line) for line in text.split("\r\n"))


def _fold(line: str, limit: int = 75) -> str:
    """Fold a line at `limit` octets without splitting a character.

    vobject folds by octets only lines of 75 characters or more, so a shorter
    line of multi-byte characters (a name in Cyrillic) would stay too long.
    """
    if len(line.encode("utf-8")) <= limit:
        return line
    pieces: list[str] = []
    current, size = "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            pieces.append(current)
            current, size = " ", 1
        current += char
        size += width
    pieces.append(current)
    return "\r\n".join(pieces)
