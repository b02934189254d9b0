"""Agreement and prediction metrics against their brute-force definitions."""

from __future__ import annotations

import math
from itertools import combinations, pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.metrics import auc, calibration, kendall, ranks, spearman
from tests.test_scoring_events import BUDGET

# Few distinct values, so that ties (the hard part) are common.
values = st.lists(st.integers(-4, 4).map(float), min_size=0, max_size=40)
pairs = st.lists(st.tuples(st.integers(-4, 4), st.integers(-4, 4)), min_size=0, max_size=40)


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def brute_kendall(xs: list[float], ys: list[float]) -> float | None:
    """Tau-b straight from its definition over all pairs."""
    concordant = discordant = tied_x = tied_y = 0
    for i, j in combinations(range(len(xs)), 2):
        sx, sy = _sign(xs[i] - xs[j]), _sign(ys[i] - ys[j])
        if sx == 0 and sy == 0:
            continue
        if sx == 0:
            tied_x += 1
        elif sy == 0:
            tied_y += 1
        elif sx == sy:
            concordant += 1
        else:
            discordant += 1
    denominator = (concordant + discordant + tied_x) * (concordant + discordant + tied_y)
    return None if denominator == 0 else (concordant - discordant) / math.sqrt(denominator)


@settings(max_examples=BUDGET * 3)
@given(pairs)
def test_kendall_is_tau_b(data: list[tuple[int, int]]) -> None:
    xs = [float(x) for x, _ in data]
    ys = [float(y) for _, y in data]
    expected = brute_kendall(xs, ys)
    got = kendall(xs, ys)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, abs=1e-12)


@settings(max_examples=BUDGET * 2)
@given(values)
def test_ranks_average_ties(xs: list[float]) -> None:
    r = ranks(xs)
    for i, x in enumerate(xs):
        below = sum(1 for y in xs if y < x)
        equal = sum(1 for y in xs if y == x)
        assert r[i] == below + (equal + 1) / 2


@settings(max_examples=BUDGET * 2)
@given(pairs)
def test_spearman_is_bounded_symmetric_and_exact_on_monotone_maps(
    data: list[tuple[int, int]],
) -> None:
    xs = [float(x) for x, _ in data]
    ys = [float(y) for _, y in data]
    rho = spearman(xs, ys)
    assert rho == spearman(ys, xs)
    if rho is not None:
        assert -1.0 <= rho <= 1.0
        assert spearman(xs, [x**3 + 1 for x in xs]) == pytest.approx(1.0)
        assert spearman(xs, [-x for x in xs]) == pytest.approx(-1.0)


def test_spearman_known_value() -> None:
    # Ranks (1,2,3,4,5) vs (2,1,4,3,5): rho = 1 - 6*4/(5*24) = 0.8
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    assert spearman([1.0], [2.0]) is None
    assert spearman([1, 1, 1], [1, 2, 3]) is None


@settings(max_examples=BUDGET * 3)
@given(values, values)
def test_auc_is_the_pairwise_win_rate(positives: list[float], negatives: list[float]) -> None:
    got = auc(positives, negatives)
    if not positives or not negatives:
        assert got is None
        return
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives)
    assert got == pytest.approx(wins / (len(positives) * len(negatives)))


@settings(max_examples=BUDGET * 3)
@given(
    st.lists(st.tuples(st.integers(0, 6).map(float), st.booleans()), max_size=60), st.integers(1, 8)
)
def test_calibration_bins_partition_the_scores_without_splitting_ties(
    scored: list[tuple[float, bool]], bins: int
) -> None:
    table = calibration(scored, bins)
    assert sum(b.count for b in table) == len(scored)
    assert sum(b.positives for b in table) == sum(1 for _, p in scored if p)
    assert len(table) <= bins
    for lower, upper in pairwise(table):
        assert lower.high < upper.low  # equal scores never straddle two bins
    for b in table:
        inside = [p for s, p in scored if b.low <= s <= b.high]
        assert len(inside) == b.count
        assert b.rate == b.positives / b.count
