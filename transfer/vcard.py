"""vCard: reading address books (2.1, 3.0, 4.0) and writing contacts as vCard 4.0.

Parsing is `vobject`'s (see ADR 0060): line unfolding, vCard 2.1 quoted-printable
with soft line breaks and charsets, 2.1's bare type parameters (`TEL;CELL:`),
escaped commas and semicolons, base64 photos. This module only decides what of a
card becomes a contact:

- name: `FN`, else the parts of `N`, else `ORG`, else the first email or phone;
- every `EMAIL` and `TEL` (a `tel:` URI is reduced to its number), in order;
- organisation: the first component of `ORG`, its units the others; `TITLE`
  (else `ROLE`); tags: `CATEGORIES`;
- `BDAY` (Apple's year 1604 with `X-APPLE-OMIT-YEAR` means no year),
  `ANNIVERSARY`, and Apple's labelled `X-ABDATE`s as occasions;
- every `ADR` (its `TYPE` is the label), `URL` and `X-SOCIALPROFILE`;
- every `NOTE`, imported as a note;
- `UID`: `urn:uuid:<id>` names a contact of this log (our own export), any other
  is the address book's own, remembered to match the card next time;
- `X-RECIPROCITY-*`: circle, cadence, occasions and how we met, which our export
  writes.

Every other property is counted by name and reported as skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import vobject
from vobject.base import ParseError, VObjectError

from core.dates import partial_date
from core.details import profile
from core.errors import ValidationError
from core.events import CIRCLES, Address, HowWeMet, Occasion, Profile
from core.state import Contact, Details

from .contacts import ContactRecord, clean_tags, display_name
from .errors import FileRefused

CIRCLE_PROPERTY: Final = "X-RECIPROCITY-CIRCLE"
CADENCE_PROPERTY: Final = "X-RECIPROCITY-CADENCE"
OCCASION_PROPERTY: Final = "X-RECIPROCITY-OCCASION"
MET_AT: Final = "X-RECIPROCITY-MET-AT"
MET_ON: Final = "X-RECIPROCITY-MET-ON"
MET_THROUGH: Final = "X-RECIPROCITY-MET-THROUGH"
_UUID_URN: Final = "urn:uuid:"
#: Properties a card is made of, or that say nothing about the person: never skipped.
_FRAME: Final = frozenset({"version", "prodid"})
#: Properties `_record` reads (lower case, as vobject keys them).
_KEPT: Final = frozenset(
    {
        "fn",
        "n",
        "email",
        "tel",
        "org",
        "title",
        "role",
        "categories",
        "uid",
        "bday",
        "anniversary",
        "x-abdate",
        "adr",
        "url",
        "x-socialprofile",
        "note",
        CIRCLE_PROPERTY.lower(),
        CADENCE_PROPERTY.lower(),
        OCCASION_PROPERTY.lower(),
        MET_AT.lower(),
        MET_ON.lower(),
        MET_THROUGH.lower(),
    }
)

Progress = Callable[[int], None]


def parse(
    text: str,
    source: str,
    *,
    progress: Progress | None = None,
    skipped: dict[str, int] | None = None,
) -> list[ContactRecord]:
    """Every card of a file; refuses the file at the first line that cannot be read.

    `skipped`, when given, is filled with the properties no contact field holds
    (`PHOTO`, `X-ABUID`, ...) and how many times each was met.
    """
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
            if skipped is not None:
                _count_skipped(component, skipped)
        except (ValueError, TypeError, AttributeError, ValidationError) as exc:
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
    ours = uid[len(_UUID_URN) :] if uid and uid.lower().startswith(_UUID_URN) else None
    through = _first(lines.get(MET_THROUGH.lower(), ()))
    if through and through.lower().startswith(_UUID_URN):
        through = through[len(_UUID_URN) :]
    return ContactRecord(
        line=line,
        name=name,
        emails=tuple(emails),
        phones=tuple(phones),
        org=org,
        tags=tags,
        circle=circle,
        cadence_days=int(cadence) if cadence is not None else None,
        uid=ours,
        foreign_uid=uid,
        details=_details(card),
        notes=tuple(n for n in _texts(lines.get("note", ())) if n),
        met_through=through,
    )


def _count_skipped(card: Any, skipped: dict[str, int]) -> None:
    labelled = {
        line.group
        for key in _KEPT
        for line in card.contents.get(key, ())
        if getattr(line, "group", None)
    }
    for key, lines in card.contents.items():
        if key in _KEPT or key in _FRAME:
            continue
        for line in lines:
            if key == "x-ablabel" and line.group in labelled:
                continue
            skipped[key.upper()] = skipped.get(key.upper(), 0) + 1


def _details(card: Any) -> Details:
    """What a card says beyond the core fields (each value checked as a command would)."""
    lines = card.contents
    org_parts: object = next((line.value for line in lines.get("org", ())), [])
    units = org_parts[1:] if isinstance(org_parts, list) else []
    title = _first(lines.get("title", ())) or _first(lines.get("role", ()))
    met_at = _first(lines.get(MET_AT.lower(), ()))
    met_on = _first(lines.get(MET_ON.lower(), ()))
    return Details(
        birthday=_birthday(lines.get("bday", ())),
        occasions=_occasions(card),
        title=title[:500] if title else None,
        org_units=tuple(u.strip()[:500] for u in units if isinstance(u, str) and u.strip()),
        addresses=tuple(a for a in (_address(line) for line in lines.get("adr", ())) if a),
        profiles=_profiles(card),
        met=(
            HowWeMet(where=(met_at or "")[:500], on=partial_date(met_on) if met_on else None)
            if met_at or met_on
            else None
        ),
    )


def _day(value: object) -> str | None:
    """A card's date value (`1815-12-10`, `18151210`, `--1210`, with a time) as a day."""
    text = _text(value).strip()
    if not text:
        return None
    return partial_date(text.split("T", 1)[0])


