"""Commands of the `recip` CLI that record history, and the contact and log readers.

Recording commands (`contact add/edit/archive/restore/merge`, `log`, `ask`,
`resolve`, `give`, `intro`, `note`, `retract`) are thin shells around
`core.commands`: open a session (the log folded once), let core validate and build
the draft, append it, print its id alone on stdout. Refusals are
`ReciprocityError`s, which the group turns into one line on stderr and exit status
1; since validation happens before the append, a refused command leaves the log
as it was.

Readers (`contact list`, `contact show`, `events`) print a table, or with `--json`
a document with stable keys whose rows are sorted deterministically, so that two
replicas holding the same set of events print the same bytes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from functools import wraps
from typing import Any, Final

import click
import msgspec

from core import commands
from core.codec import to_json
from core.errors import ValidationError
from core.events import (
    CHANNELS,
    CIRCLE_CADENCE,
    CIRCLES,
    GIVE_KINDS,
    INITIATORS,
    OUTCOMES,
    AskMade,
    AskResolved,
    ContactAdded,
    ContactArchived,
    ContactEdited,
    ContactRestored,
    ContactsMerged,
    Event,
    EventRetracted,
    GiveMade,
    InteractionLogged,
    IntroductionMade,
    NoteAdded,
    OpaqueEvent,
    type_name,
)
from core.state import EDITABLE, Contact, State

from .context import Session, current_now, home_of, open_session
from .home import DeviceConfig
from .output import Column, listing, local_time, print_json, print_table, recorded_time

#: Events written to stdout per chunk when streaming `recip events --json`.
STREAM_CHUNK: Final = 1000


def register(group: click.Group) -> None:
    """Add this module's commands to the `recip` group."""
    for command in (
        init,
        contact,
        log_interaction,
        ask,
        resolve,
        give,
        intro,
        note,
        retract,
        events,
    ):
        group.add_command(command)


# -- plumbing ----------------------------------------------------------------------


def recording(build: Callable[..., Event]) -> Callable[..., None]:
    """Wrap a draft builder into a click callback that appends and prints the id.

    `build(session, **options)` validates against `session.state` and returns the
    draft; nothing is written unless it returns.
    """

    @wraps(build)
    def callback(**options: Any) -> None:
        ctx = click.get_current_context()
        with open_session(ctx) as session:
            stored = session.record(build(session, **options))
        click.echo(stored.event_id)

    return callback


def when_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--on",
        "when",
        metavar="DATE",
        help="When it happened: YYYY-MM-DD or an ISO datetime (default: now).",
    )(func)


def weight_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--weight", type=int, default=1, show_default=True, help="How much it counts, 1-5."
    )(func)


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (stable keys).")(func)


# -- init ----------------------------------------------------------------------------


@click.command()
@click.option("--device-name", help="A name for this device (default: the host name).")
@click.pass_context
def init(ctx: click.Context, device_name: str | None) -> None:
    """Create the home directory and this device's identity (once)."""
    now = current_now()
    created = datetime.fromtimestamp(now.unix_ms / 1000, UTC).isoformat()
    home = home_of(ctx)
    device = home.init(device_name, now_iso=created)
    click.echo(f"initialised {home.path}: device {device.name} ({device.device_id})")


# -- contacts ------------------------------------------------------------------------


@click.group()
def contact() -> None:
    """Add, edit, archive, restore, merge, list and show contacts."""


@contact.command("add")
@click.argument("name")
@click.option("--email", "emails", multiple=True, metavar="E", help="An email (repeatable).")
@click.option("--phone", "phones", multiple=True, metavar="P", help="A phone (repeatable).")
@click.option("--org", metavar="O", help="Organisation.")
@click.option("--tag", "tags", multiple=True, metavar="T", help="A tag (repeatable).")
@click.option(
    "--circle", type=click.Choice(CIRCLES), default="wider", show_default=True, help="Circle."
)
@click.option("--every", type=int, metavar="DAYS", help="Own cadence in days (overrides circle).")
@recording
def contact_add(
    session: Session,
    name: str,
    emails: tuple[str, ...],
    phones: tuple[str, ...],
    org: str | None,
    tags: tuple[str, ...],
    circle: str,
    every: int | None,
) -> Event:
    """Add a contact; prints its id."""
    return commands.add_contact(
        session.now,
        name,
        emails=emails,
        phones=phones,
        org=org,
        tags=tags,
        circle=circle,
        cadence_days=every,
    )


