"""Replay: scoring rules over a history at one instant, over time, or as a backtest.

Each mode states its probes (where scores are wanted, per contact), runs the engine
(`engine.run`) once, and folds the verdicts into its report (`reports`):

- `at_instant`: every active contact's score and verdict per rule, and how the
  rules agree (rank correlations, contacts whose verdicts differ);
- `series`: whom each rule flags at each step, and which rule warned first;
- `backtest`: each rule's score for each resolved ask's contact just before the
  ask, judged by AUC and a calibration table.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from .engine import Probe, run
from .history import History, date_of, items_before
from .loader import LoadedRule, LoadFailure
from .metrics import Bin, auc, calibration, kendall, spearman
from .reports import (
    Agreement,
    AskScores,
    BacktestReport,
    Cell,
    ContactScores,
    InstantReport,
    Lead,
    RuleBacktest,
    RuleError,
    RuleInfo,
    SeriesReport,
    Step,
    VerdictDiff,
)
from .rules import ASK, Item, Subject, Verdict
from .steps import MAX_STEPS, step_days

#: Decimal places kept in reported scores (the computation itself is exact floats).
PLACES = 6

__all__ = [
    "MAX_STEPS",
    "PLACES",
    "Agreement",
    "AskScores",
    "BacktestReport",
    "Cell",
    "ContactScores",
    "InstantReport",
    "Lead",
    "RuleBacktest",
    "RuleError",
    "SeriesReport",
    "Step",
    "agreement",
    "at_instant",
    "backtest",
    "leads",
    "series",
    "step_days",
]


def _verdicts(verdicts: list[Verdict]) -> list[Verdict]:
    return verdicts


def _colds(verdicts: list[Verdict]) -> list[bool]:
    return [cold for _, cold in verdicts]


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

    results, errors = run(history, rules, probes, _verdicts)
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

    results, errors = run(history, rules, probes, _colds)
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
            for (_, day), cold in zip(points[cid], verdicts, strict=True):
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
    results: dict[str, dict[str, list[bool] | None]],
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
                for k, (cold_a, cold_b) in enumerate(zip(a, b, strict=True)):
                    run_start = (k if run_start is None else run_start) if cold_a else None
                    if not cold_b or (k and b[k - 1]):
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

    results, errors = run(history, rules, probes, _verdicts)
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