def _birthday(lines: Iterable[Any]) -> str | None:
    for line in lines:
        day = _day(line.value)
        if day is None:
            continue
        omit = line.params.get("X-APPLE-OMIT-YEAR")
        if omit and day.startswith(f"{omit[0]}-"):
            day = "--" + day[5:]
        return day
    return None


def _label(text: str) -> str:
    """Apple's `_$!<Anniversary>!$_` as `anniversary`; other labels as written."""
    if text.startswith("_$!<") and text.endswith(">!$_"):
        return text[4:-4].lower()
    return text.strip()


def _occasions(card: Any) -> tuple[Occasion, ...]:
    lines = card.contents
    found: list[Occasion] = []
    for line in lines.get("anniversary", ()):
        day = _day(line.value)
        if day:
            found.append(Occasion(label="anniversary", date=day))
    labels = {
        line.group: _label(_text(line.value)) for line in lines.get("x-ablabel", ()) if line.group
    }
    for line in lines.get("x-abdate", ()):
        day = _day(line.value)
        if day:
            label = labels.get(line.group) or "date"
            found.append(Occasion(label=label[:100], date=day))
    for line in lines.get(OCCASION_PROPERTY.lower(), ()):
        label = param_decode(line.params.get("X-LABEL", ["date"])[0])
        day = _day(line.value)
        if day:
            found.append(Occasion(label=label[:100], date=day))
    return tuple(dict.fromkeys(found))


def _address(line: Any) -> Address | None:
    value = line.value
    if not isinstance(value, vobject.vcard.Address):
        return None
    parts = {
        "po_box": value.box,
        "extended": value.extended,
        "street": value.street,
        "locality": value.city,
        "region": value.region,
        "postcode": value.code,
        "country": value.country,
    }
    fields = {k: _text(v).strip()[:500] for k, v in parts.items()}
    if not any(fields.values()):
        return None
    types = [param_decode(t).lower() for t in line.params.get("TYPE", []) if t.lower() != "pref"]
    return Address(label=",".join(types)[:500], **fields)


def _profiles(card: Any) -> tuple[Profile, ...]:
    found: list[Profile] = []
    for key in ("url", "x-socialprofile"):
        for line in card.contents.get(key, ()):
            url = _text(line.value).strip()
            if not url:
                continue
            kinds = [t for t in line.params.get("TYPE", []) if t.lower() not in ("pref", "x-user")]
            found.append(profile(url[:2000], kinds[0] if kinds else None))
    return tuple(dict.fromkeys(found))


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


def export(contacts: Iterable[Contact], notes: Mapping[str, Sequence[str]] | None = None) -> str:
    """Contacts as vCard 4.0 text (CRLF lines, folded at 75 octets, as RFC 6350 says).

    Each card carries `UID:urn:uuid:<contact id>`, so importing the file back into
    this log recognises every contact instead of adding it twice. `notes` (contact
    id -> texts) become `NOTE`s.
    """
    notes = notes or {}
    return "".join(_card(contact, notes.get(contact.id, ())) for contact in contacts)


def param_encode(text: str) -> str:
    """A parameter value as RFC 6868 writes what a parameter cannot hold (`"`, line ends)."""
    return text.replace("^", "^^").replace('"', "^'").replace("\n", "^n")


def param_decode(text: str) -> str:
    """RFC 6868's `^^`, `^'`, `^n` read back."""
    out, i = [], 0
    while i < len(text):
        pair = text[i : i + 2]
        if pair in ("^^", "^'", "^n"):
            out.append({"^^": "^", "^'": '"', "^n": "\n"}[pair])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _vcard_day(day: str) -> str:
    """A stored day as vCard 4.0 writes it: `18151210`, or `--1210` without year."""
    return day.replace("-", "") if not day.startswith("--") else "--" + day[2:].replace("-", "")


def _card(contact: Contact, notes: Sequence[str] = ()) -> str:
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
    details = contact.details
    if contact.org or details.org_units:
        card.add("org").value = [contact.org or "", *details.org_units]
    if details.title:
        card.add("title").value = details.title
    if details.birthday:
        card.add("bday").value = _vcard_day(details.birthday)
    for occasion in details.occasions:
        if occasion.label == "anniversary":
            card.add("anniversary").value = _vcard_day(occasion.date)
        else:
            line = card.add(OCCASION_PROPERTY.lower())
            line.value = _vcard_day(occasion.date)
            line.params["X-LABEL"] = [param_encode(occasion.label)]
    for address in details.addresses:
        adr = card.add("adr")
        adr.value = vobject.vcard.Address(
            street=address.street,
            city=address.locality,
            region=address.region,
            code=address.postcode,
            country=address.country,
            box=address.po_box,
            extended=address.extended,
        )
        if address.label:
            adr.params["TYPE"] = [param_encode(t) for t in address.label.split(",")]
    for item in details.profiles:
        url = card.add("url")
        url.value = item.url
        if item.kind != "url":
            url.params["TYPE"] = [item.kind]
    if details.met is not None:
        if details.met.where:
            card.add(MET_AT.lower()).value = details.met.where
        if details.met.on:
            card.add(MET_ON.lower()).value = details.met.on
        if details.met.through:
            card.add(MET_THROUGH.lower()).value = _UUID_URN + details.met.through
    for note in notes:
        card.add("note").value = note
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
