"""What the nudges keep in the accounts database: feed tokens, digest settings, digests sent.

Three tables of their own beside the accounts tables (ADRs 0101, 0102), on SQLite
and PostgreSQL alike: statements go through the accounts' connection (`?`
placeholders; `server.pg` adapts them), so each rule below exists once.

- `feed_tokens`: at most one calendar-feed token per owner, stored as a hash.
  A feed token starts with `recip-feed-` and opens the owner's calendar feed and
  nothing else: it is never looked up anywhere but here.
- `digest_settings`: where and when an owner's weekly digest goes.
- `digests_sent`: one row per owner and period (ISO week). A worker *claims* the
  row before sending and marks it sent after; the primary key makes the claim
  exclusive across workers and restarts. A claim left unsent (a worker died
  mid-send) can be taken over once it is older than the lease.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any, Final

import msgspec

from sync.protocol import Refusal

from .accounts import Accounts, hash_token

FEED_PREFIX: Final = "recip-feed-"

SQLITE_DDL: Final = """
CREATE TABLE IF NOT EXISTS feed_tokens (
    owner_id TEXT PRIMARY KEY REFERENCES owners(owner_id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS digest_settings (
    owner_id TEXT PRIMARY KEY REFERENCES owners(owner_id),
    email TEXT NOT NULL,
    weekday INTEGER NOT NULL,
    hour INTEGER NOT NULL,
    timezone TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS digests_sent (
    owner_id TEXT NOT NULL REFERENCES owners(owner_id),
    period TEXT NOT NULL,
    claimed_by TEXT NOT NULL,
    claimed_at INTEGER NOT NULL,
    sent_at INTEGER,
    PRIMARY KEY (owner_id, period)
);
"""

#: The same tables on PostgreSQL, in the accounts schema `{s}`.
PG_DDL: Final = (
    "CREATE TABLE IF NOT EXISTS {s}.feed_tokens (owner_id TEXT PRIMARY KEY "
    "REFERENCES {s}.owners(owner_id), token_hash TEXT NOT NULL UNIQUE, "
    "created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {s}.digest_settings (owner_id TEXT PRIMARY KEY "
    "REFERENCES {s}.owners(owner_id), email TEXT NOT NULL, weekday INTEGER NOT NULL, "
    "hour INTEGER NOT NULL, timezone TEXT NOT NULL, updated_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {s}.digests_sent (owner_id TEXT NOT NULL "
    "REFERENCES {s}.owners(owner_id), period TEXT NOT NULL, claimed_by TEXT NOT NULL, "
    "claimed_at BIGINT NOT NULL, sent_at BIGINT, PRIMARY KEY (owner_id, period))",
)


class DigestSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Where and when an owner's weekly digest goes.

    `weekday` 0 is Monday; `hour` 0-23 in `timezone` (an IANA name).
    """

    email: str
    weekday: int
    hour: int
    timezone: str = "UTC"
    updated_at: int = 0


class Recipient(msgspec.Struct, frozen=True):
    """An owner who gets a digest, and their settings."""

    owner_id: str
    name: str
    settings: DigestSettings


class Sent(msgspec.Struct, frozen=True):
    """One period's digest: who claimed it, and when it went (None: not yet)."""

    period: str
    claimed_by: str
    sent_at: int | None


class NudgeStore:
    """Feed tokens and digest bookkeeping, on the accounts database's connection."""

    def __init__(self, accounts: Accounts) -> None:
        self._db = accounts._db
        self._lock = accounts._lock

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            rows: list[tuple[Any, ...]] = self._db.execute(sql, params).fetchall()
        return rows

    # -- the calendar feed ---------------------------------------------------------

    def issue_feed(self, owner_id: str, now_ms: int) -> str:
        """A new feed token for the owner; any earlier one stops working."""
        token = FEED_PREFIX + secrets.token_urlsafe(32)
        self._run(
            "INSERT INTO feed_tokens VALUES (?, ?, ?) ON CONFLICT (owner_id) "
            "DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at",
            (owner_id, hash_token(token), now_ms),
        )
        return token

    def revoke_feed(self, owner_id: str) -> bool:
        """End the owner's feed; whether there was one."""
        rows = self._run(
            "DELETE FROM feed_tokens WHERE owner_id = ? RETURNING owner_id", (owner_id,)
        )
        return bool(rows)

    def feed_owner(self, token: str | None) -> str:
        """The owner whose feed a token opens: 401 for anything but a live feed token."""
        if not token:
            raise Refusal(401, "unauthorized", "missing ?token=<feed token>")
        if not token.startswith(FEED_PREFIX):
            raise Refusal(
                401, "wrong_token", "only a feed token opens the feed: run 'recip remote feed'"
            )
        digest = hash_token(token)
        rows = self._run(
            "SELECT owner_id, token_hash FROM feed_tokens WHERE token_hash = ?", (digest,)
        )
        if not rows or not hmac.compare_digest(rows[0][1], digest):
            raise Refusal(401, "unauthorized", "invalid or revoked feed token")
        return str(rows[0][0])

    # -- digest settings -----------------------------------------------------------

    def set_digest(self, owner_id: str, settings: DigestSettings) -> None:
        self._run(
            "INSERT INTO digest_settings VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (owner_id) "
            "DO UPDATE SET email = excluded.email, weekday = excluded.weekday, "
            "hour = excluded.hour, timezone = excluded.timezone, "
            "updated_at = excluded.updated_at",
            (
                owner_id,
                settings.email,
                settings.weekday,
                settings.hour,
                settings.timezone,
                settings.updated_at,
            ),
        )

    def clear_digest(self, owner_id: str) -> bool:
        rows = self._run(
            "DELETE FROM digest_settings WHERE owner_id = ? RETURNING owner_id", (owner_id,)
        )
        return bool(rows)

    def digest(self, owner_id: str) -> DigestSettings | None:
        rows = self._run(
            "SELECT email, weekday, hour, timezone, updated_at FROM digest_settings "
            "WHERE owner_id = ?",
            (owner_id,),
        )
        if not rows:
            return None
        email, weekday, hour, timezone, updated_at = rows[0]
        return DigestSettings(
            email=email, weekday=weekday, hour=hour, timezone=timezone, updated_at=updated_at
        )

    def recipients(self) -> list[Recipient]:
        """Every owner with a digest address, by owner id.

        Not end-to-end encrypted owners: the server cannot read their plan (their
        devices mail it, `recip today --mail`, ADR 0135).
        """
        rows = self._run(
            "SELECT d.owner_id, o.name, d.email, d.weekday, d.hour, d.timezone, d.updated_at "
            "FROM digest_settings d JOIN owners o ON o.owner_id = d.owner_id "
            "WHERE d.owner_id NOT IN (SELECT owner_id FROM e2e_owners) "
            "ORDER BY d.owner_id"
        )
        return [
            Recipient(r[0], r[1], DigestSettings(**dict(zip(_SETTINGS, r[2:], strict=True))))
            for r in rows
        ]

    # -- digests sent --------------------------------------------------------------

    def claim(self, owner_id: str, period: str, worker: str, now_ms: int, lease_ms: int) -> bool:
        """Take the right to send the owner's digest of `period`; False if another
        worker holds it (within its lease) or it was sent already."""
        rows = self._run(
            "INSERT INTO digests_sent VALUES (?, ?, ?, ?, NULL) "
            "ON CONFLICT (owner_id, period) DO UPDATE SET claimed_by = excluded.claimed_by, "
            "claimed_at = excluded.claimed_at "
            "WHERE digests_sent.sent_at IS NULL AND digests_sent.claimed_at < ? "
            "RETURNING owner_id",
            (owner_id, period, worker, now_ms, now_ms - lease_ms),
        )
        return bool(rows)

    def mark_sent(self, owner_id: str, period: str, worker: str, now_ms: int) -> None:
        self._run(
            "UPDATE digests_sent SET sent_at = ? "
            "WHERE owner_id = ? AND period = ? AND claimed_by = ?",
            (now_ms, owner_id, period, worker),
        )

    def release(self, owner_id: str, period: str, worker: str) -> None:
        """Give up a claim that was not sent (the next tick tries again)."""
        self._run(
            "DELETE FROM digests_sent "
            "WHERE owner_id = ? AND period = ? AND claimed_by = ? AND sent_at IS NULL",
            (owner_id, period, worker),
        )

    def sent(self, owner_id: str) -> list[Sent]:
        rows = self._run(
            "SELECT period, claimed_by, sent_at FROM digests_sent WHERE owner_id = ? "
            "ORDER BY period",
            (owner_id,),
        )
        return [Sent(*r) for r in rows]


_SETTINGS: Final = ("email", "weekday", "hour", "timezone", "updated_at")
