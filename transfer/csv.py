"""CSV: contacts from spreadsheets and other address books; views out as CSV.

Reading maps columns to contact fields. The mapping is given as `field=Column`
pairs (several columns may feed `email`, `phone`, `tags`, `url` and `note`); a
field not mapped is looked for under the header names that LinkedIn's
Connections, Google Contacts, Outlook and Reciprocity's own export use. Google
packs several values in one cell as `a ::: b`, and Outlook several categories as
`a;b`; those are split. Address columns (`Address 1 - Street`, `Business City`,
...) are grouped into addresses; LinkedIn's `Connected On` is how-we-met's day.

The header is the first row that names a contact column: lines before it (the
`Notes:` preamble LinkedIn writes) are skipped. Columns no field reads are
reported, with how many cells held something.

Rows are refused, with their line number, when they hold more cells than the
header (data would be lost) or a value that does not make a valid contact; a
mapped column missing from the header refuses the file at line 1. Rows with fewer
cells than the header (a trailing empty column cut off by a hand edit) read as
empty cells.
"""

from __future__ import annotations

import csv as _csv
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Final

import msgspec

from core.dates import partial_date
from core.details import address, occasion, profile
from core.errors import ValidationError
from core.events import CIRCLES, Address, HowWeMet, Occasion
from core.state import Contact, Details

from .contacts import ContactRecord, clean_tags, display_name, split_values
from .errors import FileRefused

Progress = Callable[[int], None]

#: Fields a column can feed, and those that may take several columns.
FIELDS: Final = (
    "name",
    "given",
    "middle",
    "family",
    "email",
    "phone",
    "org",
    "tags",
    "circle",
    "cadence_days",
    "id",
    "birthday",
    "job_title",
    "units",
    "url",
    "note",
    "occasions",
    "addresses",
    "met_at",
    "met_on",
    "met_through",
    "connected_on",
    "anniversary",
)
MULTI: Final = frozenset(
    {"email", "phone", "tags", "url", "note", "occasions", "addresses", "units"}
)
#: Header rows are looked for among this many first rows (LinkedIn's preamble).
HEADER_WITHIN: Final = 10
#: `Address 1 - Street`, `Business City`, ...: (group, part).
ADDRESS_COLUMN: Final = re.compile(
    r"^(address \d+ - |(?:business|home|other) )(street(?: \d)?|city|region|state|"
    r"postal code|zip|country|country/region|po box|p\.o\. box|extended address|"
    r"formatted|label|type)$"
)
_ADDRESS_PART: Final = {
    "city": "locality",
    "region": "region",
    "state": "region",
    "postal code": "postcode",
    "zip": "postcode",
    "country": "country",
    "country/region": "country",
    "po box": "po_box",
    "p.o. box": "po_box",
    "extended address": "extended",
    "label": "label",
    "type": "label",
    "formatted": "formatted",
}
#: Google's dated events: `Event 1 - Label` (or `- Type`) and `Event 1 - Value`.
EVENT_COLUMN: Final = re.compile(r"^event (\d+) - (label|type|value)$")
_GROUP_LABEL: Final = {"business ": "work", "home ": "home", "other ": "other"}
#: Header names recognised without a mapping (case-insensitive, whole name).
KNOWN_HEADERS: Final[dict[str, re.Pattern[str]]] = {
    "name": re.compile(r"^(name|full name|display name|fn)$"),
    "given": re.compile(r"^(first name|given name)$"),
    "middle": re.compile(r"^(middle name|additional name)$"),
    "family": re.compile(r"^(last name|family name|surname)$"),
    "email": re.compile(r"^(e-?mails?|e-?mail address|e-?mail \d+ address|e-?mail \d+ - value)$"),
    "phone": re.compile(
        r"^(phones?|telephone|mobile|"
        r"(home|business|mobile|other|car|primary|company main) phone( \d+)?|"
        r"phone \d+ - value)$"
    ),
    "org": re.compile(r"^(org|company|organi[sz]ation|organi[sz]ation( 1 -)? name)$"),
    "tags": re.compile(r"^(tags|categories|labels|group membership)$"),
    "circle": re.compile(r"^circle$"),
    "cadence_days": re.compile(r"^cadence_days$"),
    "id": re.compile(r"^id$"),
    "birthday": re.compile(r"^(birthday|bday)$"),
    "job_title": re.compile(
        r"^(job title|job_title|position|organi[sz]ation( 1 -)? title|organi[sz]ation title)$"
    ),
    "units": re.compile(r"^(department|units|organi[sz]ation( 1 -)? department)$"),
    "url": re.compile(r"^(urls?|web ?page|personal web page|website( \d+ - value)?)$"),
    "note": re.compile(r"^notes?$"),
    "occasions": re.compile(r"^occasions$"),
    "addresses": re.compile(r"^addresses$"),
    "met_at": re.compile(r"^met_at$"),
    "met_on": re.compile(r"^met_on$"),
    "met_through": re.compile(r"^met_through$"),
    "connected_on": re.compile(r"^connected on$"),
    "anniversary": re.compile(r"^anniversary$"),
}
_NAME_FIELDS: Final = frozenset({"name", "given", "family", "org", "email", "phone"})


