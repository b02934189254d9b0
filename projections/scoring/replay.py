"""Replay: run scoring rules over a history, at one instant, over time, or as a backtest.

All three modes share one engine. For each contact, the points at which scores are
wanted ("probes": a position in the contact's items and a day) are worked out
once; then each rule gets a fresh scorer, is fed the items up to each probe in
turn and scored there. A rule is thus fed every item at most once per contact,
however many instants are asked for: a monthly series over ten years costs barely
more than one instant.

A rule that raises (or returns something that is not a verdict) on one contact
loses only that contact: the error names the rule, the contact and the event it
was fed (or the day it was scored at), and every other result still comes out.

Reports are msgspec Structs whose every list is in a fixed order (contacts by id,
rules as given, steps by date), so the same history and rules give the same JSON,
byte for byte.
"""

from __future__ import annotations

import calendar
import math
import statistics
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any, Final

import msgspec

from core.errors import ValidationError
from core.events import type_name

from .builtin import TRUSTED
from .history import History, date_of, day_of, items_before
from .loader import LoadedRule, LoadFailure
from .metrics import Bin, auc, calibration, kendall, spearman
from .rules import ASK, Item, Subject, Verdict

#: Decimal places kept in reported scores (the computation itself is exact floats).
PLACES = 6

Probe = tuple[int, int]  # (number of items fed before scoring, day scored at)


class RuleInfo(msgspec.Struct, frozen=True):
    label: str
    spec: str
    rule: str
    params: dict[str, Any]


class RuleError(msgspec.Struct, frozen=True):
    """A rule failed on one contact; `message` says where, for a person to read."""

    rule: str
    contact_id: str
    contact_name: str
    event_id: str | None
    event_type: str | None
    date: str | None
    message: str


class Cell(msgspec.Struct, frozen=True):
    score: float | None
    cold: bool


class ContactScores(msgspec.Struct, frozen=True):
    """One contact under each rule (None where the rule failed on it)."""

    contact_id: str
    name: str
    circle: str
    scores: dict[str, Cell | None]


class VerdictDiff(msgspec.Struct, frozen=True):
    contact_id: str
    name: str
    cold: dict[str, bool]


class Agreement(msgspec.Struct, frozen=True):
    """How two rules agree: rank correlations over contacts both score, differing verdicts."""

    rules: tuple[str, str]
    compared: int
    spearman: float | None
    kendall: float | None
    verdicts_differ: list[VerdictDiff]


class InstantReport(msgspec.Struct, frozen=True):
    as_of: str
    rules: list[RuleInfo]
    contacts: list[ContactScores]
    cold_counts: dict[str, int]
    agreement: list[Agreement]
    load_failures: list[str]
    errors: list[RuleError]


class Step(msgspec.Struct, frozen=True):
    """Who each rule would have flagged as cold on one date (contact ids, sorted)."""

    date: str
    contacts: int
    flagged: dict[str, list[str]]


class Lead(msgspec.Struct, frozen=True):
    """Did rule `first` warn before rule `then`?

    An onset is a step at which `then` flags a contact it did not flag at the step
    before. `already` counts the onsets at which `first` was flagging that contact
    too, `earlier` those at which it had begun strictly before; the lead is how many
    days before the onset `first`'s flagging began.
    """

    first: str
    then: str
    onsets: int
    already: int
    earlier: int
    median_lead_days: float | None


class SeriesReport(msgspec.Struct, frozen=True):
    start: str
    end: str
    every: str
    rules: list[RuleInfo]
    names: dict[str, str]
    steps: list[Step]
    leads: list[Lead]
    load_failures: list[str]
    errors: list[RuleError]


class AskScores(msgspec.Struct, frozen=True):
    """A resolved ask, and each rule's score for its contact just before it was made."""

    ask_id: str
    contact_id: str
    name: str
    date: str
    outcome: str
    scores: dict[str, Cell | None]


