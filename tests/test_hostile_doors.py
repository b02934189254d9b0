"""Hostile events through every door, then every view (ADR 0080).

- `/v1/sync`, JSON and MessagePack: a hostile event is stored or refused (4xx naming
  the event and field), never a 5xx; a refusal stores nothing of the batch; the log
  holds exactly the acknowledged events; then every read endpoint and a JSON pull
  answer 200, and a device pulling everything stores it all (its door agrees).
- `recip import`: a file of hostile lines is imported or refused with one line,
  never a traceback; then every view command succeeds.
- A log written before the limits (hostile rows stored behind every door): every
  view and read endpoint still answers, `recip doctor` lists what is not shown.

`HOSTILE_EXAMPLES` scales the runs (docs/reliability.md records a long one).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from cli.home import Home
from core.clock import pack, wall_ms
from core.events import ContactAdded
from core.ids import new_id
from core.log import EventLog
from core.store import open_store
from server.app import create_app
from server.inprocess import LocalTransport
from server.service import ServerConfig, SyncService
from sync import protocol
from sync.replica import Replica
from tests.conftest import Recip
from tests.hostile import hostile_event, wire

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
)
READS = (
    "/v1/contacts?all=true",
    "/v1/ledger",
    "/v1/cold?all=true",
    "/v1/stats",
    "/v1/devices",
    "/v1/today",
)
VIEWS = (
    ("ledger",),
    ("ledger", "--json"),
    ("cold", "--all"),
    ("stats",),
    ("events",),
    ("events", "--json"),
    ("contact", "list", "--all"),
    ("doctor",),
    ("today",),
    ("today", "--json"),
)


def every_view(recip: Recip) -> None:
    """Every view command answers (Ann's timeline may be refused: she may have been
    retracted or merged away by what came in, a clean one-line refusal)."""
    for args in VIEWS:
        recip.ok(*args)
    result = recip("timeline", "Ann")
    assert result.exit_code == 0 or (
        result.exit_code == 1 and "Ann" in result.stderr and result.stderr.count("\n") == 1
    ), result.output


class Pusher:
    """One enrolled device pushing hostile batches, and what the server acknowledged."""

    def __init__(self, tmp: Path) -> None:
        self.config = ServerConfig(data=tmp / "data")
        self.service = SyncService(self.config)
        self.owner, enroll_token = self.service.accounts.add_owner("mallory")
        self.client = TestClient(create_app(self.config, service=self.service))
        self.client.__enter__()  # runs the lifespan (the read API's view source)
        self.device_id = new_id()
        answer = self.client.post(
            "/v1/enroll",
            json={"token": enroll_token, "device_id": self.device_id, "device_name": "m"},
        )
        self.token = answer.json()["device_token"]
        self.auth = {"Authorization": f"Bearer {self.token}"}
        #: The rows of every acknowledged event, in the order acknowledged.
        self.acked: list[tuple[str, int, str, bytes]] = []
        self.contact = new_id()
        first = ContactAdded(
            event_id=self.contact,
            device_id=self.device_id,
            seq=1,
            hlc=pack(wall_ms(), 0),
            occurred_at=wall_ms(),
            name="Ann",
        )
        self.requests = 0
        assert self.push([msgspec.Raw(msgspec.json.encode(first))], "json").status_code == 200

    @property
    def next_seq(self) -> int:
        return len(self.acked) + 1

    def push(self, raws: list[msgspec.Raw], fmt: protocol.Format) -> Any:
        media = protocol.media_type(fmt)
        body = protocol.encode(
            protocol.SyncRequest(device_id=self.device_id, events=raws, limit=0), fmt
        )
        before = self.stored()
        answer = self.client.post(
            "/v1/sync", content=body, headers={"Content-Type": media, **self.auth}
        )
        assert answer.status_code < 500, answer.text
        after = self.stored()
        if answer.status_code == 200:
            assert after[: len(before)] == before
            self.acked.extend(after[len(before) :])
        else:
            assert after == before, "a refused batch stored something"
            error = answer.json()
            assert error["error"] and error["message"]
        assert after == self.acked, "the log holds exactly what was acknowledged"
        return answer

    def stored(self) -> list[tuple[str, int, str, bytes]]:
        with self.service.log(self.owner.owner_id) as log:
            return stored_rows(log)

    def read_everything(self, tmp: Path) -> None:
        for path in READS:
            answer = self.client.get(path, headers=self.auth)
            assert answer.status_code == 200, (path, answer.text)
        for path in (f"/v1/contacts/{self.contact}/timeline", "/v1/ledger?contact=Ann"):
            answer = self.client.get(path, headers=self.auth)  # Ann may be retracted
            assert answer.status_code in (200, 404), (path, answer.text)
        pulled = self.client.post(
            "/v1/sync",
            json={"device_id": self.device_id, "cursor": 0, "held_seq": 0},
            headers=self.auth,
        )
        assert pulled.status_code == 200, pulled.text
        assert len(pulled.json()["events"]) == len(self.acked)
        for fmt in ("msgpack", "json"):
            device = EventLog(open_store(str(tmp / f"{new_id()}.db")), self.device_id)
            try:
                replica = Replica(device, LocalTransport(self.service, self.token, fmt), "o")
                replica.sync(push=False)
                assert device.last_seq() == len(self.acked), "the device refused what was held"
            finally:
                device.store.close()

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.service.close()


def stored_rows(log: EventLog) -> list[tuple[str, int, str, bytes]]:
    """Every row of a log, in log order."""
    out: list[tuple[str, int, str, bytes]] = []
    after = 0
    while rows := log.store.notifications(after, 1000):
        out.extend((str(r.originator_id), r.originator_version, r.topic, r.state) for r in rows)
        after = rows[-1].id
    return out


@pytest.fixture
def pusher(tmp_path: Path) -> Iterator[Pusher]:
    made = Pusher(tmp_path)
    yield made
    made.close()


def test_hostile_events_through_sync(pusher: Pusher, tmp_path: Path) -> None:
    outcomes: dict[int, int] = {}

    @FUZZ
    @given(data=st.data(), fmt=st.sampled_from(["json", "msgpack"]), size=st.integers(1, 3))
    def push(data: st.DataObject, fmt: protocol.Format, size: int) -> None:
        raws = []
        for offset in range(size):
            fields = data.draw(
                hostile_event(pusher.device_id, pusher.next_seq + offset, pusher.contact)
            )
            encoded = wire(fields, fmt)
            if encoded is not None:
                raws.append(msgspec.Raw(encoded))
        if raws:
            outcomes[0] = outcomes.get(0, 0) + len(raws)  # events sent
            answer = pusher.push(raws, fmt)
            outcomes[answer.status_code] = outcomes.get(answer.status_code, 0) + 1
            if os.environ.get("HOSTILE_SHOW") and answer.status_code != 200:
                print(answer.status_code, answer.json()["message"][:160])
            pusher.requests += 1

    push()
    pusher.read_everything(tmp_path)
    sent = outcomes.pop(0, 0)
    assert set(outcomes) <= {200, 400, 403, 409, 413, 422}, outcomes
    assert outcomes.get(422), "no hostile event was refused: the strategy is too tame"
    print(
        f"sync fuzz: {pusher.requests} requests, {sent} events, statuses {outcomes}, "
        f"{len(pusher.acked)} stored"
    )


def test_hostile_lines_through_import(tmp_path: Path) -> None:
    recip = Recip(tmp_path / "home")
    recip.ok("init", "--device-name", "d")
    ann = recip.ok("contact", "add", "Ann").strip()
    home = Home(recip.home)
    peer = new_id()
    counts = {"files": 0, "lines": 0, "imported": 0, "refused": 0}

    def rows() -> list[tuple[str, int, str, bytes]]:
        log = home.open_log()
        try:
            return stored_rows(log)
        finally:
            log.store.close()

    @FUZZ
    @given(data=st.data(), size=st.integers(1, 3))
    def imports(data: st.DataObject, size: int) -> None:
        held = rows()
        first = 1 + sum(1 for row in held if row[0] == peer)
        lines = [wire(data.draw(hostile_event(peer, first + i, ann)), "json") for i in range(size)]
        path = tmp_path / "in.jsonl"
        path.write_bytes(b"\n".join(line for line in lines if line is not None) + b"\n")
        result = recip("import", str(path), "--format", "jsonl")
        counts["files"] += 1
        counts["lines"] += sum(line is not None for line in lines)
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(
            result.exception
        )
        after = rows()
        if result.exit_code == 0:
            counts["imported"] += 1
            assert after[: len(held)] == held
        else:
            counts["refused"] += 1
            assert result.exit_code == 1
            assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
            assert after == held, "a refused import stored something"

    imports()
    every_view(recip)
    assert counts["refused"], counts
    print(f"import fuzz: {counts}")


@settings(FUZZ, max_examples=max(5, EXAMPLES // 6))
@given(data=st.data())
def test_views_never_fail_on_a_log_written_before_the_limits(data: st.DataObject) -> None:
    """Rows no door lets in any more, stored behind every door (as a log written before
    ADR 0080 may hold them): every view command and read endpoint still answers, and
    `recip doctor` lists exactly the events the views skip."""
    import tempfile

    from core import codec
    from core.errors import CodecError

    with tempfile.TemporaryDirectory() as tmp:
        recip = Recip(Path(tmp) / "home")
        recip.ok("init", "--device-name", "d")
        ann = recip.ok("contact", "add", "Ann").strip()
        peer = new_id()
        rows, refused = [], 0
        for seq in range(1, data.draw(st.integers(1, 6)) + 1):
            fields = data.draw(hostile_event(peer, seq, ann))
            fields.update(device_id=peer, seq=seq, hlc=data.draw(st.integers(0, 2**40)))
            fields.pop("deep", None)  # no door ever stored hostile nesting: it was a 500
            fields["type"] = fields["type"] if isinstance(fields["type"], str) else "X"
            state = wire(fields, "msgpack")
            if state is None or not isinstance(fields.get("event_id"), str):
                break
            try:
                codec.admit(codec.decode(fields["type"], state))
            except CodecError:
                refused += 1
            rows.append((peer, seq, fields["type"], state))
        home = Home(recip.home)
        log = home.open_log()
        try:
            log.ingest_rows(rows)
        finally:
            log.store.close()
        every_view(recip)
        report = msgspec.json.decode(recip.ok("doctor", "--json"))
        assert len(report["unshowable"]) == refused, report
        server = Pusher(Path(tmp) / "server")
        try:
            with server.service.log(server.owner.owner_id) as owner_log:
                owner_log.ingest_rows(rows)
            for path in (*READS, f"/v1/contacts/{ann}/timeline"):
                answer = server.client.get(path, headers=server.auth)
                assert answer.status_code in (200, 404), (path, answer.text)
            pulled = server.client.post(
                "/v1/sync", json={"device_id": server.device_id}, headers=server.auth
            )
            assert pulled.status_code == 200, pulled.text
        finally:
            server.close()


@pytest.mark.parametrize("fmt", ["msgpack", "json"])
def test_a_device_refuses_a_bad_pulled_event_and_stores_nothing_of_the_page(
    pusher: Pusher, tmp_path: Path, fmt: protocol.Format
) -> None:
    """A server holding an event from before the limits (here: a date in the year
    33658) cannot poison a device: the device refuses the page, names the event and
    the field, and stores nothing of it (its cursor does not move either)."""
    peer, bad_id = new_id(), new_id()
    good = ContactAdded(
        event_id=new_id(), device_id=peer, seq=1, hlc=1, occurred_at=wall_ms(), name="Bo"
    )
    bad = msgspec.structs.replace(good, event_id=bad_id, seq=2, occurred_at=10**15)
    with pusher.service.log(pusher.owner.owner_id) as log:
        log.ingest_rows([_row(good), _row(bad)])
    device = EventLog(open_store(str(tmp_path / "device.db")), pusher.device_id)
    try:
        replica = Replica(device, LocalTransport(pusher.service, pusher.token, fmt), "o")
        with pytest.raises(protocol.Refusal) as refused:
            replica.sync(push=False)
        message = str(refused.value)
        assert "refuses to store" in message and bad_id in message and "occurred_at" in message
        assert device.position() == 0 and replica.cursor() == 0
    finally:
        device.store.close()


@pytest.mark.parametrize("fmt", ["msgpack", "json"])
def test_a_device_refuses_a_pulled_self_merge_and_stores_nothing_of_the_page(
    pusher: Pusher, tmp_path: Path, fmt: protocol.Format
) -> None:
    """A contact merged into itself, held by a server from before the rule: the device
    refuses the page naming the event and `absorbed_id`, and stores nothing of it."""
    peer, bad_id = new_id(), new_id()
    good = ContactAdded(
        event_id=new_id(), device_id=peer, seq=1, hlc=1, occurred_at=wall_ms(), name="Bo"
    )
    merge = {
        "type": "ContactsMerged",
        "event_id": bad_id,
        "device_id": peer,
        "seq": 2,
        "hlc": 2,
        "occurred_at": wall_ms(),
        "utc_offset": 0,
        "v": 1,
        "survivor_id": good.event_id,
        "absorbed_id": good.event_id,
    }
    bad = (peer, 2, "ContactsMerged", msgspec.msgpack.encode(merge))
    with pusher.service.log(pusher.owner.owner_id) as log:
        log.ingest_rows([_row(good), bad])
    device = EventLog(open_store(str(tmp_path / "device.db")), pusher.device_id)
    try:
        replica = Replica(device, LocalTransport(pusher.service, pusher.token, fmt), "o")
        with pytest.raises(protocol.Refusal) as refused:
            replica.sync(push=False)
        message = str(refused.value)
        assert "refuses to store" in message and bad_id in message and "absorbed_id" in message
        assert device.position() == 0 and replica.cursor() == 0
    finally:
        device.store.close()


def test_a_stored_self_merge_changes_no_view() -> None:
    """A log written before the rule may hold a contact merged into itself: it reads
    as an opaque event with its problem, and every view is as without it."""
    from core import codec
    from core.events import OpaqueEvent
    from projections import views
    from projections.contacts import contact_rows
    from projections.fold import Fold

    ann = ContactAdded(
        event_id=new_id(), device_id="d", seq=1, hlc=1, occurred_at=wall_ms(), name="Ann"
    )
    merge = {
        "type": "ContactsMerged",
        "event_id": new_id(),
        "device_id": "d",
        "seq": 2,
        "hlc": 2,
        "occurred_at": wall_ms(),
        "utc_offset": 0,
        "v": 1,
        "survivor_id": ann.event_id,
        "absorbed_id": ann.event_id,
    }
    stored = codec.decode("ContactsMerged", msgspec.msgpack.encode(merge))
    assert isinstance(stored, OpaqueEvent) and "absorbed_id" in (stored.problem or "")
    before, after = Fold([ann]), Fold([ann, stored])
    assert contact_rows(after, include_all=True) == contact_rows(before, include_all=True)
    assert after.survivor(ann.event_id) == ann.event_id
    assert views.summaries(after) == views.summaries(before)


def _row(event: ContactAdded) -> tuple[str, int, str, bytes]:
    return (event.device_id, event.seq, "ContactAdded", msgspec.msgpack.encode(event))


def _envelope(pusher: Pusher, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": new_id(),
        "device_id": pusher.device_id,
        "seq": pusher.next_seq,
        "hlc": 1,
        "occurred_at": wall_ms(),
        **fields,
    }


@pytest.mark.parametrize(
    ("fields", "fmt", "status", "named"),
    [
        ({"type": "NoteAdded", "text": "x", "occurred_at": 2**64 + 1}, "json", 422, "occurred_at"),
        ({"type": "NoteAdded", "text": "x", "occurred_at": 10**15}, "msgpack", 422, "occurred_at"),
        ({"type": "NoteAdded", "text": "x", "hlc": 2**63}, "msgpack", 422, "hlc"),
        ({"type": "Future", "at": 2**64 + 1}, "json", 422, "$.at"),
        ({"type": "Future", "blob": msgspec.msgpack.Ext(3, b"x")}, "msgpack", 422, "$.blob"),
        ({"type": "Future", "blob": b"\x00"}, "msgpack", 422, "$.blob"),
        ({"type": "Future", "seq": 0}, "json", 422, "seq"),
        ({"type": "AskMade", "what": "x", "weight": 6}, "json", 422, "weight"),
        (
            {"type": "ContactsMerged", "survivor_id": "c", "absorbed_id": "c"},
            "json",
            422,
            "absorbed_id",
        ),
        (
            {"type": "ContactsMerged", "survivor_id": "c", "absorbed_id": "c"},
            "msgpack",
            422,
            "absorbed_id",
        ),
    ],
)
def test_each_refusal_names_the_event_and_its_field(
    pusher: Pusher, fields: dict[str, Any], fmt: protocol.Format, status: int, named: str
) -> None:
    event = _envelope(pusher, contact_id=pusher.contact, **fields)
    answer = pusher.push([msgspec.Raw(wire(event, fmt) or b"")], fmt)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["index"] == 0 and body["event_id"] == event["event_id"]
    assert named in body["message"] and "nothing of the batch was stored" in body["message"]


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_deep_nesting_inside_events_is_a_400_and_an_empty_event_a_422(
    pusher: Pusher, fmt: protocol.Format
) -> None:
    from tests.hostile import Deep

    deep = wire(_envelope(pusher, type="Future", deep=Deep(5_000)), fmt)
    assert deep is not None
    assert pusher.push([msgspec.Raw(deep)], fmt).status_code == 400
    empty = msgspec.json.encode({}) if fmt == "json" else msgspec.msgpack.encode({})
    assert pusher.push([msgspec.Raw(empty)], fmt).status_code == 422


def test_a_self_introduction_self_merge_or_far_date_in_an_import_is_refused_by_line(
    tmp_path: Path,
) -> None:
    recip = Recip(tmp_path / "home")
    recip.ok("init", "--device-name", "d")
    ann = recip.ok("contact", "add", "Ann").strip()
    peer = new_id()
    line = {"event_id": new_id(), "device_id": peer, "seq": 1, "hlc": 1, "occurred_at": 1}
    for bad, named in (
        ({"type": "IntroductionMade", "contact_ids": [ann, ann]}, "two different contacts"),
        ({"type": "ContactsMerged", "survivor_id": ann, "absorbed_id": ann}, "absorbed_id"),
        ({"type": "NoteAdded", "contact_id": ann, "text": "x", "occurred_at": 10**15}, "occurred"),
    ):
        path = tmp_path / "in.jsonl"
        path.write_bytes(msgspec.json.encode({**line, **bad}) + b"\n")
        result = recip("import", str(path))
        assert result.exit_code == 1 and "line 1" in result.stderr and named in result.stderr
    assert "Ann" in recip.ok("contact", "list")


def test_doctor_lists_a_newer_version_that_is_not_plain_data(tmp_path: Path) -> None:
    """A newer schema version of plain data waits for an upgrade; one holding a value
    no door admits (a non-finite float) is listed, like any other unshowable event."""
    recip = Recip(tmp_path / "home")
    recip.ok("init", "--device-name", "d")
    ann = recip.ok("contact", "add", "Ann").strip()
    peer = new_id()
    envelope = {"device_id": peer, "hlc": 1, "occurred_at": 0, "utc_offset": 0}
    newer = {"type": "NoteAdded", "v": 99, "contact_id": ann, "text": "later"}
    broken = {**newer, "extra": float("inf")}
    rows = [
        (
            peer,
            seq,
            "NoteAdded",
            msgspec.msgpack.encode({**fields, **envelope, "seq": seq, "event_id": new_id()}),
        )
        for seq, fields in ((1, newer), (2, broken))
    ]
    home = Home(recip.home)
    log = home.open_log()
    try:
        log.ingest_rows(rows)
    finally:
        log.store.close()
    report = msgspec.json.decode(recip.ok("doctor", "--json"))
    assert [f["seq"] for f in report["unshowable"]] == [2], report
