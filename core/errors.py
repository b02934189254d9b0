"""Errors that Reciprocity reports to a person or a peer.

Each carries a message meant to be read as is: the CLI prints it on one line and
the sync server returns it in its error body. Raising one of these never leaves
a partial write behind: every write path checks first and writes in one
transaction.
"""

from __future__ import annotations


class ReciprocityError(Exception):
    """Base class: a refusal with a human-readable reason."""


class ValidationError(ReciprocityError):
    """The request is malformed or violates a rule (bad weight, future date, ...)."""


class NotFoundError(ReciprocityError):
    """A referenced contact, ask or event does not exist."""


class AmbiguousError(ReciprocityError):
    """A reference matches more than one thing."""

    def __init__(self, message: str, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates


class ConflictError(ReciprocityError):
    """The log already holds different content for the same (device, seq)."""


class SequenceGapError(ReciprocityError):
    """Events of a device arrived with a gap in their sequence numbers."""

    def __init__(self, message: str, device_id: str, expected_seq: int) -> None:
        super().__init__(message)
        self.device_id = device_id
        self.expected_seq = expected_seq


class CodecError(ReciprocityError):
    """Bytes could not be decoded into an event (corrupt, or an unknown schema)."""


class ClockError(ReciprocityError):
    """A clock value is out of range."""


class StoreError(ReciprocityError):
    """The event store could not be opened or written."""
