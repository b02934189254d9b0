"""Owners and enrollment (ADR 0113): invites, re-enrollment, names, admin commands.

Every rule is checked on SQLite and on PostgreSQL (`accounts` is parametrized):
both backends run the same `Accounts` code, over different connections.
"""

from __future__ import annotations

import json
import sqlite3
import unicodedata
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.main import cli
from core.ids import new_id
from server.accounts import (
    ENROLL_PREFIX,
    MAX_OWNER_NAME,
    OPEN_INVITE,
    Accounts,
    InvitePolicy,
    check_owner_name,
    hash_token,
)
from sync.protocol import Refusal
from tests.conftest import PG_URL

HOUR_MS = 3600 * 1000


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def accounts(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Accounts]:
    if request.param == "sqlite":
        opened = Accounts(tmp_path / "accounts.db")
        yield opened
        opened.close()
        return
    if not request.getfixturevalue("pg_available"):
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    from server.pg import PgBackend, drop_prefix

    url = f"{PG_URL}?prefix=t_{uuid.uuid4().hex[:12]}"
    backend = PgBackend(url, pool_size=2)
    yield backend.accounts
    backend.close()
    drop_prefix(url)


def refused(code: str, call: object, *args: object) -> Refusal:
    with pytest.raises(Refusal) as caught:
        call(*args)  # type: ignore[operator]
    assert caught.value.code == code, caught.value
    return caught.value


# -- invites -------------------------------------------------------------------------


def test_an_invite_enrolls_one_device_by_default(accounts: Accounts) -> None:
    owner, token = accounts.add_owner("alice")
    assert token.startswith(ENROLL_PREFIX)
    got, device_token = accounts.enroll(token, new_id(), "laptop")
    assert got == owner
    assert accounts.authenticate(f"Bearer {device_token}").owner_id == owner.owner_id
    refused("unauthorized", accounts.enroll, token, new_id(), "phone")


def test_an_invite_expires_after_24_hours_by_default(accounts: Accounts) -> None:
    start = 1_800_000_000_000
    accounts.clock = lambda: start
    _, token = accounts.add_owner("alice", InvitePolicy(uses=None))
    accounts.clock = lambda: start + 24 * HOUR_MS - 1
    accounts.enroll(token, new_id(), "laptop")
    accounts.clock = lambda: start + 24 * HOUR_MS
    refused("unauthorized", accounts.enroll, token, new_id(), "phone")


def test_uses_count_down_and_revoke_invites_ends_them(accounts: Accounts) -> None:
    owner, first = accounts.add_owner("alice")
    _, second, invite = accounts.invite("alice", InvitePolicy(uses=2, expires_s=None))
    assert invite.uses_left == 2 and invite.expires_at is None
    [info] = accounts.owner_infos()
    assert info.open_invites == 2
    accounts.enroll(second, new_id(), "a")
    assert accounts.owner_infos()[0].open_invites == 2  # one use of `second` left
    _, count = accounts.revoke_invites(owner.owner_id)
    assert count == 2
    refused("unauthorized", accounts.enroll, first, new_id(), "b")
    refused("unauthorized", accounts.enroll, second, new_id(), "c")
    assert accounts.owner_infos()[0].open_invites == 0


def test_a_refused_enrollment_spends_no_use(accounts: Accounts) -> None:
    _, token = accounts.add_owner("alice")
    _, other = accounts.add_owner("bob", OPEN_INVITE)
    taken = new_id()
    accounts.enroll(other, taken, "bob's phone")
    refused("device_exists", accounts.enroll, token, taken, "mine now")
    accounts.enroll(token, new_id(), "laptop")  # the single use is still there


def test_the_legacy_owner_token_still_enrolls_until_revoked(accounts: Accounts) -> None:
    """Owners created before invites keep their token: the migration path."""
    owner, _ = accounts.add_owner("alice")
    legacy = ENROLL_PREFIX + "old-style-never-expiring"
    accounts._db.execute(
        "UPDATE owners SET enroll_hash = ? WHERE owner_id = ?", (hash_token(legacy), owner.owner_id)
    )
    accounts.enroll(legacy, new_id(), "a")
    accounts.enroll(legacy, new_id(), "b")  # never-expiring, any number of devices
    _, count = accounts.revoke_invites("alice")
    assert count == 2  # the first invite and the legacy token
    refused("unauthorized", accounts.enroll, legacy, new_id(), "c")


# -- re-enrollment -------------------------------------------------------------------


