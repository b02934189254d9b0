"""Scoring rules and replay: test a new rule against the whole history before adopting it.

A custom rule imports what it needs from here:

    from scoring import Item, Param, Rule, Scorer, Subject
"""

from .builtin import BUILTIN, Cadence, Decay, Reciprocity
from .history import History, date_of, day_of, local_day
from .loader import LoadedRule, LoadFailure, load_rules
from .rules import (
    ADDED,
    ASK,
    GIVE,
    INTERACTION,
    INTRODUCTION,
    KINDS,
    RESOLUTION,
    TOUCHES,
    Item,
    Occasion,
    Param,
    ParamError,
    Rule,
    Scorer,
    Subject,
    Verdict,
)

__all__ = [
    "ADDED",
    "ASK",
    "BUILTIN",
    "GIVE",
    "INTERACTION",
    "INTRODUCTION",
    "KINDS",
    "RESOLUTION",
    "TOUCHES",
    "Cadence",
    "Decay",
    "History",
    "Item",
    "LoadFailure",
    "LoadedRule",
    "Occasion",
    "Param",
    "ParamError",
    "Reciprocity",
    "Rule",
    "Scorer",
    "Subject",
    "Verdict",
    "date_of",
    "day_of",
    "load_rules",
    "local_day",
]