class RuleBacktest(msgspec.Struct, frozen=True):
    """How well one rule's score predicted "granted": AUC and a calibration table."""

    rule: str
    scored: int
    granted: int
    not_granted: int
    unscored: int
    auc: float | None
    asked_cold: int
    grant_rate_cold: float | None
    grant_rate_warm: float | None
    calibration: list[Bin]


class BacktestReport(msgspec.Struct, frozen=True):
    rules: list[RuleInfo]
    asks: list[AskScores]
    results: list[RuleBacktest]
    load_failures: list[str]
    errors: list[RuleError]


class _Failed(Exception):
    """Internal: a rule failed on a contact; carries the reportable error."""

    def __init__(self, error: RuleError) -> None:
        super().__init__(error.message)
        self.error = error


# -- the engine ------------------------------------------------------------------


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
) -> tuple[dict[str, dict[str, list[Verdict] | None]], list[RuleError]]:
    """Every rule's verdicts at every probe of every contact (None where it failed)."""
    results: dict[str, dict[str, list[Verdict] | None]] = {r.label: {} for r in rules}
    errors: list[RuleError] = []
    for subject in history.subjects_sorted():
        items = history.items[subject.id]
        probes = probes_of(subject, items)
        if not probes:
            continue
        for loaded in rules:
            try:
                results[loaded.label][subject.id] = _drive(loaded, subject, items, probes)
            except _Failed as failed:
                results[loaded.label][subject.id] = None
                errors.append(failed.error)
    return results, errors


def _info(rules: Sequence[LoadedRule]) -> list[RuleInfo]:
    return [RuleInfo(r.label, r.spec, r.rule.name, dict(r.rule.params)) for r in rules]


def _cell(verdict: Verdict) -> Cell:
    score, cold = verdict
    return Cell(None if score is None else round(score, PLACES), cold)


def _messages(failures: Sequence[LoadFailure]) -> list[str]:
    return [f.message for f in failures]


# -- one instant -------------------------------------------------------------------


def at_instant(
    history: History,
    rules: Sequence[LoadedRule],
    day: int,
    failures: Sequence[LoadFailure] = (),
) -> InstantReport:
    """Each active contact's score and verdict under each rule at the end of `day`."""

    def probes(subject: Subject, items: list[Item]) -> list[Probe]:
        if subject.id not in history.active or day < subject.added_day:
            return []
        return [(items_before(history.days[subject.id], day), day)]

    results, errors = run(history, rules, probes)
    labels = [r.label for r in rules]
    listed = sorted({cid for per in results.values() for cid in per})
    contacts = []
    for cid in listed:
        subject = history.subjects[cid]
        scores: dict[str, Cell | None] = {}
        for label in labels:
            verdicts = results[label].get(cid)
            scores[label] = None if verdicts is None else _cell(verdicts[0])
        contacts.append(ContactScores(cid, subject.name, subject.circle, scores))
    cold_counts = {
        label: sum(1 for c in contacts if (cell := c.scores[label]) is not None and cell.cold)
        for label in labels
    }
    return InstantReport(
        as_of=date_of(day).isoformat(),
        rules=_info(rules),
        contacts=contacts,
        cold_counts=cold_counts,
        agreement=agreement(results, labels, history),
        load_failures=_messages(failures),
        errors=errors,
    )


def agreement(
    results: dict[str, dict[str, list[Verdict] | None]], labels: Sequence[str], history: History
) -> list[Agreement]:
    """Pairwise agreement of rules at one instant (the first probe of each contact)."""
    out = []
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            xs: list[float] = []
            ys: list[float] = []
            differ = []
            for cid in sorted(set(results[a]) & set(results[b])):
                va, vb = results[a][cid], results[b][cid]
                if va is None or vb is None:
                    continue
                (sa, ca), (sb, cb) = va[0], vb[0]
                if sa is not None and sb is not None:
                    xs.append(sa)
                    ys.append(sb)
                if ca != cb:
                    differ.append(VerdictDiff(cid, history.subjects[cid].name, {a: ca, b: cb}))
            rho, tau = spearman(xs, ys), kendall(xs, ys)
            out.append(
                Agreement(
                    rules=(a, b),
                    compared=len(xs),
                    spearman=None if rho is None else round(rho, PLACES),
                    kendall=None if tau is None else round(tau, PLACES),
                    verdicts_differ=differ,
                )
            )
    return out


