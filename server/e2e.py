"""End-to-end encrypted owners on the server: who is one, who may join, what is refused.

The server never holds an owner key. It keeps each such owner's *key id*
(`e2e_owners`, in the accounts database) and from it decides (ADR 0135):

- enrollment: a device joining an encrypted owner must present the key id of
  the phrase it was given (a wrong phrase is refused before anything is stored
  or spent); a device may make an owner encrypted only while the owner has no
  event on the server and no other active device, so that no plaintext is ever
  stored for an encrypted owner and no device syncs it in plaintext;
- pushes: an encrypted owner's devices push only `Sealed` events under its key
  id, every other owner's devices none (`check_batch`);
- features that need plaintext (read API, today, calendar feed, digest) answer
  with one clear refusal (`refuse_plaintext_feature`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from core import codec
from core.events import NAME_BY_TYPE, Sealed
from core.log import LogEvent
from core.store import Row, Store
from sync.protocol import Refusal

from .accounts import Accounts, Device, Executor, Owner

SEALED_TOPIC: Final = NAME_BY_TYPE[Sealed]

#: What a device runs instead of a plaintext feature of the server.
_ON_DEVICE: Final = {
    "read API": "the same views are on every device: recip contacts, recip ledger, recip cold",
    "plan for today": "run 'recip today' on a device",
    "calendar feed": "a device can print its plan: 'recip today'",
    "email digest": "send it from a device: 'recip today --mail' (docs/nudges.md)",
}


def key_id_of(db: Executor, owner_id: str) -> str | None:
    """The owner's key id, or None if the owner is not end-to-end encrypted."""
    row = db.execute("SELECT key_id FROM e2e_owners WHERE owner_id = ?", (owner_id,)).fetchone()
    return None if row is None else str(row[0])


def owner_key_id(accounts: Accounts, owner_id: str) -> str | None:
    """`key_id_of` on the accounts database's own connection."""
    with accounts._lock:
        return key_id_of(accounts._db, owner_id)


def join_check(
    device_id: str,
    key_id: str | None,
    enable: bool,
    log_is_empty: Callable[[str], bool],
    now_ms: int,
) -> Callable[[Executor, Owner], None]:
    """The enrollment rule for a device presenting `key_id` (and asking to `enable`)."""

    def check(db: Executor, owner: Owner) -> None:
        held = key_id_of(db, owner.owner_id)
        if held is None:
            if enable and key_id is not None:
                _enable(db, owner.owner_id, device_id, key_id, log_is_empty, now_ms)
            elif key_id is not None:
                raise Refusal(
                    409,
                    "not_end_to_end",
                    f"owner {owner.name!r} is not end-to-end encrypted: enroll without a "
                    "recovery phrase, or make it encrypted with --e2e on its first device",
                )
            return
        if key_id is None:
            raise Refusal(
                409,
                "phrase_needed",
                f"owner {owner.name!r} is end-to-end encrypted: join with its recovery "
                "phrase (recip remote add URL --token TOKEN --phrase)",
            )
        if key_id != held:
            raise Refusal(
                403,
                "wrong_phrase",
                "this recovery phrase is not the owner's: nothing was stored; check the "
                "phrase shown when encryption was enabled",
            )

    return check


def enable(
    accounts: Accounts,
    device: Device,
    key_id: str,
    log_is_empty: Callable[[str], bool],
    now_ms: int,
) -> None:
    """Make the device's owner end-to-end encrypted (idempotent for the same key)."""
    with accounts._transaction() as db:
        held = key_id_of(db, device.owner_id)
        if held == key_id:
            return
        if held is not None:
            raise Refusal(
                409,
                "already_end_to_end",
                "this owner is already end-to-end encrypted under another key: "
                "join with its recovery phrase",
            )
        _enable(db, device.owner_id, device.device_id, key_id, log_is_empty, now_ms)


def rotate(accounts: Accounts, device: Device, key_id: str, new_key_id: str) -> None:
    """Replace the owner's key id (`recip e2e rotate`); idempotent once done.

    `key_id` must be the current one: of two devices rotating at once, one wins
    and the other is told to join with the new phrase.
    """
    with accounts._transaction() as db:
        held = key_id_of(db, device.owner_id)
        if held is None:
            raise Refusal(409, "not_end_to_end", "this owner is not end-to-end encrypted")
        if held == new_key_id:
            return
        if held != key_id:
            raise Refusal(
                409,
                "wrong_key",
                "the owner key was rotated by another device: enter its new recovery "
                "phrase with 'recip e2e rekey'",
            )
        db.execute(
            "UPDATE e2e_owners SET key_id = ? WHERE owner_id = ?", (new_key_id, device.owner_id)
        )


