"""A device's remote: which server it syncs with, and its device token.

Kept in `remote.json` in the device's home, readable by its user only (the
token is a credential). The owner id names the pull cursor, so that changing the
server's address (same server, new port) keeps the cursor.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from core.errors import ReciprocityError

if TYPE_CHECKING:  # the cryptography library loads only for encrypted owners
    from .seal import OwnerKey

FILE = "remote.json"


class RemoteConfig(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    owner_id: str
    owner_name: str
    device_id: str
    device_token: str
    #: The owner key (base64url) if the owner is end-to-end encrypted (ADR 0135).
    owner_key: str | None = None
    #: Keys it replaced (`recip e2e rotate`/`rekey`), newest first: they open, never seal.
    old_keys: tuple[str, ...] = ()

    def key(self) -> OwnerKey | None:
        """The owner key this device seals and opens events with, if any."""
        if self.owner_key is None:
            return None
        from .seal import OwnerKey

        try:
            older = tuple(OwnerKey(_key_bytes(k)) for k in self.old_keys)
            return OwnerKey(_key_bytes(self.owner_key), older)
        except (ValueError, ReciprocityError) as exc:
            raise RemoteError(f"the owner key in {FILE} is damaged: {exc}") from None

    def with_key(self, key: OwnerKey) -> RemoteConfig:
        """This remote with `key` as the owner key; a different current one joins `old_keys`."""
        text = key_text(key)
        if self.owner_key == text:
            return self
        older = self.old_keys if self.owner_key is None else (self.owner_key, *self.old_keys)
        return msgspec.structs.replace(self, owner_key=text, old_keys=older)


class RemoteError(ReciprocityError):
    """No remote configured, or its file is unreadable."""


def _key_bytes(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_text(key: OwnerKey) -> str:
    """How `RemoteConfig.owner_key` keeps a key."""
    return base64.urlsafe_b64encode(key.key).rstrip(b"=").decode()


def load(home: Path) -> RemoteConfig:
    path = home / FILE
    if not path.exists():
        raise RemoteError("no remote configured: run 'recip remote add URL --token TOKEN' first")
    try:
        return msgspec.json.decode(path.read_bytes(), type=RemoteConfig)
    except (OSError, msgspec.DecodeError) as exc:
        raise RemoteError(f"cannot read {path}: {exc}") from exc


def save(home: Path, config: RemoteConfig) -> Path:
    """Write atomically, mode 0600 from the start (never world-readable)."""
    path = home / FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(msgspec.json.format(msgspec.json.encode(config)))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path
