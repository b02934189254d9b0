"""Sealing and opening events, and the recovery phrase (`sync.seal`, `sync.phrase`).

Properties: every event a device stores comes back identical through seal and
open; sealing is deterministic (a retried push re-sends the same bytes) and
distinct events never share a nonce; any change to a box, to the envelope it
travels under or to the key is refused; a phrase gives back its key however it
is typed, and a typo is caught by its checksum.
"""

from __future__ import annotations

import base64

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ValidationError
from core.events import NoteAdded, Sealed
from core.log import row_of
from sync.phrase import ALPHABET, LENGTH, from_phrase, to_phrase
from sync.seal import NONCE_BYTES, SEALED_TOPIC, OwnerKey, SealError
from tests.event_strategies import kept_event

KEY = OwnerKey(bytes(range(32)))
OTHER = OwnerKey(bytes(range(1, 33)))
events = kept_event.filter(lambda e: not isinstance(e, Sealed))


def sealed_of(row: tuple[str, int, str, bytes]) -> Sealed:
    return msgspec.msgpack.decode(KEY.sealed_row(row)[3], type=Sealed)


@given(events)
def test_open_gives_back_the_stored_row(event: object) -> None:
    row = row_of(event)  # type: ignore[arg-type]
    sealed_row = KEY.sealed_row(row)
    assert sealed_row[:3] == (row[0], row[1], SEALED_TOPIC)
    assert KEY.open_row(sealed_row) == row
    assert KEY.sealed_row(row) == sealed_row, "sealing is deterministic"


@given(events, events)
def test_distinct_events_never_share_a_nonce(a: object, b: object) -> None:
    ra, rb = row_of(a), row_of(b)  # type: ignore[arg-type]
    if ra != rb:
        assert sealed_of(ra).box[:NONCE_BYTES] != sealed_of(rb).box[:NONCE_BYTES]


@given(events, st.data())
def test_any_altered_byte_is_refused(event: object, data: st.DataObject) -> None:
    sealed = sealed_of(row_of(event))  # type: ignore[arg-type]
    at = data.draw(st.integers(0, len(sealed.box) - 1))
    flip = data.draw(st.integers(1, 255))
    box = bytearray(sealed.box)
    box[at] ^= flip
    with pytest.raises(SealError, match="altered"):
        KEY.open(msgspec.structs.replace(sealed, box=bytes(box)))


@given(events, st.sampled_from(["event_id", "device_id", "seq", "hlc"]))
def test_a_box_moved_to_another_envelope_is_refused(event: object, field: str) -> None:
    sealed = sealed_of(row_of(event))  # type: ignore[arg-type]
    value = getattr(sealed, field)
    moved = value + 1 if isinstance(value, int) else value + "x"
    with pytest.raises(SealError):
        KEY.open(msgspec.structs.replace(sealed, **{field: moved}))


@given(events)
def test_another_key_opens_nothing(event: object) -> None:
    sealed = sealed_of(row_of(event))  # type: ignore[arg-type]
    with pytest.raises(SealError, match="another key"):
        OTHER.open(sealed)
    forged = msgspec.structs.replace(sealed, key_id=OTHER.key_id)
    with pytest.raises(SealError, match="altered"):
        OTHER.open(forged)


def test_a_plaintext_row_is_refused_by_an_encrypted_device() -> None:
    row = row_of(
        msgspec.json.decode(
            b'{"type":"NoteAdded","event_id":"e","device_id":"d","seq":1,"hlc":1,'
            b'"occurred_at":1700000000000,"contact_id":"c","text":"secret"}',
            type=NoteAdded,
        )
    )
    with pytest.raises(SealError, match="plain text"):
        KEY.open_row(row)


def test_a_sealed_event_holding_another_envelope_is_refused() -> None:
    """The server swapping whole boxes between two places of the log is caught too."""
    base = b'"hlc":1,"occurred_at":1700000000000,"contact_id":"c","text":"t"}'
    first = KEY.seal(
        b'{"type":"NoteAdded","event_id":"a","device_id":"d","seq":1,' + base, "a", "d", 1, 1
    )
    inner_other = b'{"type":"NoteAdded","event_id":"b","device_id":"d","seq":2,' + base
    lying = KEY.seal(inner_other, "a", "d", 1, 1)  # a device sealing a lie: refused on open
    assert KEY.open(first)[1] == 1
    with pytest.raises(SealError, match="another envelope"):
        KEY.open(lying)


@given(st.binary(min_size=32, max_size=32))
def test_a_phrase_gives_back_its_key_however_it_is_typed(key: bytes) -> None:
    phrase = to_phrase(key)
    assert len(phrase.replace("-", "")) == LENGTH
    assert from_phrase(phrase) == key
    sloppy = " ".join(phrase.lower().split("-")).replace("0", "o").replace("1", "l")
    assert from_phrase(sloppy) == key


@given(st.binary(min_size=32, max_size=32), st.data())
def test_a_typo_is_caught(key: bytes, data: st.DataObject) -> None:
    chars = list(to_phrase(key).replace("-", ""))
    at = data.draw(st.integers(0, len(chars) - 1))
    other = data.draw(st.sampled_from([c for c in ALPHABET if c != chars[at]]))
    chars[at] = other
    with pytest.raises(ValidationError):
        from_phrase("".join(chars))


@pytest.mark.parametrize(
    ("phrase", "says"),
    [("", "56 characters"), ("ABCD-" * 13 + "ABC", "56 characters"), ("ÄBCD" * 14, "digits")],
)
def test_a_malformed_phrase_says_what_is_wrong(phrase: str, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        from_phrase(phrase)


def test_the_key_id_is_derived_from_the_key_not_a_piece_of_it() -> None:
    assert OwnerKey(KEY.key).key_id == KEY.key_id
    assert KEY.key_id != OTHER.key_id
    assert len(KEY.key_id) == 22
    for start in range(0, 17):  # no 16-byte window of the key, as base64url
        piece = base64.urlsafe_b64encode(KEY.key[start : start + 16]).rstrip(b"=").decode()
        assert piece != KEY.key_id
