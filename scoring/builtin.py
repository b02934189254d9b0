"""The built-in scoring rules: `cadence`, `decay` and `reciprocity`.

All three score "how warm is this relationship", higher meaning warmer, so that
rank correlations between them and AUCs in a backtest read the same way.

- `cadence` is the going-cold view's rule (see the projections issue): a contact is
  cold once more days have passed since the last touch than its cadence. Its score
  is the share of the cadence still left: 1 on the day of a touch, 0 on the day the
  cadence runs out, negative when overdue. Replay and the live view therefore agree.
- `decay` asks how much has happened lately rather than when the last thing did:
  every touch adds its weight to a strength that halves every `half_life_days`.
  Gives count more than asks by default; every weight is a parameter.
- `reciprocity` is `decay` adjusted by the give/ask balance: people one has given
  more to than asked of score higher, people one only asks of score lower.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from .plan import PlanScorer, Today
from .rules import (
    ADDED,
    ASK,
    GIVE,
    INTERACTION,
    INTRODUCTION,
    TOUCHES,
    Item,
    Param,
    Rule,
    Scorer,
    Subject,
    Verdict,
)


class CadenceScorer:
    """Last touch (local day) against the contact's cadence.

    A contact never touched counts from the day it was added (its own
    `ContactAdded`, as in the going-cold view), unless `count_added` is off.
    """

    __slots__ = ("added", "cadence", "cold_at", "last")

    def __init__(self, cadence: int | None, cold_at: float, added: int | None) -> None:
        self.cadence = cadence
        self.cold_at = cold_at
        self.added = added
        self.last: int | None = None

    def feed(self, item: Item) -> None:
        if item.kind in TOUCHES and (self.last is None or item.day > self.last):
            self.last = item.day

    def score(self, day: int) -> Verdict:
        cadence = self.cadence
        since_day = self.last
        if since_day is None:
            since_day = self.added
        if cadence is None or since_day is None:
            return (None, False)
        days_since = day - since_day
        return (1.0 - days_since / cadence, days_since > self.cold_at * cadence)


class Cadence(Rule):
    name = "cadence"
    description = (
        "Cold once the days since the last touch (interaction, give, introduction or ask) "
        "exceed the contact's cadence, as in the going-cold view. Score: share of the "
        "cadence left (1 just after a touch, 0 when due, negative when overdue). "
        "Contacts without a cadence get no score."
    )
    parameters: ClassVar[tuple[Param, ...]] = (
        Param(
            "cadence_days",
            0,
            "cadence to use for every contact; 0 uses each contact's own (else its circle's)",
            minimum=0,
            maximum=36_500,
        ),
        Param(
            "cold_at",
            1.0,
            "cold when days since the last touch exceed this multiple of the cadence",
            minimum=0.01,
        ),
        Param(
            "count_added",
            True,
            "a contact never touched counts from the day it was added",
        ),
    )

    def start(self, contact: Subject) -> Scorer:
        override = int(self.params["cadence_days"])
        cadence = override or contact.cadence_days
        added = contact.added_day if self.params["count_added"] else None
        return CadenceScorer(cadence, float(self.params["cold_at"]), added)


_WEIGHT_PARAMS: Final = (
    Param("interaction_weight", 1.0, "strength added by an interaction", minimum=0),
    Param("give_weight", 2.0, "strength added by a give, per unit of its weight", minimum=0),
    Param(
        "introduction_weight",
        2.0,
        "strength added by an introduction, per unit of its weight",
        minimum=0,
    ),
    Param("ask_weight", 0.5, "strength added by an ask, per unit of its weight", minimum=0),
    Param(
        "added_weight",
        2.0,
        "strength a contact starts with when added (2: as warm as two interactions)",
        minimum=0,
    ),
)


class Decayed:
    """A quantity that halves every `half_life` days: add to it, read it on any later day."""

    __slots__ = ("base", "day", "value")

    def __init__(self, half_life: float) -> None:
        #: What is left of 1 after one day.
        self.base = 0.5 ** (1.0 / half_life)
        self.value = 0.0
        self.day = 0

    def add(self, day: int, amount: float) -> None:
        """Add `amount` on `day` (never earlier than the last addition's day)."""
        if day != self.day:
            if self.value:
                self.value *= self.base ** (day - self.day)
            self.day = day
        self.value += amount

    def at(self, day: int) -> float:
        """The value at the end of `day` (no state change)."""
        if day == self.day or not self.value:
            return self.value
        factor: float = self.base ** (day - self.day)
        return self.value * factor


class DecayScorer:
    """A strength that gains each item's weight and halves every `half_life` days."""

    __slots__ = ("strength", "threshold", "weights")

    def __init__(self, weights: dict[str, float], half_life: float, threshold: float) -> None:
        self.weights = weights
        self.threshold = threshold
        self.strength = Decayed(half_life)

    def feed(self, item: Item) -> None:
        gain = self.weights.get(item.kind)
        if gain is not None:
            self.strength.add(item.day, gain * item.weight)

    def score(self, day: int) -> Verdict:
        strength = self.strength.at(day)
        return (strength, strength < self.threshold)


class Decay(Rule):
    name = "decay"
    description = (
        "Each touch adds its weight (per event kind, times the event's own weight) to a "
        "strength that halves every half_life_days. Score: the strength; cold below "
        "the threshold."
    )
    parameters: ClassVar[tuple[Param, ...]] = (
        Param("half_life_days", 90.0, "days for the strength to halve", minimum=1, maximum=36_500),
        Param(
            "threshold",
            1.0,
            "cold when the strength is below this (1: one interaction, one half-life ago)",
            minimum=0,
        ),
        *_WEIGHT_PARAMS,
    )

    def weights(self) -> dict[str, float]:
        """Strength gained per unit of event weight, by item kind (resolutions add none)."""
        p = self.params
        return {
            INTERACTION: float(p["interaction_weight"]),
            GIVE: float(p["give_weight"]),
            INTRODUCTION: float(p["introduction_weight"]),
            ASK: float(p["ask_weight"]),
            ADDED: float(p["added_weight"]),
        }

    def start(self, contact: Subject) -> Scorer:
        return DecayScorer(
            self.weights(), float(self.params["half_life_days"]), float(self.params["threshold"])
        )


class ReciprocityScorer(DecayScorer):
    """Decayed strength times a factor from the decayed give-minus-ask balance."""

    __slots__ = ("balance", "influence", "scale")

    def __init__(
        self,
        weights: dict[str, float],
        half_life: float,
        threshold: float,
        *,
        balance_half_life: float,
        influence: float,
        scale: float,
    ) -> None:
        super().__init__(weights, half_life, threshold)
        self.balance = Decayed(balance_half_life)
        self.influence = influence
        self.scale = scale

    def feed(self, item: Item) -> None:
        super().feed(item)
        sign = _BALANCE_SIGN.get(item.kind)
        if sign is not None:
            self.balance.add(item.day, sign * item.weight)

    def score(self, day: int) -> Verdict:
        balance = self.balance.at(day)
        factor = 1.0 + self.influence * balance / (abs(balance) + self.scale)
        strength = self.strength.at(day) * factor
        return (strength, strength < self.threshold)


#: How each kind moves the give/ask balance (as the ledger counts it).
_BALANCE_SIGN: Final = {GIVE: 1.0, INTRODUCTION: 1.0, ASK: -1.0}


class Reciprocity(Decay):
    name = "reciprocity"
    description = (
        "The decay strength times 1 + influence * b / (|b| + balance_scale), where b is the "
        "give-minus-ask balance (gives and introductions +weight, asks -weight) halving "
        "every balance_half_life_days. One-sided relationships score lower. Cold below "
        "the threshold."
    )
    parameters: ClassVar[tuple[Param, ...]] = (
        *Decay.parameters,
        Param(
            "balance_half_life_days",
            365.0,
            "days for the give/ask balance to halve",
            minimum=1,
            maximum=36_500,
        ),
        Param(
            "influence",
            0.5,
            "how far the balance moves the score (0: not at all, 1: from 0x to 2x)",
            minimum=0,
            maximum=1,
        ),
        Param(
            "balance_scale",
            3.0,
            "the balance at which half the influence is reached",
            minimum=0.01,
        ),
    )

    def start(self, contact: Subject) -> Scorer:
        p = self.params
        return ReciprocityScorer(
            self.weights(),
            float(p["half_life_days"]),
            float(p["threshold"]),
            balance_half_life=float(p["balance_half_life_days"]),
            influence=float(p["influence"]),
            scale=float(p["balance_scale"]),
        )


#: Scorers whose verdicts replay need not check: exactly these classes (not
#: subclasses, which may override `score`) always return a finite float or None,
#: and a bool (the rule tests assert it).
TRUSTED: Final[frozenset[type]] = frozenset(
    (CadenceScorer, DecayScorer, ReciprocityScorer, PlanScorer)
)

#: The rules `--rule NAME` finds without a path or module.
BUILTIN: Final[dict[str, type[Rule]]] = {r.name: r for r in (Cadence, Decay, Reciprocity, Today)}


def builtin(name: str, **params: Any) -> Rule:
    """A built-in rule by name, with parameters."""
    return BUILTIN[name](**params)
