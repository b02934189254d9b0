"""An owner's full erase (ADR 0131): a canary grepped across the server's bytes.

A device records a canary (the owner's name, a contact's name, a note, a digest
address) and syncs with a real `recip serve`; `recip admin remove-owner` runs
while the server is up and has the owner open. Afterwards no file of the
server's data directory (WAL included) and no PostgreSQL row holds a canary,
and the device's token (sync, read API and calendar feed alike) is refused.
"""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from cli.main import cli
from server.run import free_port
from sync.remote import load as load_remote
from tests.conftest import PG_URL, run_recip_process
from tests.test_e2e_sync import OPEN, LiveServer, server  # noqa: F401 (the live server fixture)
from tests.test_forget import PgServer, files_holding, pg_rows_holding, recip

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

OWNER = "Quincy Canaryowner"
CANARIES = (
    OWNER,
    "Zebulon Removalcanary",
    "canarynote-vermilion",
    "quincy@removal-canary.example",
)


def enrolled_device(tmp_path: Path, live: LiveServer) -> tuple[Path, str]:
    """A device of the new owner OWNER holding every canary, synced; its feed URL."""
    token = live.add_owner(OWNER, tmp_path / "admin")
    home = tmp_path / "laptop"
    recip(home, "init", "--device-name", "laptop")
    recip(home, "remote", "add", live.url, "--token", token, "--device-name", "laptop")
    zeb = recip(home, "contact", "add", CANARIES[1]).strip()
    recip(home, "note", zeb, CANARIES[2])
    recip(home, "sync")
    recip(home, "remote", "digest", CANARIES[3], "--weekday", "mon", "--hour", "8")
    feed = recip(home, "remote", "feed").strip()
    assert httpx.get(feed).status_code == 200
    return home, feed


def remove(live: LiveServer, scratch: Path, *storage: str) -> str:
    out = run_recip_process(scratch, "admin", "remove-owner", OWNER, "--yes", *storage)
    return out.stdout


def assert_refused(live: LiveServer, home: Path, feed: str) -> None:
    """Every token of the removed owner is refused, a push included (nothing stored)."""
    recip(home, "note", recip(home, "contact", "add", "Late Canarycontact").strip(), "late")
    result = CliRunner().invoke(cli, ["--home", str(home), "sync"])
    assert result.exit_code != 0
    assert "invalid device token" in result.output
    headers = {"Authorization": f"Bearer {load_remote(home).device_token}"}
    assert httpx.get(f"{live.url}/v1/ledger", headers=headers).status_code == 401
    assert httpx.get(feed).status_code in (401, 404)


def test_remove_owner_erases_a_sqlite_owner(
    tmp_path: Path,
    server: LiveServer,  # noqa: F811 (the fixture)
) -> None:
    home, feed = enrolled_device(tmp_path, server)
    headers = {"Authorization": f"Bearer {load_remote(home).device_token}"}
    assert CANARIES[1] in httpx.get(f"{server.url}/v1/ledger", headers=headers).text
    assert files_holding(server.data, CANARIES), "the canary must reach the server first"

    out = remove(server, tmp_path / "admin", "--data", str(server.data))
    assert f"owner {OWNER}" in out and "removed" in out
    assert_refused(server, home, feed)
    assert files_holding(server.data, (*CANARIES, "Late Canarycontact")) == []
    assert list((server.data / "owners").glob("*")) == []


def test_remove_owner_erases_a_postgresql_owner(tmp_path: Path, pg_schema: str) -> None:
    url = f"{PG_URL}?prefix={pg_schema}"
    live = PgServer(
        tmp_path / "server", free_port(), options=("--database-url", url), database_url=url
    )
    live.start()
    try:
        home, feed = enrolled_device(tmp_path, live)
        headers = {"Authorization": f"Bearer {load_remote(home).device_token}"}
        assert CANARIES[1] in httpx.get(f"{live.url}/v1/ledger", headers=headers).text
        assert pg_rows_holding(pg_schema, CANARIES), "the canary must reach PostgreSQL first"
        recip(home, "sync")  # the server's cached authentication of this token is warm

        remove(live, tmp_path / "admin", "--database-url", url, "--data", str(live.data))
        assert_refused(live, home, feed)
        assert pg_rows_holding(pg_schema, (*CANARIES, "Late Canarycontact")) == []
        assert files_holding(live.data, CANARIES) == []
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            schemas = conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                (pg_schema.replace("_", r"\_") + r"\_%",),
            ).fetchall()
        assert schemas == [], "the owner's schema is dropped and not recreated"
    finally:
        live.kill(signal.SIGTERM)


def test_remove_owner_refuses_an_unknown_name_and_a_no(tmp_path: Path) -> None:
    data = tmp_path / "server"
    run_recip_process(tmp_path, "admin", "add-owner", "ada", *OPEN, "--data", str(data))
    unknown = run_recip_process(
        tmp_path, "admin", "remove-owner", "bob", "--yes", "--data", str(data), check=False
    )
    assert unknown.returncode != 0
    assert unknown.stderr.strip() == "error: no owner named 'bob'"
    declined = CliRunner().invoke(
        cli, ["admin", "remove-owner", "ada", "--data", str(data)], input="n\n"
    )
    assert declined.exit_code == 1
    assert "nothing removed" in declined.stderr
    listing = run_recip_process(tmp_path, "admin", "list-owners", "--data", str(data))
    assert "ada" in listing.stdout


def test_a_removed_owner_is_never_reopened(tmp_path: Path) -> None:
    """A request authenticated just before the removal, or a stream's poll, opens nothing."""
    from server.removal import remove_owner
    from server.service import ServerConfig, SyncService
    from sync.protocol import Refusal

    data = tmp_path / "server"
    service = SyncService(ServerConfig(data=data))
    try:
        owner, _ = service.accounts.add_owner("ada")
        remove_owner(data, None, "ada")
        with pytest.raises(Refusal) as opened, service.log(owner.owner_id):
            pass
        with pytest.raises(Refusal) as polled:
            service.position(owner.owner_id)
        assert (opened.value.status, polled.value.status) == (401, 401)
        assert not service.path(owner.owner_id).exists()
    finally:
        service.close()
