"""A rebuild of a generated log: the views of the in-memory fold, and a failed
rebuild leaves the views as they were."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import pytest

from core.events import Event, GiveMade, InteractionLogged
from core.store import open_store
from projections import views
from projections.fold import Fold
from projections.projector import Projector
from projections.query import Views
from sample.history import generate, write_fast


def tables(path: str) -> dict[str, list[Any]]:
    """Every view table's rows, in a canonical order."""
    db = sqlite3.connect(path)
    try:
        out: dict[str, list[Any]] = {}
        for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'view_%'"
        ):
            out[name] = sorted(db.execute(f"SELECT * FROM {name}").fetchall(), key=repr)
        return out
    finally:
        db.close()


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[Event]]:
    """A generated history (merges, retractions, asks, introductions, several
    devices), plus rows a rebuild must not take at face value: a newer version of
    a touch type and of a contact type, and an interaction with two contacts."""
    path = str(tmp_path_factory.mktemp("rebuild") / "log.db")
    events = list(generate(7, contacts=40, years=3, devices=2, events=4000))
    give = next(e for e in events if isinstance(e, GiveMade))
    touch = next(e for e in events if isinstance(e, InteractionLogged))
    added = events[0]
    other = next(e.event_id for e in events[1:] if type(e) is type(added))
    extra = [
        msgspec.structs.replace(give, event_id="g-v2", device_id="d9", seq=1, v=2),
        msgspec.structs.replace(added, event_id="c-v2", device_id="d9", seq=2, v=2),
        msgspec.structs.replace(
            touch, event_id="two", device_id="d9", seq=3, contact_ids=(added.event_id, other)
        ),
    ]
    store = open_store(path)
    try:
        write_fast(store, [*events, *extra])
    finally:
        store.close()
    return path, [*events, extra[-1]]


def test_a_rebuild_holds_the_views_of_the_fold_and_of_a_catch_up(
    sample: tuple[str, list[Event]], tmp_path: Path
) -> None:
    source, events = sample
    path = str(tmp_path / "log.db")
    shutil.copy(source, path)
    with Projector(path) as p:
        assert p.rebuild() == 4003
        assert p.position() == 4003
    rebuilt = tables(path)
    assert len(rebuilt["view_summary"]) > 10 and rebuilt["view_retraction"]  # not vacuous
    assert asyncio.run(Views(path).summaries()) == views.summaries(Fold(events))
    # Caught up from a quarter of the log, the tables are those of the rebuild.
    cut = str(tmp_path / "cut.db")
    shutil.copy(source, cut)
    db = sqlite3.connect(cut)
    rows = db.execute(
        "SELECT rowid, originator_id, originator_version, topic, state "
        "FROM stored_events WHERE rowid > 1000 ORDER BY rowid"
    ).fetchall()
    db.execute("DELETE FROM stored_events WHERE rowid > 1000")
    db.commit()
    with Projector(cut) as p:
        p.rebuild()
    db.executemany(
        "INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state) "
        "VALUES (?, ?, ?, ?, ?)",
        rows,
    )
    db.commit()
    db.close()
    with Projector(cut) as p:
        assert p.catch_up() == 3003
    assert tables(cut) == rebuilt


def test_a_failed_rebuild_leaves_the_views_as_they_were(
    sample: tuple[str, list[Event]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "log.db")
    shutil.copy(sample[0], path)
    with Projector(path) as p:
        p.rebuild()
    before = tables(path)

    def broken(self: Fold, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Fold, "apply", broken)
    with Projector(path) as p, pytest.raises(RuntimeError, match="disk on fire"):
        p.rebuild()
    assert tables(path) == before
