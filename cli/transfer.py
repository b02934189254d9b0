"""Commands of the `recip` CLI: `export` and `import`.

The logic lives in `transfer`; this module reads and writes files,
shows progress on a terminal, and prints what an import did. An export written
to a file appears whole or not at all (it is written beside and renamed); an
import is appended in one transaction after the whole file was validated.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Final

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from core.errors import ValidationError
from core.events import CIRCLES
from core.log import EventLog
from projections.query import Views
from projections.views import ColdRow, LedgerRow
from transfer import csv as csv_io
from transfer import jsonl, vcard
from transfer.contacts import contact_rows, notes_by_contact
from transfer.errors import FileRefused, decode_text
from transfer.plan import SHOWN_DUPLICATES, ContactImport, duplicate_lines, plan_import

from .context import home_of, open_session
from .views import _as_of, as_of_option  # the same dates as `recip ledger` / `recip cold`

FORMATS: Final = ("jsonl", "vcard", "csv")
SUFFIXES: Final = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".vcf": "vcard",
    ".vcard": "vcard",
    ".csv": "csv",
}
#: Files with fewer lines than this import without a progress bar.
PROGRESS_FROM_LINES: Final = 2000


def register(group: click.Group) -> None:
    """Add `export` and `import` to the `recip` group."""
    group.add_command(export_command)
    group.add_command(import_command)


# -- export -------------------------------------------------------------------------


@click.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="jsonl",
    show_default=True,
    help="jsonl: the whole event log (the faithful backup); vcard: contacts; csv: a table.",
)
@click.option(
    "--what",
    type=click.Choice(["contacts", "ledger", "cold"]),
    default=None,
    help="With --format csv: which table (default contacts).",
)
@click.option("--archived", is_flag=True, help="Include archived contacts (vcard, csv).")
@as_of_option
@click.option("--all", "everyone", is_flag=True, help="csv cold: every contact with a cadence.")
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.pass_context
def export_command(
    ctx: click.Context,
    fmt: str,
    what: str | None,
    archived: bool,
    as_of: str | None,
    everyone: bool,
    file: str | None,
) -> None:
    """Write the event log, the contacts or a view to FILE (default: stdout).

    `--format jsonl` (the default) is the backup: `recip import` of it into a
    fresh home reproduces this log byte for byte. `--format csv --what ledger|cold`
    writes the rows `recip ledger --json` / `recip cold --json` print.
    """
    what = what or ("contacts" if fmt == "csv" else None)
    if what is not None and fmt != "csv":
        raise click.UsageError("--what applies to --format csv")
    if archived and what not in (None, "contacts"):
        raise click.UsageError("--archived applies to contacts")
    if as_of is not None and what not in ("ledger", "cold"):
        raise click.UsageError("--as-of applies to --what ledger and cold")
    if everyone and what != "cold":
        raise click.UsageError("--all applies to --what cold")
    if what in ("ledger", "cold"):
        home = home_of(ctx)
        home.device()  # a clear error if the home is not initialised
        views = Views(home.log_path)
        day = _as_of(as_of)
        if what == "ledger":
            table = csv_io.export_view(asyncio.run(views.ledger(day)), LedgerRow)
        else:
            table = csv_io.export_view(asyncio.run(views.cold(day, everyone=everyone)), ColdRow)
        _write(file, [table.encode("utf-8")])
        return
    with open_session(ctx, fold=fmt != "jsonl") as session:
        if fmt == "jsonl":
            _write(file, jsonl.export_lines(session.log))
            return
        contacts = contact_rows(session.state, archived=archived)
        notes = notes_by_contact(session.state)
        if fmt == "vcard":
            _write(file, [vcard.export(contacts, notes).encode("utf-8")])
            return
        _write(file, [csv_io.export_contacts(contacts, notes).encode("utf-8")])


def _write(file: str | None, chunks: Iterable[bytes]) -> None:
    """Stream to stdout, or to a file that appears only once complete."""
    if file is None or file == "-":
        out = sys.stdout.buffer
        for chunk in chunks:
            out.write(chunk)
        out.flush()
        return
    if not file.strip():
        raise ValidationError("empty file name: give a FILE, or none for stdout")
    target = Path(file)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:  # name what the person gave, not our temporary file
        raise ValidationError(f"cannot write {file}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise ValidationError(f"cannot write {file}: {exc.strerror or exc}") from None
        raise


# -- import -------------------------------------------------------------------------


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="Default: from the file's suffix (.jsonl, .vcf, .csv).",
)
@click.option(
    "--map",
    "mappings",
    multiple=True,
    metavar="FIELD=COLUMN",
    help=f"CSV: read FIELD ({', '.join(csv_io.FIELDS)}) from COLUMN; repeat for several "
    f"columns of {', '.join(sorted(csv_io.MULTI))}.",
)
@click.option(
    "--encoding", default="utf-8-sig", show_default=True, help="Text encoding (vCard, CSV)."
)
@click.option(
    "--circle",
    type=click.Choice(CIRCLES),
    default=None,
    help="Circle of imported contacts that do not state one (default wider).",
)
@click.option(
    "--skip-duplicates",
    is_flag=True,
    help="Do not add a new contact that looks like another new one of the file.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Show every contact that would be added and every field that would change; "
    "append nothing (vCard, CSV).",
)
@click.pass_context
def import_command(
    ctx: click.Context,
    file: str,
    fmt: str | None,
    mappings: tuple[str, ...],
    encoding: str,
    circle: str | None,
    skip_duplicates: bool,
    dry_run: bool,
) -> None:
    """Import an event log export (.jsonl), an address book (.vcf) or a table (.csv).

    The whole file is checked first; a bad line refuses it, with its line number,
    and nothing of it is imported. Importing the same file again adds nothing.
    An address book's entries are matched to contacts (UID, then email or phone,
    then exact name): new ones are added, changed ones updated field by field.
    """
    fmt = fmt or _format_of(file)
    if mappings and fmt != "csv":
        raise click.UsageError("--map applies to CSV imports")
    if fmt == "jsonl" and (dry_run or skip_duplicates or circle):
        raise click.UsageError("--dry-run, --skip-duplicates and --circle apply to contacts")
    mapping = csv_io.parse_mapping(mappings)
    home_of(ctx).device()  # refuse before reading a large file into a missing home
    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        raise FileRefused(file, None, f"cannot read the file ({exc.strerror})") from None
    if fmt == "jsonl":
        with open_session(ctx, fold=False, restoring=True) as session:
            _import_log(session.log, data, file)
        return
    text = decode_text(data, file, encoding)
    skipped: dict[str, int] = {}
    with progress(text.count("\n") + 1, "reading") as advance:
        if fmt == "vcard":
            records = vcard.parse(text, file, progress=advance, skipped=skipped)
        else:
            records = csv_io.parse(text, file, mapping, progress=advance, skipped=skipped)
    with open_session(ctx) as session:
        plan = plan_import(
            session.state,
            records,
            kind=fmt,
            source=file,
            now=session.now,
            circle=circle,
            skip_duplicates=skip_duplicates,
            skipped=skipped,
        )
        if not dry_run:
            session.log.append(plan.drafts)
    _report(plan, file, dry_run=dry_run)


def _format_of(file: str) -> str:
    fmt = SUFFIXES.get(Path(file).suffix.lower())
    if fmt is None:
        raise click.UsageError(
            f"cannot tell the format of {file!r} from its suffix: give --format jsonl|vcard|csv"
        )
    return fmt


def _import_log(log: EventLog, data: bytes, file: str) -> None:
    with progress(data.count(b"\n") + 1, "reading") as advance:
        parsed = jsonl.parse(data, file, progress=advance)
    result = jsonl.import_into(log, parsed, file)
    click.echo(
        f"imported {result.new} new events of {result.total} "
        f"({result.total - result.new} already held) from {result.devices} device(s)"
    )


def _report(plan: ContactImport, file: str, *, dry_run: bool) -> None:
    """The summary of an import; with `dry_run`, every contact added and every change."""
    would = "would be " if dry_run else ""
    click.echo(
        f"{file}: {would}added {len(plan.added)}, {would}updated {len(plan.updated)}, "
        f"unchanged {len(plan.unchanged)}, possible duplicates {len(plan.duplicates)}"
    )
    if plan.skipped:
        counted = sorted(plan.skipped.items(), key=lambda kv: (-kv[1], kv[0]))
        click.echo("skipped: " + ", ".join(f"{name} x{n}" for name, n in counted))
    if dry_run:
        for line, name, _ in plan.added:
            click.echo(f"  line {line}: add {name!r}")
        for update in plan.updated:
            click.echo(f"  line {update.line}: update {update.name!r}")
            for change in update.changes:
                if change.field == "note":
                    click.echo(f"      note + {change.after}")
                else:
                    click.echo(f"      {change.field}: {change.before} -> {change.after}")
    for line, first in plan.repeated:
        click.echo(f"  line {line}: same entry as line {first}, skipped")
    for line in plan.empty:
        click.echo(f"  line {line}: nothing to import, skipped")
    if plan.duplicates:
        shown = min(len(plan.duplicates), SHOWN_DUPLICATES)
        click.echo(
            f"possible duplicates ({shown} of {len(plan.duplicates)} shown; an import never "
            "merges: if two are one person, recip contact merge KEEP OTHER):"
        )
        for text in duplicate_lines(plan.duplicates):
            click.echo(text)


@contextlib.contextmanager
def progress(
    total: int, label: str, console: Console | None = None
) -> Iterator[Callable[[int], None] | None]:
    """A callback drawing a progress bar on a terminal (stderr); None elsewhere.

    Small files and pipes get no bar: it would only flicker, or litter a log.
    """
    console = console or Console(stderr=True)
    if total < PROGRESS_FROM_LINES or not console.is_terminal:
        yield None
        return
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("lines"))
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)