def parse_mapping(pairs: Iterable[str]) -> dict[str, list[str]]:
    """`field=Column` options as field -> columns; refuses unknown fields."""
    mapping: dict[str, list[str]] = {}
    for pair in pairs:
        name, sep, column = pair.partition("=")
        name = name.strip().lower()
        if not sep or not column.strip():
            raise FileRefused("--map", None, f"{pair!r} is not field=Column")
        if name not in FIELDS:
            raise FileRefused("--map", None, f"unknown field {name!r}: use {', '.join(FIELDS)}")
        columns = mapping.setdefault(name, [])
        if columns and name not in MULTI:
            raise FileRefused("--map", None, f"field {name!r} takes one column")
        columns.append(column.strip())
    return mapping


def resolve_columns(
    header: Sequence[str], mapping: Mapping[str, Sequence[str]], source: str
) -> dict[str, list[int]]:
    """Field -> column indexes: the explicit mapping, else known header names."""
    positions: dict[str, int] = {}
    for index, title in enumerate(header):
        positions.setdefault(title.strip(), index)
    resolved: dict[str, list[int]] = {}
    for name, columns in mapping.items():
        for column in columns:
            if column not in positions:
                raise FileRefused(
                    source,
                    1,
                    f"column {column!r} (mapped to {name}) is not in the header; "
                    f"the columns are: {', '.join(repr(h) for h in header)}",
                )
            resolved.setdefault(name, []).append(positions[column])
    for name, pattern in KNOWN_HEADERS.items():
        if name in mapping:
            continue
        found = [i for i, title in enumerate(header) if pattern.match(title.strip().lower())]
        if found:
            resolved[name] = found if name in MULTI else found[:1]
    if not _NAME_FIELDS & set(resolved):
        raise FileRefused(
            source,
            1,
            "no column for the contact's name: map one, e.g. --map 'name=Full Name' "
            f"(the columns are: {', '.join(repr(h) for h in header)})",
        )
    return resolved


def _header_at(
    rows: list[tuple[int, list[str]]], mapping: Mapping[str, Sequence[str]], source: str
) -> int:
    """The index of the header among the first rows: the first naming a contact column."""
    for index, (_, row) in enumerate(rows):
        if not any(cell.strip() for cell in row):
            continue
        try:
            resolve_columns(row, mapping, source)
        except FileRefused:
            continue
        return index
    first = next((i for i, (_, row) in enumerate(rows) if any(c.strip() for c in row)), 0)
    return first  # resolving it again raises the refusal that explains why


def parse(
    text: str,
    source: str,
    mapping: Mapping[str, Sequence[str]],
    *,
    progress: Progress | None = None,
    skipped: dict[str, int] | None = None,
) -> list[ContactRecord]:
    """Every contact row of a CSV file (after its header, found by `_header_at`).

    `skipped`, when given, is filled with the columns no field reads and how many
    of their cells held something.
    """
    reader = _csv.reader(io.StringIO(text, newline=""), strict=True)
    start: list[tuple[int, list[str]]] = []
    previous_end = 0
    try:
        for row in reader:
            start.append((previous_end + 1, row))
            previous_end = reader.line_num
            if len(start) >= HEADER_WITHIN:
                break
    except _csv.Error as exc:
        raise FileRefused(source, reader.line_num, f"not valid CSV: {exc}") from None
    if not any(any(cell.strip() for cell in row) for _, row in start):
        raise FileRefused(source, 1, "the file is empty (a header row is needed)")
    at = _header_at(start, mapping, source)
    header_line, header = start[at]
    try:
        columns = resolve_columns(header, mapping, source)
    except FileRefused as exc:
        raise FileRefused(source, header_line, exc.reason) from None
    addresses = _address_groups(header)
    events = _event_groups(header)
    used = {i for indexes in columns.values() for i in indexes}
    used |= {i for group in (*addresses.values(), *events.values()) for i in group.values()}
    unused = [(i, title.strip()) for i, title in enumerate(header) if i not in used]
    records: list[ContactRecord] = []
    if progress is not None:
        progress(previous_end)

    def rows() -> Iterable[tuple[int, list[str]]]:
        nonlocal previous_end
        yield from start[at + 1 :]
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except _csv.Error as exc:
                raise FileRefused(source, reader.line_num, f"not valid CSV: {exc}") from None
            line = previous_end + 1
            if progress is not None:
                progress(reader.line_num - previous_end)
            previous_end = reader.line_num
            yield line, row

    for line, row in rows():
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            raise FileRefused(
                source, line, f"{len(row)} cells, but the header names only {len(header)}"
            )
        records.append(_record(row, columns, addresses, events, line, source))
        if skipped is not None:
            for index, title in unused:
                if index < len(row) and row[index].strip() and title:
                    skipped[title] = skipped.get(title, 0) + 1
    return records