def _replacement(values: tuple[str, ...], clear: bool, option: str) -> tuple[str, ...] | None:
    """A list option's new value: None (unchanged), the given list, or () when cleared."""
    if clear and values:
        raise ValidationError(f"give --{option} or --clear-{option}s, not both")
    if clear:
        return ()
    return values or None


@contact.command("edit")
@click.argument("contact_ref", metavar="CONTACT")
@click.option("--name", help="New name.")
@click.option("--email", "emails", multiple=True, metavar="E", help="Replace all emails.")
@click.option("--clear-emails", is_flag=True, help="Remove every email.")
@click.option("--phone", "phones", multiple=True, metavar="P", help="Replace all phones.")
@click.option("--clear-phones", is_flag=True, help="Remove every phone.")
@click.option("--org", metavar="O", help="New organisation.")
@click.option("--clear-org", is_flag=True, help="Remove the organisation.")
@click.option("--tag", "tags", multiple=True, metavar="T", help="Replace all tags.")
@click.option("--clear-tags", is_flag=True, help="Remove every tag.")
@click.option("--circle", type=click.Choice(CIRCLES), help="New circle.")
@click.option("--every", type=int, metavar="DAYS", help="Own cadence in days.")
@click.option("--no-cadence", is_flag=True, help="Drop the own cadence (use the circle's).")
@recording
def contact_edit(
    session: Session,
    contact_ref: str,
    name: str | None,
    emails: tuple[str, ...],
    clear_emails: bool,
    phones: tuple[str, ...],
    clear_phones: bool,
    org: str | None,
    clear_org: bool,
    tags: tuple[str, ...],
    clear_tags: bool,
    circle: str | None,
    every: int | None,
    no_cadence: bool,
) -> Event:
    """Change some fields of a contact; a list option replaces the whole list."""
    if clear_org and org is not None:
        raise ValidationError("give --org or --clear-org, not both")
    return commands.edit_contact(
        session.state,
        session.now,
        contact_ref,
        name=name,
        emails=_replacement(emails, clear_emails, "email"),
        phones=_replacement(phones, clear_phones, "phone"),
        org="" if clear_org else org,
        tags=_replacement(tags, clear_tags, "tag"),
        circle=circle,
        cadence_days=every,
        clear_cadence=no_cadence,
    )


@contact.command("archive")
@click.argument("contact_ref", metavar="CONTACT")
@recording
def contact_archive(session: Session, contact_ref: str) -> Event:
    """Hide a contact from views (its history is kept; restore undoes it)."""
    return commands.archive_contact(session.state, session.now, contact_ref)


@contact.command("restore")
@click.argument("contact_ref", metavar="CONTACT")
@recording
def contact_restore(session: Session, contact_ref: str) -> Event:
    """Bring an archived contact back."""
    return commands.restore_contact(session.state, session.now, contact_ref)


@contact.command("merge")
@click.argument("keep", metavar="KEEP")
@click.argument("other", metavar="OTHER")
@recording
def contact_merge(session: Session, keep: str, other: str) -> Event:
    """Merge OTHER into KEEP: OTHER's history now counts for KEEP."""
    return commands.merge_contacts(session.state, session.now, keep, other)


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


def _cadence_text(c: Contact | ContactRow) -> str:
    """Own cadence, else the circle's default (marked as such), else never."""
    if c.cadence_days is not None:
        return f"{c.cadence_days}d"
    default = CIRCLE_CADENCE.get(c.circle)
    return f"{default}d ({c.circle})" if default is not None else "never"


def _status(row: ContactRow, names: dict[str, str]) -> str:
    if row.merged_into is not None:
        return f"merged into {names.get(row.merged_into, row.merged_into)}"
    return "archived" if row.archived else "active"


