"""Commands of the `recip` CLI: the views (ledger, cold, timeline, stats), rebuild, demo.

Each view command catches the persisted views up with the log, then reads them
through the async `projections.query.Views` API (the one the server uses), and
prints either a table (rich) or JSON (`--json`, stable keys, for scripts).
Dates default to today in this machine's time zone (or `$RECIP_NOW`, see
`cli.context`); `--as-of` pins them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

import click

from core.errors import ValidationError
from core.ids import short_id
from projections.views import ColdRow, LedgerRow, Stats, TimelineEntry, date_of, day_of

from .context import current_now
from .home import Home
from .output import console, count_of, print_json

if TYPE_CHECKING:  # rich, the query layer and the generator load only when a command runs
    from rich.console import Console
    from rich.table import Table

    from projections.query import Views

T = TypeVar("T")
_STATUS_STYLE = {"cold": "bold red", "cooling": "yellow", "warm": "green"}


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _views(home: Home) -> Views:
    from projections.query import Views

    home.device()  # a clear error if the home is not initialised
    return Views(home.log_path)


def _as_of(text: str | None) -> int:
    if text is None:
        return day_of(current_now().local_date())
    try:
        return day_of(date.fromisoformat(text.strip()))
    except ValueError:
        raise ValidationError(f"cannot read date {text!r}: use YYYY-MM-DD") from None


def _json(value: object) -> None:
    print_json(value)


def _console() -> Console:
    """The CLI's shared console (wide when piped, so rows never wrap)."""
    return console()


