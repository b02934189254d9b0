"""Globally unique, time-ordered identifiers (UUIDv7, RFC 9562).

Ids are made on the device, offline, so they must never collide across devices:
72 random bits per id make that a non-concern for one person's history. The
leading 48 bits are the Unix time in milliseconds, so ids sort by creation time,
which keeps database indexes append-mostly.
"""

from __future__ import annotations

import os
import random
import re
import time
import uuid

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class _Entropy(random.Random):
    """A fast generator seeded from the OS once per process (and again after fork).

    A system call per id (`os.urandom`) cost more than the rest of an append; ids
    need uniqueness, not secrecy, and a Mersenne Twister state seeded with 256 bits
    from the OS gives every process its own stream.
    """

    def __init__(self) -> None:
        super().__init__(self.fresh_seed())

    @staticmethod
    def fresh_seed() -> int:
        return int.from_bytes(os.urandom(32), "big")


_entropy = _Entropy()
# A forked child must not repeat its parent's ids.
os.register_at_fork(after_in_child=lambda: _entropy.seed(_Entropy.fresh_seed()))


def new_id(unix_ms: int | None = None, rng: random.Random | None = None) -> str:
    """A new UUIDv7 in canonical lowercase form (random bits from `rng` if given:
    the sample generator's ids are deterministic per seed)."""
    return new_ids(1, unix_ms, rng)[0]


def new_ids(count: int, unix_ms: int | None = None, rng: random.Random | None = None) -> list[str]:
    """`count` new UUIDv7s sharing one timestamp (a batch recorded at one instant).

    Layout: 48 bits of Unix ms, version 7, 12 random bits, the RFC 9562 variant
    (`10`) followed by the fixed bits `00`, then 60 random bits: 72 random bits per
    id. Made in bulk because per-id work dominated the cost of a batched append.
    """
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    t = (ms & 0xFFFF_FFFF_FFFF).to_bytes(6, "big").hex()
    prefix = f"{t[:8]}-{t[8:12]}-7"
    r = (rng or _entropy).getrandbits(72 * count).to_bytes(9 * count, "big").hex()
    if count >= _BULK:
        return _laid_out(prefix, r, count)
    return [
        f"{prefix}{r[k : k + 3]}-8{r[k + 3 : k + 6]}-{r[k + 6 : k + 18]}"
        for k in range(0, 18 * count, 18)
    ]


#: From this many ids on, `_laid_out` beats formatting each id (docs/benchmarks.md).
_BULK = 64


def _laid_out(prefix: str, random_hex: str, count: int) -> list[str]:
    """The same ids as the per-id format, written column by column.

    Every id is 36 characters with the same layout, so the ids of a batch are
    laid out in one buffer with one strided copy per character position (done
    in C), then cut apart: each character of the text is touched a constant
    number of times instead of through four slices and a format per id.
    """
    head, rand = prefix.encode("ascii"), random_hex.encode("ascii")
    out = bytearray(36 * count)
    for j, char in enumerate(head):  # positions 0-14: time, dashes, version
        out[j::36] = bytes((char,)) * count
    for j in range(3):  # 15-17: 12 random bits
        out[15 + j :: 36] = rand[j::18]
    out[18::36] = b"-" * count
    out[19::36] = b"8" * count  # the variant and two fixed bits
    for j in range(3):  # 20-22
        out[20 + j :: 36] = rand[3 + j :: 18]
    out[23::36] = b"-" * count
    for j in range(12):  # 24-35
        out[24 + j :: 36] = rand[6 + j :: 18]
    text = out.decode("ascii")
    return [text[k : k + 36] for k in range(0, 36 * count, 36)]


def is_id(text: str) -> bool:
    """Whether `text` is a canonical lowercase UUID string."""
    return bool(_UUID_RE.match(text))


def id_time_ms(event_id: str) -> int:
    """The Unix milliseconds embedded in a UUIDv7."""
    return uuid.UUID(event_id).int >> 80
