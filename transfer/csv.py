"""CSV: contacts from spreadsheets and other address books; views out as CSV.

Reading maps columns to contact fields. The mapping is given as `field=Column`
pairs (several columns may feed `email`, `phone` and `tags`); a field not mapped
is looked for under the header names that Google Contacts, Outlook and
Reciprocity's own export use. Google packs several values in one cell as
`a ::: b`, and Outlook several categories as `a;b`; those are split.

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
from typing import Final

import msgspec

from core.events import CIRCLES
from core.state import Contact

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
)
MULTI: Final = frozenset({"email", "phone", "tags"})
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
}


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
    if not {"name", "given", "family", "org", "email", "phone"} & set(resolved):
        raise FileRefused(
            source,
            1,
            "no column for the contact's name: map one, e.g. --map 'name=Full Name' "
            f"(the columns are: {', '.join(repr(h) for h in header)})",
        )
    return resolved


def parse(
    text: str,
    source: str,
    mapping: Mapping[str, Sequence[str]],
    *,
    progress: Progress | None = None,
) -> list[ContactRecord]:
    """Every contact row of a CSV file (the first row is the header)."""
    reader = _csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except _csv.Error as exc:
        raise FileRefused(source, reader.line_num, f"not valid CSV: {exc}") from None
    if header is None or not any(cell.strip() for cell in header):
        raise FileRefused(source, 1, "the file is empty (a header row is needed)")
    columns = resolve_columns(header, mapping, source)
    records: list[ContactRecord] = []
    previous_end = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except _csv.Error as exc:
            raise FileRefused(source, reader.line_num, f"not valid CSV: {exc}") from None
        line = previous_end + 1
        if progress is not None:
            progress(reader.line_num - previous_end)
        previous_end = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            raise FileRefused(
                source, line, f"{len(row)} cells, but the header names only {len(header)}"
            )
        records.append(_record(row, columns, line, source))
    return records


def _record(
    row: Sequence[str], columns: Mapping[str, list[int]], line: int, source: str
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
)


def export_contacts(contacts: Iterable[Contact]) -> str:
    """Contacts as CSV whose header `parse` recognises without a mapping.

    The `id` column lets a re-import into this log recognise every contact. Tags
    containing `:::` or `;` would be split on the way back in.
    """
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
        )
        for c in contacts
    )
    return write_rows(CONTACT_HEADER, rows)
