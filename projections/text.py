"""Values as a person reads them: the one rendering of field values in summaries.

Lists are comma-separated, structured values (an address, an occasion) are their
parts in order, a cleared value is `none`, days without a year drop the `--`.
Never a Python repr: `tags=('pycon', 'math')` is `tags: pycon, math`.
"""

from __future__ import annotations

import re
from typing import Any, Final

import msgspec

from core.dates import partial_text
from core.events import Address, HowWeMet, Occasion, Profile

_NO_YEAR: Final = re.compile(r"^--\d{2}-\d{2}$")


def value_text(value: Any) -> str:
    """One field value as text."""
    if value is None or value == ():
        return "none"
    if isinstance(value, tuple | list):
        return ", ".join(value_text(v) for v in value)
    if isinstance(value, Occasion):
        return f"{value.label} {partial_text(value.date)}"
    if isinstance(value, Profile):
        return value.url if value.kind == "url" else f"{value.kind} {value.url}"
    if isinstance(value, Address):
        lines = (value.street, value.locality, value.region, value.postcode, value.country)
        body = ", ".join(p for p in lines if p)
        return f"{value.label}: {body}" if value.label else body
    if isinstance(value, HowWeMet):
        said = [value.where] if value.where else []
        said += [f"on {partial_text(value.on)}"] if value.on else []
        return " ".join(said) or "somewhere"
    if isinstance(value, msgspec.Struct):
        return " ".join(str(v) for v in msgspec.structs.astuple(value) if v not in ("", None))
    if isinstance(value, str) and _NO_YEAR.match(value):
        return partial_text(value)
    return str(value)


def changes_text(fields: dict[str, Any]) -> str:
    """Changed fields as `name: value; other: value`."""
    return "; ".join(f"{name}: {value_text(value)}" for name, value in fields.items())
