"""The replay engine: feed each contact's items to each rule, scoring at probes.

For each contact, the points at which scores are wanted ("probes": how many items
have been fed, and the day to score at) are worked out once by the mode; then each
rule gets a fresh scorer, is fed the items up to each probe in turn and scored
there. A rule is thus fed every item at most once per contact, however many
instants are asked for.

A rule that raises (or returns something that is not a verdict) on one contact
loses only that contact: the error names the rule, the contact and the event it
was fed (or the day it was scored at), and every other result still comes out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar

from core.events import type_name

from .builtin import TRUSTED
from .history import History, date_of
from .loader import LoadedRule
from .reports import RuleError
from .rules import Item, Subject, Verdict

Probe = tuple[int, int]  # (number of items fed before scoring, day scored at)
T = TypeVar("T")


class _Failed(Exception):
    """Internal: a rule failed on a contact; carries the reportable error."""

    def __init__(self, error: RuleError) -> None:
        super().__init__(error.message)
        self.error = error


def _verdict(raw: object) -> Verdict:
    """Check and normalise what a custom scorer returned."""
    if not (isinstance(raw, tuple) and len(raw) == 2):
        raise TypeError(f"score() returned {raw!r}, expected a (score, cold) pair")
    score, cold = raw
    if not isinstance(cold, bool):
        raise TypeError(f"score() returned cold={cold!r}, expected True or False")
    if score is None:
        return (None, cold)
    if isinstance(score, bool) or not isinstance(score, int | float):
        raise TypeError(f"score() returned score={score!r}, expected a number or None")
    if not math.isfinite(score):
        raise ValueError(f"score() returned score={score!r}, expected a finite number")
    return (float(score), cold)


def _drive(
    loaded: LoadedRule, subject: Subject, items: list[Item], probes: Sequence[Probe]
) -> list[Verdict]:
    """Feed one contact's items to a fresh scorer, scoring at each probe in turn.

    What a custom scorer returns is checked; the built-in scorers' verdicts are
    well-formed by construction (and tested so), which keeps many-instant replays
    cheap.
    """
    out: list[Verdict] = []
    append = out.append
    fed = 0
    item: Item | None = None
    day: int | None = None
    try:
        scorer = loaded.rule.start(subject)
    except Exception as exc:  # a rule may raise anything: report it, keep going
        raise _Failed(_rule_error(loaded, subject, None, None, exc)) from exc
    feed = scorer.feed
    score = scorer.score
    check = type(scorer) not in TRUSTED
    for position, day in probes:
        if position > fed:
            try:
                for item in items[fed:position]:
                    feed(item)
            except Exception as exc:
                raise _Failed(_rule_error(loaded, subject, item, day, exc)) from exc
            fed = position
        try:
            append(_verdict(score(day)) if check else score(day))
        except Exception as exc:
            raise _Failed(_rule_error(loaded, subject, None, day, exc)) from exc
    return out


def _rule_error(
    loaded: LoadedRule, subject: Subject, item: Item | None, day: int | None, exc: Exception
) -> RuleError:
    what = f"{type(exc).__name__}: {exc}"
    who = f"contact {subject.id} ({subject.name})"
    if item is not None:
        when = date_of(item.day).isoformat()
        message = (
            f"rule {loaded.label!r} raised on {who} at event {item.event_id} "
            f"({type_name(item.event)} of {when}): {what}"
        )
        return RuleError(
            loaded.label,
            subject.id,
            subject.name,
            item.event_id,
            type_name(item.event),
            when,
            message,
        )
    when_text = None if day is None else date_of(day).isoformat()
    at = f" scoring at {when_text}" if when_text else " starting"
    message = f"rule {loaded.label!r} failed on {who}{at}: {what}"
    return RuleError(loaded.label, subject.id, subject.name, None, None, when_text, message)


def run(
    history: History,
    rules: Sequence[LoadedRule],
    probes_of: Callable[[Subject, list[Item]], Sequence[Probe]],
    keep: Callable[[list[Verdict]], T],
) -> tuple[dict[str, dict[str, T | None]], list[RuleError]]:
    """Every rule's verdicts at every probe of every contact (None where it failed).

    `keep` reduces one contact's verdicts under one rule as soon as they are made
    (a daily series over years keeps only the cold flags, not millions of pairs).
    """
    results: dict[str, dict[str, T | None]] = {r.label: {} for r in rules}
    errors: list[RuleError] = []
    for subject in history.subjects_sorted():
        items = history.items[subject.id]
        probes = probes_of(subject, items)
        if not probes:
            continue
        for loaded in rules:
            try:
                results[loaded.label][subject.id] = keep(_drive(loaded, subject, items, probes))
            except _Failed as failed:
                results[loaded.label][subject.id] = None
                errors.append(failed.error)
    return results, errors
