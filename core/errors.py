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

    #: Candidates named in the message: a short prefix can match thousands, and
    #: the message must stay one readable line (all of them are in `candidates`).
    SHOWN = 10

    def __init__(self, message: str, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates

    @classmethod
    def matching(cls, ref: str, what: str, candidates: list[str]) -> AmbiguousError:
        """`'ref' matches N <what>: a; b; ... and M more`, naming at most `SHOWN`."""
        shown = "; ".join(candidates[: cls.SHOWN])
        rest = len(candidates) - cls.SHOWN
        more = f"; ... and {rest} more (use a longer prefix or the full id)" if rest > 0 else ""
        return cls(f"{ref!r} matches {len(candidates)} {what}: {shown}{more}", candidates)


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