@contact.command("list")
@click.option("--all", "include_all", is_flag=True, help="Include archived and merged-away.")
@json_option
@click.pass_context
def contact_list(ctx: click.Context, include_all: bool, as_json: bool) -> None:
    """List active contacts (sorted by name, then id)."""
    with open_session(ctx) as session:
        rows = contact_rows(session.state, include_all=include_all)
    if as_json:
        print_json(rows)
        return
    names = {r.contact_id: r.name for r in rows}
    columns = [
        Column("name"),
        Column("id", no_wrap=True),
        Column("circle"),
        Column("cadence"),
        Column("org"),
        Column("tags"),
        Column("emails"),
    ]
    if include_all:
        columns.append(Column("status"))
    print_table(
        columns,
        (
            [
                r.name,
                r.contact_id,
                r.circle,
                _cadence_text(r),
                r.org or "",
                listing(r.tags),
                listing(r.emails),
            ]
            + ([_status(r, names)] if include_all else [])
            for r in rows
        ),
        empty="no contacts",
    )


class NoteRow(msgspec.Struct, frozen=True):
    event_id: str
    occurred_at: int
    utc_offset: int
    text: str


class AskRow(msgspec.Struct, frozen=True):
    ask_id: str
    occurred_at: int
    utc_offset: int
    what: str
    weight: int


class ContactDetail(msgspec.Struct, frozen=True):
    """A contact in `contact show --json`: the list row plus what only one contact needs."""

    contact_id: str
    name: str
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    org: str | None
    tags: tuple[str, ...]
    circle: str
    cadence_days: int | None
    effective_cadence_days: int | None
    archived: bool
    added_at: int
    added_device_id: str
    merged_from: list[str]
    open_asks: list[AskRow]
    notes: list[NoteRow]


def contact_detail(state: State, c: Contact) -> ContactDetail:
    """Everything `contact show` prints about one (surviving) contact."""
    notes = [
        NoteRow(e.event_id, e.occurred_at, e.utc_offset, e.text)
        for e in state.by_id.values()
        if isinstance(e, NoteAdded) and state.live(e) and state.survivor(e.contact_id) == c.id
    ]
    notes.sort(key=lambda n: (n.occurred_at, n.event_id))
    asks = [
        AskRow(a.id, a.made.occurred_at, a.made.utc_offset, a.made.what, a.made.weight)
        for a in state.open_asks()
        if a.contact_id == c.id
    ]
    asks.sort(key=lambda a: (a.occurred_at, a.ask_id))
    return ContactDetail(
        contact_id=c.id,
        name=c.name,
        emails=c.emails,
        phones=c.phones,
        org=c.org,
        tags=c.tags,
        circle=c.circle,
        cadence_days=c.cadence_days,
        effective_cadence_days=c.effective_cadence,
        archived=c.archived,
        added_at=c.added.occurred_at,
        added_device_id=c.added.device_id,
        merged_from=[i for i in state.absorbed_by(c.id) if i != c.id],
        open_asks=asks,
        notes=notes,
    )


@contact.command("show")
@click.argument("contact_ref", metavar="CONTACT")
@json_option
@click.pass_context
def contact_show(ctx: click.Context, contact_ref: str, as_json: bool) -> None:
    """Show one contact (archived ones too; a merged-away id shows its survivor)."""
    with open_session(ctx) as session:
        found = commands.find_contact(session.state, contact_ref, archived=True)
        detail = contact_detail(session.state, found)
        names = {i: _name(session.state, i) for i in detail.merged_from}
    if as_json:
        print_json(detail)
        return
    fields = [
        ("name", detail.name),
        ("id", detail.contact_id),
        ("status", "archived" if detail.archived else "active"),
        ("circle", detail.circle),
        ("cadence", _cadence_text(found)),
        ("org", detail.org or ""),
        ("tags", listing(detail.tags)),
        ("emails", listing(detail.emails)),
        ("phones", listing(detail.phones)),
        ("added", local_time(found.added.occurred_at, found.added.utc_offset)),
        ("merged from", listing([f"{names[i]} ({i})" for i in detail.merged_from])),
    ]
    fields += [
        ("open ask", f"{local_time(a.occurred_at, a.utc_offset)} {a.what} (w{a.weight}) {a.ask_id}")
        for a in detail.open_asks
    ]
    fields += [
        ("note", f"{local_time(n.occurred_at, n.utc_offset)} {n.text}") for n in detail.notes
    ]
    print_table([Column("field", no_wrap=True), Column("value")], fields)


# -- interactions, asks, gives, notes, retractions -------------------------------------


