"""The contact listing (`recip contact list --json`, `GET /v1/contacts`).

One definition for the CLI and the server's read API, so that both print the
same keys in the same order from the same fold (`core.state.State`).
"""

from __future__ import annotations

import msgspec

from core.state import Contact, State


class ContactRow(msgspec.Struct, frozen=True):
    """A contact in `contact list --json`; field order is the key order."""

    contact_id: str
    name: str
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    org: str | None
    tags: tuple[str, ...]
    circle: str
    cadence_days: int | None
    archived: bool
    merged_into: str | None

    @classmethod
    def of(cls, c: Contact) -> ContactRow:
        return cls(
            contact_id=c.id,
            name=c.name,
            emails=c.emails,
            phones=c.phones,
            org=c.org,
            tags=c.tags,
            circle=c.circle,
            cadence_days=c.cadence_days,
            archived=c.archived,
            merged_into=c.survivor if c.absorbed else None,
        )


def contact_order(c: Contact) -> tuple[str, str]:
    """Deterministic order for listings: name (case-insensitive), then id."""
    return (c.name.casefold(), c.id)


def contact_rows(state: State, *, include_all: bool) -> list[ContactRow]:
    """The rows of `contact list`: active contacts, or every one with `include_all`."""
    chosen = state.contacts() if include_all else state.active_contacts()
    return [ContactRow.of(c) for c in sorted(chosen, key=contact_order)]
