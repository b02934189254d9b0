"""The plan for today: a short, reasoned list of people to reach out to, and why.

The plan is a scoring rule (`Today`, built in as `today`): its scorer folds one
contact's items like any other rule, and besides a verdict it can say what, if
anything, that contact needs today (`PlanScorer.nudges`). `plan` orders every nudge of
every contact and takes a handful: one per contact (the most urgent that fits),
at most `per_kind` of each kind so that one kind cannot crowd out the others
(ADR 0100).

Every kind of nudge measures urgency on one scale, where 1 means "due now":

- `cold`: days since the last touch over the cadence (shown from 3/4, as the
  going-cold view's "cooling");
- `owe`: they granted an ask and nothing was given to them since:
  1 + days since the grant over `owe_days`;
- `one_sided`: over the last 365 days asks outweigh gives (as the ledger counts
  weights): the excess over `one_sided_scale`;
- `open_ask`: an ask still open: days waiting over `ask_wait_days`, shown once due;

Past 1, a ratio r counts as 1 + log2(r) (`grow`): overdue items keep rising, but
slowly, so that a years-old one does not bury everything due this week.
- `occasion`: a dated occasion (a birthday) within `occasion_days`: from 1, a week
  ahead, to 2 on the day. Contacts carry no occasions until their fields exist
  (`Subject.occasions` stays empty), so this kind is silent until then.

Each kind's urgency is then multiplied by its `*_weight` parameter. Ties are
broken by kind, then name, then contact id: the plan is a pure function of the
event set and the day.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterable, Sequence
from datetime import date
from typing import ClassVar, Final

import msgspec

from core.events import AskMade

from .history import History, date_of, day_of, items_before
from .rules import (
    ASK,
    GIVE,
    INTRODUCTION,
    RESOLUTION,
    TOUCHES,
    Item,
    Occasion,
    Param,
    Rule,
    Scorer,
    Subject,
    Verdict,
)

COLD: Final = "cold"
OWE: Final = "owe"
ONE_SIDED: Final = "one_sided"
OPEN_ASK: Final = "open_ask"
OCCASION: Final = "occasion"
#: Every kind, in the order that breaks ties between equally urgent nudges.
NUDGE_KINDS: Final[tuple[str, ...]] = (OCCASION, OWE, OPEN_ASK, COLD, ONE_SIDED)
_KIND_RANK: Final = {kind: rank for rank, kind in enumerate(NUDGE_KINDS)}
#: Days that count as "the last year" for one-sidedness (as the ledger's flags).
YEAR_DAYS: Final = 365
#: Plan items when no limit is given.
DEFAULT_LIMIT: Final = 5
#: Decimal places kept in reported urgencies.
PLACES: Final = 6


class Nudge(msgspec.Struct, frozen=True, kw_only=True):
    """One thing to do today about one contact: what, why, and how urgent.

    `since` is the date the clock started (last touch, the grant, the ask);
    `due` is the date the nudge is about (an occasion's day, when a follow-up is
    due). `ask_id` names the ask a follow-up or a debt is about.
    """

    kind: str
    contact_id: str
    name: str
    urgency: float
    why: str
    todo: str
    since: str | None = None
    due: str | None = None
    ask_id: str | None = None


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """The plan for one day: the chosen nudges in order, and how many contacts had one."""

    as_of: str
    rule: str
    limit: int
    candidates: int
    items: list[Nudge]


def grow(ratio: float) -> float:
    """Urgency from a ratio to "due": itself up to 1, then 1 + log2 of it, so that
    long-overdue items still rank first but one ancient item cannot outweigh all
    else by orders of magnitude."""
    return ratio if ratio <= 1.0 else 1.0 + math.log2(ratio)


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def _quote(text: str, width: int = 60) -> str:
    one_line = " ".join(text.split())
    return f"“{one_line if len(one_line) <= width else one_line[: width - 1] + '…'}”"


def next_occurrence(occasion: Occasion, day: int) -> int:
    """The day number of the occasion's next date on or after `day` (29 Feb: 28 Feb
    in other years)."""
    today = date_of(day)
    for year in (today.year, today.year + 1):
        last = calendar.monthrange(year, occasion.month)[1]
        when = date(year, occasion.month, min(occasion.day, last))
        if when >= today:
            return day_of(when)
    raise AssertionError("unreachable")  # pragma: no cover - next year always qualifies


class PlanScorer:
    """One contact's state for the plan: last touch, open asks, the last unreturned
    grant, and the give/ask weights of the last year."""

    __slots__ = (
        "asks",
        "exchanges",
        "owed",
        "params",
        "resolved",
        "subject",
        "touched",
    )

    def __init__(self, subject: Subject, params: PlanParams) -> None:
        self.subject = subject
        self.params = params
        self.touched: int | None = None
        #: Open asks: id -> (day, what).
        self.asks: dict[str, tuple[int, str]] = {}
        #: Asks resolved so far (an outcome dated before its ask never opens it).
        self.resolved: set[str] = set()
        #: The last grant not yet answered by a give: (grant day, what, ask id).
        self.owed: tuple[int, str, str] | None = None
        #: (day, signed weight): gives and introductions +, asks -.
        self.exchanges: list[tuple[int, int]] = []

    def feed(self, item: Item) -> None:
        kind = item.kind
        if kind in TOUCHES and (self.touched is None or item.day > self.touched):
            self.touched = item.day
        if kind == ASK:
            assert item.ask_id is not None
            self.exchanges.append((item.day, -item.weight))
            if item.ask_id not in self.resolved:
                what = item.event.what if isinstance(item.event, AskMade) else ""
                self.asks[item.ask_id] = (item.day, what)
        elif kind in (GIVE, INTRODUCTION):
            self.exchanges.append((item.day, item.weight))
            self.owed = None
        elif kind == RESOLUTION:
            assert item.ask_id is not None
            self.resolved.add(item.ask_id)
            asked = self.asks.pop(item.ask_id, None)
            if item.outcome == "granted":
                what = asked[1] if asked else ""
                self.owed = (item.day, what, item.ask_id)

    def score(self, day: int) -> Verdict:
        """Warmer is higher: minus the most urgent nudge (0 with none); cold once due."""
        nudges = self.nudges(day)
        top = max((n.urgency for n in nudges), default=0.0)
        return (-top, top >= 1.0)

    def nudges(self, day: int) -> list[Nudge]:
        """Everything this contact needs at the end of `day`, most urgent first."""
        found = [
            n
            for n in (
                self._cold(day),
                self._owe(day),
                self._one_sided(day),
                self._open_ask(day),
                self._occasion(day),
            )
            if n is not None
        ]
        found.sort(key=order)
        return found

    def _nudge(self, kind: str, urgency: float, why: str, todo: str, **extra: str | None) -> Nudge:
        weight = self.params.weights[kind]
        return Nudge(
            kind=kind,
            contact_id=self.subject.id,
            name=self.subject.name,
            urgency=round(weight * urgency, PLACES),
            why=why,
            todo=todo,
            **extra,
        )

    def _cold(self, day: int) -> Nudge | None:
        cadence = self.subject.cadence_days
        start = self.touched if self.touched is not None else self.subject.added_day
        if cadence is None or 4 * (day - start) < 3 * cadence:
            return None
        since = day - start
        if self.touched is None:
            why = f"added {_days(since)} ago and never in touch; every {cadence}"
        else:
            why = f"{_days(since)} since you were last in touch, every {cadence}"
        todo = "reach out" if since > cadence else "reach out soon"
        return self._nudge(COLD, grow(since / cadence), why, todo, since=date_of(start).isoformat())

    def _owe(self, day: int) -> Nudge | None:
        if self.owed is None or self.owed[0] > day:
            return None
        granted, what, ask_id = self.owed
        waited = day - granted
        on = date_of(granted)
        why = f"granted {_quote(what)} on {on.day} {on:%b %Y}; nothing given back since"
        return self._nudge(
            OWE,
            grow(1.0 + waited / self.params.owe_days),
            why,
            "offer something back",
            since=on.isoformat(),
            ask_id=ask_id,
        )

    def _one_sided(self, day: int) -> Nudge | None:
        gives = asks = 0
        start = day - YEAR_DAYS
        for when, signed in self.exchanges:
            if start < when <= day:
                if signed > 0:
                    gives += signed
                else:
                    asks -= signed
        if asks <= gives:
            return None
        why = f"asked weight {asks} against given {gives} over the last year"
        return self._nudge(
            ONE_SIDED,
            grow((asks - gives) / self.params.one_sided_scale),
            why,
            "give something before asking again",
        )

    def _open_ask(self, day: int) -> Nudge | None:
        wait = self.params.ask_wait_days
        waiting = [(when, ask_id, what) for ask_id, (when, what) in self.asks.items()]
        overdue = sorted(w for w in waiting if day - w[0] >= wait)
        if not overdue:
            return None
        when, ask_id, what = overdue[0]
        waited = day - when
        more = f" (and {len(overdue) - 1} more)" if len(overdue) > 1 else ""
        return self._nudge(
            OPEN_ASK,
            grow(waited / wait),
            f"asked {_quote(what)} {_days(waited)} ago, still open{more}",
            f"follow up, or resolve it as unanswered (recip resolve {ask_id[:13]} unanswered)",
            since=date_of(when).isoformat(),
            due=date_of(when + wait).isoformat(),
            ask_id=ask_id,
        )

    def _occasion(self, day: int) -> Nudge | None:
        ahead = self.params.occasion_days
        best: tuple[int, str] | None = None
        for occasion in self.subject.occasions:
            until = next_occurrence(occasion, day) - day
            if until <= ahead and (best is None or (until, occasion.label) < best):
                best = (until, occasion.label)
        if best is None:
            return None
        until, label = best
        when = date_of(day + until)
        why = f"{label} today" if until == 0 else f"{label} in {_days(until)}, on {when:%a %d %b}"
        return self._nudge(
            OCCASION,
            1.0 + (ahead - until) / max(ahead, 1),
            why,
            "send a note",
            due=when.isoformat(),
        )


class PlanParams(msgspec.Struct, frozen=True):
    """The plan rule's parameters, typed."""

    owe_days: float
    one_sided_scale: float
    ask_wait_days: int
    occasion_days: int
    per_kind: int
    weights: dict[str, float]