def test_re_enrolling_needs_the_devices_current_token(accounts: Accounts) -> None:
    _, token = accounts.add_owner("alice", OPEN_INVITE)
    device = new_id()
    _, first = accounts.enroll(token, device, "laptop")
    refused("device_exists", accounts.enroll, token, device, "laptop")
    refused("device_exists", accounts.enroll, token, device, "laptop", "recip-device-wrong")
    _, second = accounts.enroll(token, device, "laptop", first)
    refused("unauthorized", accounts.authenticate, f"Bearer {first}")
    assert accounts.authenticate(f"Bearer {second}").device_id == device


def test_enroll_does_not_tell_another_owners_device_from_ones_own(accounts: Accounts) -> None:
    _, alice = accounts.add_owner("alice", OPEN_INVITE)
    _, bob = accounts.add_owner("bob", OPEN_INVITE)
    alices, bobs = new_id(), new_id()
    _, alice_device_token = accounts.enroll(alice, alices, "a")
    _, bob_device_token = accounts.enroll(bob, bobs, "b")
    own = refused("device_exists", accounts.enroll, alice, alices, "x")
    foreign = refused("device_exists", accounts.enroll, alice, bobs, "x")
    assert str(own).replace(alices, "ID") == str(foreign).replace(bobs, "ID")
    assert own.status == foreign.status
    # Even holding the other owner's device token does not move the device.
    proven = refused("device_exists", accounts.enroll, alice, bobs, "x", bob_device_token)
    assert str(proven) == str(foreign)
    assert accounts.authenticate(f"Bearer {bob_device_token}").device_id == bobs
    assert accounts.authenticate(f"Bearer {alice_device_token}").device_id == alices


def test_reset_device_lets_it_enroll_again_without_its_token(accounts: Accounts) -> None:
    _, token = accounts.add_owner("alice", OPEN_INVITE)
    device = new_id()
    _, old = accounts.enroll(token, device, "phone")
    accounts.reset_device("alice", "phone")
    refused("unauthorized", accounts.authenticate, f"Bearer {old}")
    _, new = accounts.enroll(token, device, "phone")
    assert accounts.authenticate(f"Bearer {new}").device_id == device
    refused("device_exists", accounts.enroll, token, device, "phone")  # reset is used up


def test_a_revoked_device_stays_revoked(accounts: Accounts) -> None:
    owner, token = accounts.add_owner("alice", OPEN_INVITE)
    device = new_id()
    _, current = accounts.enroll(token, device, "phone")
    accounts.revoke(owner.owner_id, device)
    refused("revoked", accounts.enroll, token, device, "phone", current)
    refused("revoked", accounts.reset_device, "alice", device)


# -- owners ----------------------------------------------------------------------------


def test_an_owner_name_is_taken_once(accounts: Accounts) -> None:
    accounts.add_owner("alice")
    refused("owner_exists", accounts.add_owner, "alice")
    refused("owner_exists", accounts.add_owner, "  alice ")
    assert [o.name for o in accounts.owners()] == ["alice"]
    assert accounts.owner_infos()[0].open_invites == 1  # the refused one left no invite


def test_rename_owner_keeps_names_unique_and_valid(accounts: Accounts) -> None:
    owner, _ = accounts.add_owner("alice")
    accounts.add_owner("bob")
    refused("owner_exists", accounts.rename_owner, "alice", "bob")
    refused("invalid_owner", accounts.rename_owner, "alice", "al\x07ice")
    assert accounts.rename_owner(owner.owner_id[:8], "  Alice  ").name == "Alice"
    assert [o.name for o in accounts.owners()] == ["Alice", "bob"]
    refused("not_found", accounts.find_owner, "alice")


_BAD = {"Cc", "Cf", "Zl", "Zp"}


@settings(max_examples=200)
@given(
    name=st.text(max_size=80) | st.text(st.characters(categories=["Cc", "Cf", "Zl"]), min_size=1)
)
def test_owner_names_are_trimmed_bounded_and_printable(name: str) -> None:
    stripped = name.strip()
    valid = 0 < len(stripped) <= MAX_OWNER_NAME and not any(
        unicodedata.category(c) in _BAD for c in stripped
    )
    if valid:
        assert check_owner_name(name) == stripped
    else:
        with pytest.raises(Refusal) as caught:
            check_owner_name(name)
        assert caught.value.code == "invalid_owner"


# -- the commands ----------------------------------------------------------------------


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return result.stdout


