"""Globally unique, time-ordered identifiers (UUIDv7, RFC 9562).

Ids are made on the device, offline, so they must never collide across devices:
74 random bits per id make that a non-concern for one person's history. The
leading 48 bits are the Unix time in milliseconds, so ids sort by creation time,
which keeps database indexes append-mostly.
"""

from __future__ import annotations

import os
import re
import time
import uuid

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def new_id(unix_ms: int | None = None) -> str:
    """A new UUIDv7 in canonical lowercase form."""
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    rand = int.from_bytes(os.urandom(10), "big")
    rand_a = rand >> 68  # 12 bits
    rand_b = rand & ((1 << 62) - 1)  # 62 bits
    value = ((ms & 0xFFFF_FFFF_FFFF) << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))


def is_id(text: str) -> bool:
    """Whether `text` is a canonical lowercase UUID string."""
    return bool(_UUID_RE.match(text))


def id_time_ms(event_id: str) -> int:
    """The Unix milliseconds embedded in a UUIDv7."""
    return uuid.UUID(event_id).int >> 80
