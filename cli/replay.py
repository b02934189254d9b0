"""`recip replay`: score the whole history under one or more rules, read-only.

Three modes, one engine (`scoring.replay` and `.engine`):

- at one instant (`--as-of`, default today): every contact's score and verdict
  under each rule, and how far the rules agree;
- over time (`--from`, `--to`, `--every`): whom each rule would have flagged when;
- `--backtest`: how well each rule's score before an ask predicted "granted".

The log is opened read-only. A rule that fails to load or raises on a contact is
reported on stderr (naming the rule, the contact and the event) and the command
exits 1, but only after every other result has been printed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import date

import click

from core.errors import ValidationError
from scoring import replay as modes
from scoring.builtin import BUILTIN
from scoring.history import History, day_of
from scoring.loader import LoadedRule, load_rules
from scoring.replay import (
    BacktestReport,
    Cell,
    ContactScores,
    InstantReport,
    RuleError,
    SeriesReport,
)
from scoring.source import read_log

from .context import current_now
from .home import Home
from .output import Column, count_of, print_json, print_table

#: Rule errors shown on stderr before summarising the rest (all are in --json).
SHOWN_ERRORS = 20
#: Differing contacts listed per pair of rules in the terminal.
SHOWN_DIFFS = 15


def _date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(f"{option} must be a date YYYY-MM-DD, got {text!r}") from None


def register(group: click.Group) -> None:
    """Add `replay` to the `recip` group."""

    @group.command("replay")
    @click.option(
        "--rule",
        "rules",
        multiple=True,
        metavar="[LABEL=]RULE",
        help="A built-in rule (cadence, decay, reciprocity), path/to/file.py:Class or "
        "package.module:Class; repeat to compare. LABEL= names it (default: its name).",
    )
    @click.option(
        "--param",
        "params",
        multiple=True,
        metavar="LABEL.KEY=VALUE",
        help="Set a rule parameter, e.g. decay.half_life_days=60.",
    )
    @click.option(
        "--as-of", "as_of", metavar="DATE", help="Score at the end of this day (default: today)."
    )
    @click.option("--from", "start", metavar="DATE", help="Replay over time from this day.")
    @click.option("--to", "end", metavar="DATE", help="... to this day (default: today).")
    @click.option(
        "--every",
        metavar="N[dwmy]",
        help="... in steps of N days/weeks/months/years (default: 30d).",
    )
    @click.option(
        "--backtest", is_flag=True, help="Score each resolved ask's contact just before the ask."
    )
    @click.option(
        "--all", "show_all", is_flag=True, help="List every contact, not only flagged ones."
    )
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output (complete).")
    @click.option(
        "--list-rules", is_flag=True, help="Describe the built-in rules and their parameters."
    )
    @click.option(
        "--plan",
        "plan_limit",
        type=click.IntRange(1, 1000),
        default=None,
        metavar="N",
        help="Compare plan rules (today, ...): each one's plan of N items at --as-of.",
    )
    @click.pass_obj
    def replay(
        home: Home,
        rules: tuple[str, ...],
        params: tuple[str, ...],
        as_of: str | None,
        start: str | None,
        end: str | None,
        every: str | None,
        backtest: bool,
        show_all: bool,
        as_json: bool,
        list_rules: bool,
        plan_limit: int | None,
    ) -> None:
        """Replay the history under scoring rules and compare them (never writes)."""
        if list_rules:
            _describe_rules()
            return
        over_time = start is not None or end is not None or every is not None
        if plan_limit is not None and (over_time or backtest):
            raise ValidationError("--plan compares plans at one day: use it with --as-of only")
        if sum((over_time, backtest, as_of is not None)) > 1:
            raise ValidationError("choose one of --as-of, --from/--to/--every, or --backtest")
        if over_time and start is None:
            raise ValidationError("--to and --every need --from")
        loaded, failures = load_rules(rules, params)
        home.device()
        if not loaded:
            for failure in failures:
                click.echo(f"error: {failure.message}", err=True)
            sys.exit(1)
        today = current_now().local_date()
        history = History(read_log(home.log_path))
        report: InstantReport | SeriesReport | BacktestReport
        if backtest:
            report = modes.backtest(history, loaded, failures)
        elif over_time:
            first = _date(start, "--from")
            assert first is not None
            last = _date(end, "--to") or today
            step = every or "30d"
            report = modes.series(
                history, loaded, modes.step_days(first, last, step), step, failures
            )
        elif plan_limit is not None:
            day = day_of(_date(as_of, "--as-of") or today)
            _compare_plans(history, loaded, day, plan_limit, as_json)
            return
        else:
            day = day_of(_date(as_of, "--as-of") or today)
            report = modes.at_instant(history, loaded, day, failures)
        if as_json:
            print_json(report)
        elif isinstance(report, InstantReport):
            _show_instant(report, show_all)
        elif isinstance(report, SeriesReport):
            _show_series(report)
        else:
            _show_backtest(report)
        if _complain(report.load_failures, report.errors):
            sys.exit(1)


def _compare_plans(
    history: History, loaded: Sequence[LoadedRule], day: int, limit: int, as_json: bool
) -> None:
    """Each plan rule's plan at `day`, and the items not in every plan."""
    from scoring.plan import Today, compare

    rules = []
    for r in loaded:
        if not isinstance(r.rule, Today):
            raise ValidationError(f"rule {r.label!r} makes no plan: --plan compares plan rules")
        rules.append((r.label, r.rule))
    result = compare(history, rules, day, limit)
    if as_json:
        print_json(result)
        return
    for label, plan in result.plans.items():
        click.echo(f"{label}: {len(plan.items)} of {plan.candidates} as of {plan.as_of}")
        for i, n in enumerate(plan.items, 1):
            click.echo(f"  {i}. {n.name} ({n.kind}, {n.urgency:g}): {n.why}")
    if len(result.plans) > 1:
        click.echo(f"not in every plan: {', '.join(result.differ) or 'none'}")