def _address_groups(header: Sequence[str]) -> dict[str, dict[str, int]]:
    """Address columns by group (`address 1 - `, `business `): part -> column."""
    groups: dict[str, dict[str, int]] = {}
    for index, title in enumerate(header):
        match = ADDRESS_COLUMN.match(title.strip().lower())
        if match is None:
            continue
        group, part = match.group(1), match.group(2)
        name = "street" if part.startswith("street") else _ADDRESS_PART[part]
        key = f"{name}{index}" if name == "street" else name
        groups.setdefault(group, {})[key] = index
    return groups


def _event_groups(header: Sequence[str]) -> dict[str, dict[str, int]]:
    """Google's event columns by number: `label` / `value` -> column."""
    groups: dict[str, dict[str, int]] = {}
    for index, title in enumerate(header):
        match = EVENT_COLUMN.match(title.strip().lower())
        if match is not None:
            part = "value" if match.group(2) == "value" else "label"
            groups.setdefault(match.group(1), {})[part] = index
    return groups


def _events(row: Sequence[str], groups: Mapping[str, Mapping[str, int]]) -> list[Occasion]:
    out = []
    for parts in groups.values():
        cells = {k: row[i].strip() if i < len(row) else "" for k, i in parts.items()}
        day = _day(cells.get("value", ""))
        if day:
            label = cells.get("label", "").removeprefix("* ").lower() or "date"
            out.append(Occasion(label=label[:100], date=day))
    return out


def _addresses(row: Sequence[str], groups: Mapping[str, Mapping[str, int]]) -> list[Address]:
    out = []
    for group, parts in groups.items():

        def cell(index: int) -> str:
            return row[index].strip() if index < len(row) else ""

        streets = [cell(i) for k, i in sorted(parts.items()) if k.startswith("street")]
        fields = {k: cell(i) for k, i in parts.items() if not k.startswith("street")}
        formatted = fields.pop("formatted", "")
        label = fields.pop("label", "") or _GROUP_LABEL.get(group, "")
        street = ", ".join(s for s in streets if s)
        if not street and not any(fields.values()) and formatted:
            street = ", ".join(p.strip() for p in formatted.splitlines() if p.strip())
        if street or any(fields.values()):
            values = {k: v[:500] for k, v in fields.items()}
            out.append(
                Address(label=label.removeprefix("* ").lower()[:500], street=street[:500], **values)
            )
    return out


def _day(text: str) -> str | None:
    """A date as spreadsheets write it: ISO, `--12-10`, `15 Mar 2021`, US `12/10/1815`."""
    text = text.strip()
    if not text or text in ("0/0/00", "0/0/0000"):
        return None
    for pattern in ("%d %b %Y", "%d %B %Y", "%m/%d/%Y", "%m/%d/%y", "%b %d, %Y"):
        try:
            return datetime.strptime(text, pattern).date().isoformat()
        except ValueError:
            continue
    return partial_date(text)


def _record(
    row: Sequence[str],
    columns: Mapping[str, list[int]],
    addresses: Mapping[str, Mapping[str, int]],
    events: Mapping[str, Mapping[str, int]],
    line: int,
    source: str,
) -> ContactRecord:
    def values(name: str) -> list[str]:
        out: list[str] = []
        for index in columns.get(name, ()):
            cell = row[index] if index < len(row) else ""
            if name == "tags":  # Outlook separates categories with ';'
                out.extend(t for v in split_values(cell) for t in v.split(";"))
            elif name in MULTI:
                out.extend(split_values(cell))
            else:
                out.append(cell)
        return [v.strip() for v in out if v.strip()]

    def one(name: str) -> str | None:
        found = values(name)
        return found[0] if found else None

    emails, phones = values("email"), values("phone")
    org = one("org")
    name = display_name(
        one("name"),
        [one("given") or "", one("middle") or "", one("family") or ""],
        org,
        emails,
        phones,
    )
    circle, cadence = one("circle"), one("cadence_days")
    if circle is not None and circle not in CIRCLES:
        raise FileRefused(source, line, f"circle {circle!r} is not one of {', '.join(CIRCLES)}")
    if cadence is not None and not cadence.isdigit():
        raise FileRefused(source, line, f"cadence_days {cadence!r} is not a number of days")
    try:
        details = _details(row, columns, addresses, events, values, one)
    except ValidationError as exc:
        raise FileRefused(source, line, str(exc)) from None
    return ContactRecord(
        line=line,
        name=name or "",
        emails=tuple(emails),
        phones=tuple(phones),
        org=org,
        tags=clean_tags(values("tags")),
        circle=circle,
        cadence_days=int(cadence) if cadence is not None else None,
        uid=one("id"),
        details=details,
        notes=tuple(values("note")),
        met_through=one("met_through"),
    )


