"""What replay reports: msgspec Structs, so that JSON keys keep their order.

Every list in a report is in a fixed order (contacts by id, rules as given, steps
by date, asks by date then id), so the same history and rules give the same JSON,
byte for byte.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .metrics import Bin


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
