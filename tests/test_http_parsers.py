"""The server over real sockets with either HTTP/1.1 parser (ADR 0122).

httptools (C) is a dependency and uvicorn picks it when importable; h11 (pure
Python) is the fallback where it is not. Both must serve the same exchange, the
same refusals and the same keep-alive connection, so each runs the same script.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import msgspec
import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from core import codec, commands
from core.clock import pack, wall_ms
from core.events import stamp
from core.ids import new_id
from server.accounts import OPEN_INVITE, Accounts
from server.run import BackgroundServer, HttpParser
from sync import protocol
from sync.protocol import SyncRequest, SyncResponse

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PARSERS: dict[HttpParser, type] = {"h11": H11Protocol, "httptools": HttpToolsProtocol}


def test_auto_picks_httptools_when_installed() -> None:
    config = uvicorn.Config(lambda scope, receive, send: None, http="auto")
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol


def _batch(device_id: str, first: int, count: int) -> list[msgspec.Raw]:
    now = commands.Now.system()
    return [
        msgspec.Raw(
            codec.encode(
                stamp(
                    commands.add_contact(now, f"person {seq}"),
                    event_id=new_id(),
                    device_id=device_id,
                    seq=seq,
                    hlc=pack(wall_ms(), seq),
                )
            )
        )
        for seq in range(first, first + count)
    ]


@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_both_parsers_serve_the_same_exchange(tmp_path: Path, parser: HttpParser) -> None:
    data = tmp_path / "server"
    accounts = Accounts(data / "accounts.db")
    _, invite = accounts.add_owner("alice", OPEN_INVITE)
    accounts.close()
    server = BackgroundServer(data, http=parser)
    with server as url, httpx.Client(base_url=url) as client:
        assert server._server.config.http_protocol_class is PARSERS[parser]
        devices = []
        for name in ("laptop", "phone"):
            device_id = new_id()
            answer = client.post(
                "/v1/enroll", json={"token": invite, "device_id": device_id, "device_name": name}
            )
            assert answer.status_code == 200, answer.text
            devices.append((device_id, answer.json()["device_token"]))
        headers = {"Content-Type": protocol.MSGPACK, "Accept": protocol.MSGPACK}
        (laptop, laptop_token), (phone, phone_token) = devices
        # Three pushes on one keep-alive connection, then the phone pulls them all.
        for first in (1, 4, 7):
            body = protocol.encode(
                SyncRequest(device_id=laptop, events=_batch(laptop, first, 3), cursor=0),
                "msgpack",
            )
            answer = client.post(
                "/v1/sync",
                content=body,
                headers={**headers, "Authorization": f"Bearer {laptop_token}"},
            )
            assert answer.status_code == 200, answer.text
            assert msgspec.msgpack.decode(answer.content, type=SyncResponse).acked_seq == first + 2
        pull = protocol.encode(SyncRequest(device_id=phone, events=[], cursor=0), "msgpack")
        answer = client.post(
            "/v1/sync", content=pull, headers={**headers, "Authorization": f"Bearer {phone_token}"}
        )
        assert answer.status_code == 200
        assert len(msgspec.msgpack.decode(answer.content, type=SyncResponse).events) == 9
        # Refusals come back whole on the same connection.
        refused = client.post("/v1/sync", content=pull, headers=headers)
        assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
        too_big = client.post(
            "/v1/sync",
            content=b"x" * (server.config.max_body + 1),
            headers={**headers, "Authorization": f"Bearer {phone_token}"},
        )
        assert too_big.status_code == 413
        assert client.get("/healthz").json() == {"status": "ok"}
