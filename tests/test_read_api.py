"""The read API answers what the CLI prints on a device holding the same events.

A device fills itself with the sample network (`recip demo`), syncs to a real
`recip serve` (SQLite, or PostgreSQL with two workers), and every view read over
HTTP must equal, byte for byte once parsed, the device's own `--json` output.
After one more push, a read through any worker reflects it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from cli.home import Home
from sample.history import generate
from sync.remote import load as load_remote
from tests.conftest import Recip
from tests.scale_support import Served, served_server
from tests.test_views_cli import COLD_KEYS, LEDGER_KEYS

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
AS_OF = "2026-11-20"


@pytest.fixture(params=["sqlite", "postgres-2-workers"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    yield from served_server(request, tmp_path)


def cli(home: Path, *args: str) -> str:
    """`recip` in process (click's runner): the device's own output, quickly."""
    return Recip(home).ok(*args)


def fill(home: Path) -> None:
    """The sample network (merges, retractions, asks with outcomes), all recorded by
    this one device, so that a push gives the server every event it holds."""
    log = Home(home).open_log()
    try:
        device = Home(home).device().device_id
        log.ingest(generate(11, contacts=25, years=1.5, end=date(2026, 11, 1), device_ids=[device]))
    finally:
        log.store.close()


def test_every_view_over_http_equals_the_devices_own(tmp_path: Path, served: Served) -> None:
    token = served.add_owner("alice", tmp_path / "admin")
    home = tmp_path / "laptop"
    cli(home, "init", "--device-name", "laptop")
    fill(home)
    cli(home, "remote", "add", served.url, "--token", token)
    cli(home, "sync")
    auth = {"Authorization": f"Bearer {load_remote(home).device_token}"}
    listing = json.loads(cli(home, "contact", "list", "--all", "--json"))
    some = next(c for c in listing if c["merged_into"] is None)["contact_id"]

    with httpx.Client(base_url=served.url, headers=auth, timeout=60) as http:

        def get(path: str, **params: str) -> object:
            answer = http.get(path, params=params)
            assert answer.status_code == 200, (path, answer.text)
            assert answer.headers["content-type"] == "application/json"
            return answer.json()

        pairs = [
            (get("/v1/contacts"), ("contact", "list", "--json")),
            (get("/v1/contacts", all="true"), ("contact", "list", "--all", "--json")),
            (get("/v1/ledger", as_of=AS_OF), ("ledger", "--as-of", AS_OF, "--json")),
            (get("/v1/cold", as_of=AS_OF), ("cold", "--as-of", AS_OF, "--json")),
            (
                get("/v1/cold", as_of=AS_OF, all="true"),
                ("cold", "--all", "--as-of", AS_OF, "--json"),
            ),
            (get("/v1/stats", as_of=AS_OF), ("stats", "--as-of", AS_OF, "--json")),
            (get(f"/v1/contacts/{some}/timeline"), ("timeline", some, "--json")),
        ]
        for over_http, command in pairs:
            assert over_http == json.loads(cli(home, *command)), command
        ledger = get("/v1/ledger", as_of=AS_OF)
        assert isinstance(ledger, list) and ledger
        assert list(ledger[0]) == LEDGER_KEYS
        cold = get("/v1/cold", as_of=AS_OF, all="true")
        assert isinstance(cold, list) and cold
        assert list(cold[0]) == COLD_KEYS

        # A read right after a push reflects it, whichever worker answers.
        zed = cli(home, "contact", "add", "Zed Newcomer").strip()
        cli(home, "sync")
        for _ in range(6):  # a new connection each time: both workers answer some
            with httpx.Client(base_url=served.url, headers=auth) as fresh:
                names = {c["contact_id"] for c in fresh.get("/v1/contacts").json()}
            assert zed in names

        # One resolver (core.names) behind the CLI and the read API: same answers.
        for ref in ("zed", "ZED newc", zed[-8:]):
            assert get(f"/v1/contacts/{ref}/timeline") == json.loads(
                cli(home, "timeline", ref, "--json")
            )
        cli(home, "contact", "add", "Zed Other")
        cli(home, "sync")
        answer = http.get("/v1/contacts/zed/timeline")
        assert answer.status_code == 409 and "Zed Other" in answer.text
        assert "Zed Newcomer" in answer.text

        assert http.get(f"/v1/contacts/{uuid.uuid4()}/timeline").status_code == 404
        assert http.get("/v1/ledger", params={"as_of": "someday"}).status_code == 400
        assert http.get("/v1/cold", params={"all": "maybe"}).status_code == 400
        assert httpx.get(f"{served.url}/v1/ledger").status_code == 401


def test_owners_read_only_their_own_views(tmp_path: Path, served: Served) -> None:
    homes = {}
    for owner in ("alice", "bob"):
        token = served.add_owner(owner, tmp_path / "admin")
        home = homes[owner] = tmp_path / owner
        cli(home, "init", "--device-name", owner)
        cli(home, "remote", "add", served.url, "--token", token)
        cli(home, "contact", "add", f"friend of {owner}")
        cli(home, "sync")
    for owner, home in homes.items():
        auth = {"Authorization": f"Bearer {load_remote(home).device_token}"}
        names = [c["name"] for c in httpx.get(f"{served.url}/v1/contacts", headers=auth).json()]
        assert names == [f"friend of {owner}"]
