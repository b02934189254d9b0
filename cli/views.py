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
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

import click

from core.errors import ValidationError
from projections.views import ColdRow, LedgerRow, Stats, TimelineEntry, date_of, day_of

from .context import current_now
from .home import Home
from .output import count_of, print_json, print_table
from .table import Cell, Column, render

if TYPE_CHECKING:  # the query layer and the generator load only when a command runs
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


@dataclass(frozen=True)
class Table:
    """A view as a table: its title, columns and rows, printed by `_show`."""

    title: str
    columns: list[Column]
    rows: list[list[str | Cell]]

    def lines(self, width: int | None = None, color: bool = False) -> list[str]:
        """The title and the table's lines at `width` cells (None: never wrap)."""
        return [self.title, *render(self.columns, self.rows, width=width, color=color)]


def _show(table: Table) -> None:
    print_table(table.columns, table.rows, title=table.title, empty=f"{table.title}: none")


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
    _show(_ledger_table(rows))


def _ledger_table(rows: Sequence[LedgerRow], title: str = "Give/ask ledger") -> Table:
    """The ledger as a titled table; names and flags wrap, numbers and dates never."""
    columns = [
        Column("Contact"),
        Column("Gives", no_wrap=True, justify="right"),
        Column("Asks", no_wrap=True, justify="right"),
        Column("Balance", no_wrap=True, justify="right"),
        Column("Asks:\n✓ ✗ ↩ … open", no_wrap=True, justify="right"),
        Column("Last touch", no_wrap=True),
        Column("Flags"),
    ]
    body: list[list[str | Cell]] = []
    for r in rows:
        flags = " ".join(
            f for f, on in (("one-sided", r.one_sided), ("only-asks", r.only_asks)) if on
        )
        balance = Cell(str(r.balance), "red") if r.balance < 0 else Cell(f"+{r.balance}", "green")
        body.append(
            [
                r.name,
                f"{r.gives} (w{r.give_weight})",
                f"{r.asks} (w{r.ask_weight})",
                balance,
                f"{r.granted} {r.declined} {r.withdrawn} {r.unanswered} {r.open}",
                r.last_touch or "never",
                Cell(flags, "bold red"),
            ]
        )
    return Table(f"{title} ({count_of(len(rows), 'contact')})", columns, body)


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
    _show(_cold_table(rows, day, everyone))


def _cold_table(rows: Sequence[ColdRow], day: int, everyone: bool) -> Table:
    """Cold and cooling contacts; only the name and "never (since added)" may wrap."""
    what = "Contacts by urgency" if everyone else "Going cold"
    columns = [
        Column("Contact"),
        Column("Circle", no_wrap=True),
        Column("Status", no_wrap=True),
        Column("Last touch"),
        Column("Days\nsince", no_wrap=True, justify="right"),
        Column("Cadence", no_wrap=True, justify="right"),
        Column("Overdue", no_wrap=True, justify="right"),
    ]
    body: list[list[str | Cell]] = [
        [
            r.name,
            r.circle,
            Cell(r.status, _STATUS_STYLE[r.status]),
            r.last_touch or "never (since added)",
            str(r.days_since),
            f"{r.cadence_days} d",
            f"{r.overdue_days} d" if r.overdue_days else "",
        ]
        for r in rows
    ]
    return Table(f"{what} as of {date_of(day)} ({len(rows)})", columns, body)


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
    _show(_timeline_table(ref.name, entries))


def _timeline_table(name: str, entries: Sequence[TimelineEntry]) -> Table:
    """A contact's events; on a narrow terminal the summary and the times wrap."""
    columns = [
        Column("Occurred"),
        Column("Event", no_wrap=True),
        Column("What"),
        Column("Device", no_wrap=True),
        Column("Recorded"),
    ]
    body: list[list[str | Cell]] = [
        [
            e.occurred_at.replace("T", " "),
            e.type,
            Cell(f"{e.summary} (retracted)", "strike dim") if e.retracted else e.summary,
            e.device_id[:8],
            e.recorded_at.replace("T", " ").removesuffix("+00:00") + "Z",
        ]
        for e in entries
    ]
    return Table(f"Timeline of {name} ({len(entries)} events)", columns, body)


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
    rows: list[list[str | Cell]] = [["Active contacts", str(s.contacts)]]
    rows += [[f"  {circle}", str(count)] for circle, count in s.circles.items()]
    rows += [
        ["Warm / cooling / cold", f"{s.warm} / {s.cooling} / {s.cold}"],
        ["Gives (weight)", f"{s.gives} ({s.give_weight})"],
        ["Asks (weight)", f"{s.asks} ({s.ask_weight})"],
        ["Open asks", str(s.open_asks)],
    ]
    _show(Table(f"Network as of {s.as_of}", [Column(""), Column("", justify="right")], rows))
    if s.most_one_sided:
        click.echo()
        _show(_ledger_table(s.most_one_sided, "Most one-sided"))


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
