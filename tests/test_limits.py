"""`core.limits`: one definition of valid (ADR 0080)."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from core import limits
from tests.conftest import Recip
from tests.hostile import values


def round_trips(value: Any) -> bool:
    """Whether MessagePack and JSON both give `value` back unchanged."""
    try:
        packed = msgspec.msgpack.decode(msgspec.msgpack.encode(value))
        text = msgspec.json.decode(msgspec.json.encode(value))
    except (TypeError, OverflowError, ValueError, msgspec.MsgspecError):
        return False
    return bool(_same(packed, value) and _same(text, value))


def _same(a: Any, b: Any) -> bool:
    if isinstance(b, float) and isinstance(a, float):
        return a == b or (a != a and b != b)
    if type(a) is not type(b) and not (isinstance(a, list) and isinstance(b, tuple)):
        return False
    if isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in b)
    if isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@given(values)
def test_plain_data_is_exactly_what_both_formats_give_back(value: Any) -> None:
    """(Shallow values: the depth bound is a limit of its own, below.)"""
    assert (limits.plain_problem(value) is None) == round_trips(value), value


@given(st.integers(0, 80))
def test_nesting_is_bounded_without_using_the_stack(depth: int) -> None:
    value: Any = None
    for _ in range(depth):
        value = {"a": [value]}
    problem = limits.plain_problem(value)
    assert (problem is None) == (2 * depth <= limits.MAX_DEPTH)
    deeper: Any = None
    for _ in range(100_000):
        deeper = [deeper]
    assert "deeper than" in (limits.plain_problem(deeper) or "")


def test_an_empty_on_is_refused_not_now(recip: Recip) -> None:
    recip.ok("contact", "add", "Ann")
    result = recip("log", "Ann", "--on", "")
    assert result.exit_code == 1 and "empty date" in result.stderr
