"""`recip doctor`: what in this home cannot be used as it is, and what to do.

Views skip what they cannot show instead of failing (ADR 0080): a stored event of
a known type outside today's limits (stored before they existed), and an event
of an unknown type that is not plain data. Doctor lists those, and says whether
the log holds every event this device recorded (`Home.verify`).
`--accept-lost-events` lets a device whose unsynced events are gone for good go
on recording after what its log holds.
"""

from __future__ import annotations

import click
import msgspec

from core.codec import admit
from core.errors import CodecError
from core.events import OpaqueEvent

from .home import Home, HomeError
from .output import Column, json_option, print_json, print_table


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    """One event a view cannot show, by its place in the log and its identity."""

    position: int
    type: str
    event_id: str
    device_id: str
    seq: int
    problem: str


class Report(msgspec.Struct, frozen=True, kw_only=True):
    log: str
    events: int
    unshowable: list[Finding]


@click.command()
@click.option(
    "--accept-lost-events",
    is_flag=True,
    help="The log lost events of this device that exist nowhere else: record on after it.",
)
@json_option
@click.pass_obj
def doctor(home: Home, accept_lost_events: bool, as_json: bool) -> None:
    """List the events no view can show (they are skipped) and check the log is whole."""
    if accept_lost_events:
        recorded, held = home.accept_loss()
        click.echo(f"this device goes on after seq {held} (it had recorded up to seq {recorded})")
        return
    try:
        home.verify()
        health = "ok"
    except HomeError as exc:
        health = str(exc)
    log = home.open_log(restoring=True)
    findings: list[Finding] = []
    count = 0
    try:
        for position, event in log.read():
            count += 1
            problem = _problem(event) if isinstance(event, OpaqueEvent) else None
            if problem is not None:
                assert isinstance(event, OpaqueEvent)
                findings.append(
                    Finding(
                        position=position,
                        type=event.type,
                        event_id=event.event_id,
                        device_id=event.device_id,
                        seq=event.seq,
                        problem=problem,
                    )
                )
    finally:
        log.store.close()
    if as_json:
        print_json(Report(log=health, events=count, unshowable=findings))
        return
    click.echo(f"log: {health} ({count} events)")
    print_table(
        [
            Column("pos", justify="right"),
            Column("type", no_wrap=True),
            Column("event id", no_wrap=True),
            Column("device", no_wrap=True),
            Column("seq", justify="right"),
            Column("why it is not shown"),
        ],
        (
            [str(f.position), f.type, f.event_id, f.device_id, str(f.seq), f.problem]
            for f in findings
        ),
        empty="every event can be shown",
    )


def _problem(event: OpaqueEvent) -> str | None:
    """Why an opaque event is a problem here. An unknown type or a newer version of
    plain data is not: it is shown once this build is upgraded."""
    if event.problem is not None:
        return event.problem
    try:
        admit(event)
    except CodecError as exc:
        return str(exc)
    return None


def register(group: click.Group) -> None:
    group.add_command(doctor)