as_of_option = click.option(
    "--as-of", "as_of", metavar="DATE", help="View as of this local date (default: today)."
)
#: ledger and stats count the whole history; the date only moves their flags and statuses.
flags_as_of_option = click.option(
    "--as-of",
    "as_of",
    metavar="DATE",
    help="Day the 365-day flags and going-cold statuses are computed for (default: today); "
    "totals cover the whole history.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def register(group: click.Group) -> None:
    """Add this module's commands to the `recip` group."""
    for command in (ledger, cold, timeline, stats, rebuild, demo):
        group.add_command(command)


# -- ledger ---------------------------------------------------------------------------------


@click.command()
@click.argument("contact", required=False)
@flags_as_of_option
@json_option
@click.pass_obj
def ledger(home: Home, contact: str | None, as_of: str | None, as_json: bool) -> None:
    """Give/ask ledger: one row per active contact (or one CONTACT).

    Flags look at the 365 days up to the as-of date: `one-sided` when asks
    outweigh gives, `only asks` when every touch in that window was an ask.
    """
    rows = _run(_views(home).ledger(_as_of(as_of), contact))
    if as_json:
        _json(rows)
        return
    if not rows:
        _console().print(
            'The ledger is empty: no contacts yet. Add one (recip contact add "NAME"), '
            "then record what you give and ask (recip give, recip ask).",
            markup=False,
        )
        return
    _console().print(_ledger_table(rows))


def _ledger_table(rows: Sequence[LedgerRow], title: str = "Give/ask ledger") -> Table:
    from rich.table import Table

    table = Table(title=f"{title} ({count_of(len(rows), 'contact')})", title_justify="left")
    for name, justify in (
        ("Contact", "left"),
        ("Gives", "right"),
        ("Asks", "right"),
        ("Balance", "right"),
        ("Asks:\n✓ ✗ ↩ … open", "right"),
        ("Last touch", "left"),
        ("Flags", "left"),
    ):
        # Numbers and dates stay whole; on a narrow terminal names and flags wrap.
        wraps = name in ("Contact", "Flags")
        table.add_column(name, justify=justify, no_wrap=not wraps)  # type: ignore[arg-type]
    for r in rows:
        flags = " ".join(
            f for f, on in (("one-sided", r.one_sided), ("only-asks", r.only_asks)) if on
        )
        balance = f"[red]{r.balance}[/]" if r.balance < 0 else f"[green]+{r.balance}[/]"
        table.add_row(
            r.name,
            f"{r.gives} (w{r.give_weight})",
            f"{r.asks} (w{r.ask_weight})",
            balance,
            f"{r.granted} {r.declined} {r.withdrawn} {r.unanswered} {r.open}",
            r.last_touch or "never",
            f"[bold red]{flags}[/]" if flags else "",
        )
    return table


# -- cold -------------------------------------------------------------------------------------


@click.command()
@as_of_option
@click.option("--all", "everyone", is_flag=True, help="Every contact with a cadence.")
@json_option
@click.pass_obj
def cold(home: Home, as_of: str | None, everyone: bool, as_json: bool) -> None:
    """Who is going cold: cooling and cold contacts, most urgent first.

    Cooling from 75% of a contact's cadence, cold beyond it. With --as-of, only
    what had happened by the end of that day counts.
    """
    day = _as_of(as_of)
    rows = _run(_views(home).cold(day, everyone=everyone))
    if as_json:
        _json(rows)
        return
    if not rows:
        _console().print(
            f"No contact is going cold as of {date_of(day)}. "
            + (
                "Nobody has a cadence: give one (recip contact edit NAME --every DAYS "
                "or --circle close)."
                if everyone
                else "Everyone with a cadence was touched recently "
                "(recip cold --all lists them by urgency)."
            ),
            markup=False,
        )
        return
    _console().print(_cold_table(rows, day, everyone))


def _cold_table(rows: Sequence[ColdRow], day: int, everyone: bool) -> Table:
    from rich.table import Table

    what = "Contacts by urgency" if everyone else "Going cold"
    table = Table(title=f"{what} as of {date_of(day)} ({len(rows)})", title_justify="left")
    for name, justify in (
        ("Contact", "left"),
        ("Circle", "left"),
        ("Status", "left"),
        ("Last touch", "left"),
        ("Days\nsince", "right"),
        ("Cadence", "right"),
        ("Overdue", "right"),
    ):
        # As in the ledger: only the name and "never (since added)" may wrap.
        wraps = name in ("Contact", "Last touch")
        table.add_column(name, justify=justify, no_wrap=not wraps)  # type: ignore[arg-type]
    for r in rows:
        style = _STATUS_STYLE[r.status]
        table.add_row(
            r.name,
            r.circle,
            f"[{style}]{r.status}[/]",
            r.last_touch or "never (since added)",
            str(r.days_since),
            f"{r.cadence_days} d",
            f"{r.overdue_days} d" if r.overdue_days else "",
        )
    return table


# -- timeline ---------------------------------------------------------------------------------


@click.command()
@click.argument("contact")
@json_option
@click.pass_obj
def timeline(home: Home, contact: str, as_json: bool) -> None:
    """Every event about CONTACT (and contacts merged into it), oldest first.

    Retracted events stay visible, struck through; each entry shows the device
    that recorded it and when (recorded), beside when it happened (occurred).
    """
    ref, entries = _run(_views(home).timeline(contact))
    if as_json:
        _json(entries)
        return
    if not entries:  # pragma: no cover - a contact's timeline holds at least its addition
        _console().print(f"Nothing recorded about {ref.name} yet.", markup=False)
        return
    _console().print(_timeline_table(ref.name, entries))


def _timeline_table(name: str, entries: Sequence[TimelineEntry]) -> Table:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"Timeline of {name} ({len(entries)} events)", title_justify="left")
    for column in ("Occurred", "What", "Id", "Device", "Recorded"):
        # On a narrow terminal the two times wrap (date over time) beside the
        # summary: rich squeezes only wrapping columns, and a lone one vanishes.
        # The summary says what happened, so the event type needs no column.
        table.add_column(column, no_wrap=column in ("Id", "Device"))
    for e in entries:
        said = escape(e.summary)  # a note's text is the person's, not markup
        what = f"[strike dim]{said}[/] [red](retracted)[/]" if e.retracted else said
        table.add_row(
            e.occurred_at.replace("T", " ")[:16],
            what,
            short_id(e.event_id),
            f"…{e.device_id[-8:]}",
            e.recorded_at.replace("T", " ")[:16] + "Z",
        )
    return table


