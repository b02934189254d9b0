"""The scoring-rule interface: what a rule sees, what it returns, how it is configured.

A rule turns one contact's history into a score and a cold/not-cold verdict at an
instant. Replay feeds it that history one `Item` at a time, in one fixed order
(local day, then `occurred_at`, then `hlc`, then `event_id`), and asks for a score
whenever it needs one (at the steps of a time series, just before each ask in a
backtest). Because the rule is a fold, scoring at a hundred instants costs one pass
over the history, not a hundred.

Times are plain ints: `day` is the event's local date as days since 1970-01-01
(the date the person stated it in, so the same on every device), which is the
resolution every built-in rule reasons in. `score(day)` means "at the end of that
local day, given everything fed so far".

The interface is deliberately small so that a person can write a rule in a file
and replay years of history under it (see `docs/adr/0050-scoring-rule-interface.md`):

    class Recent(Rule):
        name = "recent"
        parameters = (Param("days", 60, "cold after this many days without a touch"),)

        def start(self, contact: Subject) -> Scorer:
            return RecentScorer(int(self.params["days"]))
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Final, Protocol

import msgspec

from core.errors import ValidationError
from core.events import Event

#: Kinds of items a rule is fed. `added` is the contact's creation (and that of
#: every contact merged into it); `resolution` is an ask's effective outcome, fed
#: when it occurred, so that no rule can see an outcome before it happened.
ADDED: Final = "added"
INTERACTION: Final = "interaction"
GIVE: Final = "give"
INTRODUCTION: Final = "introduction"
ASK: Final = "ask"
RESOLUTION: Final = "resolution"
KINDS: Final[tuple[str, ...]] = (ADDED, INTERACTION, GIVE, INTRODUCTION, ASK, RESOLUTION)
#: The kinds that count as a touch (the going-cold view's definition of last touch).
TOUCHES: Final[frozenset[str]] = frozenset((INTERACTION, GIVE, INTRODUCTION, ASK))

_LABEL_RE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")


class Item(msgspec.Struct, frozen=True, gc=False, order=True):
    """One fact about one contact, as a rule sees it.

    `weight` is the event's own weight (1-5) for gives, introductions and asks, 1
    otherwise. `ask_id` is set for asks and resolutions, `outcome` for resolutions.
    `event` is the underlying event, for rules that want more (a channel, who
    initiated); it is shared, never to be mutated.

    Items compare by their leading fields, `(day, at, hlc, event_id)`: the feed
    order. A contact never holds two items of one event, so a comparison never
    reaches the later fields.
    """

    day: int
    at: int
    hlc: int
    event_id: str
    kind: str
    weight: int
    event: Event
    ask_id: str | None = None
    outcome: str | None = None

    def order(self) -> tuple[int, int, int, str]:
        """The feed order: local day, occurred_at, hlc, event id."""
        return (self.day, self.at, self.hlc, self.event_id)


class Occasion(msgspec.Struct, frozen=True):
    """A date that comes back every year (a birthday): month, day, and what it is."""

    label: str
    month: int
    day: int


class Subject(msgspec.Struct, frozen=True):
    """The contact a scorer scores, as it stands in the current state.

    `cadence_days` is the effective cadence (own, else the circle's default); None
    means the contact never goes cold under the cadence rule. `added_day` is the
    local day of the contact's own `ContactAdded`: views list it from that day on.
    `occasions` are the contact's yearly dates: its birthday and occasions (ADR 0086).
    """

    id: str
    name: str
    circle: str
    cadence_days: int | None
    added_day: int
    occasions: tuple[Occasion, ...] = ()


#: (score, cold). A score of None means "no opinion" (e.g. no cadence): such
#: contacts are left out of rank correlations and of AUCs.
Verdict = tuple[float | None, bool]


class Scorer(Protocol):
    """One contact's running state under one rule.

    `feed` is called once per item, in feed order. `score` must not change the
    state: replay calls it at arbitrary points between feeds, and a score taken
    mid-history must equal the score of a fresh scorer fed the same prefix.
    """

    def feed(self, item: Item) -> None: ...

    def score(self, day: int) -> Verdict: ...


class Param(msgspec.Struct, frozen=True):
    """A documented, typed rule parameter; its type is that of its default."""

    name: str
    default: bool | int | float | str
    doc: str
    minimum: float | None = None
    maximum: float | None = None


class ParamError(ValidationError):
    """A parameter value is unknown, of the wrong type, or out of range."""


class Rule:
    """Base class of scoring rules: a name, validated parameters, a scorer factory.

    Subclasses set `name`, `description` and `parameters`, and implement `start`.
    A rule object is immutable once built; all per-contact state lives in the
    scorers it starts, so one rule object serves every contact.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    parameters: ClassVar[tuple[Param, ...]] = ()

    def __init__(self, **params: Any) -> None:
        self.params: Mapping[str, Any] = resolve_params(type(self), params)

    def start(self, contact: Subject) -> Scorer:
        """A fresh scorer for one contact, before any item is fed."""
        raise NotImplementedError(f"rule {self.name!r} does not implement start()")


def resolve_params(rule: type[Rule], given: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with `given` (strings are parsed), each checked."""
    declared = {p.name: p for p in rule.parameters}
    out: dict[str, Any] = {p.name: p.default for p in rule.parameters}
    for key, raw in given.items():
        param = declared.get(key)
        if param is None:
            known = ", ".join(declared) or "none"
            raise ParamError(
                f"rule {rule.name!r} has no parameter {key!r} (its parameters: {known})"
            )
        out[key] = convert(rule.name, param, raw)
    return out


def convert(rule_name: str, param: Param, raw: Any) -> bool | int | float | str:
    """One parameter value of the declared type and range (strings come from the CLI)."""
    where = f"rule {rule_name!r}: parameter {param.name!r}"
    kind = type(param.default)
    value: bool | int | float | str
    if kind is bool:
        if isinstance(raw, bool):
            value = raw
        elif isinstance(raw, str) and raw.strip().lower() in _BOOLS:
            value = _BOOLS[raw.strip().lower()]
        else:
            raise ParamError(f"{where} must be true or false, got {raw!r}")
    elif kind is int:
        try:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            value = int(raw.strip() if isinstance(raw, str) else raw)
        except (TypeError, ValueError):
            raise ParamError(f"{where} must be a whole number, got {raw!r}") from None
    elif kind is float:
        try:
            if isinstance(raw, bool):
                raise ValueError
            value = float(raw.strip() if isinstance(raw, str) else raw)
        except (TypeError, ValueError):
            raise ParamError(f"{where} must be a number, got {raw!r}") from None
        if not math.isfinite(value):
            raise ParamError(f"{where} must be a finite number, got {raw!r}")
    else:
        value = str(raw)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if param.minimum is not None and value < param.minimum:
            raise ParamError(f"{where} must be at least {param.minimum:g}, got {raw!r}")
        if param.maximum is not None and value > param.maximum:
            raise ParamError(f"{where} must be at most {param.maximum:g}, got {raw!r}")
    return value


_BOOLS: Final = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def check_label(label: str) -> str:
    """A rule label as used in `--param LABEL.key=value` and in output keys."""
    if not _LABEL_RE.match(label):
        raise ValidationError(
            f"rule label {label!r} must start with a letter and use only letters, digits, "
            "'_' and '-' (at most 40 characters)"
        )
    return label
