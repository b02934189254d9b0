"""Shared benchmark plumbing: machine facts, repeated timing, tables, JSON results.

Every benchmark reports each figure of ours beside its baseline measured in the
same run, as a ratio, so that a slower or faster machine does not change the
reading. Figures are min/median/max over repeated runs.
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

RESULTS = Path(__file__).parent / "results"

#: How big a benchmark run is: `full` at the sizes its issue names, `quick` small
#: enough that all quick runs together take under two minutes, `smoke` tiny (the
#: test suite's check that the benchmark still works; its results are not written).
Mode: TypeAlias = Literal["full", "quick", "smoke"]
MODES: tuple[Mode, ...] = ("full", "quick", "smoke")


def result_name(bench: str, mode: Mode) -> str:
    """The results file stem: a quick run never overwrites a full run's results."""
    return bench if mode == "full" else f"{bench}-{mode}"


def machine() -> dict[str, Any]:
    """CPU model, cores, Python and SQLite versions of this run."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        # other work on the machine skews absolute figures (ratios much less)
        "load_average": list(os.getloadavg()),
    }


@dataclass
class Figure:
    """One measured quantity over repeated runs (higher is better unless `unit` says s)."""

    name: str
    unit: str
    samples: list[float] = field(default_factory=list)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "min": self.min,
            "median": self.median,
            "max": self.max,
            "samples": self.samples,
        }


def rate(count: int, fn: Callable[[], Any]) -> float:
    """Run `fn` once; return `count` per second."""
    start = time.perf_counter()
    fn()
    return count / (time.perf_counter() - start)


def repeat(name: str, unit: str, repeats: int, sample: Callable[[], float]) -> Figure:
    """Collect `repeats` samples of a figure."""
    figure = Figure(name, unit)
    for _ in range(repeats):
        figure.samples.append(sample())
    return figure


@dataclass
class Comparison:
    """Ours beside the baseline: the ratio is ours / baseline on medians."""

    label: str
    ours: Figure
    baseline: Figure
    target: float | None = None

    @property
    def ratio(self) -> float:
        return self.ours.median / self.baseline.median

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "ours": self.ours.as_dict(),
            "baseline": self.baseline.as_dict(),
            "ratio": self.ratio,
            "target": self.target,
            "meets_target": None if self.target is None else self.ratio >= self.target,
        }


def report(
    bench: str,
    params: dict[str, Any],
    comparisons: list[Comparison],
    extra: list[Figure] | None = None,
    *,
    write: bool = True,
    skipped: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Print a table and write `bench/results/<bench>.json`; returns the document.

    `skipped` names what could not be measured here and why (a baseline whose
    software is missing, say): it is printed and recorded, never filled in.
    """
    info = machine()
    print(
        f"\n{bench}  ({info['cpu']}, {info['cores']} cores, Python {info['python']}, "
        f"SQLite {info['sqlite']})"
    )
    print(f"params: {params}")
    header = f"{'figure':<44} {'ours (median)':>16} {'baseline':>16} {'ratio':>7} {'target':>7}"
    print(header)
    print("-" * len(header))
    for c in comparisons:
        target = "" if c.target is None else f">={c.target:g}"
        print(
            f"{c.label:<44} {c.ours.median:>12,.0f} {c.ours.unit:<3} "
            f"{c.baseline.median:>12,.0f} {c.baseline.unit:<3} {c.ratio:>6.2f}x {target:>7}"
        )
    for f in extra or []:
        digits = 3 if f.unit == "s" else 1
        print(
            f"{f.name:<44} {f.median:>12,.{digits}f} {f.unit:<3} "
            f"(min {f.min:,.{digits}f}, max {f.max:,.{digits}f})"
        )
    for what, why in (skipped or {}).items():
        print(f"SKIPPED {what}: {why}")
    document = {
        "bench": bench,
        "machine": info,
        "params": params,
        "comparisons": [c.as_dict() for c in comparisons],
        "figures": [f.as_dict() for f in extra or []],
        "skipped": dict(skipped or {}),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{bench}.json").write_text(json.dumps(document, indent=2) + "\n")
    return document
