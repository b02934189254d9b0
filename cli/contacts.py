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

import click
import msgspec

from core import commands
from core.errors import ValidationError
from core.events import CIRCLE_CADENCE, CIRCLES, Event, NoteAdded
from core.state import Contact, State
from projections.contacts import ContactRow, contact_rows

from .context import Session, open_session, recording, refresh_views
from .output import Column, json_option, listing, local_time, print_json, print_table


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
    return found.name if found is not None else contact_id[:8]


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


class ContactDetail(ContactRow, frozen=True):
    """A contact in `contact show --json`: the list row, then what only one contact needs."""

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
    return ContactDetail(
        **msgspec.structs.asdict(ContactRow.of(c)),
        effective_cadence_days=c.effective_cadence,
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
        names = {i: contact_name(session.state, i) for i in detail.merged_from}
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
