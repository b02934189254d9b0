"""Event ids: valid UUIDv7s, time-ordered by their millisecond, never repeated."""

from __future__ import annotations

import os
import uuid

from hypothesis import given
from hypothesis import strategies as st

from core.ids import _BULK, _laid_out, id_time_ms, is_id, new_id, new_ids


@given(st.integers(min_value=0, max_value=2**48 - 1), st.integers(min_value=1, max_value=300))
def test_ids_are_canonical_uuid7_with_their_time(ms: int, count: int) -> None:
    for text in new_ids(count, ms):
        parsed = uuid.UUID(text)
        assert str(parsed) == text and is_id(text)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert id_time_ms(text) == ms


def test_ids_sort_by_time_and_do_not_repeat() -> None:
    ids = [new_id(ms) for ms in (1, 2, 3)] + new_ids(10_000, 4)
    assert ids[:3] == sorted(ids[:3])
    assert all(a < b for a, b in zip(ids[:3], ids[3:6], strict=False))
    assert len(set(ids)) == len(ids)


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.write(write, new_id(0).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    assert child != new_id(0)


@given(st.integers(min_value=1, max_value=200), st.randoms(use_true_random=False))
def test_bulk_layout_writes_the_ids_the_per_id_format_writes(count: int, rnd: object) -> None:
    """The column-by-column layout is only faster: same random bits, same ids."""
    assert hasattr(rnd, "getrandbits")
    random_hex = rnd.getrandbits(72 * count).to_bytes(9 * count, "big").hex()
    prefix = "0123abcd-ef01-7"
    expected = [
        prefix
        + random_hex[k : k + 3]
        + "-8"
        + random_hex[k + 3 : k + 6]
        + "-"
        + random_hex[k + 6 : k + 18]
        for k in range(0, 18 * count, 18)
    ]
    assert _laid_out(prefix, random_hex, count) == expected


def test_bulk_ids_are_used_from_the_threshold_on() -> None:
    ids = new_ids(_BULK, 7)
    assert len(set(ids)) == _BULK and all(is_id(i) and id_time_ms(i) == 7 for i in ids)
