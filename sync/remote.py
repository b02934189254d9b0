"""A device's remote: which server it syncs with, and its device token.

Kept in `remote.json` in the device's home, readable by its user only (the
token is a credential). The owner id names the pull cursor, so that changing the
server's address (same server, new port) keeps the cursor.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from core.errors import ReciprocityError

FILE = "remote.json"


class RemoteConfig(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    owner_id: str
    owner_name: str
    device_id: str
    device_token: str


class RemoteError(ReciprocityError):
    """No remote configured, or its file is unreadable."""


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
