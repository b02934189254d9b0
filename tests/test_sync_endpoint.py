"""`POST /v1/sync` as a bare ASGI app: what Starlette's objects did for it, it still does.

The route reads its headers and body off the ASGI messages itself, so the edges a
`Request` used to cover are checked here: the method, a malformed length, a body
that arrives in pieces, a client that leaves mid-body, the answer's headers, and
the refusal count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.types import Message, Scope

from core.clock import pack, wall_ms
from core.events import ContactAdded
from core.ids import new_id
from server.accounts import OPEN_INVITE
from server.app import create_app
from server.service import ServerConfig, SyncService
from server.sync_endpoint import read_body
from sync import protocol
from sync.protocol import EnrollRequest, EnrollResponse, Refusal, SyncRequest, SyncResponse

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class Served:
    def __init__(self, client: TestClient, service: SyncService, token: str) -> None:
        self.client, self.service = client, service
        self.device_id = new_id()
        body = EnrollRequest(token=token, device_id=self.device_id, device_name="laptop")
        answer = client.post(
            "/v1/enroll",
            content=protocol.encode(body, "json"),
            headers={"Content-Type": protocol.JSON},
        )
        assert answer.status_code == 200, answer.text
        enrolled = protocol.decode(answer.content, EnrollResponse, "json")
        self.owner_id = enrolled.owner_id
        self.auth = {"Authorization": f"Bearer {enrolled.device_token}"}

    def body(self, seq: int = 1) -> bytes:
        event = ContactAdded(
            event_id=new_id(),
            device_id=self.device_id,
            seq=seq,
            hlc=pack(wall_ms(), seq),
            occurred_at=wall_ms(),
            name="Ann",
        )
        request = SyncRequest(
            device_id=self.device_id, events=[protocol.event_to_wire(event, "msgpack")]
        )
        return protocol.encode(request, "msgpack")

    def held(self) -> int:
        with self.service.log(self.owner_id) as log:
            return len(list(log.events()))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    config = ServerConfig(data=tmp_path / "data", max_body=64 * 1024)
    service = SyncService(config)
    _, token = service.accounts.add_owner("alice", OPEN_INVITE)
    with TestClient(create_app(config, service=service)) as client:
        yield Served(client, service, token)
    service.close()


def test_an_exchange_answers_with_its_length_and_type(served: Served) -> None:
    answer = served.client.post(
        "/v1/sync",
        content=served.body(),
        headers={"Content-Type": protocol.MSGPACK, "Accept": protocol.JSON, **served.auth},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == protocol.JSON
    assert int(answer.headers["content-length"]) == len(answer.content)
    assert protocol.decode(answer.content, SyncResponse, "json").acked_seq == 1
    assert served.held() == 1


def test_other_methods_are_405_with_allow(served: Served) -> None:
    answer = served.client.get("/v1/sync", headers=served.auth)
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"


def test_a_malformed_content_length_is_400_and_stores_nothing(served: Served) -> None:
    scope = _scope(served, [(b"content-length", b"twelve")])
    status, body = _call(served, scope, [served.body()])
    assert status == 400
    assert protocol.decode(body, protocol.ErrorBody, "json").error == "malformed"
    assert served.held() == 0


def test_a_body_in_pieces_is_joined(served: Served) -> None:
    whole = served.body()
    status, body = _call(served, _scope(served, []), [whole[:7], whole[7:20], whole[20:]])
    assert status == 200, body
    assert served.held() == 1


def test_a_client_gone_mid_body_gets_no_answer_and_stores_nothing(served: Served) -> None:
    whole = served.body()
    status, _ = _call(served, _scope(served, []), [whole[:10]], disconnect=True)
    assert status is None
    assert served.held() == 0


def test_refusals_are_counted_by_reason(served: Served) -> None:
    served.client.post("/v1/sync", content=b"x", headers={"Content-Type": protocol.MSGPACK})
    served.client.post(
        "/v1/sync", content=b"\xc1", headers={"Content-Type": protocol.MSGPACK, **served.auth}
    )
    metrics = served.client.get("/metrics").text
    assert 'recip_refusals_total{reason="unauthorized"} 1.0' in metrics
    assert 'recip_refusals_total{reason="malformed"} 1.0' in metrics


def test_read_body_bounds_the_declared_and_the_streamed_size() -> None:
    async def pieces(*chunks: bytes) -> bytes | None:
        queue = [
            {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
            for i, c in enumerate(chunks)
        ]

        async def receive() -> dict[str, Any]:
            return queue.pop(0)

        return await read_body(receive, None, 10)

    assert asyncio.run(pieces(b"12345", b"67890")) == b"1234567890"
    with pytest.raises(Refusal) as streamed:
        asyncio.run(pieces(b"123456", b"78901"))
    assert streamed.value.status == 413
    with pytest.raises(Refusal) as declared:
        asyncio.run(read_body(_never, b"11", 10))
    assert declared.value.status == 413


async def _never() -> dict[str, Any]:
    raise AssertionError("a body over the declared limit must not be read")


def _scope(served: Served, extra: list[tuple[bytes, bytes]]) -> Scope:
    token = served.auth["Authorization"].encode()
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/sync",
        "raw_path": b"/v1/sync",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"authorization", token),
            (b"content-type", protocol.MSGPACK.encode()),
            *extra,
        ],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "state": {},
    }


def _call(
    served: Served, scope: Scope, chunks: list[bytes], *, disconnect: bool = False
) -> tuple[int | None, bytes]:
    """Drive the app through the portal of the running TestClient (its lifespan is up)."""
    messages: list[Message] = [
        {"type": "http.request", "body": c, "more_body": disconnect or i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    if disconnect:
        messages.append({"type": "http.disconnect"})
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    portal = served.client.portal
    assert portal is not None
    portal.call(served.client.app, scope, receive, send)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return (starts[0]["status"] if starts else None), body
