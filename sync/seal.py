"""End-to-end encryption of an owner's events: the owner key, sealing and opening.

An end-to-end encrypted owner (ADR 0135) has one 256-bit key, made by the first
device and known only to the owner's devices. A device seals each event of its
own stream before pushing it and opens each event it pulls before storing it:
its local log holds plaintext, the server holds only `Sealed` events.

- Three subkeys come from the owner key by HKDF-SHA256: the AES-256-GCM key, a
  nonce key, and the *key id* the server keeps to tell a wrong phrase from the
  right one (it reveals nothing of the key).
- The plaintext is the event's JSON (what the browser device speaks too); the
  associated data binds the sealed envelope (id, device, seq, HLC) and the key
  id, so the server cannot move a box to another place in the log.
- The nonce is derived from the associated data and the plaintext (HMAC-SHA256,
  96 bits): sealing is deterministic, so a retried push re-sends identical
  bytes and the server's idempotency (by `(device, seq)` and content) holds;
  two different events never share a nonce.

Everything here is a pure function of bytes: no I/O, no clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Final

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core import codec, limits
from core.clock import physical_ms
from core.errors import CodecError, ReciprocityError
from core.events import NAME_BY_TYPE, Sealed
from core.log import row_of
from core.store import Row

from . import protocol

#: The topic every event of an end-to-end encrypted owner is stored under.
SEALED_TOPIC: Final = NAME_BY_TYPE[Sealed]
KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
_INFO_KEY: Final = b"reciprocity/v1 aes-256-gcm"
_INFO_NONCE: Final = b"reciprocity/v1 nonce"
_INFO_ID: Final = b"reciprocity/v1 key id"
_AAD_PREFIX: Final = "reciprocity/v1 sealed"
_SEALED: Final = msgspec.msgpack.Decoder(Sealed)
_ENCODER: Final = msgspec.msgpack.Encoder()


class SealError(ReciprocityError):
    """A sealed event this device will not store: tampered, foreign key, or not sealed."""


def _derive(key: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=b"", info=info).derive(key)


class OwnerKey:
    """An owner's key and what is derived from it (one per end-to-end encrypted owner)."""

    def __init__(self, key: bytes, older: tuple[OwnerKey, ...] = ()) -> None:
        if len(key) != KEY_BYTES:
            raise ReciprocityError(f"an owner key has {KEY_BYTES} bytes, not {len(key)}")
        self.key = key
        #: Keys this one replaced (`recip e2e rotate`): they still open, never seal.
        self.older = older
        self._aead = AESGCM(_derive(key, _INFO_KEY, 32))
        self._nonce_key = _derive(key, _INFO_NONCE, 32)
        #: What the server keeps to recognise the key (base64url, 22 characters).
        self.key_id = base64.urlsafe_b64encode(_derive(key, _INFO_ID, 16)).rstrip(b"=").decode()

    @classmethod
    def generate(cls) -> OwnerKey:
        return cls(secrets.token_bytes(KEY_BYTES))

    def seal_row(self, row: Row) -> Sealed:
        """The sealed form of a stored row of this device's log."""
        device_id, seq, topic, state = row
        if topic == SEALED_TOPIC:
            raise SealError(f"event {device_id}/{seq} is sealed already")
        event = codec.decode(topic, state)  # a stored row: admitted when it came in
        return self.seal(codec.to_json(event), event.event_id, device_id, seq, event.hlc)

    def seal(self, plain: bytes, event_id: str, device_id: str, seq: int, hlc: int) -> Sealed:
        """Seal an event's JSON under the envelope it will travel with."""
        aad = self._aad(event_id, device_id, seq, hlc)
        nonce = hmac.new(self._nonce_key, aad + b"\0" + plain, hashlib.sha256).digest()
        nonce = nonce[:NONCE_BYTES]
        box = nonce + self._aead.encrypt(nonce, plain, aad)
        wall = min(max(physical_ms(hlc), limits.EARLIEST_MS), limits.LATEST_MS)
        return Sealed(
            event_id=event_id,
            device_id=device_id,
            seq=seq,
            hlc=hlc,
            occurred_at=wall,
            key_id=self.key_id,
            box=box,
        )

    def open(self, sealed: Sealed) -> Row:
        """The row to store for a pulled sealed event; `SealError` if it is not genuine.

        Genuine: sealed under this key, authentic for its envelope, and holding
        an event with that same envelope that passes the door every event passes.
        """
        where = f"event {sealed.device_id}/{sealed.seq} ({sealed.event_id})"
        if sealed.key_id != self.key_id:
            for old in self.older:
                if old.key_id == sealed.key_id:
                    return old.open(sealed)
            raise SealError(
                f"{where} is sealed under another key ({sealed.key_id}): if the owner key "
                "was rotated, enter the new recovery phrase with 'recip e2e rekey'"
            )
        aad = self._aad(sealed.event_id, sealed.device_id, sealed.seq, sealed.hlc)
        nonce, body = sealed.box[:NONCE_BYTES], sealed.box[NONCE_BYTES:]
        try:
            plain = self._aead.decrypt(nonce, body, aad)
        except InvalidTag:
            raise SealError(f"{where} does not open with the owner key: it was altered") from None
        try:
            event = protocol.event_from_wire(plain, "json")
        except CodecError as exc:
            raise SealError(f"{where} holds no valid event: {exc}") from None
        inner = (event.event_id, event.device_id, event.seq, event.hlc)
        if inner != (sealed.event_id, sealed.device_id, sealed.seq, sealed.hlc):
            raise SealError(f"{where} holds an event with another envelope")
        return row_of(event)

    def open_row(self, row: Row) -> Row:
        """`open` for a pulled row; a plaintext row is refused (a server must not send one)."""
        device_id, seq, topic, state = row
        if topic != SEALED_TOPIC:
            raise SealError(
                f"the server sent event {device_id}/{seq} in plain text ({topic}) for an "
                "end-to-end encrypted owner; nothing of the page was stored"
            )
        try:
            sealed: Sealed = _SEALED.decode(state)
        except codec.BAD_INPUT as exc:
            raise SealError(f"event {device_id}/{seq} is not a valid sealed event: {exc}") from None
        if (sealed.device_id, sealed.seq) != (device_id, seq):
            raise SealError(f"event {device_id}/{seq} carries another envelope")
        return self.open(sealed)

    def sealed_row(self, row: Row) -> Row:
        """A row of this device's log as the server stores it (topic `Sealed`)."""
        return (row[0], row[1], SEALED_TOPIC, _ENCODER.encode(self.seal_row(row)))

    def _aad(self, event_id: str, device_id: str, seq: int, hlc: int) -> bytes:
        """The associated data: a version label, the key id and the sealed envelope."""
        fields = (_AAD_PREFIX, self.key_id, event_id, device_id, str(seq), str(hlc))
        return "\n".join(fields).encode()