def _complain(load_failures: Sequence[str], errors: Sequence[RuleError]) -> bool:
    """Print failures on stderr; whether there were any."""
    for message in load_failures:
        click.echo(f"error: {message}", err=True)
    for error in errors[:SHOWN_ERRORS]:
        click.echo(f"error: {error.message}", err=True)
    if len(errors) > SHOWN_ERRORS:
        click.echo(
            f"error: ... and {len(errors) - SHOWN_ERRORS} more rule errors (all are in --json)",
            err=True,
        )
    return bool(load_failures or errors)


def _say(text: str) -> None:
    """One line of prose between tables (printed literally: names are not markup)."""
    click.echo(text)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def _cell_text(cell: Cell | None) -> str:
    if cell is None:
        return "error"
    score = _number(cell.score)
    return f"{score} COLD" if cell.cold else score


def _flags(contact: ContactScores) -> int:
    return sum(1 for cell in contact.scores.values() if cell is not None and cell.cold)


def _show_instant(report: InstantReport, show_all: bool) -> None:
    labels = [r.label for r in report.rules]
    counts = ", ".join(f"{label} {report.cold_counts[label]}" for label in labels)
    scored = count_of(len(report.contacts), "contact")
    _say(f"Replay as of {report.as_of}: {scored}; cold: {counts}")
    if not report.contacts:
        _say('No contacts to score yet: recip contact add "NAME" or recip import FILE.')
        return
    first = labels[0]

    def urgency(c: ContactScores) -> tuple[int, float, str, str]:
        cell = c.scores[first]
        score = cell.score if cell is not None and cell.score is not None else float("inf")
        return (-_flags(c), score, c.name.casefold(), c.contact_id)

    rows = sorted((c for c in report.contacts if show_all or _flags(c)), key=urgency)
    print_table(
        [Column("Contact"), Column("Circle")]
        + [Column(label, justify="right") for label in labels],
        ([c.name, c.circle, *(_cell_text(c.scores[label]) for label in labels)] for c in rows),
        title=None if show_all else "Flagged cold by at least one rule",
        empty="No contact is cold under any rule (--all lists every contact's scores).",
    )
    if rows:
        _say(
            "Each rule's column is its score for the contact, higher meaning warmer; "
            "COLD marks those it flags (recip replay --list-rules says how each rule scores)."
        )
    if not report.agreement:
        return
    print_table(
        [Column("Rules")]
        + [
            Column(h, justify="right")
            for h in ("Compared", "Spearman", "Kendall", "Verdicts differ")
        ],
        (
            [
                f"{a.rules[0]} / {a.rules[1]}",
                str(a.compared),
                _number(a.spearman),
                _number(a.kendall),
                str(len(a.verdicts_differ)),
            ]
            for a in report.agreement
        ),
        title="Agreement",
    )
    _say(
        "Compared: contacts both rules scored. Spearman and Kendall: how alike the two "
        "rules rank them (1 the same order, 0 unrelated, -1 reversed). Verdicts differ: "
        "contacts cold under one rule only."
    )
    for a in report.agreement:
        if not a.verdicts_differ:
            continue
        _say(f"Verdicts differ ({a.rules[0]} / {a.rules[1]}):")
        for diff in a.verdicts_differ[:SHOWN_DIFFS]:
            cold = [label for label, is_cold in diff.cold.items() if is_cold]
            _say(f"  {diff.name}: cold only under {cold[0]}")
        if len(a.verdicts_differ) > SHOWN_DIFFS:
            _say(f"  ... and {len(a.verdicts_differ) - SHOWN_DIFFS} more (--json)")


