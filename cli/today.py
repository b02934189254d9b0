"""`recip today`: the plan for today, in the terminal, as JSON, or by mail.

The plan is the `today` scoring rule (`scoring.plan`, ADR 0100) over this
device's log, read-only, at the end of today's local date (or `--as-of`;
`$RECIP_NOW` pins "today" in tests). `--mail` sends it as the weekly digest
through the same SMTP settings as `recip serve --smtp` (ADR 0102): for owners
whose server cannot read their events, run it from cron or a systemd timer.
"""

from __future__ import annotations

import os

import click
import msgspec

from core.errors import ValidationError
from scoring.history import History
from scoring.plan import DEFAULT_LIMIT, Plan, plan
from scoring.source import read_log
from sync import remote as remotes

from .home import Home
from .output import print_json
from .views import _as_of as as_of_day


def plan_of(home: Home, day: int, limit: int) -> Plan:
    """The plan of this device's log for `day` (the log is opened read-only)."""
    home.device()  # a clear error if the home is not initialised
    return plan(History(read_log(home.log_path)), day, limit=limit)


def show(result: Plan) -> None:
    """The plan as a person reads it: numbered, each with why and what to do."""
    if not result.items:
        click.echo(f"Nothing pressing on {result.as_of}: no one is cold, owed or waiting.")
        return
    shown = len(result.items)
    click.echo(f"Today, {result.as_of} ({shown} of {result.candidates}):")
    for i, nudge in enumerate(result.items, 1):
        click.echo(f"{i}. {nudge.name}: {nudge.why}")
        click.echo(f"   -> {nudge.todo}")


def _owner(home: Home) -> str:
    try:
        return remotes.load(home.path).owner_name
    except remotes.RemoteError:
        return home.device().name


@click.command("today")
@click.option(
    "--as-of", "as_of", metavar="DATE", help="Plan for the end of this day (default: today)."
)
@click.option(
    "--limit",
    default=DEFAULT_LIMIT,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="At most this many items.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--mail", is_flag=True, help="Send the plan as the digest mail instead.")
@click.option("--to", envvar="RECIP_MAIL_TO", metavar="ADDRESS", help="Recipient of --mail.")
@click.option("--smtp", envvar="RECIP_SMTP", metavar="URL", help="Relay for --mail (see serve).")
@click.option("--smtp-from", envvar="RECIP_SMTP_FROM", metavar="ADDRESS", help="Sender.")
@click.pass_obj
def today(
    home: Home,
    as_of: str | None,
    limit: int,
    as_json: bool,
    mail: bool,
    to: str | None,
    smtp: str | None,
    smtp_from: str | None,
) -> None:
    """The plan for today: who to reach out to, and why (most urgent first).

    Cold and cooling contacts, people you owe a favour back, one-sided
    relationships and asks waiting too long, one item per person. With --mail
    the plan goes to --to through --smtp instead (credentials in
    $RECIP_SMTP_USER and $RECIP_SMTP_PASSWORD).
    """
    if mail:
        from server import mail as mailing

        if not to or not smtp:
            raise ValidationError("--mail needs --to ADDRESS and --smtp URL (or $RECIP_MAIL_TO)")
        settings = mailing.settings_from(smtp, smtp_from, os.environ)
        address = mailing.check_address(to, "--to")
        result = plan_of(home, as_of_day(as_of), limit)
        message = mailing.digest(result, to=address, sender=settings.sender, owner=_owner(home))
        mailing.send(settings, message)
        click.echo(f"sent the plan for {result.as_of} ({len(result.items)} items) to {address}")
        return
    result = plan_of(home, as_of_day(as_of), limit)
    if as_json:
        print_json(msgspec.to_builtins(result))
        return
    show(result)


def register(group: click.Group) -> None:
    """Add `today` to the `recip` group."""
    group.add_command(today)
