"""Finding a contact by what a person types: one rule for the CLI, the server and import.

A reference is tried, in order, as:

1. a full contact id (a merged-away id means its survivor);
2. an exact name, compared case- and accent-insensitively (`jurgen muller`
   is `Jürgen Müller`);
3. an id's head or its tail (the short id people are shown is the tail: the
   random part of a UUIDv7, `core.ids.short_id`), at least `MIN_ID_PART` hex digits;
4. the heads of a name's words, in order (`ada` is `Ada Lovelace`, `jurgen mul`
   is `Jürgen Müller`).

The first step that matches decides: one match is the contact, several are listed
as ambiguous. A merged-away contact's old name or id still finds its survivor.
Nothing matching suggests the closest names.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Callable, Sequence
from typing import Final

import msgspec

from .errors import AmbiguousError, NotFoundError, ValidationError

#: Hex digits an id part must have before it is tried as one (shorter is a name).
MIN_ID_PART: Final = 4
SUGGESTED: Final = 3
_HEX: Final = frozenset("0123456789abcdef-")


class NameRef(msgspec.Struct, frozen=True):
    """What resolving needs to know of a contact."""

    contact_id: str
    name: str
    archived: bool
    survivor: str

    @property
    def absorbed(self) -> bool:
        return self.survivor != self.contact_id


def fold(text: str) -> str:
    """Text for comparison: accents dropped, case-folded, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.casefold().replace("ß", "ss").split())


def words_match(ref_words: Sequence[str], name_words: Sequence[str]) -> bool:
    """Whether each word of the reference begins a word of the name, in order."""
    at = 0
    for word in ref_words:
        while at < len(name_words) and not name_words[at].startswith(word):
            at += 1
        if at == len(name_words):
            return False
        at += 1
    return True


def _id_part(contact_id: str, ref: str) -> bool:
    return contact_id.startswith(ref) or contact_id.replace("-", "").endswith(ref.replace("-", ""))


def _steps(ref: str) -> list[Callable[[NameRef], bool]]:
    folded = fold(ref)
    words = folded.split()
    lowered = ref.lower()
    steps: list[Callable[[NameRef], bool]] = [lambda r: fold(r.name) == folded]
    if len(lowered.replace("-", "")) >= MIN_ID_PART and set(lowered) <= _HEX:
        steps.append(lambda r: _id_part(r.contact_id, lowered))
    steps.append(lambda r: words_match(words, fold(r.name).split()))
    return steps


def resolve(refs: Sequence[NameRef], ref: str, *, archived: bool = True) -> NameRef:
    """The contact `ref` names among `refs` (rules in the module docstring).

    Archived contacts are found only when `archived` is true; otherwise finding
    only an archived one says so.
    """
    ref = ref.strip()
    if not ref:
        raise ValidationError("empty contact reference")
    by_id = {r.contact_id: r for r in refs}
    exact = by_id.get(ref.lower())
    if exact is not None:
        return _usable(by_id.get(exact.survivor, exact), archived)
    standing = [r for r in refs if not r.absorbed]
    usable = [r for r in standing if archived or not r.archived]
    for matches_step in _steps(ref):
        matches = [r for r in usable if matches_step(r)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            listing = [f"{r.name} ({r.contact_id})" for r in sorted(matches, key=_order)]
            raise AmbiguousError.matching(ref, "contacts", listing)
        merged = {by_id[r.survivor].contact_id for r in refs if r.absorbed and matches_step(r)}
        if len(merged) == 1:  # a merged-away name means its survivor, as its id does
            return _usable(by_id[merged.pop()], archived)
        hidden = [r for r in standing if r.archived and matches_step(r)]
        if hidden and not archived:
            raise ValidationError(f"contact {hidden[0].name!r} is archived (restore it first)")
    raise NotFoundError(f"no contact matches {ref!r}{_suggestion(usable, ref)}")


def _order(r: NameRef) -> tuple[str, str]:
    return (fold(r.name), r.contact_id)


def _usable(found: NameRef, archived: bool) -> NameRef:
    if found.archived and not archived:
        raise ValidationError(f"contact {found.name!r} is archived (restore it first)")
    return found


def _suggestion(refs: Sequence[NameRef], ref: str) -> str:
    names = closest(refs, ref)
    return f": did you mean {', '.join(names)}?" if names else ""


def closest(refs: Sequence[NameRef], ref: str) -> list[str]:
    """Up to `SUGGESTED` names most like `ref` (whole names, or their first words)."""
    folded = fold(ref)
    by_key: dict[str, str] = {}
    for r in refs:
        key = fold(r.name)
        by_key.setdefault(key, r.name)
        first = key.split(" ", 1)[0]
        by_key.setdefault(first, r.name)
    found = difflib.get_close_matches(folded, list(by_key), n=SUGGESTED * 2, cutoff=0.6)
    return list(dict.fromkeys(by_key[k] for k in found))[:SUGGESTED]


def same_name(refs: Sequence[NameRef], name: str) -> list[NameRef]:
    """Standing contacts whose name equals `name` (case- and accent-insensitively)."""
    folded = fold(name)
    return [r for r in refs if not r.absorbed and fold(r.name) == folded]