def _show_series(report: SeriesReport) -> None:
    labels = [r.label for r in report.rules]
    _say(f"Replay from {report.start} to {report.end} every {report.every}: flagged cold")
    rows = []
    previous: dict[str, set[str]] | None = None
    for step in report.steps:
        cells = []
        current = {label: set(step.flagged[label]) for label in labels}
        for label in labels:
            now = current[label]
            change = ""
            if previous is not None:
                new, gone = len(now - previous[label]), len(previous[label] - now)
                change = f" (+{new} -{gone})" if new or gone else ""
            cells.append(f"{len(now)}{change}")
        previous = current
        rows.append([step.date, str(step.contacts), *cells])
    print_table(
        [Column("Date"), Column("Contacts", justify="right")]
        + [Column(label, justify="right") for label in labels],
        rows,
        empty="No step falls between --from and --to.",
    )
    if rows:
        _say(
            "Each rule's column: how many contacts it flags cold that day "
            "(+ newly flagged, - no longer flagged since the previous step)."
        )
    if not report.leads:
        return
    print_table(
        [Column("Rule"), Column("before")]
        + [Column(h, justify="right") for h in ("Onsets", "Already", "Earlier", "Median lead")],
        (
            [
                lead.first,
                lead.then,
                str(lead.onsets),
                str(lead.already),
                str(lead.earlier),
                "-" if lead.median_lead_days is None else f"{lead.median_lead_days:g} d",
            ]
            for lead in report.leads
        ),
        title="Who warned first",
    )
    _say(
        "Onsets: times a contact turned cold under the 'before' rule. Already: of those, "
        "how many the first rule flagged by then; Earlier: strictly before; Median lead: "
        "the median number of days the first rule was ahead."
    )


def _show_backtest(report: BacktestReport) -> None:
    _say(
        f"Backtest over {len(report.asks)} resolved asks: each rule's score for the contact "
        "just before the ask"
    )
    if not report.asks:
        _say(
            "Nothing to test yet: a backtest needs asks with an outcome "
            "(recip ask NAME WHAT, then recip resolve ASK granted|declined)."
        )
        return
    headers = ("Scored", "Granted", "Not", "AUC", "Cold", "Cold granted", "Warm granted")
    print_table(
        [Column("Rule")] + [Column(h, justify="right") for h in headers],
        (
            [
                r.rule,
                str(r.scored),
                str(r.granted),
                str(r.not_granted),
                _number(r.auc),
                str(r.asked_cold),
                _percent(r.grant_rate_cold),
                _percent(r.grant_rate_warm),
            ]
            for r in report.results
        ),
        empty="No resolved ask to test against: resolve asks (recip resolve ASK granted).",
    )
    if report.results:
        _say(
            "Scored: resolved asks the rule could score; Granted / Not: how they were "
            "answered. AUC: the chance that a granted ask's contact scored warmer than a "
            "refused one's: 1.0 the score ranks every granted ask first, 0.5 it predicts "
            "no better than a coin toss, below 0.5 it points the wrong way. Cold: asks made "
            "while the rule called the contact cold; Cold granted / Warm granted: the share "
            "of those, and of the others, that were granted."
        )
    for r in report.results:
        if not r.calibration:
            continue
        print_table(
            [Column(h, justify="right") for h in ("Score from", "to", "Asks", "Granted", "Rate")],
            (
                [_number(b.low), _number(b.high), str(b.count), str(b.positives), _percent(b.rate)]
                for b in r.calibration
            ),
            title=f"Calibration: {r.rule}",
        )


def _describe_rules() -> None:
    for name, cls in BUILTIN.items():
        _say(f"{name}: {cls.description}")
        for p in cls.parameters:
            _say(f"  {name}.{p.name} = {p.default!r}: {p.doc}")
    _say(
        "Custom rules: --rule path/to/file.py:Class or package.module:Class, a subclass of "
        "scoring.Rule (see docs/adr/0050-scoring-rule-interface.md)."
    )
