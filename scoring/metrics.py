"""Agreement and prediction metrics, exact and dependency-free.

- `spearman`: Pearson correlation of average ranks (ties share their mean rank).
- `kendall`: Kendall's tau-b, in O(n log n) by counting the inversions of a merge
  sort (Knight's method), so agreement over thousands of contacts stays instant.
- `auc`: the probability that a random positive scores above a random negative,
  ties counting half (the Mann-Whitney U statistic, normalised).
- `calibration`: scores cut into quantile bins (equal scores never split), with
  the share of positives in each.

Every function is deterministic for its inputs: results go into replay output,
which must be byte-for-byte reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties given the mean of the ranks they span."""
    order = sorted(range(len(values)), key=values.__getitem__)
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        mean = (i + j) / 2 + 1
        for k in range(i, j + 1):
            out[order[k]] = mean
        i = j + 1
    return out


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's r; None when either side is constant or there are fewer than 2 pairs."""
    n = len(xs)
    if n < 2:
        return None
    mx = math.fsum(xs) / n
    my = math.fsum(ys) / n
    sxy = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    syy = math.fsum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rank correlation (rho), ties handled by mean ranks."""
    return pearson(ranks(xs), ranks(ys))


def _tied_pairs(sorted_values: Sequence[object]) -> int:
    """Number of pairs of equal values in a sorted sequence."""
    total = 0
    run = 1
    for i in range(1, len(sorted_values)):
        if sorted_values[i] == sorted_values[i - 1]:
            run += 1
        else:
            total += run * (run - 1) // 2
            run = 1
    return total + run * (run - 1) // 2


def _inversions(values: list[float]) -> int:
    """Pairs i < j with values[i] > values[j]; sorts `values` in place (merge sort)."""
    n = len(values)
    swaps = 0
    width = 1
    buffer = values[:]
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i, j, k = lo, mid, lo
            while i < mid and j < hi:
                if values[j] < values[i]:
                    buffer[k] = values[j]
                    swaps += mid - i
                    j += 1
                else:
                    buffer[k] = values[i]
                    i += 1
                k += 1
            buffer[k : k + mid - i] = values[i:mid]
            k += mid - i
            buffer[k : k + hi - j] = values[j:hi]
        values, buffer = buffer, values
        width *= 2
    return swaps


def kendall(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Kendall's tau-b; None when either side is constant or there are < 2 pairs."""
    n = len(xs)
    if n < 2:
        return None
    pairs = sorted(zip(xs, ys, strict=True))
    total = n * (n - 1) // 2
    tied_x = _tied_pairs([p[0] for p in pairs])
    tied_xy = _tied_pairs(pairs)
    ys_sorted = [p[1] for p in pairs]
    swaps = _inversions(ys_sorted)
    tied_y = _tied_pairs(sorted(ys))
    denominator = (total - tied_x) * (total - tied_y)
    if denominator == 0:
        return None
    concordant_minus_discordant = total - tied_x - tied_y + tied_xy - 2 * swaps
    return max(-1.0, min(1.0, concordant_minus_discordant / math.sqrt(denominator)))


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """P(positive scores above negative), ties counting half; None if a side is empty."""
    if not positives or not negatives:
        return None
    labelled = sorted([(s, 1) for s in positives] + [(s, 0) for s in negatives])
    rank_sum = 0.0
    i = 0
    while i < len(labelled):
        j = i
        while j + 1 < len(labelled) and labelled[j + 1][0] == labelled[i][0]:
            j += 1
        mean_rank = (i + j) / 2 + 1
        rank_sum += mean_rank * sum(label for _, label in labelled[i : j + 1])
        i = j + 1
    p, q = len(positives), len(negatives)
    return (rank_sum - p * (p + 1) / 2) / (p * q)


class Bin(msgspec.Struct, frozen=True):
    """One calibration bin: scores in [low, high], how many, how many positive."""

    low: float
    high: float
    count: int
    positives: int
    rate: float


def calibration(scored: Sequence[tuple[float, bool]], bins: int = 5) -> list[Bin]:
    """Quantile bins of (score, positive) pairs, lowest scores first.

    Bins hold about equally many scores; a run of equal scores is never split, so
    a bin may be larger and there may be fewer bins than asked for.
    """
    ordered = sorted(scored)
    n = len(ordered)
    out: list[Bin] = []
    start = 0
    for b in range(1, bins + 1):
        end = max(start, round(b * n / bins))
        while 0 < end < n and ordered[end][0] == ordered[end - 1][0]:
            end += 1
        if end > start:
            chunk = ordered[start:end]
            positives = sum(1 for _, positive in chunk if positive)
            out.append(
                Bin(chunk[0][0], chunk[-1][0], len(chunk), positives, positives / len(chunk))
            )
            start = end
    return out
