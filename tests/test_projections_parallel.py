"""A big log rebuilds in two processes: the views are exactly those of one process.

`Projector.rebuild` hands the touches of the later part of a long log to a second
process (`projections.projector.TouchFolder`). These tests force that split on
small logs and compare every view table, row for row, with a rebuild in one
process; and check that a helper that dies, or a rebuild that fails, leaves no
process behind and views as they should be.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import pytest

from core.events import GiveMade, InteractionLogged
from core.store import open_store
from projections import projector
from projections.fold import Fold
from projections.projector import Projector, TouchFolder, unpack
from sample.history import generate, write_fast


def tables(path: str) -> dict[str, list[Any]]:
    """Every view table's rows, in a canonical order (index positions as a set)."""
    db = sqlite3.connect(path)
    try:
        out: dict[str, list[Any]] = {}
        for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'view_%'"
        ):
            rows = db.execute(f"SELECT * FROM {name}").fetchall()
            if name == "view_index":
                rows = [(c, a, r, sorted(unpack(b))) for c, a, r, b in rows]
            out[name] = sorted(rows, key=repr)
        return out
    finally:
        db.close()


@pytest.fixture(scope="module")
def sample_log(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A generated history (merges, retractions, asks, introductions, several
    devices), plus rows a rebuild must not take at face value: a newer version of
    a touch type and of a contact type, and an interaction with two contacts."""
    path = str(tmp_path_factory.mktemp("parallel") / "log.db")
    events = list(generate(7, contacts=40, years=3, devices=2, events=4000))
    give = next(e for e in events if isinstance(e, GiveMade))
    touch = next(e for e in events if isinstance(e, InteractionLogged))
    added = events[0]
    other = next(e.event_id for e in events[1:] if type(e) is type(added))
    extra = [
        msgspec.structs.replace(give, event_id="g-v2", device_id="d9", seq=1, v=2),
        msgspec.structs.replace(added, event_id="c-v2", device_id="d9", seq=2, v=2),
        msgspec.structs.replace(
            touch,
            event_id="two",
            device_id="d9",
            seq=3,
            contact_ids=(added.event_id, other),
        ),
    ]
    store = open_store(path)
    try:
        write_fast(store, [*events, *extra])
    finally:
        store.close()
    return path


def rebuilt(source: str, target: Path, *, parallel: bool, share: float = 0.5) -> str:
    copy = str(target)
    shutil.copy(source, copy)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(projector, "PARALLEL_ABOVE", 1 if parallel else 10**12)
        patch.setattr(projector, "PARENT_SHARE", share)
        with Projector(copy) as p:
            assert p.rebuild() == 4003
            assert p.position() == 4003
    return copy


@pytest.mark.parametrize("share", [0.0, 0.33, 0.9])
def test_two_processes_build_exactly_the_views_of_one(
    sample_log: str, tmp_path: Path, share: float
) -> None:
    one = tables(rebuilt(sample_log, tmp_path / "one.db", parallel=False))
    two = tables(rebuilt(sample_log, tmp_path / "two.db", parallel=True, share=share))
    assert two == one
    assert len(one["view_summary"]) > 10 and one["view_retraction"]  # not vacuous


def test_a_helper_that_dies_is_replaced_by_folding_here(
    sample_log: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[TouchFolder] = []
    original = TouchFolder.start

    def killed_first(self: TouchFolder, *args: Any) -> None:
        self._process.kill()
        self._process.join()
        started.append(self)
        original(self, *args)

    monkeypatch.setattr(TouchFolder, "start", killed_first)
    two = tables(rebuilt(sample_log, tmp_path / "two.db", parallel=True))
    monkeypatch.undo()
    one = tables(rebuilt(sample_log, tmp_path / "one.db", parallel=False))
    assert started and started[0]._process.exitcode != 0
    assert two == one


def test_a_failed_rebuild_leaves_no_helper_and_the_views_as_they_were(
    sample_log: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = rebuilt(sample_log, tmp_path / "log.db", parallel=False)
    before = tables(path)
    helpers: list[TouchFolder] = []
    original_init = TouchFolder.__init__

    def recorded(self: TouchFolder, *args: Any) -> None:
        original_init(self, *args)
        helpers.append(self)

    def broken(self: Fold, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(TouchFolder, "__init__", recorded)
    monkeypatch.setattr(projector, "PARALLEL_ABOVE", 1)
    monkeypatch.setattr(Fold, "extend", broken)
    with Projector(path) as p, pytest.raises(RuntimeError, match="disk on fire"):
        p.rebuild()
    assert helpers and not helpers[0]._process.is_alive()
    assert tables(path) == before


def test_a_helper_that_cannot_start_leaves_the_rebuild_to_one_process(
    sample_log: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_process(self: TouchFolder, *args: Any) -> None:
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(TouchFolder, "__init__", no_process)
    two = tables(rebuilt(sample_log, tmp_path / "two.db", parallel=True))
    monkeypatch.undo()
    one = tables(rebuilt(sample_log, tmp_path / "one.db", parallel=False))
    assert two == one