def order(nudge: Nudge) -> tuple[float, int, str, str]:
    """Most urgent first; ties by kind, name (any case), contact id."""
    return (-nudge.urgency, _KIND_RANK[nudge.kind], nudge.name.casefold(), nudge.contact_id)


class Today(Rule):
    name = "today"
    description = (
        "The plan for today: cold and cooling contacts (days since / cadence), people "
        "owed a favour back (1 + days since the grant / owe_days), one-sided "
        "relationships (excess of asks over gives in the last year / one_sided_scale), "
        "asks open too long (days waiting / ask_wait_days) and occasions within "
        "occasion_days; 1 means due. Score: minus the most urgent; cold once one is due."
    )
    parameters: ClassVar[tuple[Param, ...]] = (
        Param("owe_days", 30.0, "days after a grant for a debt to gain 1 urgency", minimum=1),
        Param(
            "one_sided_scale",
            3.0,
            "excess of ask weight over give weight (last year) that makes one due",
            minimum=0.1,
        ),
        Param("ask_wait_days", 14, "days an ask may stay open before a follow-up", minimum=1),
        Param("occasion_days", 7, "days ahead an occasion is mentioned", minimum=0, maximum=60),
        Param("per_kind", 3, "at most this many plan items of one kind (0: no cap)", minimum=0),
        *(
            Param(f"{kind}_weight", 1.0, f"multiplies the urgency of '{kind}' nudges", minimum=0)
            for kind in NUDGE_KINDS
        ),
    )

    def typed(self) -> PlanParams:
        p = self.params
        return PlanParams(
            owe_days=float(p["owe_days"]),
            one_sided_scale=float(p["one_sided_scale"]),
            ask_wait_days=int(p["ask_wait_days"]),
            occasion_days=int(p["occasion_days"]),
            per_kind=int(p["per_kind"]),
            weights={kind: float(p[f"{kind}_weight"]) for kind in NUDGE_KINDS},
        )

    def start(self, contact: Subject) -> Scorer:
        return PlanScorer(contact, self.typed())