def fails(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 1, result.output
    return result.stderr


def test_the_admin_commands_on_a_data_directory(tmp_path: Path) -> None:
    data = ("--data", str(tmp_path / "server"))
    out = run("admin", "add-owner", "alice", *data)
    assert "1 device(s), expires in 1d" in out
    first = out.strip().splitlines()[-1]
    invited = run("admin", "invite", "alice", "--uses", "3", "--expires", "7d", *data)
    assert "3 device(s), expires in 1w" in invited
    assert "never expires" in run("admin", "invite", "alice", "--expires", "never", *data)
    assert "--expires" in fails("admin", "invite", "alice", "--expires", "soon", *data)
    assert "--uses" in fails("admin", "invite", "alice", "--uses", "0", *data)
    assert "no owner named 'carol'" in fails("admin", "invite", "carol", *data)
    assert "control characters" in fails("admin", "add-owner", "bad\x1bname", *data)

    accounts = Accounts(tmp_path / "server" / "accounts.db")
    try:
        accounts.enroll(first, new_id(), "laptop")
    finally:
        accounts.close()
    [owner] = json.loads(run("admin", "list-owners", "--json", *data))
    assert owner["name"] == "alice" and owner["devices"] == 1 and owner["open_invites"] == 2
    assert "laptop" in run("admin", "list-devices", "alice", *data)
    [device] = json.loads(run("admin", "list-devices", "alice", "--json", *data))
    assert device["name"] == "laptop" and device["revoked_at"] is None
    assert "2 open" in run("admin", "revoke-invites", "alice", *data)
    assert "now ada" in run("admin", "rename-owner", "alice", "ada", *data)
    assert "ada" in run("admin", "list-owners", *data)
    assert "may enroll again" in run("admin", "reset-device", "ada", "laptop", *data)


def test_admin_finds_the_data_through_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "recip.toml"
    config.write_text(f'data = "{tmp_path / "from-file"}"\n')
    run("admin", "add-owner", "alice", "--config", str(config))
    with sqlite3.connect(tmp_path / "from-file" / "accounts.db") as conn:
        assert conn.execute("SELECT name FROM owners").fetchall() == [("alice",)]


def test_recip_remote_add_again_proves_the_device_with_its_token(tmp_path: Path) -> None:
    from server.run import BackgroundServer

    data = tmp_path / "server"
    home = ("--home", str(tmp_path / "laptop"))
    run("admin", "add-owner", "alice", "--uses", "3", "--data", str(data))
    token = run("admin", "invite", "alice", "--uses", "3", "--data", str(data)).split()[-1]
    with BackgroundServer(data) as url:
        run(*home, "init", "--device-name", "laptop")
        run(*home, "remote", "add", url, "--token", token)
        first = json.loads((tmp_path / "laptop" / "remote.json").read_text())["device_token"]
        run(*home, "remote", "add", url, "--token", token)  # sends its current token
        second = json.loads((tmp_path / "laptop" / "remote.json").read_text())["device_token"]
        assert first != second
        # The same device id from a home that lost its token is refused...
        (tmp_path / "laptop" / "remote.json").unlink()
        assert "already enrolled" in fails(*home, "remote", "add", url, "--token", token)
        # ... until the administrator resets it.
        run("admin", "reset-device", "alice", "laptop", "--data", str(data))
        run(*home, "remote", "add", url, "--token", token)
        assert "pushed 0" in run(*home, "sync")


@settings(max_examples=40, deadline=None)
@given(uses=st.integers(1, 5), attempts=st.integers(0, 8))
def test_an_invite_enrolls_exactly_as_many_devices_as_its_uses(
    uses: int, attempts: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    accounts = Accounts(tmp_path_factory.mktemp("acc") / "accounts.db")
    try:
        _, token = accounts.add_owner("alice", InvitePolicy(uses=uses))
        enrolled = 0
        for i in range(attempts):
            try:
                accounts.enroll(token, new_id(), f"d{i}")
                enrolled += 1
            except Refusal as refusal:
                assert refusal.code == "unauthorized"
        assert enrolled == min(uses, attempts)
        assert len(accounts.devices(accounts.find_owner("alice").owner_id)) == enrolled
    finally:
        accounts.close()


def test_devices_racing_for_the_last_use_of_an_invite_enroll_once(accounts: Accounts) -> None:
    from concurrent.futures import ThreadPoolExecutor

    _, token = accounts.add_owner("alice", InvitePolicy(uses=1))

    def attempt(i: int) -> bool:
        try:
            accounts.enroll(token, new_id(), f"d{i}")
        except Refusal:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        won = list(pool.map(attempt, range(16)))
    assert won.count(True) == 1


def test_set_email_finds_the_default_data_like_every_admin_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECIP_DATA", str(tmp_path / "server"))
    run("admin", "add-owner", "alice")
    assert "alice@example.org" in run("admin", "set-email", "alice", "alice@example.org")