def _details(
    row: Sequence[str],
    columns: Mapping[str, list[int]],
    groups: Mapping[str, Mapping[str, int]],
    events: Mapping[str, Mapping[str, int]],
    values: Callable[[str], list[str]],
    one: Callable[[str], str | None],
) -> Details:
    """The detail columns of a row (ours, LinkedIn's, Google's, Outlook's)."""
    birthday = _day(one("birthday") or "")
    occasions = [occasion(o) for o in values("occasions") if "=" in o] + _events(row, events)
    anniversary = _day(one("anniversary") or "")
    if anniversary:
        occasions.append(Occasion(label="anniversary", date=anniversary))
    units = [u for v in values("units") for u in v.split(";") if u.strip()]
    found = [address(a) for a in values("addresses")] + _addresses(row, groups)
    met_on = _day(one("met_on") or "") or _day(one("connected_on") or "")
    met_at = one("met_at") or ("LinkedIn" if "connected_on" in columns and met_on else "")
    title = one("job_title")
    return Details(
        birthday=birthday,
        occasions=tuple(dict.fromkeys(occasions)),
        title=title[:500] if title else None,
        org_units=tuple(u.strip()[:500] for u in units),
        addresses=tuple(dict.fromkeys(found)),
        profiles=tuple(dict.fromkeys(profile(u[:2000]) for u in values("url"))),
        met=HowWeMet(where=met_at[:500], on=met_on) if met_at or met_on else None,
    )


# -- export -------------------------------------------------------------------------


def write_rows(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """CSV text (RFC 4180: CRLF rows, quoting where needed) with a header row.

    None is an empty cell and booleans are `true`/`false`, as in the JSON views.
    """
    out = io.StringIO(newline="")
    writer = _csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(cell) for cell in row])
    return out.getvalue()


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def export_view(rows: Sequence[msgspec.Struct], row_type: type[msgspec.Struct]) -> str:
    """A view's rows (ledger, cold) as CSV: one column per field, as in `--json`."""
    return write_rows(row_type.__struct_fields__, (msgspec.structs.astuple(r) for r in rows))


def join_values(values: Iterable[str]) -> str:
    """Several values in one cell, as Google writes them (and `parse` splits)."""
    return " ::: ".join(values)


CONTACT_HEADER: Final = (
    "id",
    "name",
    "emails",
    "phones",
    "org",
    "tags",
    "circle",
    "cadence_days",
    "archived",
    "job_title",
    "units",
    "birthday",
    "occasions",
    "addresses",
    "urls",
    "met_at",
    "met_on",
    "met_through",
    "notes",
)


def address_cell(a: Address) -> str:
    """An address as `core.details.address` reads it back: `label: street; ...; country`."""
    parts = "; ".join((a.street, a.locality, a.region, a.postcode, a.country))
    return f"{a.label}: {parts}" if a.label or ":" in parts else parts


def export_contacts(
    contacts: Iterable[Contact], notes: Mapping[str, Sequence[str]] | None = None
) -> str:
    """Contacts as CSV whose header `parse` recognises without a mapping.

    The `id` column lets a re-import into this log recognise every contact. Values
    containing `:::` would be split on the way back in, and tags containing `;`;
    an address's post office box and extended part have no column.
    """
    notes = notes or {}
    rows = (
        (
            c.id,
            c.name,
            join_values(c.emails),
            join_values(c.phones),
            c.org,
            join_values(c.tags),
            c.circle,
            c.cadence_days,
            c.archived,
            c.details.title,
            join_values(c.details.org_units),
            c.details.birthday,
            join_values(f"{o.label}={o.date}" for o in c.details.occasions),
            join_values(address_cell(a) for a in c.details.addresses),
            join_values(p.url for p in c.details.profiles),
            c.details.met.where if c.details.met else None,
            c.details.met.on if c.details.met else None,
            c.details.met.through if c.details.met else None,
            join_values(notes.get(c.id, ())),
        )
        for c in contacts
    )
    return write_rows(CONTACT_HEADER, rows)