def _ranked(scorers: Iterable[PlanScorer], day: int) -> list[Nudge]:
    """Every nudge of the scorers' contacts at the end of `day`, in plan order."""
    out = [n for scorer in scorers for n in scorer.nudges(day)]
    out.sort(key=order)
    return out


def choose(ranked: Iterable[Nudge], limit: int, per_kind: int) -> list[Nudge]:
    """The first `limit` nudges, one per contact (its most urgent that fits) and at
    most `per_kind` of each kind (0: no cap)."""
    chosen: list[Nudge] = []
    taken: dict[str, int] = {}
    people: set[str] = set()
    for nudge in ranked:
        if len(chosen) >= limit:
            break
        if nudge.contact_id in people or (per_kind and taken.get(nudge.kind, 0) >= per_kind):
            continue
        taken[nudge.kind] = taken.get(nudge.kind, 0) + 1
        people.add(nudge.contact_id)
        chosen.append(nudge)
    return chosen


def plan(
    history: History, day: int, *, limit: int = DEFAULT_LIMIT, rule: Today | None = None
) -> Plan:
    """The plan for the end of `day`: at most `limit` nudges, most urgent first."""
    rule = rule or Today()
    return _plan(_scorers(history, rule, day), rule, day, limit)


def _plan(scorers: Iterable[PlanScorer], rule: Today, day: int, limit: int) -> Plan:
    if limit < 1:
        raise ValueError("a plan needs a limit of at least 1")
    ranked = _ranked(scorers, day)
    return Plan(
        as_of=date_of(day).isoformat(),
        rule=rule.name,
        limit=limit,
        candidates=len({n.contact_id for n in ranked}),
        items=choose(ranked, limit, rule.typed().per_kind),
    )


class FollowUp(msgspec.Struct, frozen=True, kw_only=True):
    """An open ask and the day a follow-up is due (ask day + `ask_wait_days`)."""

    ask_id: str
    contact_id: str
    name: str
    what: str
    asked: str
    due: str


