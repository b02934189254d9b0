"""The weekly digest: when it is due, and sending it once per period (ADR 0102).

Each owner with digest settings gets one mail per ISO week (in their time zone),
at or after the weekday and hour they chose. Every worker of every server
process runs the same loop (`DigestLoop`): on each tick it asks, per owner,
whether this week's digest is due, and *claims* the week in the accounts
database before sending (`NudgeStore.claim`). The claim is one atomic statement
on a primary key, so of any number of workers, before or after any restart, one
sends; the others see the claim and skip. A send that fails releases the claim
(the next tick retries); a worker that dies mid-send leaves a claim that another
may take over once its lease has run out.

A week whose moment had passed before the settings were saved is skipped: the
first digest comes at the chosen time, not the moment one sets an address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from starlette.concurrency import run_in_threadpool

from scoring.history import day_of
from scoring.plan import DEFAULT_LIMIT, Plan

from . import mail
from .mail import SmtpSettings
from .nudge_store import DigestSettings, NudgeStore

logger = logging.getLogger("recip.digest")

#: How long a claim may stay unsent before another worker takes over.
LEASE_MS: Final = 15 * 60_000


class DigestConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The server's digest settings: the relay, how often to look, the plan's size."""

    smtp: SmtpSettings
    interval_s: float = 60.0
    limit: int = DEFAULT_LIMIT
    lease_ms: int = LEASE_MS


def due(settings: DigestSettings, now_ms: int) -> tuple[str, int] | None:
    """(period, local day) if this week's digest is due at `now_ms`, else None.

    The period is the ISO week of the owner's local date (`2026-W49`); it is due
    from the chosen weekday and hour on, unless that moment came before the
    settings were saved.
    """
    zone = ZoneInfo(settings.timezone)
    local = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    day = monday + timedelta(days=settings.weekday)
    moment = datetime.combine(day, time(settings.hour), zone)
    moment_ms = int(moment.timestamp() * 1000)
    if now_ms < moment_ms or moment_ms < settings.updated_at:
        return None
    iso = day.isocalendar()
    return f"{iso.year}-W{iso.week:02d}", day_of(local.date())


Plans = Callable[[str, int, int], Plan]
Send = Callable[[SmtpSettings, EmailMessage], None]


class DigestSender:
    """One worker's digest duty: `tick(now)` sends every digest due and not yet sent."""

    def __init__(
        self, store: NudgeStore, config: DigestConfig, plans: Plans, send: Send = mail.send
    ) -> None:
        self.store = store
        self.config = config
        self.plans = plans
        self.send = send
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    def tick(self, now_ms: int) -> list[str]:
        """Send what is due; returns the owners mailed (by id)."""
        sent = []
        for recipient in self.store.recipients():
            settings = recipient.settings
            try:
                when = due(settings, now_ms)
            except (ZoneInfoNotFoundError, ValueError):
                logger.warning(
                    "owner %s: unknown time zone %r", recipient.owner_id, settings.timezone
                )
                continue
            if when is None:
                continue
            period, day = when
            owner = recipient.owner_id
            if not self.store.claim(owner, period, self.worker, now_ms, self.config.lease_ms):
                continue
            try:
                plan = self.plans(owner, day, self.config.limit)
                message = mail.digest(
                    plan, to=settings.email, sender=self.config.smtp.sender, owner=recipient.name
                )
                self.send(self.config.smtp, message)
            except Exception as exc:  # retried at the next tick; never stops the loop
                logger.warning("digest for owner %s (%s) not sent: %s", owner, period, exc)
                self.store.release(owner, period, self.worker)
                continue
            self.store.mark_sent(owner, period, self.worker, now_ms)
            sent.append(owner)
        return sent


class DigestLoop:
    """Runs a `DigestSender` every `interval_s` on the event loop (work in threads)."""

    def __init__(self, sender: DigestSender, clock: Callable[[], int]) -> None:
        self.sender = sender
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            try:
                await run_in_threadpool(self.sender.tick, self.clock())
            except Exception:  # the accounts database away for a moment: try next time
                logger.exception("digest tick failed")
            await asyncio.sleep(self.sender.config.interval_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="recip-digest")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
