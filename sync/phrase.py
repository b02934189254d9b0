"""The recovery phrase: an owner key written so that a person can copy it by hand.

Crockford's base32 (digits and capitals without I, L, O, U: nothing to confuse
when read aloud or typed on a phone) of the 32-byte key followed by 3 bytes of
its SHA-256, as 14 groups of 4 characters. The checksum tells a typo from a
wrong phrase before anything is sent: a mistyped phrase is refused here, a
well-formed phrase of another key by the server (its key id does not match).
Reading is forgiving: any case, spaces or dashes anywhere, O for 0, I and L for 1.
"""

from __future__ import annotations

import hashlib
from typing import Final

from core.errors import ValidationError

from .seal import KEY_BYTES

ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK_BYTES: Final = 3
GROUP: Final = 4
#: 35 bytes are 280 bits: 56 characters of 5 bits, no padding.
LENGTH: Final = (KEY_BYTES + CHECK_BYTES) * 8 // 5
_VALUE: Final = {c: i for i, c in enumerate(ALPHABET)} | {"O": 0, "I": 1, "L": 1}


def _check(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:CHECK_BYTES]


def to_phrase(key: bytes) -> str:
    """The phrase of a key, e.g. `7K3M-Q9XA-...` (14 groups)."""
    if len(key) != KEY_BYTES:
        raise ValueError(f"a key has {KEY_BYTES} bytes")
    number = int.from_bytes(key + _check(key), "big")
    chars = [ALPHABET[(number >> (5 * i)) & 31] for i in reversed(range(LENGTH))]
    text = "".join(chars)
    return "-".join(text[i : i + GROUP] for i in range(0, LENGTH, GROUP))


def from_phrase(phrase: str) -> bytes:
    """The key a phrase writes; `ValidationError` saying what is wrong with it."""
    text = "".join(phrase.split()).replace("-", "").upper()
    bad = sorted({c for c in text if c not in _VALUE})
    if bad:
        raise ValidationError(
            f"a recovery phrase has only digits and letters (not {''.join(bad)!r}): "
            "check what you typed"
        )
    if len(text) != LENGTH:
        raise ValidationError(
            f"a recovery phrase has {LENGTH} characters (14 groups of 4), not {len(text)}"
        )
    number = 0
    for c in text:
        number = (number << 5) | _VALUE[c]
    data = number.to_bytes(KEY_BYTES + CHECK_BYTES, "big")
    key, check = data[:KEY_BYTES], data[KEY_BYTES:]
    if _check(key) != check:
        raise ValidationError("this recovery phrase has a typo (its checksum does not match)")
    return key