def _enable(
    db: Executor,
    owner_id: str,
    device_id: str,
    key_id: str,
    log_is_empty: Callable[[str], bool],
    now_ms: int,
) -> None:
    others = db.execute(
        "SELECT COUNT(*) FROM devices WHERE owner_id = ? AND device_id != ? AND revoked_at IS NULL",
        (owner_id, device_id),
    ).fetchone()[0]
    if others or not log_is_empty(owner_id):
        what = f"{others} other active device(s)" if others else "events in plain text"
        raise Refusal(
            409,
            "too_late_for_e2e",
            f"end-to-end encryption is chosen before anything is synced, but this owner "
            f"already has {what} on the server: enable it on a new owner (recip admin "
            "add-owner), from its first device",
        )
    db.execute("INSERT INTO e2e_owners VALUES (?, ?, ?)", (owner_id, key_id, now_ms))


def events_sealed(events: Sequence[LogEvent]) -> bool:
    """Whether any event of a batch is sealed."""
    return any(isinstance(event, Sealed) for event in events)


def check_batch(device: Device, events: Sequence[LogEvent]) -> None:
    """Refuse (409, nothing stored) a batch that does not match the owner's encryption.

    409 as for a clock ahead: each event is valid, but at odds with the owner.
    """
    for index, event in enumerate(events):
        if not isinstance(event, Sealed):
            if device.e2e_key_id is not None:
                _refuse_event(
                    "plaintext_refused",
                    index,
                    event,
                    "is in plain text, but this owner is end-to-end encrypted: the server "
                    "stores sealed events only",
                )
        elif device.e2e_key_id is None:
            _refuse_event(
                "not_end_to_end",
                index,
                event,
                "is sealed, but this owner is not end-to-end encrypted",
            )
        elif event.key_id != device.e2e_key_id:
            _refuse_event(
                "wrong_key",
                index,
                event,
                "is sealed under another key than the owner's (if the owner key was "
                "rotated, enter its new recovery phrase with 'recip e2e rekey')",
            )


def _refuse_event(code: str, index: int, event: LogEvent, why: str) -> None:
    raise Refusal(
        409,
        code,
        f"event #{index} ({event.event_id}) {why}; nothing of the batch was stored",
        event_id=event.event_id,
        index=index,
    )


def replacements(store: Store, events: Sequence[LogEvent]) -> list[Row]:
    """The rows to rewrite for sealed replacements (`sync.reseal`); refuses a mismatch.

    A replacement must take the place of a held sealed row of the same event (id
    and HLC): the server cannot check more, and needs no more, since only the
    owner's devices can seal under its key. Rows held as sent, and rows not held
    yet (they will come redacted with their device's push), change nothing.
    """
    sealed = [e for e in events if isinstance(e, Sealed)]  # all of them: check_batch
    held: dict[tuple[str, int], bytes] = {}
    for device_id in {e.device_id for e in sealed}:  # one read per device's range
        seqs = [e.seq for e in sealed if e.device_id == device_id]
        for row in store.stream(device_id, gt=min(seqs) - 1, lte=max(seqs)):
            held[(device_id, row.originator_version)] = row.state
    changed: list[Row] = []
    for index, event in enumerate(sealed):
        before_state = held.get((event.device_id, event.seq))
        state = codec.encode(event)
        if before_state is None or before_state == state:
            continue
        before = codec.decode(SEALED_TOPIC, before_state)
        if (before.event_id, before.hlc) != (event.event_id, event.hlc):
            raise Refusal(
                409,
                "conflict",
                f"replacement #{index} ({event.event_id}) is not the event held at "
                f"{event.device_id}/{event.seq}; nothing was replaced",
                event_id=event.event_id,
                index=index,
            )
        changed.append((event.device_id, event.seq, SEALED_TOPIC, state))
    return changed


def refuse_plaintext_feature(key_id: str | None, feature: str) -> None:
    """Refuse a feature that needs to read the owner's events, if they are encrypted."""
    if key_id is not None:
        raise Refusal(
            409,
            "end_to_end_encrypted",
            f"this owner's events are end-to-end encrypted: the server cannot read them, "
            f"so it offers no {feature}; {_ON_DEVICE[feature]}",
        )
