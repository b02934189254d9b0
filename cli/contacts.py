"""`recip contact ...`: add, edit, archive, restore, merge, list and show contacts.

The recording sub-commands are thin shells around `core.commands` (see
`cli.context.recording`). `list` and `show` print a table, or with `--json` a
document with stable keys (the `ContactRow` / `ContactDetail` Structs) whose rows
are sorted by `(name.casefold(), id)`, so that two replicas holding the same set
of events print the same bytes.

A list option of `edit` replaces the whole list; `--clear-emails`,
`--clear-phones`, `--clear-tags`, `--clear-org` and `--no-cadence` clear a field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
import msgspec

from core import commands, names
from core.dates import partial_text
from core.details import CLEARABLE
from core.errors import ValidationError
from core.events import (
    CIRCLE_CADENCE,
    CIRCLES,
    Address,
    ContactDetailsSet,
    Event,
    HowWeMet,
    NoteAdded,
    Occasion,
    Profile,
)
from core.ids import short_id
from core.names import fold
from core.state import Contact, State
from projections.contacts import ContactRow, contact_rows

from .context import Session, home_of, open_session, recording, refresh_views
from .output import Column, json_option, listing, local_time, print_json, print_table


@click.group()
def contact() -> None:
    """Add, edit, archive, restore, merge, list and show contacts."""


def details_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The detail options `add` and `edit` share (a list option replaces the list)."""
    options = [
        click.option("--birthday", metavar="DATE", help="YYYY-MM-DD, or MM-DD without the year."),
        click.option(
            "--occasion",
            "occasions",
            multiple=True,
            metavar="LABEL=DATE",
            help="A dated occasion, e.g. anniversary=2010-06-30 (repeatable).",
        ),
        click.option("--title", metavar="T", help="Job title."),
        click.option(
            "--unit", "units", multiple=True, metavar="U", help="Organisation unit (repeatable)."
        ),
        click.option(
            "--address",
            "addresses",
            multiple=True,
            metavar="A",
            help="[label:] street; locality; region; postcode; country (repeatable).",
        ),
        click.option(
            "--url", "urls", multiple=True, metavar="URL", help="URL or profile (repeatable)."
        ),
        click.option("--met-at", metavar="WHERE", help="Where, or at what event, we met."),
        click.option("--met-on", metavar="DATE", help="When we met (a date or yesterday, ...)."),
        click.option(
            "--met-through",
            metavar="CONTACT",
            help="The contact who introduced us (an introduction received).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _detail_fields(options: dict[str, Any]) -> dict[str, Any]:
    """The detail options as `commands.edit_details` keywords (None: not given)."""
    return {
        "birthday": options.pop("birthday"),
        "occasions": options.pop("occasions") or None,
        "title": options.pop("title"),
        "org_units": options.pop("units") or None,
        "addresses": options.pop("addresses") or None,
        "urls": options.pop("urls") or None,
        "met_where": options.pop("met_at"),
        "met_on": options.pop("met_on"),
        "met_through": options.pop("met_through"),
    }


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
@details_options
@click.option("--allow-duplicate", is_flag=True, help="Add even if a contact has this name.")
@click.pass_context
def contact_add(ctx: click.Context, /, **options: Any) -> None:
    """Add a contact; prints its id. A name already taken is refused (see --allow-duplicate)."""
    fields = _detail_fields(options)
    with open_session(ctx) as session:
        added = commands.add_contact(
            session.now,
            options["name"],
            emails=options["emails"],
            phones=options["phones"],
            org=options["org"],
            tags=options["tags"],
            circle=options["circle"],
            cadence_days=options["every"],
        )
        if not options["allow_duplicate"]:
            commands.refuse_taken_name(session.state, added.name)
        extra = commands.edit_details(session.state, session.now, added.event_id, **fields)
        stored = session.record_all([added] if extra is None else [added, extra])
    click.echo(stored[0].event_id)


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
@details_options
@click.option(
    "--clear",
    "clear",
    multiple=True,
    type=click.Choice(sorted(CLEARABLE)),
    help="Remove a detail (repeatable).",
)
@click.pass_context
def contact_edit(ctx: click.Context, /, contact_ref: str, **options: Any) -> None:
    """Change some fields of a contact; a list option replaces the whole list."""
    fields = _detail_fields(options)
    clear = options.pop("clear")
    if options["clear_org"] and options["org"] is not None:
        raise ValidationError("give --org or --clear-org, not both")
    with open_session(ctx) as session:
        core_given = any(
            options[k] for k in ("emails", "phones", "tags", "clear_emails", "clear_phones")
        ) or any(
            options[k] not in (None, False)
            for k in ("name", "org", "clear_org", "circle", "every", "no_cadence", "clear_tags")
        )
        details_given = bool(clear) or any(v is not None for v in fields.values())
        if not core_given and not details_given:
            raise ValidationError("nothing to change: give at least one field")
        found = commands.find_contact(session.state, contact_ref)
        drafts: list[Event] = []
        if core_given:
            edit = commands.edit_fields(
                session.state,
                session.now,
                found.id,
                name=options["name"],
                emails=_replacement(options["emails"], options["clear_emails"], "email"),
                phones=_replacement(options["phones"], options["clear_phones"], "phone"),
                org="" if options["clear_org"] else options["org"],
                tags=_replacement(options["tags"], options["clear_tags"], "tag"),
                circle=options["circle"],
                cadence_days=options["every"],
                clear_cadence=options["no_cadence"],
                allow_unchanged=True,
            )
            drafts += [edit] if edit is not None else []
        if details_given:
            extra = commands.edit_details(
                session.state, session.now, found.id, clear=clear, **fields
            )
            drafts += [extra] if extra is not None else []
        if not drafts:
            raise ValidationError(f"contact {found.name!r} already has those values")
        stored = session.record_all(drafts)
    click.echo(stored[0].event_id)


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


@contact.command("forget")
@click.argument("contact_ref", metavar="CONTACT")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def contact_forget(ctx: click.Context, contact_ref: str, yes: bool) -> None:
    """Erase a contact's personal data everywhere, keeping the shape of the history.

    Names, emails, phones, notes and the text of every event about them are
    rewritten on this device now, and on the server and every other device at
    their next sync. It cannot be undone.
    """
    with open_session(ctx) as session:
        draft = commands.forget_contact(session.state, session.now, contact_ref)
        name = contact_name(session.state, draft.contact_ids[0])
        others = len(draft.contact_ids) - 1
        merged = f" (and {others} contact(s) merged into it)" if others else ""
        if not yes and not click.confirm(
            f"Forget {name!r}{merged} on every device? This cannot be undone.", err=True
        ):
            raise click.ClickException("nothing forgotten")
        stored = session.record(draft)
    refresh_views(session.home)
    click.echo(stored.event_id)


def contact_name(state: State, contact_id: str) -> str:
    """A contact's current name, or its id's head if it was retracted."""
    found = state.contact(contact_id)
    return found.name if found is not None else short_id(contact_id)


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


def _matches(row: ContactRow, search: str | None, tag: str | None, org: str | None) -> bool:
    """Whether a row passes `contact list`'s filters (case- and accent-insensitive)."""
    if search is not None:
        words = fold(search).split()
        haystack = " ".join([row.name, row.org or "", *row.emails, *row.tags])
        if not names.words_match(words, fold(row.name).split()) and fold(search) not in fold(
            haystack
        ):
            return False
    if tag is not None and fold(tag) not in {fold(t) for t in row.tags}:
        return False
    return org is None or fold(org) in fold(row.org or "")


@contact.command("list")
@click.option("--all", "include_all", is_flag=True, help="Include archived and merged-away.")
@click.option("--search", metavar="TEXT", help="Name words, or text in org, emails or tags.")
@click.option("--tag", metavar="T", help="Only contacts with this tag.")
@click.option("--circle", type=click.Choice(CIRCLES), help="Only contacts in this circle.")
@click.option("--org", metavar="O", help="Only contacts whose organisation contains O.")
@json_option
@click.pass_context
def contact_list(
    ctx: click.Context,
    include_all: bool,
    search: str | None,
    tag: str | None,
    circle: str | None,
    org: str | None,
    as_json: bool,
) -> None:
    """List active contacts (sorted by name, then id), filtered by the options given."""
    with open_session(ctx) as session:
        rows = contact_rows(session.state, include_all=include_all)
    rows = [
        r for r in rows if _matches(r, search, tag, org) and (circle is None or r.circle == circle)
    ]
    filtered = any(v is not None for v in (search, tag, circle, org))
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
        empty=(
            "no contact matches these filters (recip contact list --all shows every contact)"
            if filtered
            else 'no contacts yet: add one with recip contact add "NAME", '
            "or import an address book with recip import FILE"
        ),
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


class ContactDetail(ContactRow, frozen=True):
    """A contact in `contact show --json`: the list row, then what only one contact needs."""

    birthday: str | None
    occasions: tuple[Occasion, ...]
    title: str | None
    org_units: tuple[str, ...]
    addresses: tuple[Address, ...]
    profiles: tuple[Profile, ...]
    met: HowWeMet | None
    #: Contacts we met through this one (introductions received from it).
    introduced: list[str]
    effective_cadence_days: int | None
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
    introduced = sorted(
        other.id
        for other in state.contacts()
        if other.details.met is not None
        and other.details.met.through is not None
        and state.survivor(other.details.met.through) == c.id
        and not other.absorbed
    )
    return ContactDetail(
        **msgspec.structs.asdict(ContactRow.of(c)),
        **msgspec.structs.asdict(c.details),
        introduced=introduced,
        effective_cadence_days=c.effective_cadence,
        added_at=c.added.occurred_at,
        added_device_id=c.added.device_id,
        merged_from=[i for i in state.absorbed_by(c.id) if i != c.id],
        open_asks=asks,
        notes=notes,
    )


def detail_lines(detail: ContactDetail, names: dict[str, str]) -> list[tuple[str, str]]:
    """The details of `contact show` as (field, text) lines; empty ones are left out."""
    lines: list[tuple[str, str]] = []
    if detail.birthday:
        lines.append(("birthday", partial_text(detail.birthday)))
    lines += [("occasion", f"{o.label} {partial_text(o.date)}") for o in detail.occasions]
    if detail.title:
        lines.append(("title", detail.title))
    if detail.org_units:
        lines.append(("units", listing(detail.org_units)))
    lines += [("address", address_text(a)) for a in detail.addresses]
    lines += [(p.kind, p.url) for p in detail.profiles]
    if detail.met is not None:
        met = detail.met
        parts = [met.where] if met.where else []
        if met.on:
            parts.append(f"on {partial_text(met.on)}")
        if met.through:
            parts.append(f"through {names.get(met.through, short_id(met.through))}")
        lines.append(("met", " ".join(parts)))
    lines += [("introduced you to", names.get(i, short_id(i))) for i in detail.introduced]
    return lines


def address_text(a: Address) -> str:
    """An address on one line: `home: street, locality region postcode, country`."""
    place = " ".join(p for p in (a.locality, a.region, a.postcode) if p)
    body = ", ".join(p for p in (a.po_box, a.extended, a.street, place, a.country) if p)
    return f"{a.label}: {body}" if a.label else body


@contact.command("show")
@click.argument("contact_ref", metavar="CONTACT")
@json_option
@click.pass_context
def contact_show(ctx: click.Context, contact_ref: str, as_json: bool) -> None:
    """Show one contact (archived ones too; a merged-away id shows its survivor).

    Reads the persisted views: the contact is resolved among their names and only
    its group's events are folded, so a long log costs no more than a short one.
    """
    import asyncio

    from projections.query import resolve

    from .views import _views

    views = _views(home_of(ctx))
    refs = asyncio.run(views.contacts())
    ref = resolve(refs, contact_ref)
    state = views.group_sync(ref.contact_id)
    # Contacts who say they met through this one: their groups too, so that
    # "introduced you to" sees them whole.
    survivor = {r.contact_id: r.survivor for r in refs}
    through = {
        survivor.get(e.contact_id, e.contact_id)
        for e in state.about.get(ref.contact_id, ())
        if isinstance(e, ContactDetailsSet)
    } - {ref.contact_id}
    if through:
        state = views.group_sync(ref.contact_id, *sorted(through))
    found = commands.find_contact(state, ref.contact_id, archived=True)
    detail = contact_detail(state, found)
    names = {r.contact_id: r.name for r in refs}
    merged = detail.merged_from
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
        (
            "merged from",
            listing([f"{names.get(i, '?')} ({short_id(i)})" for i in merged]),
        ),
    ]
    fields += detail_lines(detail, names)
    fields += [
        (
            "open ask",
            f"{local_time(a.occurred_at, a.utc_offset)} {a.what} (w{a.weight}) "
            f"{short_id(a.ask_id)}",
        )
        for a in detail.open_asks
    ]
    fields += [
        ("note", f"{local_time(n.occurred_at, n.utc_offset)} {n.text}") for n in detail.notes
    ]
    print_table([Column("field", no_wrap=True), Column("value")], fields)
