"""Owners, their devices and their tokens: the server's small accounts database.

Only hashes of tokens are stored (SHA-256 of 32 random bytes: a token cannot be
guessed, so a fast hash is enough, and a leaked database yields no usable token).
Two kinds of token never mix: an owner's *enrollment* token only enrolls devices
(`/v1/enroll`), a *device* token only syncs and manages devices. Each token kind
carries a prefix so that a token presented in the wrong place is refused with a
message that says so.

Enrollment tokens are *invites* (ADR 0113): each has an expiry and a number of
uses (by default one use within 24 hours), and `recip admin revoke-invites` ends
them all. The owner's original never-expiring token (`owners.enroll_hash`) still
enrolls for owners created before invites existed: a migration path only; new
owners get none. An enrolled device id is taken: enrolling it again needs that
device's current token, or an administrator's `reset-device`, and the refusal is
the same whichever owner holds the id.

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
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from sync.protocol import DeviceInfo, Refusal, find_device

from .readonly import ReadOnly

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
CREATE TABLE IF NOT EXISTS invites (
    invite_hash TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES owners(owner_id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    uses_left INTEGER,
    revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS invites_owner ON invites(owner_id);
CREATE TABLE IF NOT EXISTS e2e_owners (
    owner_id TEXT PRIMARY KEY REFERENCES owners(owner_id),
    key_id TEXT NOT NULL,
    enabled_at INTEGER NOT NULL
);
"""

#: The tables holding an owner's rows, children first (the owner's row is last).
OWNED_TABLES: Final = (
    "e2e_owners",
    "digests_sent",
    "digest_settings",
    "feed_tokens",
    "invites",
    "devices",
    "owners",
)

#: Longest owner name, in characters.
MAX_OWNER_NAME: Final = 64
#: An invite's life when none is given: one day.
INVITE_EXPIRES_S: Final = 24 * 3600
#: `owners.enroll_hash` and `devices.token_hash` values that no token hashes to.
_NO_TOKEN: Final = "none:"
_RELEASED: Final = "released:"

_DEVICE_TAKEN: Final = (
    "device {device_id} is already enrolled: enroll it again from the device itself "
    "(its current token), or ask the server's administrator to run "
    "'recip admin reset-device OWNER DEVICE'"
)