class Upcoming(msgspec.Struct, frozen=True, kw_only=True):
    """A contact's occasion and its next date on or after the day asked about."""

    contact_id: str
    name: str
    label: str
    month: int
    day: int
    next: str


def _scorers(history: History, rule: Today, day: int) -> Iterable[PlanScorer]:
    """A scorer per active contact, fed its items up to the end of `day`, by id."""
    params = rule.typed()
    for subject in history.subjects_sorted():
        if subject.id not in history.active or day < subject.added_day:
            continue
        scorer = PlanScorer(subject, params)
        items = history.items[subject.id]
        for item in items[: items_before(history.days[subject.id], day)]:
            scorer.feed(item)
        yield scorer


def follow_ups(
    history: History, day: int, rule: Today | None = None, *, overdue_days: int | None = None
) -> list[FollowUp]:
    """Open asks of active contacts at the end of `day`, by due date then id: every
    one, or (`overdue_days`) those not due more than that many days before `day`."""
    rule = rule or Today()
    return _follow_ups(_scorers(history, rule, day), rule, day, overdue_days)


def _follow_ups(
    scorers: Iterable[PlanScorer], rule: Today, day: int, overdue_days: int | None
) -> list[FollowUp]:
    wait = rule.typed().ask_wait_days
    oldest = None if overdue_days is None else day - overdue_days - wait
    out = [
        FollowUp(
            ask_id=ask_id,
            contact_id=scorer.subject.id,
            name=scorer.subject.name,
            what=what,
            asked=date_of(asked).isoformat(),
            due=date_of(asked + wait).isoformat(),
        )
        for scorer in scorers
        for ask_id, (asked, what) in scorer.asks.items()
        if oldest is None or asked >= oldest
    ]
    out.sort(key=lambda f: (f.due, f.ask_id))
    return out


def occasions(history: History, day: int) -> list[Upcoming]:
    """Every active contact's occasions with their next date, soonest first."""
    out = []
    for subject in history.subjects_sorted():
        if subject.id not in history.active:
            continue
        for occasion in subject.occasions:
            out.append(
                Upcoming(
                    contact_id=subject.id,
                    name=subject.name,
                    label=occasion.label,
                    month=occasion.month,
                    day=occasion.day,
                    next=date_of(next_occurrence(occasion, day)).isoformat(),
                )
            )
    out.sort(key=lambda u: (u.next, u.contact_id, u.label))
    return out


class Outlook(msgspec.Struct, frozen=True, kw_only=True):
    """What the calendar feed shows: the plan, follow-ups and occasions of one day."""

    plan: Plan
    follow_ups: list[FollowUp]
    occasions: list[Upcoming]


def outlook(
    history: History,
    day: int,
    *,
    limit: int = DEFAULT_LIMIT,
    rule: Today | None = None,
    overdue_days: int | None = None,
) -> Outlook:
    """`plan`, `follow_ups` and `occasions` at once, from one pass over the history."""
    rule = rule or Today()
    scorers = list(_scorers(history, rule, day))
    return Outlook(
        plan=_plan(scorers, rule, day, limit),
        follow_ups=_follow_ups(scorers, rule, day, overdue_days),
        occasions=occasions(history, day),
    )


class PlanComparison(msgspec.Struct, frozen=True, kw_only=True):
    """Several plan rules' plans for one day (`recip replay --plan N`), by label,
    and the (contact, kind) items that are not in every plan."""

    as_of: str
    plans: dict[str, Plan]
    differ: list[str]


def compare(
    history: History, rules: Sequence[tuple[str, Today]], day: int, limit: int
) -> PlanComparison:
    """Each labelled plan rule's plan at the end of `day`."""
    plans = {label: plan(history, day, limit=limit, rule=rule) for label, rule in rules}
    keyed = [{f"{n.name} ({n.kind})" for n in p.items} for p in plans.values()]
    every = set.intersection(*keyed) if keyed else set()
    differ = sorted(set().union(*keyed) - every, key=str.casefold)
    return PlanComparison(as_of=date_of(day).isoformat(), plans=plans, differ=differ)


def week_start(day: int) -> int:
    """The Monday of the ISO week holding `day`."""
    return day - date_of(day).weekday()


__all__ = [
    "COLD",
    "DEFAULT_LIMIT",
    "NUDGE_KINDS",
    "OCCASION",
    "ONE_SIDED",
    "OPEN_ASK",
    "OWE",
    "FollowUp",
    "Nudge",
    "Outlook",
    "Plan",
    "PlanComparison",
    "PlanScorer",
    "Today",
    "Upcoming",
    "choose",
    "compare",
    "follow_ups",
    "next_occurrence",
    "occasions",
    "outlook",
    "plan",
    "week_start",
]
