"""Views on PostgreSQL workers: a worker's mirror projects exactly the reference views.

Whatever the history and however its arrival is split between pushes and reads
(a mirror catches up in many small steps or one big one), the views a worker
answers from its SQLite mirror equal the views computed from scratch, in memory,
from every event the owner's PostgreSQL log holds (`projections.views.compute`).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.query import Views
from projections.views import compute, day_of
from sample.history import generate
from server.accounts import OPEN_INVITE
from server.pg import drop_prefix
from server.read_api import ViewSource
from server.service import ServerConfig, SyncService
from tests.conftest import PG_URL

pytestmark = pytest.mark.postgres
AS_OF = day_of(date(2026, 1, 10))


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SyncService, ViewSource]]:
    from tests.conftest import _postgres_up

    if not _postgres_up():
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    url = f"{PG_URL}?prefix=t_{uuid.uuid4().hex[:12]}"
    service = SyncService(
        ServerConfig(data=tmp_path_factory.mktemp("worker"), database_url=url, pool_size=3)
    )
    source = ViewSource(service)
    yield service, source
    source.close()
    service.close()
    drop_prefix(url)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 10_000),
    contacts=st.integers(2, 12),
    devices=st.integers(1, 3),
    cuts=st.lists(st.floats(0, 1), max_size=4),
)
def test_a_mirror_projects_the_reference_views(
    worker: tuple[SyncService, ViewSource],
    seed: int,
    contacts: int,
    devices: int,
    cuts: list[float],
) -> None:
    service, source = worker
    owner, _ = service.accounts.add_owner(f"owner {uuid.uuid4()}", OPEN_INVITE)
    events = list(
        generate(seed, contacts=contacts, years=0.5, devices=devices, end=date(2026, 1, 1))
    )
    bounds = sorted({0, len(events), *(int(c * len(events)) for c in cuts)})
    for start, end in itertools.pairwise(bounds):
        with service.log(owner.owner_id) as log:
            log.ingest(events[start:end])  # a push ...
        with source.reading(owner.owner_id) as reading:  # ... then a read
            mirrored = [e.event_id for e in reading.log.events()]
            path = reading.path
    with service.log(owner.owner_id) as log:
        assert mirrored == [e.event_id for _, e in log.read()]
    expected = compute(events, AS_OF)
    views = Views(path)
    assert asyncio.run(views.ledger(AS_OF)) == expected.ledger
    assert asyncio.run(views.cold(AS_OF, everyone=True)) == expected.cold
    assert asyncio.run(views.stats(AS_OF)) == expected.stats