# -- over time ------------------------------------------------------------------------


def series(
    history: History,
    rules: Sequence[LoadedRule],
    days: Sequence[int],
    every: str,
    failures: Sequence[LoadFailure] = (),
) -> SeriesReport:
    """Who each rule flags as cold at each of `days` (ascending), in one pass per rule."""
    ordered = sorted(set(days))
    points: dict[str, list[Probe]] = {}

    def probes(subject: Subject, items: list[Item]) -> list[Probe]:
        if subject.id not in history.active:
            return []
        days = history.days[subject.id]
        out: list[Probe] = []
        fed = 0
        for day in ordered:
            if day >= subject.added_day:
                fed = items_before(days, day, fed)
                out.append((fed, day))
        points[subject.id] = out
        return out

    results, errors = run(history, rules, probes)
    index = {day: i for i, day in enumerate(ordered)}
    flagged: list[dict[str, list[str]]] = [{r.label: [] for r in rules} for _ in ordered]
    listed = [0] * len(ordered)
    names: dict[str, str] = {}
    for cid in sorted(points):
        for _, day in points[cid]:
            listed[index[day]] += 1
        for label, per in results.items():
            verdicts = per.get(cid)
            if verdicts is None:
                continue
            for (_, day), (_, cold) in zip(points[cid], verdicts, strict=True):
                if cold:
                    flagged[index[day]][label].append(cid)
                    names[cid] = history.subjects[cid].name
    steps = [Step(date_of(day).isoformat(), listed[i], flagged[i]) for i, day in enumerate(ordered)]
    return SeriesReport(
        start=date_of(ordered[0]).isoformat() if ordered else "",
        end=date_of(ordered[-1]).isoformat() if ordered else "",
        every=every,
        rules=_info(rules),
        names=dict(sorted(names.items())),
        steps=steps,
        leads=leads(results, points, [r.label for r in rules]),
        load_failures=_messages(failures),
        errors=errors,
    )


def leads(
    results: dict[str, dict[str, list[Verdict] | None]],
    points: dict[str, list[Probe]],
    labels: Sequence[str],
) -> list[Lead]:
    """For every ordered pair of rules, how often and how far the first warned earlier."""
    out = []
    for first in labels:
        for then in labels:
            if first == then:
                continue
            onsets = already = earlier = 0
            lead_days: list[int] = []
            for cid in sorted(points):
                a, b = results[first].get(cid), results[then].get(cid)
                if a is None or b is None:
                    continue
                days = [day for _, day in points[cid]]
                run_start: int | None = None  # step at which `first`'s current flagging began
                for k, ((_, cold_a), (_, cold_b)) in enumerate(zip(a, b, strict=True)):
                    run_start = (k if run_start is None else run_start) if cold_a else None
                    if not cold_b or (k and b[k - 1][1]):
                        continue
                    onsets += 1
                    if run_start is not None:
                        already += 1
                        lead = days[k] - days[run_start]
                        earlier += lead > 0
                        lead_days.append(lead)
            out.append(
                Lead(
                    first=first,
                    then=then,
                    onsets=onsets,
                    already=already,
                    earlier=earlier,
                    median_lead_days=float(statistics.median(lead_days)) if lead_days else None,
                )
            )
    return out


# -- backtest ----------------------------------------------------------------------------


