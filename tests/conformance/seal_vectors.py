"""Generate the sealing vectors of the browser client from the Python reference.

`sync.seal` and `sync.phrase` are the reference (ADR 0135); `web/client/seal.js`
must derive the same key id, read the same phrases, open every event Python
sealed to the same event, refuse the same forgeries, and seal byte for byte as
Python does when it seals the same JSON. This writes `tests/conformance/sealed.json`:

- `key`/`other_key` (hex), their phrases and key ids;
- `phrases`: spellings of the key's phrase that read back to it (case, spaces,
  O/I/L), and `typos`/`malformed` ones that must be refused;
- `events`: events of the hand-written vectors (every type, unicode, an HLC near
  the top, unknown types), each with the JSON Python seals (`plain`) and the
  sealed event as the server sends it (`sealed`);
- `forged`: sealed events a device must refuse, with why.

Run it after a change to sealing, and commit what it writes:

    python -m tests.conformance.seal_vectors

`tests/test_seal_conformance.py` checks that the file is what this writes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Final

import msgspec

from core import codec
from core.clock import pack
from core.events import Event, NoteAdded, OpaqueEvent, Sealed
from sync.phrase import to_phrase
from sync.seal import OwnerKey

from .generate import CASES

PATH: Final = Path(__file__).resolve().parent / "sealed.json"
KEY: Final = hashlib.sha256(b"reciprocity conformance owner key").digest()
OTHER_KEY: Final = hashlib.sha256(b"reciprocity conformance other key").digest()
#: The hand-written vectors whose events are sealed (every event type between them).
SOURCES: Final = ("retractions", "last-writer-wins", "merges", "text", "unknown-types")
_FORMAT: Final = msgspec.json.Encoder()


def events() -> list[Event | OpaqueEvent]:
    """The events to seal: those of `SOURCES`, and one at the top of the HLC range."""
    out: list[Event | OpaqueEvent] = []
    for name in SOURCES:
        out.extend(CASES[name][1]().events)
    top = NoteAdded(
        event_id="0190ffff-0000-7000-8000-00000000ffff",
        device_id="dev-top",
        seq=2**53 - 1,
        hlc=2**63 - 1,
        occurred_at=0,
        contact_id="c",
        text="the wall time of this HLC is past the year 3000: clamped",
    )
    low = NoteAdded(
        event_id="0190ffff-0000-7000-8000-000000000000",
        device_id="dev-top",
        seq=1,
        hlc=pack(0, 1),
        occurred_at=0,
        contact_id="c",
        text="HLC of 1970",
    )
    return [*out, top, low]


def sealed_json(sealed: Sealed) -> Any:
    return msgspec.json.decode(codec.to_json(sealed))


def seal(key: OwnerKey, event: Event | OpaqueEvent) -> Sealed:
    return key.seal(codec.to_json(event), event.event_id, event.device_id, event.seq, event.hlc)


def forged(key: OwnerKey, other: OwnerKey, a: Event | OpaqueEvent, b: Event | OpaqueEvent) -> Any:
    """Sealed events a device must refuse (`a` and `b` are two different events)."""
    good = seal(key, a)
    flipped = bytearray(good.box)
    flipped[len(flipped) // 2] ^= 1
    replace = msgspec.structs.replace
    # a genuine box for `a`'s JSON, but sealed under `b`'s envelope
    under_b = key.seal(codec.to_json(a), b.event_id, b.device_id, b.seq, b.hlc)
    cases = [
        ("a byte of the ciphertext flipped", replace(good, box=bytes(flipped))),
        ("the tag cut off", replace(good, box=good.box[:-16])),
        ("the nonce altered", replace(good, box=bytes([good.box[0] ^ 1]) + good.box[1:])),
        ("moved to another seq", replace(good, seq=good.seq + 1)),
        ("moved to another device", replace(good, device_id="dev-elsewhere")),
        ("moved to another event id", replace(good, event_id=b.event_id)),
        ("moved to another HLC", replace(good, hlc=good.hlc + 1)),
        ("the box of another event", replace(seal(key, b), box=good.box)),
        ("sealed under another key", seal(other, a)),
        ("another key's box under this key id", replace(seal(other, a), key_id=key.key_id)),
        ("an event with another envelope inside", under_b),
    ]
    return [{"why": why, "sealed": sealed_json(s)} for why, s in cases]


def document() -> bytes:
    key, other = OwnerKey(KEY), OwnerKey(OTHER_KEY)
    phrase = to_phrase(KEY)
    text = phrase.replace("-", "")
    typo = text[:10] + ("1" if text[10] != "1" else "2") + text[11:]
    swapped = text[:20] + text[21] + text[20] + text[22:]
    if swapped == text:  # pragma: no cover (not with this key)
        swapped = text[:30] + text[31] + text[30] + text[32:]
    chosen = events()
    doc = {
        "about": "sync/seal.py and sync/phrase.py as the browser must match them (ADR 0135)",
        "key": KEY.hex(),
        "phrase": phrase,
        "key_id": key.key_id,
        "other_key": OTHER_KEY.hex(),
        "other_phrase": to_phrase(OTHER_KEY),
        "other_key_id": other.key_id,
        "phrases": [
            phrase.lower(),
            " ".join(phrase.split("-")),
            text,
            phrase.replace("0", "O").replace("1", "I"),
            phrase.replace("1", "l"),
            f"  {phrase}\n",
        ],
        "typos": [typo, swapped],
        "malformed": [text[:-1], text + "0", text[:-1] + "U", "", phrase.replace("-", "_")],
        "events": [
            {
                "event": msgspec.json.decode(codec.to_json(e)),
                "plain": codec.to_json(e).decode(),
                "sealed": sealed_json(seal(key, e)),
            }
            for e in chosen
        ],
        "forged": forged(key, other, chosen[0], chosen[1]),
    }
    return msgspec.json.format(_FORMAT.encode(doc), indent=1) + b"\n"


def main() -> None:
    PATH.write_bytes(document())
    print(f"wrote {PATH}")


if __name__ == "__main__":
    main()
