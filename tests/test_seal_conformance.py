"""The sealing vectors of the browser client are what the Python reference makes.

`tests/conformance/sealed.json` is written by `tests/conformance/seal_vectors.py`;
`tests/js/seal.test.mjs` checks `web/client/seal.js` against it. Here the
reference checks it back: the file is up to date, every sealed event opens to
its event, every forgery and every typo is refused (ADR 0135).
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from core import codec
from core.errors import ValidationError
from core.events import Sealed
from sync.phrase import from_phrase
from sync.seal import OwnerKey, SealError
from tests.conformance import seal_vectors

DATA: Any = msgspec.json.decode(seal_vectors.PATH.read_bytes())
_SEALED = msgspec.json.Decoder(Sealed)


def test_the_vectors_are_what_the_generator_writes() -> None:
    assert seal_vectors.PATH.read_bytes() == seal_vectors.document()


def test_every_spelling_of_the_phrase_reads_the_key_and_typos_are_refused() -> None:
    key = bytes.fromhex(DATA["key"])
    assert OwnerKey(key).key_id == DATA["key_id"]
    for phrase in [DATA["phrase"], *DATA["phrases"]]:
        assert from_phrase(phrase) == key
    for bad in [*DATA["typos"], *DATA["malformed"]]:
        with pytest.raises(ValidationError):
            from_phrase(bad)


def test_every_sealed_event_opens_to_its_event() -> None:
    key = OwnerKey(bytes.fromhex(DATA["key"]))
    for case in DATA["events"]:
        sealed = _SEALED.decode(msgspec.json.encode(case["sealed"]))
        row = key.open(sealed)
        opened = msgspec.json.decode(codec.to_json(codec.decode(row[2], row[3])))
        assert opened == case["event"]
        assert case["plain"].encode() == codec.to_json(codec.decode(row[2], row[3]))


@pytest.mark.parametrize("case", DATA["forged"], ids=lambda c: c["why"])
def test_every_forgery_is_refused(case: Any) -> None:
    key = OwnerKey(bytes.fromhex(DATA["key"]))
    with pytest.raises(SealError):
        key.open(_SEALED.decode(msgspec.json.encode(case["sealed"])))