def backtest(
    history: History,
    rules: Sequence[LoadedRule],
    failures: Sequence[LoadFailure] = (),
    *,
    bins: int = 5,
) -> BacktestReport:
    """Each rule's score for each resolved ask's contact just before the ask was made."""
    asked: dict[str, list[Item]] = {}

    def probes(subject: Subject, items: list[Item]) -> list[Probe]:
        resolved = [
            (i, item)
            for i, item in enumerate(items)
            if item.kind == ASK and item.ask_id in history.outcomes
        ]
        asked[subject.id] = [item for _, item in resolved]
        return [(i, item.day) for i, item in resolved]

    results, errors = run(history, rules, probes)
    asks: list[AskScores] = []
    for subject in history.subjects_sorted():
        for n, item in enumerate(asked.get(subject.id, ())):
            assert item.ask_id is not None
            scores: dict[str, Cell | None] = {}
            for loaded in rules:
                verdicts = results[loaded.label].get(subject.id)
                scores[loaded.label] = None if verdicts is None else _cell(verdicts[n])
            asks.append(
                AskScores(
                    ask_id=item.ask_id,
                    contact_id=subject.id,
                    name=subject.name,
                    date=date_of(item.day).isoformat(),
                    outcome=history.outcomes[item.ask_id],
                    scores=scores,
                )
            )
    asks.sort(key=lambda a: (a.date, a.ask_id))
    return BacktestReport(
        rules=_info(rules),
        asks=asks,
        results=[_evaluate(r.label, asks, bins) for r in rules],
        load_failures=_messages(failures),
        errors=errors,
    )


def _evaluate(label: str, asks: Sequence[AskScores], bins: int) -> RuleBacktest:
    granted: list[float] = []
    others: list[float] = []
    cold_outcomes: list[bool] = []
    warm_outcomes: list[bool] = []
    unscored = 0
    for ask in asks:
        cell = ask.scores[label]
        if cell is None or cell.score is None:
            unscored += 1
            continue
        positive = ask.outcome == "granted"
        (granted if positive else others).append(cell.score)
        (cold_outcomes if cell.cold else warm_outcomes).append(positive)
    area = auc(granted, others)
    table = calibration([(s, True) for s in granted] + [(s, False) for s in others], bins)
    return RuleBacktest(
        rule=label,
        scored=len(granted) + len(others),
        granted=len(granted),
        not_granted=len(others),
        unscored=unscored,
        auc=None if area is None else round(area, PLACES),
        asked_cold=len(cold_outcomes),
        grant_rate_cold=_rate(cold_outcomes),
        grant_rate_warm=_rate(warm_outcomes),
        calibration=[
            Bin(
                round(b.low, PLACES),
                round(b.high, PLACES),
                b.count,
                b.positives,
                round(b.rate, PLACES),
            )
            for b in table
        ],
    )


def _rate(outcomes: Sequence[bool]) -> float | None:
    return round(sum(outcomes) / len(outcomes), PLACES) if outcomes else None


_UNITS: Final = {"d": "days", "w": "weeks", "m": "months", "y": "years"}
#: A bound on steps, so that a typo (`--every 1d` over fifty years) cannot run away.
MAX_STEPS: Final = 20_000


def step_days(start: date, end: date, every: str) -> list[int]:
    """The days from `start` to `end` (inclusive), every `Nd`, `Nw`, `Nm` or `Ny`.

    Months and years step in calendar terms from `start` (31 January + 1m is the
    last day of February), so monthly steps stay on "the same day of the month".
    """
    text = every.strip().lower()
    count, unit = text[:-1], text[-1:]
    if unit not in _UNITS or not count.isdigit() or int(count) < 1:
        raise ValidationError(f"--every must look like 30d, 2w, 1m or 1y, got {every!r}")
    if end < start:
        raise ValidationError(f"--from {start} is after --to {end}")
    n = int(count)
    out: list[int] = []
    k = 0
    while True:
        if unit == "d":
            current = start + timedelta(days=k * n)
        elif unit == "w":
            current = start + timedelta(weeks=k * n)
        else:
            current = _add_months(start, k * n * (12 if unit == "y" else 1))
        if current > end:
            return out
        out.append(day_of(current))
        if len(out) > MAX_STEPS:
            raise ValidationError(
                f"--every {every} from {start} to {end} makes more than {MAX_STEPS} steps"
            )
        k += 1


def _add_months(start: date, months: int) -> date:
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    if year > 9999:
        return date.max
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))
