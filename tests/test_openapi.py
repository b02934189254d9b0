"""The OpenAPI contract: every route described, and a live server that keeps it.

schemathesis generates requests from `/openapi.json` (valid and invalid ones) and
checks every answer: never a 5xx, a documented status, the documented content
type, a body that matches its schema. The event stream is excluded from the
fuzzing (it never ends); its description is checked, and tests/test_stream.py
covers its behaviour.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from schemathesis import checks
from starlette.routing import Route

from core import commands
from core.ids import new_id
from core.log import EventLog
from core.store import open_store
from server.accounts import OPEN_INVITE
from server.openapi import document
from server.run import BackgroundServer
from sync.http import HttpTransport, enroll
from sync.replica import Replica

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

NOW = commands.Now(1_790_000_000_000, 0)
#: Generated requests per operation (docs/reliability.md records a long run).
EXAMPLES = int(os.environ.get("OPENAPI_EXAMPLES", "40"))
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.positive_data_acceptance,
]


def test_every_route_of_the_app_is_described(tmp_path: Path) -> None:
    server = BackgroundServer(tmp_path / "server")
    described = document()["paths"]
    routes = [r for r in server.app.routes if isinstance(r, Route)]
    assert {r.path for r in routes} == set(described)
    for route in routes:
        methods = {m.lower() for m in route.methods or ()} - {"head"}
        assert methods == set(described[route.path]), route.path
    schemas = document()["components"]["schemas"]
    assert {"SyncRequest", "SyncResponse", "LedgerRow", "ColdRow", "Poke"} <= set(schemas)
    assert list(schemas["LedgerRow"]["properties"])[:3] == ["contact_id", "name", "gives"]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A server whose owner has a few contacts, asks and gives, and a device token."""
    tmp = tmp_path_factory.mktemp("openapi")
    server = BackgroundServer(tmp / "server")
    url = server.start()
    owner, token = server.service.accounts.add_owner("alice", OPEN_INVITE)
    reply = enroll(url, token, new_id(), "laptop")
    enroll(url, token, new_id(), "phone")  # so that a random revoke prefix is rarely unique
    log = EventLog(open_store(str(tmp / "laptop.db")), reply.device_id)
    ann = log.append([commands.add_contact(NOW, "Ann", circle="close")])[0]
    log.append([commands.add_contact(NOW, "Bob")])
    log.append([commands.make_ask(log_state(log), NOW, ann.event_id, "a reference")])
    with HttpTransport(url, reply.device_token) as transport:
        Replica(log, transport, owner.owner_id).sync()
    yield url, {"Authorization": f"Bearer {reply.device_token}"}
    server.stop()


def log_state(log: EventLog) -> Any:
    from core.state import State

    return State(log.events())


def test_the_live_server_keeps_its_contract(live: tuple[str, dict[str, str]]) -> None:
    """Every operation (but the endless stream and revocation, which would end the
    fuzzing device's access): up to 40 generated requests each."""
    url, auth = live
    loaded = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations: list[Any] = [result.ok() for result in loaded.get_all_operations()]  # type: ignore[union-attr]
    fuzzed = [op for op in operations if op.path not in ("/v1/stream", "/v1/devices/revoke")]
    # (schemathesis leaves out the document it was loaded from)
    assert {op.path for op in fuzzed} == set(document()["paths"]) - {
        "/openapi.json",
        "/v1/stream",
        "/v1/devices/revoke",
    }
    calls = [fuzz(op, url, {} if op.path == "/v1/enroll" else auth) for op in fuzzed]
    print(f"schemathesis: {sum(calls)} requests over {len(fuzzed)} operations")


def fuzz(operation: Any, url: str, headers: dict[str, str]) -> int:
    """Generated requests against one operation, checked; returns how many were sent."""
    sent = [0]

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, suppress_health_check=list(HealthCheck), deadline=None)
    def keeps(case: Any) -> None:
        assume(not any(states_one_contact_twice(e) for e in events_of(case)))
        sent[0] += 1
        case.call_and_validate(base_url=url, headers=headers, checks=CHECKS)

    keeps()
    return sent[0]


def events_of(case: Any) -> list[Any]:
    body = case.body if isinstance(case.body, dict) else {}
    events = body.get("events", [])
    return events if isinstance(events, list) else []


def states_one_contact_twice(event: Any) -> bool:
    """An introduction of a contact to itself, or a contact merged into itself: refused
    (422), and the one rule JSON Schema cannot state (two fields that must differ), so
    its document says it in words and generated cases that break it are left out."""
    if not isinstance(event, dict):
        return False
    pair = event.get("contact_ids")
    if event.get("type") == "ContactsMerged":
        return "survivor_id" in event and event.get("survivor_id") == event.get("absorbed_id")
    return bool(
        event.get("type") == "IntroductionMade"
        and isinstance(pair, list)
        and len(pair) == 2
        and pair[0] == pair[1]
    )


def test_the_stream_answers_as_described(live: tuple[str, dict[str, str]]) -> None:
    url, auth = live
    described = document()["paths"]["/v1/stream"]["get"]["responses"]
    with httpx.stream("GET", f"{url}/v1/stream", headers=auth, timeout=10) as answer:
        assert str(answer.status_code) in described
        assert answer.headers["content-type"].split(";")[0] in described["200"]["content"]
    refused = httpx.get(f"{url}/v1/stream", headers={"Last-Event-ID": "x", **auth})
    assert str(refused.status_code) in described
    assert set(refused.json()) <= {"error", "message"}
