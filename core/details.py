"""A contact's details as a person types them, checked into `ContactDetailsSet` values.

Birthdays and occasions are days with or without a year (`core.dates`), an
address is `[label:] street; locality; region; postcode; country`, a URL is
classified by its host (`linkedin.com` is a LinkedIn profile), and how we met is
where, when and through whom (another contact, by any reference `core.names`
accepts). `set_details` turns those into one event holding only what changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Final
from urllib.parse import urlsplit

from .dates import natural_day, partial_date
from .errors import ValidationError
from .events import Address, ContactDetailsSet, HowWeMet, Occasion, Profile
from .state import Details

#: Hosts of the social profiles recognised in URLs, LinkedIn first.
PROFILE_HOSTS: Final = (
    ("linkedin", ("linkedin.com",)),
    ("github", ("github.com",)),
    ("twitter", ("twitter.com", "x.com")),
    ("mastodon", ("mastodon.social", "fosstodon.org", "hachyderm.io")),
    ("facebook", ("facebook.com",)),
    ("instagram", ("instagram.com",)),
    ("bluesky", ("bsky.app",)),
)
KINDS: Final = frozenset(kind for kind, _ in PROFILE_HOSTS)
ADDRESS_PARTS: Final = ("street", "locality", "region", "postcode", "country")
MAX_ITEM: Final = 500
MAX_URL: Final = 2000
#: What `--clear` names, and the detail field it empties.
CLEARABLE: Final = {
    "birthday": "birthday",
    "occasions": "occasions",
    "title": "title",
    "units": "org_units",
    "addresses": "addresses",
    "urls": "profiles",
    "met": "met",
}


def _item(value: str, what: str, limit: int = MAX_ITEM) -> str:
    value = value.strip()
    if not value:
        raise ValidationError(f"{what} must not be empty")
    if len(value) > limit:
        raise ValidationError(f"{what} is longer than {limit} characters")
    return value


def profile_kind(url: str) -> str:
    """`linkedin`, `github`, ... for a known profile host, else `url`."""
    host = (urlsplit(url if "//" in url else f"//{url}").hostname or "").lower()
    for kind, hosts in PROFILE_HOSTS:
        if any(host == h or host.endswith("." + h) for h in hosts):
            return kind
    return "url"


def profile(url: str, kind: str | None = None) -> Profile:
    """A URL as a profile; `kind` (a vCard `TYPE`, say) is kept when the host says nothing."""
    url = _item(url, "URL", MAX_URL)
    found = profile_kind(url)
    if found == "url" and kind and kind.lower() in KINDS:
        found = kind.lower()
    return Profile(kind=found, url=url)


def occasion(text: str) -> Occasion:
    """`LABEL=DATE` (`anniversary=2010-06-30`) as an occasion."""
    label, sep, day = text.partition("=")
    if not sep:
        raise ValidationError(f"occasion {text!r} is not LABEL=DATE")
    return Occasion(label=_item(label, "occasion label", 100), date=partial_date(day))


def address(text: str) -> Address:
    """`[label:] street; locality; region; postcode; country` as an address."""
    label, sep, rest = text.partition(":")
    if not sep or ";" in label:
        label, rest = "", text
    parts = [p.strip() for p in rest.split(";")]
    if len(parts) > len(ADDRESS_PARTS):
        raise ValidationError(f"address {text!r} has more than {len(ADDRESS_PARTS)} parts")
    fields = {
        name: _checked_part(value, name) for name, value in zip(ADDRESS_PARTS, parts, strict=False)
    }
    if not any(fields.values()):
        raise ValidationError("an address must not be empty")
    return Address(label=_checked_part(label, "address label"), **fields)


def _checked_part(value: str, what: str) -> str:
    value = value.strip()
    if len(value) > MAX_ITEM:
        raise ValidationError(f"{what} is longer than {MAX_ITEM} characters")
    return value


def met_day(text: str, today: date) -> str:
    """How-we-met's day: a phrase (`last friday`), or a day with or without year."""
    named = natural_day(text, today)
    return named.isoformat() if named is not None else partial_date(text)


def set_details(
    draft: dict[str, Any],
    contact_id: str,
    current: Details,
    *,
    birthday: str | None = None,
    occasions: Sequence[str] | None = None,
    title: str | None = None,
    org_units: Sequence[str] | None = None,
    addresses: Sequence[str] | None = None,
    urls: Sequence[str] | None = None,
    met_where: str | None = None,
    met_on: str | None = None,
    met_through: Any = None,
    clear: Sequence[str] = (),
) -> ContactDetailsSet | None:
    """The event setting what differs from `current`, or None when nothing does.

    `draft` is the envelope (`core.commands`); `met_through` is the id of the
    contact we met through (already resolved). A field both given and cleared is
    refused.
    """
    changes: dict[str, Any] = {}
    if birthday is not None:
        changes["birthday"] = partial_date(birthday)
    if occasions is not None:
        changes["occasions"] = tuple(occasion(o) for o in occasions)
    if title is not None:
        changes["title"] = _item(title, "title")
    if org_units is not None:
        changes["org_units"] = tuple(_item(u, "organisation unit") for u in org_units)
    if addresses is not None:
        changes["addresses"] = tuple(address(a) for a in addresses)
    if urls is not None:
        changes["profiles"] = tuple(profile(u) for u in urls)
    if met_where is not None or met_on is not None or met_through is not None:
        held = current.met or HowWeMet()
        if met_through is not None and met_through == contact_id:
            raise ValidationError("a contact cannot introduce you to themselves")
        changes["met"] = HowWeMet(
            where=_checked_part(met_where, "where we met") if met_where is not None else held.where,
            on=met_on if met_on is not None else held.on,
            through=met_through if met_through is not None else held.through,
        )
    for name in clear:
        if name not in CLEARABLE:
            raise ValidationError(f"cannot clear {name!r}: choose one of {', '.join(CLEARABLE)}")
        field = CLEARABLE[name]
        if field in changes:
            raise ValidationError(f"give {name} or clear it, not both")
        changes[field] = None if field in ("birthday", "title", "met") else ()
    changed = {k: v for k, v in changes.items() if getattr(current, k) != v}
    if not changed:
        return None
    return ContactDetailsSet(**draft, contact_id=contact_id, **changed)
