"""Owners, their devices and their tokens: the server's small accounts database.

Only hashes of tokens are stored (SHA-256 of 32 random bytes: a token cannot be
guessed, so a fast hash is enough, and a leaked database yields no usable token).
Two kinds of token never mix: an owner's *enrollment* token only enrolls devices
(`/v1/enroll`), a *device* token only syncs and manages devices. Each token kind
carries a prefix so that a token presented in the wrong place is refused with a
message that says so.

The accounts database is separate from the owners' event logs (ADR 0032): it
holds no events, and each owner's log lives in its own file, named by the owner's
random id, never by anything a client sends.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from sync.protocol import DeviceInfo, Refusal, find_device

ENROLL_PREFIX: Final = "recip-enroll-"
DEVICE_PREFIX: Final = "recip-device-"

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS owners (
    owner_id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    enroll_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES owners(owner_id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    enrolled_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS devices_owner ON devices(owner_id);
"""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Owner:
    owner_id: str
    name: str


@dataclass(frozen=True)
class Device:
    """An authenticated device: who it is and whose log it writes."""

    device_id: str
    owner_id: str
    name: str
    #: The hash of the token it authenticated with (a cached authentication is
    #: re-checked against the stored hash by the exchange itself, ADR 0120).
    token_hash: str = field(default="", repr=False, compare=False)


class Accounts:
    """The accounts database (SQLite). Safe to share between threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(_SCHEMA)
        from .nudge_store import SQLITE_DDL

        self._db.executescript(SQLITE_DDL)  # the nudges' own tables (ADR 0101)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- owners ----------------------------------------------------------------

    def add_owner(self, name: str) -> tuple[Owner, str]:
        """Create an owner; returns it and its enrollment token (shown only once)."""
        name = name.strip()
        if not name:
            raise Refusal(400, "invalid_owner", "owner name must not be empty")
        token = _new_token(ENROLL_PREFIX)
        owner = Owner(str(uuid.uuid4()), name)
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO owners VALUES (?, ?, ?, ?)",
                    (owner.owner_id, name, hash_token(token), _now_ms()),
                )
            except sqlite3.IntegrityError:
                raise Refusal(409, "owner_exists", f"an owner named {name!r} exists") from None
        return owner, token

    def owners(self) -> list[Owner]:
        with self._lock:
            rows = self._db.execute("SELECT owner_id, name FROM owners ORDER BY name").fetchall()
        return [Owner(*row) for row in rows]

    # -- enrollment --------------------------------------------------------------

    def enroll(self, token: str, device_id: str, device_name: str) -> tuple[Owner, str]:
        """Register a device under the owner of an enrollment token; returns a device token.

        A device already enrolled under the same owner gets a fresh token (the old
        one stops working): that is how a device that lost its token re-enrolls.
        A revoked device stays revoked.
        """
        if token.startswith(DEVICE_PREFIX):
            raise Refusal(401, "wrong_token", "a device token cannot enroll a device")
        digest = hash_token(token)
        device_token = _new_token(DEVICE_PREFIX)
        with self._lock:
            row = self._db.execute(
                "SELECT owner_id, name, enroll_hash FROM owners WHERE enroll_hash = ?", (digest,)
            ).fetchone()
            if row is None or not hmac.compare_digest(row[2], digest):
                raise Refusal(401, "unauthorized", "invalid enrollment token")
            owner = Owner(row[0], row[1])
            held = self._db.execute(
                "SELECT owner_id, revoked_at FROM devices WHERE device_id = ?", (device_id,)
            ).fetchone()
            if held is not None and held[0] != owner.owner_id:
                raise Refusal(409, "device_exists", f"device {device_id} is enrolled elsewhere")
            if held is not None and held[1] is not None:
                raise Refusal(403, "revoked", f"device {device_id} was revoked")
            self._db.execute(
                "INSERT INTO devices VALUES (?, ?, ?, ?, ?, NULL) ON CONFLICT (device_id) "
                "DO UPDATE SET token_hash = excluded.token_hash, name = excluded.name",
                (device_id, owner.owner_id, device_name, hash_token(device_token), _now_ms()),
            )
        return owner, device_token

    # -- authentication --------------------------------------------------------------

    @staticmethod
    def check_header(authorization: str | None) -> str:
        """The device token of an Authorization header, or the 401 saying what is wrong.

        No I/O: the server refuses a request without a usable token before it
        reads the body.
        """
        if not authorization:
            raise Refusal(401, "unauthorized", "missing Authorization: Bearer <device token>")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Refusal(401, "unauthorized", "malformed Authorization header: use Bearer")
        if token.startswith(ENROLL_PREFIX):
            raise Refusal(
                401, "wrong_token", "an enrollment token is not a device token: enroll first"
            )
        return token

    def authenticate(self, authorization: str | None) -> Device:
        """The device a `Bearer` token belongs to: 401 if unknown, 403 if revoked."""
        token = self.check_header(authorization)
        digest = hash_token(token)
        with self._lock:
            row = self._db.execute(
                "SELECT device_id, owner_id, name, token_hash, revoked_at FROM devices "
                "WHERE token_hash = ?",
                (digest,),
            ).fetchone()
        if row is None or not hmac.compare_digest(row[3], digest):
            raise Refusal(401, "unauthorized", "invalid device token")
        if row[4] is not None:
            raise Refusal(403, "revoked", f"device {row[2]!r} ({row[0]}) was revoked")
        return Device(row[0], row[1], row[2], digest)

    # -- devices ------------------------------------------------------------------------

    def devices(self, owner_id: str) -> list[DeviceInfo]:
        with self._lock:
            rows = self._db.execute(
                "SELECT device_id, name, enrolled_at, revoked_at FROM devices "
                "WHERE owner_id = ? ORDER BY enrolled_at, device_id",
                (owner_id,),
            ).fetchall()
        return [
            DeviceInfo(device_id=r[0], name=r[1], enrolled_at=r[2], revoked_at=r[3]) for r in rows
        ]

    def revoke(self, owner_id: str, ref: str) -> DeviceInfo:
        """Revoke one of the owner's devices, by id, unambiguous id prefix or name.

        Idempotent, as an HTTP call should be: a device already revoked is answered
        with its first revocation time, unchanged. `recip remote revoke` looks the
        device up first and tells a person it was already revoked.
        """
        target = find_device(self.devices(owner_id), ref)
        if target.revoked_at is not None:
            return target
        when = _now_ms()
        with self._lock:
            self._db.execute(
                "UPDATE devices SET revoked_at = ? WHERE device_id = ? AND owner_id = ?",
                (when, target.device_id, owner_id),
            )
        return DeviceInfo(
            device_id=target.device_id,
            name=target.name,
            enrolled_at=target.enrolled_at,
            revoked_at=when,
        )