@click.command("log")
@click.argument("contact_refs", metavar="CONTACT...", nargs=-1, required=True)
@click.option("--channel", type=click.Choice(CHANNELS), default="other", show_default=True)
@click.option(
    "--by",
    "initiated_by",
    type=click.Choice(INITIATORS),
    default="me",
    show_default=True,
    help="Who initiated it.",
)
@when_option
@click.option("--note", default="", help="What it was about.")
@recording
def log_interaction(
    session: Session,
    contact_refs: tuple[str, ...],
    channel: str,
    initiated_by: str,
    when: str | None,
    note: str,
) -> Event:
    """Log an interaction with one or more contacts."""
    return commands.log_interaction(
        session.state,
        session.now,
        contact_refs,
        channel=channel,
        initiated_by=initiated_by,
        note=note,
        when=when,
    )


@click.command()
@click.argument("contact_ref", metavar="CONTACT")
@click.argument("what")
@weight_option
@when_option
@recording
def ask(session: Session, contact_ref: str, what: str, weight: int, when: str | None) -> Event:
    """Record a favour you asked of a contact; prints the ask's id."""
    return commands.make_ask(
        session.state, session.now, contact_ref, what, weight=weight, when=when
    )


@click.command()
@click.argument("ask_ref", metavar="ASK")
@click.argument("outcome", type=click.Choice(OUTCOMES), metavar="OUTCOME")
@when_option
@click.option("--note", default="", help="How it went.")
@recording
def resolve(session: Session, ask_ref: str, outcome: str, when: str | None, note: str) -> Event:
    """Resolve an open ask: granted, declined, withdrawn or unanswered."""
    return commands.resolve_ask(session.state, session.now, ask_ref, outcome, note=note, when=when)


@click.command()
@click.argument("contact_ref", metavar="CONTACT")
@click.argument("what")
@click.option("--kind", type=click.Choice(GIVE_KINDS), default="other", show_default=True)
@weight_option
@when_option
@recording
def give(
    session: Session, contact_ref: str, what: str, kind: str, weight: int, when: str | None
) -> Event:
    """Record help you gave a contact."""
    return commands.make_give(
        session.state, session.now, contact_ref, what, kind=kind, weight=weight, when=when
    )


@click.command()
@click.argument("first", metavar="CONTACT")
@click.argument("second", metavar="CONTACT")
@click.option("--note", default="", help="Why they should meet.")
@when_option
@weight_option
@recording
def intro(
    session: Session, first: str, second: str, note: str, when: str | None, weight: int
) -> Event:
    """Record an introduction of two contacts (a give to both)."""
    return commands.introduce(
        session.state, session.now, first, second, note=note, weight=weight, when=when
    )


@click.command()
@click.argument("contact_ref", metavar="CONTACT")
@click.argument("text")
@recording
def note(session: Session, contact_ref: str, text: str) -> Event:
    """Add a note to a contact."""
    return commands.add_note(session.state, session.now, contact_ref, text)


@click.command()
@click.argument("event_ref", metavar="EVENT")
@click.option("--reason", required=True, help="Why it was wrong.")
@recording
def retract(session: Session, event_ref: str, reason: str) -> Event:
    """Retract a mistaken event: it stays in the log but no longer counts."""
    return commands.retract(session.state, session.now, event_ref, reason)


# -- the raw log ---------------------------------------------------------------------


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON array of every event.")
@click.option("--jsonl", is_flag=True, help="One JSON event per line (streams big logs).")
@click.pass_context
def events(ctx: click.Context, as_json: bool, jsonl: bool) -> None:
    """The raw log: every event with every envelope field, in log order.

    JSON objects are the events exactly as `core.codec.to_json` renders what is
    stored, plus their log `position`.
    """
    if as_json and jsonl:
        raise ValidationError("choose --json or --jsonl, not both")
    if as_json or jsonl:
        with open_session(ctx, fold=False) as session:
            _stream_json(session, array=as_json)
        return
    with open_session(ctx, fold=False) as session:
        held = list(session.log.read())
        own = session.device
    state = State(event for _, event in held)
    print_table(
        [
            Column("pos", justify="right"),
            Column("type", no_wrap=True),
            Column("event id", no_wrap=True),
            Column("device", no_wrap=True),
            Column("seq", justify="right"),
            Column("recorded", no_wrap=True),
            Column("occurred", no_wrap=True),
            Column("summary"),
        ],
        (
            [
                str(position),
                event.type if isinstance(event, OpaqueEvent) else type_name(event),
                event.event_id,
                device_label(event.device_id, own),
                str(event.seq),
                recorded_time(event.hlc),
                local_time(event.occurred_at, event.utc_offset),
                summary(state, event),
            ]
            for position, event in held
        ),
        empty="the log is empty",
    )


