"""The retry policy of sync and watch: exponential delays with jitter.

A failed exchange or a lost stream waits `first` seconds, then twice as long
after each further failure, up to `most`; each delay is drawn within [0.5, 1]
of its step, so that devices that lost the same server do not all come back at
the same instant. A success starts the sequence over.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class Backoff:
    """Exponential delays with jitter, reset after a success."""

    first: float = 0.5
    most: float = 30.0
    _next: float = 0.0

    def reset(self) -> None:
        self._next = 0.0

    def delay(self) -> float:
        """The next delay in seconds (and double the step for the one after)."""
        self._next = min(self.most, self._next * 2 if self._next else self.first)
        return self._next * (0.5 + random.random() / 2)
