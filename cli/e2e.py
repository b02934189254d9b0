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


def show_phrase(key: OwnerKey) -> None:
    """Print the recovery phrase, once, with what it is for."""
    from sync.phrase import to_phrase

    click.echo(
        "this owner is now end-to-end encrypted. Its recovery phrase (shown only now):\n\n"
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
    import msgspec

    from sync import http
    from sync.protocol import Refusal
    from sync.seal import OwnerKey

    config = remotes.load(home.path)
    key = config.key() or OwnerKey.generate()
    # The key is kept before the server is told, so that no outcome of the call
    # can leave the owner encrypted under a key that no device holds; it is
    # dropped again only if the server refused.
    keyed = msgspec.structs.replace(config, owner_key=remotes.key_text(key))
    remotes.save(home.path, keyed)
    try:
        http.e2e_enable(config.url, config.device_token, key.key_id)
    except Refusal:
        remotes.save(home.path, config)
        raise
    show_phrase(key)


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
