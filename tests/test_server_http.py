"""The sync endpoint over HTTP (Starlette's TestClient): status codes, formats, refusals.

Every refusal test also checks that nothing of the refused batch was stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from core import codec
from core.clock import pack, wall_ms
from core.events import ContactAdded, Event, GiveMade, OpaqueEvent
from core.ids import new_id
from server.accounts import OPEN_INVITE
from server.app import create_app
from server.service import ServerConfig, SyncService
from sync import protocol
from sync.protocol import SyncRequest, SyncResponse

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

YEAR_MS = 365 * 24 * 3600 * 1000


@dataclass
class Enrolled:
    owner_id: str
    device_id: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Server:
    client: TestClient
    service: SyncService
    enroll_tokens: dict[str, str]
    #: Each enrolled device's current token: enrolling it again must present it.
    device_tokens: dict[str, str] = field(default_factory=dict)

    def enroll(self, owner: str, name: str = "laptop", device_id: str | None = None) -> Enrolled:
        device_id = device_id or new_id()
        body = {"token": self.enroll_tokens[owner], "device_id": device_id, "device_name": name}
        current = self.device_tokens.get(device_id)
        headers = {"Authorization": f"Bearer {current}"} if current else {}
        answer = self.client.post("/v1/enroll", json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        data = answer.json()
        self.device_tokens[device_id] = data["device_token"]
        return Enrolled(data["owner_id"], device_id, data["device_token"])

    def sync(
        self,
        device: Enrolled,
        events: list[Any] = (),  # type: ignore[assignment]
        *,
        cursor: int = 0,
        fmt: protocol.Format = "msgpack",
        headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> Any:
        raws = [e if isinstance(e, msgspec.Raw) else protocol.event_to_wire(e, fmt) for e in events]
        request = SyncRequest(device_id=device.device_id, events=raws, cursor=cursor, **fields)
        media = protocol.media_type(fmt)
        return self.client.post(
            "/v1/sync",
            content=protocol.encode(request, fmt),
            headers={"Content-Type": media, "Accept": media, **device.auth, **(headers or {})},
        )

    def held(self, owner_id: str) -> list[str]:
        with self.service.log(owner_id) as log:
            return [e.event_id for e in log.events()]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    config = ServerConfig(data=tmp_path / "data", max_body=64 * 1024)
    service = SyncService(config)
    tokens = {name: service.accounts.add_owner(name, OPEN_INVITE)[1] for name in ("alice", "bob")}
    with TestClient(create_app(config, service=service)) as client:
        yield Server(client, service, tokens)
    service.close()


def contact(device: Enrolled, seq: int, name: str = "Ann", **envelope: Any) -> ContactAdded:
    fields: dict[str, Any] = {
        "event_id": new_id(),
        "device_id": device.device_id,
        "seq": seq,
        "hlc": pack(wall_ms(), seq),
        "occurred_at": wall_ms(),
    }
    fields.update(envelope)
    return ContactAdded(name=name, **fields)


def reply(answer: Any, fmt: protocol.Format = "msgpack") -> SyncResponse:
    assert answer.status_code == 200, answer.text
    result: SyncResponse = protocol.decode(answer.content, SyncResponse, fmt)
    return result


def refused(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert body["error"] == code, body
    assert body["message"]
    return body


# -- health and enrollment ---------------------------------------------------------


def test_healthz(server: Server) -> None:
    assert server.client.get("/healthz").status_code == 200


def test_enrollment_gives_a_device_token_and_stores_only_its_hash(
    server: Server, tmp_path: Path
) -> None:
    device = server.enroll("alice")
    assert device.token != server.enroll_tokens["alice"]
    accounts = (tmp_path / "data" / "accounts.db").read_bytes()
    for suffix in ("-wal",):
        wal = tmp_path / "data" / f"accounts.db{suffix}"
        if wal.exists():
            accounts += wal.read_bytes()
    assert device.token.encode() not in accounts
    assert server.enroll_tokens["alice"].encode() not in accounts
    assert reply(server.sync(device)).acked_seq == 0


def test_enrollment_with_a_wrong_token_is_refused(server: Server) -> None:
    body = {"token": "recip-enroll-nope", "device_id": new_id(), "device_name": "x"}
    refused(server.client.post("/v1/enroll", json=body), 401, "unauthorized")
    device = server.enroll("alice")
    body["token"] = device.token
    refused(server.client.post("/v1/enroll", json=body), 401, "wrong_token")


# -- authentication -------------------------------------------------------------------


def test_missing_malformed_wrong_and_enrollment_tokens_get_401(server: Server) -> None:
    device = server.enroll("alice")
    body = protocol.encode(SyncRequest(device_id=device.device_id), "json")
    post = server.client.post
    headers = {"Content-Type": "application/json"}
    refused(post("/v1/sync", content=body, headers=headers), 401, "unauthorized")
    for bad in ("Basic abc", "Bearer", "Bearer recip-device-wrong", "token"):
        answer = post("/v1/sync", content=body, headers={**headers, "Authorization": bad})
        refused(answer, 401, "unauthorized")
    enrollment = {**headers, "Authorization": f"Bearer {server.enroll_tokens['alice']}"}
    refused(post("/v1/sync", content=body, headers=enrollment), 401, "wrong_token")


def test_a_revoked_device_is_refused_at_once(server: Server) -> None:
    laptop, phone = server.enroll("alice", "laptop"), server.enroll("alice", "phone")
    assert reply(server.sync(phone, [contact(phone, 1)])).acked_seq == 1
    answer = server.client.post("/v1/devices/revoke", json={"device": "phone"}, headers=laptop.auth)
    assert answer.status_code == 200, answer.text
    assert answer.json()["revoked_at"] is not None
    refused(server.sync(phone, [contact(phone, 2)]), 403, "revoked")
    assert len(server.held(laptop.owner_id)) == 1
    # ... and it cannot come back with the enrollment token either.
    body = {
        "token": server.enroll_tokens["alice"],
        "device_id": phone.device_id,
        "device_name": "p",
    }
    refused(server.client.post("/v1/enroll", json=body), 403, "revoked")
    listing = server.client.get("/v1/devices", headers=laptop.auth).json()["devices"]
    states = {d["name"]: d["revoked_at"] is not None for d in listing}
    assert states == {"laptop": False, "phone": True}


def test_events_of_another_device_are_refused_403(server: Server) -> None:
    laptop, phone = server.enroll("alice", "laptop"), server.enroll("alice", "phone")
    refused(server.sync(laptop, [contact(phone, 1)]), 403, "wrong_device")
    foreign = SyncRequest(device_id=phone.device_id)
    answer = server.client.post(
        "/v1/sync",
        content=protocol.encode(foreign, "json"),
        headers={"Content-Type": "application/json", **laptop.auth},
    )
    refused(answer, 403, "wrong_device")
    assert server.held(laptop.owner_id) == []


def test_owners_are_isolated_in_storage(server: Server, tmp_path: Path) -> None:
    alice, bob = server.enroll("alice"), server.enroll("bob")
    secret = contact(alice, 1, name="Alice's secret friend")
    assert reply(server.sync(alice, [secret])).acked_seq == 1
    # Bob reads from the start of his own log: Alice's event is not there.
    assert reply(server.sync(bob)).events == []
    # Bob cannot push into Alice's log: his events can only claim his device,
    # and his device's log is his owner's file.
    refused(server.sync(bob, [contact(alice, 2)]), 403, "wrong_device")
    files = sorted(p.name for p in (tmp_path / "data" / "owners").glob("*.db"))
    assert files == sorted([f"{alice.owner_id}.db", f"{bob.owner_id}.db"])
    bob_bytes = (tmp_path / "data" / "owners" / f"{bob.owner_id}.db").read_bytes()
    assert b"secret friend" not in bob_bytes
    assert server.held(bob.owner_id) == []
    # Bob's device list does not show Alice's devices, nor can he revoke them.
    names = [
        d["device_id"] for d in server.client.get("/v1/devices", headers=bob.auth).json()["devices"]
    ]
    assert names == [bob.device_id]
    answer = server.client.post(
        "/v1/devices/revoke", json={"device": alice.device_id}, headers=bob.auth
    )
    refused(answer, 404, "not_found")
    assert reply(server.sync(alice)).acked_seq == 1


# -- bodies ------------------------------------------------------------------------------


def test_body_over_the_limit_is_413_by_header_and_by_stream(server: Server) -> None:
    device = server.enroll("alice")
    big = [contact(device, i + 1, name="x" * 400) for i in range(200)]
    refused(server.sync(device, big), 413, "too_large")

    def chunks() -> Iterator[bytes]:
        body = protocol.encode(
            SyncRequest(
                device_id=device.device_id,
                events=[protocol.event_to_wire(e, "msgpack") for e in big],
            ),
            "msgpack",
        )
        for i in range(0, len(body), 4096):
            yield body[i : i + 4096]

    answer = server.client.post(
        "/v1/sync",
        content=chunks(),
        headers={"Content-Type": protocol.MSGPACK, **device.auth},
    )
    refused(answer, 413, "too_large")
    assert server.held(device.owner_id) == []


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"),
    [
        ("application/json", b"{not json", 400, "malformed"),
        ("application/json", b'{"events": []}', 400, "malformed"),
        ("application/json", b'{"device_id": "x", "cursor": -1}', 400, "malformed"),
        ("application/msgpack", b"\xc1\xc1", 400, "malformed"),
        ("text/plain", b"hello", 415, "unsupported_media_type"),
    ],
)
def test_malformed_bodies_get_a_clear_4xx(
    server: Server, content_type: str, body: bytes, status: int, code: str
) -> None:
    device = server.enroll("alice")
    answer = server.client.post(
        "/v1/sync", content=body, headers={"Content-Type": content_type, **device.auth}
    )
    refused(answer, status, code)


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_an_invalid_event_refuses_the_whole_batch_naming_it(
    server: Server, fmt: protocol.Format
) -> None:
    device = server.enroll("alice")
    good = contact(device, 1)
    bad = msgspec.structs.asdict(contact(device, 2))
    bad["type"] = "ContactAdded"
    bad["circle"] = "bestie"
    raw = msgspec.Raw(msgspec.json.encode(bad) if fmt == "json" else msgspec.msgpack.encode(bad))
    body = refused(server.sync(device, [good, raw], fmt=fmt), 422, "invalid_event")
    assert body["index"] == 1
    assert "circle" in body["message"]
    assert server.held(device.owner_id) == []


# -- idempotence, conflicts, gaps ------------------------------------------------------------


def test_resent_events_are_skipped_and_conflicts_and_gaps_refused(server: Server) -> None:
    device = server.enroll("alice")
    first = [contact(device, 1), contact(device, 2)]
    assert reply(server.sync(device, first)).acked_seq == 2
    assert reply(server.sync(device, [*first, contact(device, 3)])).acked_seq == 3
    assert len(server.held(device.owner_id)) == 3

    changed = msgspec.structs.replace(first[1], name="Someone else")
    body = refused(server.sync(device, [changed, contact(device, 4)]), 409, "conflict")
    assert "seq 2" in body["message"]
    body = refused(server.sync(device, [contact(device, 5)]), 409, "sequence_gap")
    assert body["expected_seq"] == 4
    assert len(server.held(device.owner_id)) == 3


def test_pages_cursor_and_own_events(server: Server) -> None:
    laptop, phone = server.enroll("alice", "laptop"), server.enroll("alice", "phone")
    reply(server.sync(laptop, [contact(laptop, i) for i in range(1, 6)]))
    reply(server.sync(phone, [contact(phone, 1)], held_seq=1))
    page = reply(server.sync(phone, limit=2, held_seq=1))
    assert (len(page.events), page.cursor, page.more) == (2, 2, True)
    rest = reply(server.sync(phone, cursor=page.cursor, held_seq=1))
    # The phone's own event (position 6) is left out; the cursor passes it.
    assert (len(rest.events), rest.cursor, rest.more) == (3, 6, False)
    # A phone that lost its database (holds none of its own) gets its event back.
    again = reply(server.sync(phone, held_seq=0))
    assert len(again.events) == 6


def test_json_in_msgpack_out(server: Server) -> None:
    laptop, phone = server.enroll("alice", "laptop"), server.enroll("alice", "phone")
    sent = contact(laptop, 1, name="Zoë")
    reply(server.sync(laptop, [sent], fmt="json"), "json")
    answer = server.sync(phone, headers={"Accept": protocol.MSGPACK}, fmt="json")
    assert answer.headers["content-type"].startswith(protocol.MSGPACK)
    page = reply(answer, "msgpack")
    assert protocol.events_from_wire(page.events, "msgpack") == [sent]


# -- forward compatibility (ADR 0033) -------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_unknown_types_and_newer_versions_are_stored_and_forwarded_intact(
    server: Server, fmt: protocol.Format
) -> None:
    laptop, phone = server.enroll("alice", "laptop"), server.enroll("alice", "phone")
    envelope = msgspec.structs.asdict(contact(laptop, 1))
    future = {**envelope, "type": "GiftCardSent", "amount": 25, "currency": "EUR"}
    newer = msgspec.structs.asdict(contact(laptop, 2))
    newer.update(type="ContactAdded", v=2, pronouns="they")
    raws = [
        msgspec.Raw(msgspec.json.encode(x) if fmt == "json" else msgspec.msgpack.encode(x))
        for x in (future, newer)
    ]
    assert reply(server.sync(laptop, raws, fmt=fmt), fmt).acked_seq == 2
    page = reply(server.sync(phone, fmt=fmt), fmt)
    pulled = protocol.events_from_wire(page.events, fmt)
    opaque = [e for e in pulled if isinstance(e, OpaqueEvent)]
    assert len(opaque) == len(pulled)
    assert [e.type for e in opaque] == ["GiftCardSent", "ContactAdded"]
    first = msgspec.msgpack.decode(opaque[0].raw)
    assert first["amount"] == 25 and first["currency"] == "EUR"
    second = msgspec.msgpack.decode(pulled[1].raw) if isinstance(pulled[1], OpaqueEvent) else {}
    assert second["pronouns"] == "they"
    # Re-sending the same unknown event is idempotent, not a conflict.
    assert reply(server.sync(laptop, raws, fmt=fmt), fmt).acked_seq == 2


def test_an_event_without_a_valid_envelope_is_refused(server: Server) -> None:
    device = server.enroll("alice")
    raw = msgspec.Raw(msgspec.json.encode({"type": "GiftCardSent", "seq": "one"}))
    body = refused(server.sync(device, [raw], fmt="json"), 422, "invalid_event")
    assert "GiftCardSent" in body["message"]


# -- clock skew (ADR 0031) -----------------------------------------------------------------------


def test_an_event_far_ahead_of_the_server_clock_is_refused(server: Server) -> None:
    device = server.enroll("alice")
    ok = contact(device, 1)
    ahead = contact(device, 2, hlc=pack(wall_ms() + YEAR_MS, 0))
    body = refused(server.sync(device, [ok, ahead]), 409, "clock_ahead")
    assert body["index"] == 1 and "clock" in body["message"]
    assert server.held(device.owner_id) == []
    # A small skew (within the drift bound) is fine.
    slightly = contact(device, 2, hlc=pack(wall_ms() + 60_000, 0))
    assert reply(server.sync(device, [ok, slightly])).acked_seq == 2


def test_server_time_is_reported(server: Server) -> None:
    device = server.enroll("alice")
    page = reply(server.sync(device))
    assert abs(page.server_time - wall_ms()) < YEAR_MS  # a real clock, not 0


def _known(event: Event) -> bytes:
    return codec.encode(event)


def test_stored_bytes_are_the_canonical_encoding(server: Server) -> None:
    laptop, phone = server.enroll("alice", "laptop"), server.enroll("alice", "phone")
    give = GiveMade(
        event_id=new_id(),
        device_id=laptop.device_id,
        seq=1,
        hlc=pack(wall_ms(), 0),
        occurred_at=wall_ms(),
        contact_id=new_id(),
        what="advice",
    )
    reply(server.sync(laptop, [give], fmt="json"), "json")
    page = reply(server.sync(phone))
    assert [bytes(r) for r in page.events] == [_known(give)]


# -- fuzzing: never a 500, never a partial write ---------------------------------------------


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


FIXED: dict[str, Any] = {
    "event_id": "01a00000-0000-7000-8000-0000000000ee",
    "hlc": pack(1_790_000_000_000, 0),
    "occurred_at": 1_790_000_000_000,
}


def _replace_byte(data: bytes, at: int, value: int) -> bytes:
    return data[:at] + bytes([value]) + data[at + 1 :]


@settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_garbage_and_mutated_bodies_get_a_4xx_and_store_nothing(
    server: Server, data: st.DataObject
) -> None:
    device = server.enroll("alice", device_id="01a00000-0000-7000-8000-000000000001")
    before = server.held(device.owner_id)
    fmt: protocol.Format = data.draw(st.sampled_from(["json", "msgpack"]))
    valid = protocol.encode(
        SyncRequest(
            device_id=device.device_id,
            events=[protocol.event_to_wire(contact(device, len(before) + 1, **FIXED), fmt)],
        ),
        fmt,
    )
    body = data.draw(
        st.one_of(
            st.binary(max_size=200),
            _json_values.map(
                lambda v: msgspec.json.encode(v) if fmt == "json" else msgspec.msgpack.encode(v)
            ),
            st.integers(0, 10**6).map(lambda n: valid[: n % len(valid)]),
            st.tuples(st.integers(0, 10**6), st.integers(0, 255)).map(
                lambda p: _replace_byte(valid, p[0] % len(valid), p[1])
            ),
        )
    )
    answer = server.client.post(
        "/v1/sync",
        content=body,
        headers={"Content-Type": protocol.media_type(fmt), **device.auth},
    )
    if answer.status_code == 200:  # a mutation that is still a valid request
        return
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["message"]
    assert server.held(device.owner_id) == before


@pytest.mark.parametrize("field", ["cursor", "held_seq", "seq", "seq0"])
def test_numbers_beyond_64_bits_get_a_4xx(server: Server, field: str) -> None:
    device = server.enroll("alice")
    event = msgspec.to_builtins(contact(device, 1))
    body: dict[str, Any] = {"device_id": device.device_id}
    if field in ("cursor", "held_seq"):
        body[field] = 2**64 - 1
    else:
        event["seq"] = 2**64 - 1 if field == "seq" else 0
        body["events"] = [event]
    answer = server.client.post("/v1/sync", json=body, headers=device.auth)
    assert 400 <= answer.status_code < 500, answer.text
    assert server.held(device.owner_id) == []
