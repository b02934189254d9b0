"""Run the benchmarks: `python -m bench all|list|NAME... [--quick|--smoke]`.

- `python -m bench all` runs every benchmark at full size;
- `python -m bench all --quick` runs a small version of each (all of them together
  finish in under two minutes);
- `python -m bench NAME [NAME...] [--quick]` runs the named ones; `list` names them.

Each prints its table and writes `bench/results/NAME.json` (`NAME-quick.json` for
quick runs, so that a quick run never overwrites full results). The exit status is
1 if any benchmark failed; the others still run.

The contract a benchmark module follows (so that `all` finds it)
-----------------------------------------------------------------
A benchmark is a module `bench/NAME.py` that defines

    def run(mode: harness.Mode) -> dict[str, Any]

- `mode` is `"full"` (the sizes its issue names), `"quick"` (small: every quick run
  together stays under two minutes) or `"smoke"` (tiny, one repeat: the test suite
  runs it to check that the benchmark still works; no timing is asserted);
- it measures each figure of ours beside its baseline in the same run
  (`harness.Comparison`), repeats each (`harness.repeat`, min/median/max), and
  ends with `harness.report(harness.result_name(NAME, mode), params, comparisons,
  extra, write=mode != "smoke", skipped=...)`, whose document it returns;
- what it cannot measure here (a peer whose software is missing) it names in
  `skipped` with the reason, and reports the rest: never a made-up number;
- importing it has no side effects and is cheap (discovery imports every module).

A module without a callable `run` is a helper (`harness`, `workload`, `peer`), not
a benchmark. For a module whose `run` takes `quick: bool` instead of a mode, `all`
passes `quick=True` for quick and smoke runs.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.harness import Mode

Runner = Callable[..., dict[str, Any]]


def discover() -> dict[str, Runner]:
    """Every benchmark module of this package, by name, in name order."""
    found: dict[str, Runner] = {}
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        if info.name.startswith("_") or info.ispkg:
            continue
        module = importlib.import_module(f"bench.{info.name}")
        run = getattr(module, "run", None)
        if callable(run):
            found[info.name] = run
    return found


def call(run: Runner, mode: Mode) -> dict[str, Any]:
    """Call a benchmark's `run` with its mode (or `quick=` for the older signature)."""
    parameters = inspect.signature(run).parameters
    if "quick" in parameters and "mode" not in parameters:
        return run(quick=mode != "full")
    return run(mode)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="+", metavar="all|list|NAME")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes (under two minutes)")
    size.add_argument("--smoke", action="store_true", help="tiny sizes, results not written")
    args = parser.parse_args(argv)
    benchmarks = discover()
    if args.names == ["list"]:
        print("\n".join(benchmarks))
        return 0
    names = list(benchmarks) if args.names == ["all"] else args.names
    unknown = [n for n in names if n not in benchmarks]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(benchmarks)}")
    mode: Mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    failed = []
    start = time.perf_counter()
    for name in names:
        try:
            call(benchmarks[name], mode)
        except Exception:
            traceback.print_exc()
            print(f"benchmark {name} FAILED", file=sys.stderr)
            failed.append(name)
    print(f"\n{len(names)} benchmark(s), {mode}, {time.perf_counter() - start:.1f} s", end="")
    print(f"; failed: {', '.join(failed)}" if failed else "")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
