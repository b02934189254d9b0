"""Prometheus metrics of a server process: `GET /metrics` (ADR 0112).

Each app owns its `Metrics` (its own registry: two servers in one test process
never mix their counts). With several workers, `recip serve` points
`PROMETHEUS_MULTIPROC_DIR` at a fresh directory before the workers start;
prometheus_client then keeps every worker's values in files there, and any
worker answers `/metrics` with the sum over all of them.

No label carries an owner, a device or anything a client sent, except the
refusal reason (one of the protocol's fixed codes) and the route template.
"""

from __future__ import annotations

import os
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as mp

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
#: Seconds: from a cached read to a large push on a busy PostgreSQL.
BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def multiprocess() -> bool:
    """Whether prometheus_client keeps values in files shared by the workers."""
    return bool(os.environ.get(MULTIPROC_ENV))


class Metrics:
    """The server's counters, gauges and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.exchanges = Counter("recip_exchanges", "Sync exchanges answered.", registry=r)
        self.events_in = Counter(
            "recip_events_in", "Events received in pushes (duplicates included).", registry=r
        )
        self.events_out = Counter("recip_events_out", "Events sent in pulled pages.", registry=r)
        self.refusals = Counter(
            "recip_refusals", "Requests refused, by reason.", ["reason"], registry=r
        )
        self.latency = Histogram(
            "recip_request_duration_seconds",
            "Time to answer an HTTP request, by route (a stream: its whole life).",
            ["route"],
            buckets=BUCKETS,
            registry=r,
        )
        self.open_owners = Gauge(
            "recip_open_owners",
            "Owners whose logs are open (all workers).",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.streams = Gauge(
            "recip_sse_streams",
            "Open live streams (GET /v1/stream, all workers).",
            multiprocess_mode="livesum",
            registry=r,
        )

    def exchange(self, pushed: int, pulled: int) -> None:
        """Count one answered exchange and the events it moved."""
        self.exchanges.inc()
        self.events_in.inc(pushed)
        self.events_out.inc(pulled)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its media type (every worker's values summed)."""
        if multiprocess():
            registry = CollectorRegistry()
            mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def close(self) -> None:
        """This worker is stopping: drop its live gauges from the shared files."""
        if multiprocess():
            mp.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
