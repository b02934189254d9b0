"""Every benchmark still runs: each at tiny size, through the same runner as `python -m bench`.

No timing is asserted (performance lives in `bench/` and `docs/benchmarks.md`);
what is asserted is that each benchmark completes, reports figures that are
positive and finite, and that the sync benchmark's replicas verified (a run whose
replicas do not all hold every event raises instead of reporting).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from bench import peer, workload
from bench.__main__ import call, discover, main

BENCHMARKS = discover()


def _figures(document: dict[str, Any]) -> list[dict[str, Any]]:
    figures = list(document["figures"])
    for comparison in document["comparisons"]:
        figures += [comparison["ours"], comparison["baseline"]]
    return figures


def test_the_runner_finds_the_benchmarks() -> None:
    # a benchmark that stops defining `run` silently drops out of `python -m bench all`
    assert {"append", "cli", "replay", "scoring", "sync", "transfer", "views"} <= set(BENCHMARKS)
    assert not {"harness", "workload", "peer"} & set(BENCHMARKS)


def test_the_runner_refuses_an_unknown_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["no-such-bench", "--smoke"])
    assert "unknown benchmark no-such-bench" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_benchmark_runs_at_tiny_size(name: str) -> None:
    document = call(BENCHMARKS[name], "smoke")
    assert document["bench"] == f"{name}-smoke", "smoke results go under their own name"
    assert document["machine"]["cores"]
    figures = _figures(document)
    assert figures or document["skipped"], "a benchmark measured nothing and said nothing"
    for figure in figures:
        assert figure["samples"], figure["name"]
        for value in figure["samples"]:
            assert math.isfinite(value) and value > 0, figure
        assert figure["min"] <= figure["median"] <= figure["max"]


def test_workload_devices_hold_their_events(tmp_path: Path) -> None:
    devices = workload.build_devices(tmp_path, 2, 25)
    ids: set[bytes] = set()
    for device in devices:
        lines = device.jsonl.read_bytes().splitlines()
        assert len(lines) == device.events == 25
        ids.update(line.split(b'"event_id":"')[1][:36] for line in lines)
    assert len(ids) == 50
    assert devices[0].device_id != devices[1].device_id


def test_sync_compares_both_systems() -> None:
    """Both sides measured and verified on the same tiny workload, when both can run here."""
    reason = peer.unavailable()
    if reason:
        pytest.skip(reason)
    document = call(BENCHMARKS["sync"], "smoke")
    assert document["skipped"] == {}
    (comparison,) = document["comparisons"]
    assert comparison["ratio"] > 0
    assert document["params"]["peer_versions"]["pouchdb"]


def test_pouchdb_peer_replicates_and_verifies(tmp_path: Path) -> None:
    reason = peer.unavailable()
    if reason:
        pytest.skip(reason)
    devices = workload.build_devices(tmp_path / "w", 2, 20)
    result = peer.run_pouchdb(tmp_path / "peer", [d.jsonl for d in devices])
    assert result.verified
    assert result.events == 40
    assert [p.docs_written for p in result.push] == [20, 20]
    assert [p.docs_written for p in result.pull] == [20, 20]
