"""End-to-end encryption on this device (ADR 0135).

- `recip remote add URL --token T --e2e`: enroll the owner's first device and
  make the owner encrypted; `--phrase` joins an encrypted owner (`cli.remote`).
- `recip e2e enable`: make the owner of this (already enrolled) device encrypted.
- `recip e2e status`: whether this device's owner is encrypted.

The recovery phrase is shown once, when the key is made: it is the only way to
add a device or to recover the owner's history if every device is lost.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from core.errors import ValidationError
from sync import remote as remotes

from .home import Home

if TYPE_CHECKING:
    from sync.seal import OwnerKey

#: Where scripts (and tests) give the phrase instead of typing it.
PHRASE_ENV = "RECIP_PHRASE"


def read_phrase() -> OwnerKey:
    """The owner key of a phrase typed at the prompt (hidden) or given in $RECIP_PHRASE."""
    from sync.phrase import from_phrase
    from sync.seal import OwnerKey

    text = os.environ.get(PHRASE_ENV)
    if text is None:
        text = click.prompt("recovery phrase", hide_input=True, err=True)
    return OwnerKey(from_phrase(text))


def show_phrase(key: OwnerKey, rotated: bool = False) -> None:
    """Print the recovery phrase, once, with what it is for."""
    from sync.phrase import to_phrase

    what = "has a new key" if rotated else "is now end-to-end encrypted"
    click.echo(
        f"this owner {what}. Its recovery phrase (shown only now):\n\n"
        f"    {to_phrase(key.key)}\n\n"
        "Write it down and keep it safe. Every other device joins with it "
        "('recip remote add URL --token TOKEN --phrase', or the web app); it is the "
        "only way back to your history if this device is lost. The server never sees it."
    )


@click.group("e2e")
def e2e_group() -> None:
    """End-to-end encryption of this device's owner."""


@e2e_group.command("enable")
@click.pass_obj
def enable(home: Home) -> None:
    """Make this device's owner end-to-end encrypted (before anything is synced).

    Run again after a failure, it retries with the same key (the server takes
    the same key twice without harm).
    """
    from sync import http
    from sync.protocol import Refusal
    from sync.seal import OwnerKey

    config = remotes.load(home.path)
    key = config.key() or OwnerKey.generate()
    # The key is kept before the server is told, so that no outcome of the call
    # can leave the owner encrypted under a key that no device holds; it is
    # dropped again only if the server refused.
    remotes.save(home.path, config.with_key(key))
    try:
        http.e2e_enable(config.url, config.device_token, key.key_id)
    except Refusal:
        remotes.save(home.path, config)
        raise
    show_phrase(key)


@e2e_group.command("rotate")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def rotate(home: Home, yes: bool) -> None:
    """Replace the owner key: the server's copy is sealed again under a new phrase.

    For a phrase that may have leaked. This device syncs, the server takes the
    new key id, and every row it holds is sealed again under the new key and
    swapped in place. Every other device then needs the new phrase ('recip e2e
    rekey'); until then its syncs are refused with that advice. Run again
    after a failure: it resumes with the same new key.
    """
    from sync import http, reseal
    from sync.protocol import Refusal
    from sync.replica import Replica
    from sync.seal import OwnerKey

    config = remotes.load(home.path)
    key = config.key()
    if key is None:
        raise ValidationError(f"{config.owner_name} is not end-to-end encrypted")
    if not yes:
        click.confirm(
            "rotate the owner key? Every other device will need the new recovery phrase",
            abort=True,
            err=True,
        )
    server_key = http.e2e_status(config.url, config.device_token).key_id
    resuming = server_key in {old.key_id for old in key.older}
    if server_key != key.key_id and not resuming:
        raise ValidationError(
            "this device does not hold the owner's current key: 'recip e2e rekey' first"
        )
    log = home.open_log(restoring=True)
    try:
        with http.HttpTransport(config.url, config.device_token) as transport:

            def post(body: bytes) -> bytes:
                return transport.request("POST", "/v1/e2e/replace", body)

            if resuming:  # a rotation that did not reach the server: the same new key
                new = key
                old = next(o for o in key.older if o.key_id == server_key)
            else:
                Replica(log, transport, config.owner_id, key=key).sync()  # all, both ways
                rotated = config.with_key(OwnerKey.generate())
                remotes.save(home.path, rotated)  # kept before the server is told
                old, fresh = key, rotated.key()
                assert fresh is not None  # with_key set it
                new = fresh
            try:
                http.e2e_rotate(config.url, config.device_token, old.key_id, new.key_id)
            except Refusal:
                if not resuming:
                    remotes.save(home.path, config)
                raise
            for _ in range(3):  # rows pushed meanwhile under the old key come back
                reseal.replace(log, new, reseal.all_rows(log), post, transport.format)
                if not Replica(log, transport, config.owner_id, key=new).sync().pulled:
                    break
    finally:
        home.close_log(log)
    show_phrase(new, rotated=True)


@e2e_group.command("rekey")
@click.pass_obj
def rekey(home: Home) -> None:
    """Take the owner's new key after another device rotated it (asks for the new phrase)."""
    from sync import http

    config = remotes.load(home.path)
    current = config.key()
    if current is None:
        raise ValidationError(
            f"this device syncs {config.owner_name} in plain text: to join an encrypted "
            "owner, 'recip remote add URL --token TOKEN --phrase'"
        )
    new = read_phrase()
    if http.e2e_status(config.url, config.device_token).key_id != new.key_id:
        raise ValidationError("this recovery phrase is not the owner's current key")
    if new.key_id == current.key_id:
        click.echo("this device already holds the owner's current key")
        return
    remotes.save(home.path, config.with_key(new))
    click.echo(f"{config.owner_name}: this device now holds the owner's new key")


@e2e_group.command("status")
@click.pass_obj
def status(home: Home) -> None:
    """Whether this device's owner is end-to-end encrypted, as the server sees it."""
    from sync import http

    config = remotes.load(home.path)
    answer = http.e2e_status(config.url, config.device_token)
    key = config.key()
    if answer.key_id is None:
        click.echo(f"{config.owner_name}: not end-to-end encrypted")
    elif key is not None and key.key_id == answer.key_id:
        click.echo(f"{config.owner_name}: end-to-end encrypted (key {answer.key_id})")
    else:
        raise ValidationError(
            f"{config.owner_name} is end-to-end encrypted (key {answer.key_id}) but this "
            "device does not hold that key: enroll it again with --phrase"
        )


def register(group: click.Group) -> None:
    """Add this module's commands to the `recip` group."""
    group.add_command(e2e_group)
