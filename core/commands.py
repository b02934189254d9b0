"""Commands: validate a request against the current state, produce one event.

A command never writes. It returns a draft event (envelope fields `device_id`,
`seq` and `hlc` left for the log to stamp atomically with the write) or raises a
`ReciprocityError` whose message is the one line a person reads. Because every
check happens before anything is appended, a refused command leaves the log
exactly as it was.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any, Final, TypeVar

import msgspec

from . import details, names
from .dates import natural_day
from .errors import AmbiguousError, NotFoundError, ValidationError
from .events import (
    CHANNELS,
    CIRCLES,
    GIVE_KINDS,
    INITIATORS,
    OUTCOMES,
    AskMade,
    AskResolved,
    ContactAdded,
    ContactArchived,
    ContactDetailsSet,
    ContactEdited,
    ContactForgotten,
    ContactRestored,
    ContactsMerged,
    Event,
    EventRetracted,
    GiveMade,
    InteractionLogged,
    IntroductionMade,
    NoteAdded,
    type_name,
)
from .ids import new_id, short_id
from .limits import EARLIEST_MS, MAX_CADENCE, MAX_CONTACTS, MAX_ITEM, MAX_NOTE, MAX_OFFSET
from .state import NO_DETAILS, Ask, Contact, State

#: How far past "now" a stated time may be before it counts as the future.
FUTURE_GRACE_MS: Final = 60_000
EventT = TypeVar("EventT", bound=Event)
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
#: A phone number needs this many digits; letters and punctuation are left alone,
#: so vanity numbers (`1-800-FLOWERS`) and extensions (`... ext. 12`) are kept as
#: written, while a word typed into the phone field (`abc`, `n/a`) is refused.
PHONE_MIN_DIGITS: Final = 3


class Now:
    """The instant a command runs, in the person's time zone."""

    def __init__(self, unix_ms: int, utc_offset: int) -> None:
        self.unix_ms = unix_ms
        self.utc_offset = utc_offset

    @classmethod
    def system(cls) -> Now:
        local = datetime.now().astimezone()
        offset = local.utcoffset() or timedelta(0)
        return cls(int(local.timestamp() * 1000), int(offset.total_seconds() // 60))

    @property
    def tz(self) -> timezone:
        return timezone(timedelta(minutes=self.utc_offset))

    def local_date(self) -> date:
        return datetime.fromtimestamp(self.unix_ms / 1000, self.tz).date()


def natural_when(text: str | None, now: Now) -> date | None:
    """The day `--on` names when it is a phrase (`yesterday`), not ISO; else None."""
    if text is None or not text.strip():
        return None
    return natural_day(text, now.local_date())


def parse_when(text: str | None, now: Now) -> tuple[int, int]:
    """(occurred_at ms, utc_offset minutes) for `--on`: a date, an ISO datetime,
    or a phrase (`yesterday`, `last friday`, `3 days ago`: `core.dates`).

    A bare date means noon of that day (today means now); a datetime without an
    offset is in the person's time zone. Times in the future are refused, and so
    is an empty text (`--on ""`: a script's unset variable, not "now").
    """
    if text is None:
        return now.unix_ms, now.utc_offset
    if not text.strip():
        raise ValidationError(
            "empty date: use YYYY-MM-DD, an ISO datetime, or yesterday, 3 days ago"
        )
    text = text.strip()
    named = natural_when(text, now)
    try:
        if named is not None or len(text) == 10:
            day = named or date.fromisoformat(text)
            if day == now.local_date():
                return now.unix_ms, now.utc_offset
            moment = datetime(day.year, day.month, day.day, 12, tzinfo=now.tz)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=now.tz)
    except ValueError:
        raise ValidationError(
            f"cannot read date {text!r}: use YYYY-MM-DD, an ISO datetime, "
            "or yesterday, last friday, 3 days ago"
        ) from None
    offset = moment.utcoffset() or timedelta(0)
    if abs(offset) > timedelta(minutes=MAX_OFFSET):
        raise ValidationError(f"date {text} has a UTC offset beyond ±18:00")
    unix_ms = int(moment.timestamp() * 1000)
    if unix_ms > now.unix_ms + FUTURE_GRACE_MS:
        raise ValidationError(f"date {text} is in the future")
    if unix_ms < EARLIEST_MS:  # not astimezone(): it overflows for year 1 east of UTC
        raise ValidationError(f"date {text} is before 1900")
    return unix_ms, int(offset.total_seconds() // 60)


def _envelope(now: Now, when: str | None = None) -> dict[str, Any]:
    occurred_at, utc_offset = parse_when(when, now)
    return {
        "event_id": new_id(now.unix_ms),
        "device_id": "",
        "seq": 0,
        "hlc": 0,
        "occurred_at": occurred_at,
        "utc_offset": utc_offset,
    }


# -- references ----------------------------------------------------------------


def find_contact(state: State, ref: str, *, archived: bool = False) -> Contact:
    """A contact by id, short id, or name (`core.names.resolve`, the one rule).

    A merged-away contact resolves to its survivor. Archived contacts match only
    when `archived` is true (restoring, showing).
    """
    found = names.resolve(name_refs(state), ref, archived=archived)
    contact = state.contact(found.contact_id)
    if contact is None:  # pragma: no cover - refs are made from the state's contacts
        raise NotFoundError(f"no contact matches {ref!r}")
    return contact


def name_refs(state: State) -> list[names.NameRef]:
    """Every contact of the state as the resolver sees it."""
    return [names.NameRef(c.id, c.name, c.archived, c.survivor) for c in state.contacts()]


def find_ask(state: State, ref: str) -> Ask:
    """An ask by id or unambiguous id prefix."""
    ids = _by_prefix(list(state.asks), ref, "ask")
    ask = state.ask(ids)
    if ask is None:
        raise NotFoundError(f"ask {ref!r} was retracted")
    return ask


def find_event(state: State, ref: str) -> Event:
    """Any event by id or unambiguous id prefix."""
    return state.by_id[_by_prefix(list(state.by_id), ref, "event")]


def _by_prefix(ids: Sequence[str], ref: str, what: str) -> str:
    """An id by itself, its head, or its tail (the short id shown, `core.ids.short_id`)."""
    ref = ref.strip().lower()
    if not ref:
        raise ValidationError(f"empty {what} reference")
    if ref in ids:
        return ref
    tail = ref.replace("-", "")
    matches = [i for i in ids if i.startswith(ref)]
    if not matches and len(tail) >= names.MIN_ID_PART:
        matches = [i for i in ids if i.replace("-", "").endswith(tail)]
    if not matches:
        raise NotFoundError(f"no {what} matches {ref!r}")
    if len(matches) > 1:
        raise AmbiguousError.matching(ref, f"{what}s", sorted(matches))
    return matches[0]


# -- field checks ------------------------------------------------------------------


def _name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValidationError("name must not be empty")
    if len(name) > 500:
        raise ValidationError("name is longer than 500 characters")
    return name


def _text(text: str, what: str, *, required: bool = True, limit: int = 2000) -> str:
    text = text.strip()
    if required and not text:
        raise ValidationError(f"{what} must not be empty")
    if len(text) > limit:
        raise ValidationError(f"{what} is longer than {limit} characters")
    return text


def _choice(value: str, allowed: Sequence[str], what: str) -> Any:
    if value not in allowed:
        raise ValidationError(f"unknown {what} {value!r}: choose one of {', '.join(allowed)}")
    return value


def _weight(weight: int) -> int:
    if not 1 <= weight <= 5:
        raise ValidationError(f"weight must be 1-5, got {weight}")
    return weight


def _cadence(days: int | None) -> int | None:
    if days is not None and not 1 <= days <= MAX_CADENCE:
        raise ValidationError(f"cadence must be 1-{MAX_CADENCE} days, got {days}")
    return days


def _emails(emails: Sequence[str]) -> tuple[str, ...]:
    out = []
    for email in emails:
        email = email.strip()
        if not _EMAIL_RE.match(email):
            raise ValidationError(f"not an email address: {email!r}")
        if len(email) > MAX_ITEM:
            raise ValidationError(f"email is longer than {MAX_ITEM} characters")
        out.append(email)
    return tuple(out)


def _phones(phones: Sequence[str]) -> tuple[str, ...]:
    out = _strings(phones, "phone")
    for phone in out:
        if sum(ch.isdecimal() for ch in phone) < PHONE_MIN_DIGITS:
            raise ValidationError(
                f"not a phone number: {phone!r} (it needs at least {PHONE_MIN_DIGITS} digits)"
            )
    return out


def _strings(values: Sequence[str], what: str) -> tuple[str, ...]:
    out = []
    for value in values:
        value = value.strip()
        if not value:
            raise ValidationError(f"{what} must not be empty")
        if len(value) > MAX_ITEM:
            raise ValidationError(f"{what} is longer than {MAX_ITEM} characters")
        out.append(value)
    return tuple(out)


def _checked(draft: EventT) -> EventT:
    """The draft, once it is known to satisfy its schema's constraints.

    msgspec checks constraints when decoding, not when a Struct is built, so a
    draft that broke one would be stored and then make the whole log unreadable.
    The field checks above give the clear messages; this is the safety net.
    """
    fields = msgspec.to_builtins(draft)
    fields["device_id"] = fields["device_id"] or "draft"  # stamped by the log on append
    fields["seq"] = fields["seq"] or 1
    try:
        msgspec.msgpack.decode(msgspec.msgpack.encode(fields), type=type(draft))
    except UnicodeEncodeError:
        # e.g. command-line bytes that were not UTF-8 (Python keeps them as surrogates)
        raise ValidationError("text must be valid UTF-8") from None
    except msgspec.ValidationError as exc:
        raise ValidationError(f"cannot record this {type_name(draft)}: {exc}") from None
    return draft


# -- commands ------------------------------------------------------------------------


def add_contact(
    now: Now,
    name: str,
    *,
    emails: Sequence[str] = (),
    phones: Sequence[str] = (),
    org: str | None = None,
    tags: Sequence[str] = (),
    circle: str = "wider",
    cadence_days: int | None = None,
    source: str | None = None,
    when: str | None = None,
) -> ContactAdded:
    return _checked(
        ContactAdded(
            **_envelope(now, when),
            name=_name(name),
            emails=_emails(emails),
            phones=_phones(phones),
            org=(org.strip() or None) if org else None,
            tags=_strings(tags, "tag"),
            circle=_choice(circle, CIRCLES, "circle"),
            cadence_days=_cadence(cadence_days),
            source=source,
        )
    )


def edit_contact(state: State, now: Now, ref: str, **fields: Any) -> ContactEdited:
    """The edit of some of a contact's core fields (`edit_fields`); refuses no change."""
    edit = edit_fields(state, now, ref, **fields)
    assert edit is not None  # without allow_unchanged, no change was refused
    return edit


def edit_fields(
    state: State,
    now: Now,
    ref: str,
    *,
    name: str | None = None,
    emails: Sequence[str] | None = None,
    phones: Sequence[str] | None = None,
    org: str | None = None,
    tags: Sequence[str] | None = None,
    circle: str | None = None,
    cadence_days: int | None = None,
    clear_cadence: bool = False,
    allow_unchanged: bool = False,
) -> ContactEdited | None:
    """The edit of a contact's core fields; None, with `allow_unchanged`, when it
    would change nothing (its details may still change: `edit_details`)."""
    contact = find_contact(state, ref)
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = _name(name)
    if emails is not None:
        changes["emails"] = _emails(emails)
    if phones is not None:
        changes["phones"] = _phones(phones)
    if org is not None:
        changes["org"] = org.strip() or None
    if tags is not None:
        changes["tags"] = _strings(tags, "tag")
    if circle is not None:
        changes["circle"] = _choice(circle, CIRCLES, "circle")
    if clear_cadence and cadence_days is not None:
        raise ValidationError("give a cadence or clear it, not both")
    if cadence_days is not None or clear_cadence:
        changes["cadence_days"] = _cadence(cadence_days)
    if not changes and not allow_unchanged:
        raise ValidationError("nothing to change: give at least one field")
    changed = {k: v for k, v in changes.items() if getattr(contact, k) != v}
    if not changed and allow_unchanged:
        return None
    if not changed:
        raise ValidationError(f"contact {contact.name!r} already has those values")
    return _checked(ContactEdited(**_envelope(now), contact_id=contact.id, **changed))


def refuse_taken_name(state: State, name: str) -> None:
    """Refuse adding `name` when a standing contact has it (case and accents aside)."""
    taken = names.same_name(name_refs(state), name)
    if taken:
        other = taken[0]
        raise ValidationError(
            f"contact {other.name!r} ({short_id(other.contact_id)}) already has this name: "
            "give --allow-duplicate to add another"
        )


def edit_details(
    state: State,
    now: Now,
    contact_id: str,
    *,
    met_through: str | None = None,
    **fields: Any,
) -> ContactDetailsSet | None:
    """The details event for a contact (`core.details.set_details`), or None if it
    would change nothing. `met_through` is a reference, resolved here; a contact
    being added (no state yet) has no details to compare with."""
    contact = state.contact(contact_id)
    current = contact.details if contact is not None else NO_DETAILS
    through = find_contact(state, met_through).id if met_through is not None else None
    if isinstance(fields.get("met_on"), str):
        fields["met_on"] = details.met_day(fields["met_on"], now.local_date())
    draft = details.set_details(_envelope(now), contact_id, current, met_through=through, **fields)
    return None if draft is None else _checked(draft)


def archive_contact(state: State, now: Now, ref: str) -> ContactArchived:
    contact = find_contact(state, ref, archived=True)
    if contact.archived:
        raise ValidationError(f"contact {contact.name!r} is already archived")
    return _checked(ContactArchived(**_envelope(now), contact_id=contact.id))


def restore_contact(state: State, now: Now, ref: str) -> ContactRestored:
    contact = find_contact(state, ref, archived=True)
    if not contact.archived:
        raise ValidationError(f"contact {contact.name!r} is not archived")
    return _checked(ContactRestored(**_envelope(now), contact_id=contact.id))


def merge_contacts(state: State, now: Now, keep: str, other: str) -> ContactsMerged:
    survivor = find_contact(state, keep)
    absorbed = find_contact(state, other)
    if survivor.id == absorbed.id:
        raise ValidationError(f"{keep!r} and {other!r} are the same contact")
    return _checked(
        ContactsMerged(
            **_envelope(now),
            survivor_id=survivor.id,
            absorbed_id=absorbed.id,
        )
    )


def forget_contact(state: State, now: Now, ref: str) -> ContactForgotten:
    """Forget a contact and every contact merged into it (ADR 0130)."""
    contact = find_contact(state, ref, archived=True)
    ids = sorted({c.id for c in state.contacts() if c.survivor == contact.id} | {contact.id})
    return _checked(ContactForgotten(**_envelope(now), contact_ids=tuple(ids)))


def log_interaction(
    state: State,
    now: Now,
    refs: Sequence[str],
    *,
    channel: str = "other",
    initiated_by: str = "me",
    note: str = "",
    when: str | None = None,
) -> InteractionLogged:
    if not refs:
        raise ValidationError("name at least one contact")
    if len(refs) > MAX_CONTACTS:
        raise ValidationError(f"an interaction names at most {MAX_CONTACTS} contacts")
    contacts = _distinct([find_contact(state, r) for r in refs])
    return _checked(
        InteractionLogged(
            **_envelope(now, when),
            contact_ids=tuple(c.id for c in contacts),
            channel=_choice(channel, CHANNELS, "channel"),
            initiated_by=_choice(initiated_by, INITIATORS, "initiator"),
            note=_text(note, "note", required=False, limit=MAX_NOTE),
        )
    )


def make_ask(
    state: State, now: Now, ref: str, what: str, *, weight: int = 1, when: str | None = None
) -> AskMade:
    contact = find_contact(state, ref)
    return _checked(
        AskMade(
            **_envelope(now, when),
            contact_id=contact.id,
            what=_text(what, "what"),
            weight=_weight(weight),
        )
    )


def resolve_ask(
    state: State, now: Now, ref: str, outcome: str, *, note: str = "", when: str | None = None
) -> AskResolved:
    ask = find_ask(state, ref)
    if not ask.open:
        raise ValidationError(f"ask {ask.id} is already resolved ({ask.outcome})")
    envelope = _envelope(now, when)
    if int(envelope["occurred_at"]) < ask.made.occurred_at:
        raise ValidationError("an ask cannot be resolved before it was made")
    return _checked(
        AskResolved(
            **envelope,
            ask_id=ask.id,
            outcome=_choice(outcome, OUTCOMES, "outcome"),
            note=_text(note, "note", required=False, limit=MAX_NOTE),
        )
    )


def make_give(
    state: State,
    now: Now,
    ref: str,
    what: str,
    *,
    kind: str = "other",
    weight: int = 1,
    when: str | None = None,
) -> GiveMade:
    contact = find_contact(state, ref)
    return _checked(
        GiveMade(
            **_envelope(now, when),
            contact_id=contact.id,
            what=_text(what, "what"),
            kind=_choice(kind, GIVE_KINDS, "kind"),
            weight=_weight(weight),
        )
    )


def introduce(
    state: State,
    now: Now,
    first: str,
    second: str,
    *,
    note: str = "",
    weight: int = 1,
    when: str | None = None,
) -> IntroductionMade:
    a, b = find_contact(state, first), find_contact(state, second)
    if a.id == b.id:
        raise ValidationError("an introduction needs two different contacts")
    return _checked(
        IntroductionMade(
            **_envelope(now, when),
            contact_ids=(a.id, b.id),
            note=_text(note, "note", required=False, limit=MAX_NOTE),
            weight=_weight(weight),
        )
    )


def add_note(state: State, now: Now, ref: str, text: str) -> NoteAdded:
    contact = find_contact(state, ref)
    text = _text(text, "note text", limit=MAX_NOTE)
    return _checked(NoteAdded(**_envelope(now), contact_id=contact.id, text=text))


def retract(state: State, now: Now, ref: str, reason: str) -> EventRetracted:
    target = find_event(state, ref)
    if isinstance(target, EventRetracted):
        raise ValidationError("a retraction cannot be retracted: record the fact again instead")
    if state.is_retracted(target.event_id):
        raise ValidationError(f"event {target.event_id} is already retracted")
    return _checked(
        EventRetracted(
            **_envelope(now),
            target_id=target.event_id,
            reason=_text(reason, "reason"),
        )
    )


def _distinct(contacts: list[Contact]) -> list[Contact]:
    seen: dict[str, Contact] = {}
    for contact in contacts:
        if contact.id in seen:
            raise ValidationError(f"contact {contact.name!r} is named twice")
        seen[contact.id] = contact
    return list(seen.values())