# -- stats ---------------------------------------------------------------------------------------


@click.command()
@flags_as_of_option
@json_option
@click.pass_obj
def stats(home: Home, as_of: str | None, as_json: bool) -> None:
    """Network totals: contacts per circle, going cold, gives and asks."""
    result = _run(_views(home).stats(_as_of(as_of)))
    if as_json:
        _json(result)
        return
    _print_stats(result)


def _print_stats(s: Stats) -> None:
    from rich.table import Table

    console = _console()
    table = Table(title=f"Network as of {s.as_of}", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("Active contacts", str(s.contacts))
    for circle, count in s.circles.items():
        table.add_row(f"  {circle}", str(count))
    table.add_row("Warm / cooling / cold", f"{s.warm} / [yellow]{s.cooling}[/] / [red]{s.cold}[/]")
    table.add_row("Gives (weight)", f"{s.gives} ({s.give_weight})")
    table.add_row("Asks (weight)", f"{s.asks} ({s.ask_weight})")
    table.add_row("Open asks", str(s.open_asks))
    console.print(table)
    if s.contacts == 0:
        console.print(
            'No contacts yet: add one (recip contact add "NAME") '
            "or import an address book (recip import FILE).",
            markup=False,
        )
    if s.most_one_sided:
        console.print(_ledger_table(s.most_one_sided, "Most one-sided"))


# -- rebuild and demo ----------------------------------------------------------------------------


@click.command()
@click.pass_obj
def rebuild(home: Home) -> None:
    """Drop the views and rebuild them from the whole log (shows progress)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    views = _views(home)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("rebuilding views", total=None)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        count = views.rebuild_sync(report)
    click.echo(f"rebuilt the views from {count:,} events")


@click.command()
@click.option("--contacts", default=300, show_default=True, help="Contacts in the network.")
@click.option("--years", default=4.0, show_default=True, help="Years of history up to today.")
@click.option("--seed", default=7, show_default=True, help="Seed of the generator.")
@click.option("--device-name", default=None, help="Device name if the home is created.")
@click.pass_obj
def demo(home: Home, contacts: int, years: float, seed: int, device_name: str | None) -> None:
    """Fill a fresh home with a sample network, to see every view at once.

    A few hundred contacts over several years up to today: interactions at each
    circle's cadence, gives, asks with outcomes, introductions, merged
    duplicates, retractions, archivals. The home must hold no events yet.
    """
    if not 2 <= contacts <= 5000:
        raise ValidationError("--contacts must be between 2 and 5000")
    if not 0 < years <= 20:
        raise ValidationError("--years must be above 0 and at most 20")
    from sample.history import generate

    if not home.initialised:
        home.init(device_name or "demo", now_iso=date.today().isoformat())
    log = home.open_log()
    try:
        if log.position() > 0:
            raise ValidationError(
                f"{home.path} already holds events: the demo needs a fresh home "
                "(use --home to pick another directory)"
            )
        # Recorded by this device alone: a sync pushes only a device's own events,
        # so a second, made-up device's share would never reach the others.
        events = generate(
            seed,
            contacts=contacts,
            years=years,
            end=current_now().unix_ms - 60_000,
            device_ids=(home.device().device_id,),
        )
        total = 0
        batch: list[Any] = []
        for event in events:
            batch.append(event)
            if len(batch) >= 5000:
                total += len(log.ingest(batch))
                batch = []
        total += len(log.ingest(batch))
    finally:
        log.store.close()
    _views(home).catch_up_sync()
    click.echo(
        f"demo: recorded {total:,} events about {contacts} contacts over {years:g} years "
        f"in {home.path}\ntry: recip ledger | recip cold | recip stats | recip timeline NAME"
    )