def device_label(device_id: str, own: DeviceConfig) -> str:
    """This device by its name; another by the random tail of its id.

    (A UUIDv7's head is its creation time, so two devices set up the same minute
    share it; the tail tells them apart.)
    """
    return own.name if device_id == own.device_id else f"…{device_id[-8:]}"


def _stream_json(session: Session, *, array: bool) -> None:
    """Write every event as JSON in chunks, never holding the whole log.

    Each object is `to_json`'s bytes with `"position"` spliced in before the
    closing brace: the stored rendering is kept byte for byte, not re-encoded.
    """
    sys.stdout.flush()
    out = sys.stdout.buffer
    separator = b"," if array else b"\n"
    if array:
        out.write(b"[")
    first = True
    for chunk in _chunks(session):
        data = separator.join(
            b'%b,"position":%d}' % (to_json(event)[:-1], position) for position, event in chunk
        )
        if array:
            out.write(data if first else b"," + data)
        else:
            out.write(data + b"\n")
        first = False
    if array:
        out.write(b"]\n")
    out.flush()


def _chunks(session: Session) -> Iterator[list[tuple[int, Event | OpaqueEvent]]]:
    chunk: list[tuple[int, Event | OpaqueEvent]] = []
    for item in session.log.read():
        chunk.append(item)
        if len(chunk) >= STREAM_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _name(state: State, contact_id: str) -> str:
    found = state.contact(contact_id)
    return found.name if found is not None else contact_id[:8]


def _names(state: State, ids: Sequence[str]) -> str:
    return ", ".join(_name(state, i) for i in ids)


def summary(state: State, event: Event | OpaqueEvent) -> str:
    """One line saying what an event records, with contact names resolved."""
    text = _describe(state, event)
    if not isinstance(event, OpaqueEvent) and state.is_retracted(event.event_id):
        text = f"(retracted) {text}"
    return text


def _describe(state: State, e: Event | OpaqueEvent) -> str:
    if isinstance(e, OpaqueEvent):
        return f"unknown event type {e.type} (kept as is)"
    if isinstance(e, ContactAdded):
        return f"added {e.name} ({e.circle})"
    if isinstance(e, ContactEdited):
        changed = [f for f in EDITABLE if getattr(e, f) is not msgspec.UNSET]
        return f"edited {_name(state, e.contact_id)}: {', '.join(changed)}"
    if isinstance(e, ContactArchived):
        return f"archived {_name(state, e.contact_id)}"
    if isinstance(e, ContactRestored):
        return f"restored {_name(state, e.contact_id)}"
    if isinstance(e, ContactsMerged):
        return f"merged {_name(state, e.absorbed_id)} into {_name(state, e.survivor_id)}"
    if isinstance(e, InteractionLogged):
        by = "" if e.initiated_by == "me" else " (they reached out)"
        return f"{e.channel} with {_names(state, e.contact_ids)}{by}" + (
            f": {e.note}" if e.note else ""
        )
    if isinstance(e, AskMade):
        return f"asked {_name(state, e.contact_id)}: {e.what} (w{e.weight})"
    if isinstance(e, AskResolved):
        made = state.asks.get(e.ask_id)
        what = made.what if made is not None else e.ask_id[:8]
        return f"ask {what!r} {e.outcome}" + (f": {e.note}" if e.note else "")
    if isinstance(e, GiveMade):
        return f"gave {_name(state, e.contact_id)} {e.kind}: {e.what} (w{e.weight})"
    if isinstance(e, IntroductionMade):
        return f"introduced {_names(state, e.contact_ids)} (w{e.weight})" + (
            f": {e.note}" if e.note else ""
        )
    if isinstance(e, NoteAdded):
        return f"note on {_name(state, e.contact_id)}: {e.text}"
    if isinstance(e, EventRetracted):
        return f"retracted {e.target_id}: {e.reason}"
    return type_name(e)