class Rows(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Executor(Protocol):
    """What the accounts rules need of a connection: `?` placeholders, rows back."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Rows: ...


def check_owner_name(name: str) -> str:
    """The name, trimmed; refused if empty, longer than 64 or holding control characters."""
    name = name.strip()
    if not name:
        raise Refusal(400, "invalid_owner", "owner name must not be empty")
    if len(name) > MAX_OWNER_NAME:
        raise Refusal(
            400, "invalid_owner", f"owner name is longer than {MAX_OWNER_NAME} characters"
        )
    if any(unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"} for c in name):
        raise Refusal(400, "invalid_owner", "owner name must not contain control characters")
    return name


@dataclass(frozen=True)
class InvitePolicy:
    """How long an invite lasts and how many devices it enrolls (None: no limit)."""

    expires_s: int | None = INVITE_EXPIRES_S
    uses: int | None = 1


#: An invite for any number of devices that never expires: for tests and benchmarks,
#: and `recip admin invite OWNER --uses unlimited --expires never`.
OPEN_INVITE: Final = InvitePolicy(expires_s=None, uses=None)


@dataclass(frozen=True)
class Invite:
    """An invite as the administrator sees it (never its token)."""

    created_at: int
    expires_at: int | None
    uses_left: int | None


@dataclass(frozen=True)
class OwnerInfo:
    """An owner for `recip admin list-owners`."""

    owner_id: str
    name: str
    created_at: int
    devices: int
    active_devices: int
    open_invites: int
    #: Whether the owner's events are end-to-end encrypted (ADR 0135).
    e2e: bool = False


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
    #: The owner's key id if the owner is end-to-end encrypted (ADR 0135).
    e2e_key_id: str | None = None


class Accounts:
    """The accounts database (SQLite). Safe to share between threads."""

    #: The wall clock in Unix ms (tests set an instance's own to reach an expiry).
    clock: Callable[[], int] = staticmethod(_now_ms)

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(_SCHEMA)
        from .nudge_store import SQLITE_DDL

        self._db.executescript(SQLITE_DDL)  # the nudges' own tables (ADR 0101)
        self._lock = threading.Lock()
        #: The request path's lookups (a token's device), off the shared connection.
        self._reads = ReadOnly(path)

    def close(self) -> None:
        self._reads.close()
        with self._lock:
            self._db.close()

    def _read_one(self, sql: str, params: tuple[object, ...]) -> Any:
        """The first row of one query (None if none), without the shared connection's lock.

        Every sync request authenticates: on one locked connection those lookups
        queued behind each other under load (issue 20). A read-only connection
        of the free list sees every commit, this process's or an admin command's.
        """
        rows = self._read_all(sql, params)
        return rows[0] if rows else None

    def _read_all(self, sql: str, params: tuple[object, ...]) -> list[Any]:
        """Every row of one query, on a read-only connection (as `_read_one`)."""
        return self._reads.read(sql, params)

    # -- owners ----------------------------------------------------------------

    def _transaction(self) -> AbstractContextManager[Executor]:
        """One transaction: every statement in the block commits, or none does."""
        return self._sqlite_transaction()

    @contextmanager
    def _sqlite_transaction(self) -> Iterator[Executor]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def add_owner(self, name: str, invite: InvitePolicy | None = None) -> tuple[Owner, str]:
        """Create an owner and its first invite; returns both (the token is shown once)."""
        name = check_owner_name(name)
        owner = Owner(str(uuid.uuid4()), name)
        now = self.clock()
        with self._transaction() as db:
            try:
                db.execute(
                    "INSERT INTO owners VALUES (?, ?, ?, ?)",
                    (owner.owner_id, name, _NO_TOKEN + str(uuid.uuid4()), now),
                )
            except sqlite3.IntegrityError:
                raise Refusal(409, "owner_exists", f"an owner named {name!r} exists") from None
            token = _add_invite(db, owner.owner_id, invite or InvitePolicy(), now)
        return owner, token

    def owners(self) -> list[Owner]:
        with self._lock:
            rows = self._db.execute("SELECT owner_id, name FROM owners ORDER BY name").fetchall()
        return [Owner(*row) for row in rows]

    def find_owner(self, ref: str) -> Owner:
        """The owner `ref` names: its exact name or id, or an unambiguous id prefix."""
        owners = self.owners()
        matches = [o for o in owners if ref in (o.name, o.owner_id)] or [
            o for o in owners if len(ref) >= 4 and o.owner_id.startswith(ref)
        ]
        if not matches:
            raise Refusal(404, "not_found", f"no owner named {ref!r}")
        if len(matches) > 1:
            raise Refusal(409, "ambiguous", f"{ref!r} matches several owners")
        return matches[0]

    def owner_infos(self) -> list[OwnerInfo]:
        """Every owner with its device and open-invite counts."""
        now = self.clock()
        with self._lock:
            rows = self._db.execute(
                "SELECT o.owner_id, o.name, o.created_at, "
                "(SELECT COUNT(*) FROM devices d WHERE d.owner_id = o.owner_id), "
                "(SELECT COUNT(*) FROM devices d WHERE d.owner_id = o.owner_id "
                " AND d.revoked_at IS NULL), "
                "(SELECT COUNT(*) FROM invites i WHERE i.owner_id = o.owner_id "
                " AND i.revoked_at IS NULL AND (i.expires_at IS NULL OR i.expires_at > ?) "
                " AND (i.uses_left IS NULL OR i.uses_left > 0)), "
                "(SELECT COUNT(*) FROM e2e_owners e WHERE e.owner_id = o.owner_id) "
                "FROM owners o ORDER BY o.name",
                (now,),
            ).fetchall()
        return [
            OwnerInfo(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5]), bool(r[6]))
            for r in rows
        ]

    def rename_owner(self, ref: str, new_name: str) -> Owner:
        """Give an owner another (unique, valid) name; devices see it at their next enroll."""
        owner = self.find_owner(ref)
        name = check_owner_name(new_name)
        with self._lock:
            try:
                self._db.execute(
                    "UPDATE owners SET name = ? WHERE owner_id = ?", (name, owner.owner_id)
                )
            except sqlite3.IntegrityError:
                raise Refusal(409, "owner_exists", f"an owner named {name!r} exists") from None
        return Owner(owner.owner_id, name)

    def delete_owner(self, owner_id: str, also: Sequence[str] = ()) -> None:
        """Delete every accounts row of an owner (ADR 0131), in one transaction.

        Its devices, invites, feed token and digest records go with it, so every
        token of the owner is refused from the commit on. `also`: statements
        (no parameters) committed in the same transaction (dropping its schema).
        """
        with self._transaction() as db:
            for table in OWNED_TABLES:
                db.execute(f"DELETE FROM {table} WHERE owner_id = ?", (owner_id,))
            for statement in also:
                db.execute(statement)

    def holds(self, device: Device) -> bool:
        """Whether a (cached) device's token is still current and the device not revoked."""
        row = self._read_one(
            "SELECT 1 FROM devices WHERE device_id = ? AND owner_id = ? "
            "AND token_hash = ? AND revoked_at IS NULL",
            (device.device_id, device.owner_id, device.token_hash),
        )
        return row is not None

    def owner_exists(self, owner_id: str) -> bool:
        row = self._read_one("SELECT 1 FROM owners WHERE owner_id = ?", (owner_id,))
        return row is not None

    # -- invites -----------------------------------------------------------------

    def invite(self, ref: str, policy: InvitePolicy | None = None) -> tuple[Owner, str, Invite]:
        """A new enrollment token for the owner `ref` names (shown once)."""
        owner = self.find_owner(ref)
        policy = policy or InvitePolicy()
        now = self.clock()
        with self._transaction() as db:
            token = _add_invite(db, owner.owner_id, policy, now)
        expires = now + policy.expires_s * 1000 if policy.expires_s is not None else None
        return owner, token, Invite(now, expires, policy.uses)

    def revoke_invites(self, ref: str) -> tuple[Owner, int]:
        """End every enrollment token of an owner (the legacy one too); how many were open."""
        owner = self.find_owner(ref)
        now = self.clock()
        with self._transaction() as db:
            row = db.execute(
                "SELECT COUNT(*) FROM invites WHERE owner_id = ? AND revoked_at IS NULL "
                "AND (expires_at IS NULL OR expires_at > ?) "
                "AND (uses_left IS NULL OR uses_left > 0)",
                (owner.owner_id, now),
            ).fetchone()
            legacy = db.execute(
                "SELECT COUNT(*) FROM owners WHERE owner_id = ? AND enroll_hash NOT LIKE ?",
                (owner.owner_id, _NO_TOKEN + "%"),
            ).fetchone()
            db.execute(
                "UPDATE invites SET revoked_at = ? WHERE owner_id = ? AND revoked_at IS NULL",
                (now, owner.owner_id),
            )
            db.execute(
                "UPDATE owners SET enroll_hash = ? WHERE owner_id = ?",
                (_NO_TOKEN + str(uuid.uuid4()), owner.owner_id),
            )
        return owner, int(row[0]) + int(legacy[0])

    def reset_device(self, owner_ref: str, device_ref: str) -> DeviceInfo:
        """Let a device id enroll again under its owner (its current token stops working)."""
        owner = self.find_owner(owner_ref)
        target = find_device(self.devices(owner.owner_id), device_ref)
        if target.revoked_at is not None:
            raise Refusal(403, "revoked", f"device {target.device_id} was revoked, for good")
        with self._lock:
            self._db.execute(
                "UPDATE devices SET token_hash = ? WHERE device_id = ? AND owner_id = ?",
                (_RELEASED + str(uuid.uuid4()), target.device_id, owner.owner_id),
            )
        return target

    # -- enrollment --------------------------------------------------------------

    def enroll(
        self,
        token: str,
        device_id: str,
        device_name: str,
        current: str | None = None,
        check: Callable[[Executor, Owner], None] | None = None,
    ) -> tuple[Owner, str]:
        """Register a device under the owner of an enrollment token; returns a device token.

        The token is an open invite (one use spent) or an owner's legacy token.
        A device id already enrolled is refused unless `current` is that device's
        own token (it then gets a fresh one, the old one stops working) or an
        administrator reset it; the refusal does not say which owner holds it.
        A revoked device stays revoked. `check` may refuse the enrollment for the
        owner (end-to-end encryption, ADR 0135) inside the same transaction. A
        refusal spends nothing.
        """
        if token.startswith(DEVICE_PREFIX):
            raise Refusal(401, "wrong_token", "a device token cannot enroll a device")
        digest = hash_token(token)
        device_token = _new_token(DEVICE_PREFIX)
        now = self.clock()
        with self._transaction() as db:
            owner = _spend_invite(db, digest, now)
            if owner is None:
                raise Refusal(401, "unauthorized", "invalid, used or expired enrollment token")
            held = db.execute(
                "SELECT owner_id, token_hash, revoked_at FROM devices WHERE device_id = ?",
                (device_id,),
            ).fetchone()
            if held is not None:
                mine = held[0] == owner.owner_id
                if mine and held[2] is not None:
                    raise Refusal(403, "revoked", f"device {device_id} was revoked")
                proven = current is not None and hmac.compare_digest(held[1], hash_token(current))
                released = str(held[1]).startswith(_RELEASED)
                if not (mine and (proven or released)):
                    raise Refusal(409, "device_exists", _DEVICE_TAKEN.format(device_id=device_id))
            if check is not None:
                check(db, owner)
            db.execute(
                "INSERT INTO devices VALUES (?, ?, ?, ?, ?, NULL) ON CONFLICT (device_id) "
                "DO UPDATE SET token_hash = excluded.token_hash, name = excluded.name",
                (device_id, owner.owner_id, device_name, hash_token(device_token), now),
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
        (device,) = self.authenticate_all([authorization])
        if isinstance(device, Refusal):
            raise device
        return device

    def authenticate_all(self, headers: Sequence[str | None]) -> list[Device | Refusal]:
        """`authenticate` for several requests at once: one lookup, each answered alone."""
        answers: list[Device | Refusal | None] = [None] * len(headers)
        digests: dict[str, list[int]] = {}
        for index, authorization in enumerate(headers):
            try:
                digests.setdefault(hash_token(self.check_header(authorization)), []).append(index)
            except Refusal as refusal:
                answers[index] = refusal
        if digests:
            marks = ", ".join("?" * len(digests))
            rows = self._read_all(
                "SELECT d.device_id, d.owner_id, d.name, d.token_hash, d.revoked_at, e.key_id "
                "FROM devices d LEFT JOIN e2e_owners e ON e.owner_id = d.owner_id "
                f"WHERE d.token_hash IN ({marks})",
                tuple(digests),
            )
            found = {row[3]: row for row in rows}
            for digest, indexes in digests.items():
                answer = _device_of(found.get(digest), digest)
                for index in indexes:
                    answers[index] = answer
        return [a for a in answers if a is not None]

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
        when = self.clock()
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


def _add_invite(db: Executor, owner_id: str, policy: InvitePolicy, now: int) -> str:
    if policy.uses is not None and policy.uses < 1:
        raise Refusal(400, "invalid_invite", "an invite must allow at least one use")
    if policy.expires_s is not None and policy.expires_s < 1:
        raise Refusal(400, "invalid_invite", "an invite must last at least one second")
    token = _new_token(ENROLL_PREFIX)
    expires = now + policy.expires_s * 1000 if policy.expires_s is not None else None
    db.execute(
        "INSERT INTO invites VALUES (?, ?, ?, ?, ?, NULL)",
        (hash_token(token), owner_id, now, expires, policy.uses),
    )
    return token


def _spend_invite(db: Executor, digest: str, now: int) -> Owner | None:
    """The owner of an open invite (spending one use of it) or of a legacy token."""
    row = db.execute(
        "UPDATE invites SET uses_left = uses_left - 1 WHERE invite_hash = ? "
        "AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) "
        "AND (uses_left IS NULL OR uses_left > 0) RETURNING owner_id",
        (digest, now),
    ).fetchone()
    if row is not None:
        found = db.execute("SELECT owner_id, name FROM owners WHERE owner_id = ?", (row[0],))
        owner = found.fetchone()
        return Owner(owner[0], owner[1])
    legacy = db.execute(
        "SELECT owner_id, name FROM owners WHERE enroll_hash = ?", (digest,)
    ).fetchone()
    return Owner(legacy[0], legacy[1]) if legacy is not None else None


def _device_of(row: Any, digest: str) -> Device | Refusal:
    """The device of a token's row, or why the token does not authenticate."""
    if row is None or not hmac.compare_digest(row[3], digest):
        return Refusal(401, "unauthorized", "invalid device token")
    if row[4] is not None:
        return Refusal(403, "revoked", f"device {row[2]!r} ({row[0]}) was revoked")
    return Device(row[0], row[1], row[2], digest, row[5])
