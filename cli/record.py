"""Commands of the `recip` CLI that record history.

`init`, then `log`, `ask`, `resolve`, `give`, `intro`, `note` and `retract` here;
the `contact` group lives in `cli.contacts` and the raw log reader (`events`) in
`cli.rawlog`; `register` adds them all. Each recording command is a thin shell
around `core.commands` (`cli.context.recording`): open a session (the log folded
once), let core validate and build the draft, append it, print its id alone on
stdout. Refusals are `ReciprocityError`s, which the group turns into one line on
stderr and exit status 1; since validation happens before the append, a refused
command leaves the log as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from core import commands
from core.events import CHANNELS, GIVE_KINDS, INITIATORS, OUTCOMES, Event

from .contacts import contact
from .context import Session, current_now, home_of, recording
from .rawlog import events


def register(group: click.Group) -> None:
    """Add this module's commands (and the contact group and raw log) to `recip`."""
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


# -- shared options ----------------------------------------------------------------


def _echo_understood(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    """Say on stderr which day a phrase (`last friday`) was read as."""
    day = commands.natural_when(value, current_now())
    if day is not None:
        click.echo(f"--on {str(value).strip()!r}: {day.isoformat()} ({day:%A})", err=True)
    return value


def when_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--on",
        "when",
        metavar="DATE",
        callback=_echo_understood,
        help="When it happened: YYYY-MM-DD, an ISO datetime, or yesterday, "
        "last friday, 3 days ago (default: now).",
    )(func)


def weight_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--weight", type=int, default=1, show_default=True, help="How much it counts, 1-5."
    )(func)


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
