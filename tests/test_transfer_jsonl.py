"""The event log as JSON Lines: faithful round trips, idempotent re-imports, refusals."""

from __future__ import annotations

import json
import tempfile
from base64 import b64decode
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.home import Home
from core import codec, commands
from core.events import ContactAdded, ContactDetailsSet, Event, OpaqueEvent, stamp
from core.ids import new_id
from core.log import EventLog
from core.state import State
from core.store import open_store
from tests.conftest import Recip
from tests.event_strategies import any_event, event_of
from tests.test_transfer_support import (
    BASE_MS,
    b64,
    examples,
    future_event,
    make_home,
    record_history,
    steps,
    stored_rows,
    view_summary,
)
from transfer import jsonl
from transfer.errors import FileRefused

ROUND_TRIP = examples(20)


def export_bytes(log: EventLog) -> bytes:
    return b"".join(jsonl.export_lines(log))


def import_bytes(home: Home, data: bytes) -> jsonl.ImportResult:
    log = home.open_log()
    try:
        return jsonl.import_into(log, jsonl.parse(data, "backup.jsonl"), "backup.jsonl")
    finally:
        log.store.close()


# -- round trips ------------------------------------------------------------------


@ROUND_TRIP
@given(plan=steps)
def test_random_histories_survive_export_then_import(plan: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        history = record_history(Path(tmp), plan)
        data = export_bytes(history.reader)
        target = make_home(Path(tmp) / "fresh")

        first = import_bytes(target, data)
        log = target.open_log()
        assert stored_rows(log) == stored_rows(history.reader)  # byte for byte
        assert view_summary(State(log.events())) == view_summary(State(history.reader.events()))
        assert export_bytes(log) == data  # same log order: re-exports line for line
        assert first.new == first.total == data.count(b"\n")

        again = import_bytes(target, data)
        assert again.new == 0
        assert export_bytes(log) == data
        log.store.close()


@examples(200)
@given(event=any_event)
def test_every_event_type_reads_back_from_its_line(event: Event) -> None:
    line = codec.to_json(event)
    assert jsonl.parse_line(line) == event
    topic, state = _row(event)
    if topic in jsonl.OLDER_BUILDS_KNOW:
        assert jsonl.line_for(topic, state) == line
    else:  # it may carry its bytes for older builds (ADR 0085)
        assert jsonl.parse_line(jsonl.line_for(topic, state)) == event


def _row(event: Event) -> tuple[str, bytes]:
    return str(event.__struct_config__.tag), codec.encode(event)


def test_unknown_types_keep_their_exact_bytes(tmp_path: Path) -> None:
    source = EventLog(open_store(str(tmp_path / "src.db")), None)
    device = new_id()
    opaque = [future_event(device, seq, BASE_MS + seq, "ünïcode") for seq in (1, 2)]
    source.ingest(opaque)
    lines = export_bytes(source).splitlines()
    readable = json.loads(lines[0])
    assert readable["type"] == "FutureThingHappened"
    assert readable["device_id"] == device
    assert "$raw" in readable  # a float32: only the raw bytes are exact
    assert readable["nested"] == {"items": [1, None, True, {"deeper": "ünïcode"}]}

    target = make_home(tmp_path / "t")
    import_bytes(target, b"\n".join(lines) + b"\n")
    log = target.open_log()
    assert stored_rows(log) == stored_rows(source)
    assert [e.raw for e in log.events() if isinstance(e, OpaqueEvent)] == [o.raw for o in opaque]


def test_a_known_event_stored_in_a_non_canonical_form_keeps_its_bytes(tmp_path: Path) -> None:
    """Bytes that this build would encode differently (older writer) round-trip as is."""
    event = ContactAdded(
        event_id=new_id(), device_id=new_id(), seq=1, hlc=5, occurred_at=BASE_MS, name="Ann"
    )
    fields = msgspec.to_builtins(event)
    reordered = dict(reversed(list(fields.items())))
    raw = msgspec.msgpack.encode(reordered)
    assert raw != codec.encode(event)
    source = EventLog(open_store(str(tmp_path / "src.db")), None)
    source.ingest([msgspec.structs.replace(codec.decode_opaque("ContactAdded", raw), raw=raw)])
    data = export_bytes(source)
    assert b'"$raw"' in data

    target = make_home(tmp_path / "t")
    import_bytes(target, data)
    log = target.open_log()
    assert stored_rows(log) == stored_rows(source)
    assert State(log.events()).contact(event.event_id) is not None


def test_hand_edited_lines_are_read_by_field_not_by_layout() -> None:
    event = ContactAdded(
        event_id=new_id(), device_id=new_id(), seq=1, hlc=5, occurred_at=BASE_MS, name="Zoë"
    )
    spaced = json.dumps(json.loads(codec.to_json(event)), indent=None, separators=(", ", ": "))
    assert jsonl.parse_line(spaced.encode()) == event


# -- the same device, and foreign devices ---------------------------------------------


def _record(home: Home, *names: str) -> None:
    log = home.open_log()
    now = commands.Now(BASE_MS, 0)
    log.append([commands.add_contact(now, name) for name in names])
    log.store.close()


def test_restoring_a_device_from_its_own_backup(tmp_path: Path) -> None:
    """A home that lost its log gets it back, and records on after it."""
    home = make_home(tmp_path / "h")
    _record(home, "Ann", "Bob")
    log = home.open_log()
    backup = export_bytes(log)
    log.store.close()
    home.log_path.unlink()

    assert import_bytes(home, backup).new == 2
    _record(home, "Cy")
    log = home.open_log()
    assert [e.seq for e in log.stream(home.device().device_id)] == [1, 2, 3]
    assert import_bytes(home, backup).new == 0  # its own events: already held
    log.store.close()


def test_importing_into_a_home_with_its_own_history_keeps_both(tmp_path: Path) -> None:
    first, second = make_home(tmp_path / "a"), make_home(tmp_path / "b")
    _record(first, "Ann")
    _record(second, "Bob")
    log = first.open_log()
    data = export_bytes(log)
    log.store.close()
    import_bytes(second, data)
    log = second.open_log()
    devices = {e.device_id for e in log.events()}
    assert devices == {first.device().device_id, second.device().device_id}
    assert sorted(c.name for c in State(log.events()).contacts()) == ["Ann", "Bob"]
    log.store.close()


# -- refusals: nothing of the file is stored ---------------------------------------------


def _export_of(tmp_path: Path, *names: str) -> bytes:
    home = make_home(tmp_path / "src")
    _record(home, *names)
    log = home.open_log()
    data = export_bytes(log)
    log.store.close()
    return data


def _refused(home: Home, data: bytes) -> FileRefused:
    log = home.open_log()
    before = stored_rows(log)
    with pytest.raises(FileRefused) as caught:
        jsonl.import_into(log, jsonl.parse(data, "in.jsonl"), "in.jsonl")
    assert stored_rows(log) == before, "a refused import must store nothing"
    log.store.close()
    return caught.value


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        (b"{not json", "not a JSON object"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"event_id": "x"}', "no event type"),
        (b'{"type": "ContactAdded", "event_id": "x", "device_id": "d", "seq": "one"}', "seq"),
        (
            b'{"type":"ContactAdded","event_id":"e","device_id":"d","seq":9,"hlc":1,'
            b'"occurred_at":1,"name":"A","nmae":"typo"}',
            "unknown field 'nmae'",
        ),
        (
            b'{"type":"AskMade","event_id":"e","device_id":"d","seq":9,"hlc":1,'
            b'"occurred_at":1,"contact_id":"c","what":"x","weight":9}',
            "weight",
        ),
        (
            b'{"type":"NewThing","event_id":"e","device_id":"d","seq":1,"hlc":1,'
            b'"occurred_at":1,"$raw":"***"}',
            "not valid base64",
        ),
        (
            b'{"type":"NewThing","event_id":"e","device_id":"d","seq":0,"hlc":1,"occurred_at":1}',
            "Expected `int` >= 1 - at `$.seq`",
        ),
    ],
)
def test_a_malformed_line_is_refused_by_number(
    tmp_path: Path, bad_line: bytes, reason: str
) -> None:
    good = _export_of(tmp_path, "Ann", "Bob")
    data = good + bad_line + b"\n"
    target = make_home(tmp_path / "t")
    refusal = _refused(target, data)
    assert refusal.line == 3
    assert reason in str(refusal)
    assert "nothing was imported" in str(refusal)


def test_raw_bytes_that_contradict_the_line_are_refused(tmp_path: Path) -> None:
    device = new_id()
    opaque = future_event(device, 1, BASE_MS, "x")
    line = json.loads(jsonl.line_for(opaque.type, opaque.raw))
    line["seq"] = 2
    line["$raw"] = b64(opaque.raw)
    refusal = _refused(make_home(tmp_path / "t"), json.dumps(line).encode())
    assert refusal.line == 1
    assert "'seq' is 2" in refusal.reason


def test_two_lines_claiming_one_place_are_refused(tmp_path: Path) -> None:
    data = _export_of(tmp_path, "Ann")
    forged = json.loads(data)
    forged["name"] = "Mallory"
    refusal = _refused(make_home(tmp_path / "t"), data + json.dumps(forged).encode())
    assert refusal.line == 2
    assert "differs from line 1" in refusal.reason


def test_an_event_conflicting_with_the_log_is_refused(tmp_path: Path) -> None:
    data = _export_of(tmp_path, "Ann", "Bob")
    target = make_home(tmp_path / "t")
    import_bytes(target, data.splitlines()[0] + b"\n")
    forged = json.loads(data.splitlines()[0])
    forged["name"] = "Mallory"
    tampered = data.splitlines()[1] + b"\n" + json.dumps(forged).encode() + b"\n"
    refusal = _refused(target, tampered)
    assert refusal.line == 2
    assert "already holds a different event" in refusal.reason


def test_a_gap_in_a_device_sequence_is_refused(tmp_path: Path) -> None:
    data = _export_of(tmp_path, "Ann", "Bob", "Cy")
    lines = data.splitlines()
    refusal = _refused(make_home(tmp_path / "t"), lines[0] + b"\n" + lines[2] + b"\n")
    assert refusal.line == 2
    assert "gap" in refusal.reason and "must be seq 2" in refusal.reason


def test_a_bad_line_after_good_ones_stores_nothing_even_from_a_big_file(tmp_path: Path) -> None:
    names = [f"Person {i}" for i in range(300)]
    data = _export_of(tmp_path, *names) + b"garbage\n"
    target = make_home(tmp_path / "t")
    assert _refused(target, data).line == 301
    log = target.open_log()
    assert list(log.events()) == []
    log.store.close()


# -- the CLI ---------------------------------------------------------------------------


@pytest.fixture
def homes(tmp_path: Path) -> tuple[Recip, Recip]:
    make_home(tmp_path / "a")
    make_home(tmp_path / "b")
    return Recip(tmp_path / "a"), Recip(tmp_path / "b")


def test_cli_export_to_stdout_and_file_then_import(
    homes: tuple[Recip, Recip], tmp_path: Path
) -> None:
    a, b = homes
    _record(Home(a.home), "Ann", "Bob")
    printed = a.ok("export").encode()
    assert a.ok("export", "--format", "jsonl", str(tmp_path / "out.jsonl")) == ""
    assert (tmp_path / "out.jsonl").read_bytes() == printed
    assert [json.loads(line)["name"] for line in printed.splitlines()] == ["Ann", "Bob"]

    assert "imported 2 new events of 2" in b.ok("import", str(tmp_path / "out.jsonl"))
    assert "imported 0 new events of 2 (2 already held)" in b.ok(
        "import", str(tmp_path / "out.jsonl")
    )


def test_cli_refusals(homes: tuple[Recip, Recip], tmp_path: Path) -> None:
    _, b = homes
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"type": "ContactAdded"}\n')
    message = b.fails("import", str(bad))
    assert "bad.jsonl line 1" in message
    assert "nothing was imported" in message
    assert "cannot read the file" in b.fails("import", str(tmp_path / "missing.jsonl"))


def test_cli_import_as_a_real_process_is_byte_identical(tmp_path: Path) -> None:
    from tests.conftest import run_recip_process

    a = make_home(tmp_path / "a")
    make_home(tmp_path / "b")
    _record(a, "Ann", "Zoë")
    dump = tmp_path / "all.jsonl"
    run_recip_process(tmp_path / "a", "export", str(dump))
    run_recip_process(tmp_path / "b", "import", str(dump))
    again = run_recip_process(tmp_path / "b", "export").stdout.encode()
    assert again == dump.read_bytes()


@examples(30)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_refused_cleanly_or_read(data: bytes) -> None:
    try:
        parsed = jsonl.parse(data, "fuzz.jsonl")
    except FileRefused as refusal:
        assert refusal.line is not None
    else:
        assert len(parsed.events) == len(parsed.lines)


def test_progress_is_drawn_on_a_terminal_only() -> None:
    import io

    from rich.console import Console

    from cli.transfer import progress

    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=80)
    seen: list[int] = []
    with progress(5000, "reading", terminal) as advance:
        assert advance is not None
        bar = advance

        def both(n: int) -> None:
            seen.append(n)
            bar(n)

        jsonl.parse(b"\n" * 4999, "empty.jsonl", progress=both)
    assert sum(seen) == 5000 and "reading" in screen.getvalue()
    with progress(5000, "reading", Console(file=io.StringIO())) as advance:
        assert advance is None  # a pipe or a file: no bar
    with progress(10, "reading", terminal) as advance:
        assert advance is None  # a small file: no bar


def test_a_copied_device_identity_is_caught(tmp_path: Path) -> None:
    """Two homes sharing one device.json diverged: the import refuses, names the line."""
    original = make_home(tmp_path / "a")
    clone = Home(tmp_path / "b")
    clone.path.mkdir()
    clone.device_file.write_bytes(original.device_file.read_bytes())
    _record(original, "Ann")
    _record(clone, "Bob")
    log = original.open_log()
    data = export_bytes(log)
    log.store.close()
    refusal = _refused(clone, data)
    assert refusal.line == 1 and "reused this device's id" in refusal.reason


@pytest.mark.postgres
def test_an_export_imports_into_a_postgresql_log(tmp_path: Path, pg_schema: str) -> None:
    from core.store import Location
    from tests.conftest import PG_URL

    history = record_history(
        tmp_path, [(d % 3, a, d, 0, "x") for d, a in enumerate(["add", "ask", "give", "opaque"])]
    )
    data = export_bytes(history.reader)
    target = EventLog(open_store(Location(PG_URL, pg_schema)), new_id())
    try:
        result = jsonl.import_into(target, jsonl.parse(data, "pg.jsonl"), "pg.jsonl")
        assert result.new == data.count(b"\n") == 4
        assert stored_rows(target) == stored_rows(history.reader)
        assert export_bytes(target) == data
    finally:
        target.store.close()


@examples(12)
@given(data=st.data())
def test_random_histories_print_identical_views_after_export_and_import(data: Any) -> None:
    """The issue's round trip, through the real commands: byte-identical view output."""
    from projections.views import date_of
    from tests.strategies import AS_OF, arrivals, histories

    history = data.draw(histories(max_steps=20))
    arrival = data.draw(arrivals(history))
    as_of = str(date_of(AS_OF))
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Recip(Path(tmp) / "a"), Recip(Path(tmp) / "b")
        source.ok("init", "--device-name", "a")
        target.ok("init", "--device-name", "b")
        log = Home(source.home).open_log()
        log.ingest(arrival)
        log.store.close()
        backup = str(Path(tmp) / "backup.jsonl")
        source.ok("export", backup)
        target.ok("import", backup)

        ledger = source.ok("ledger", "--json", "--as-of", as_of)
        reads = [
            ("ledger", "--json", "--as-of", as_of),
            ("cold", "--json", "--all", "--as-of", as_of),
            ("stats", "--json", "--as-of", as_of),
            ("contact", "list", "--json", "--all"),
        ]
        reads += [("timeline", "--json", row["contact_id"]) for row in json.loads(ledger)]
        for read in reads:
            assert target.ok(*read) == source.ok(*read), read
        assert "imported 0 new events" in target.ok("import", backup)


def test_ingest_keeps_the_batch_order_but_never_a_device_out_of_seq(tmp_path: Path) -> None:
    """The log order an import produces: the file's, except a device's seq order wins."""

    def added(device: str, seq: int) -> ContactAdded:
        return ContactAdded(
            event_id=f"{device}-{seq}", device_id=device, seq=seq, hlc=seq, occurred_at=1, name="A"
        )

    a1, a2, b1, b2 = added("a", 1), added("a", 2), added("b", 1), added("b", 2)
    log = EventLog(open_store(str(tmp_path / "x.db")), None)
    log.ingest([b1, a2, b2, a1])  # a's events listed out of order
    assert [(e.device_id, e.seq) for e in log.events()] == [
        ("b", 1),
        ("a", 1),
        ("b", 2),
        ("a", 2),
    ]


def test_a_known_type_from_a_newer_schema_is_kept_whole(tmp_path: Path) -> None:
    """A `ContactAdded` v2 (a newer build) is neither refused nor reshaped."""
    fields = {
        "type": "ContactAdded",
        "event_id": new_id(),
        "device_id": new_id(),
        "seq": 1,
        "hlc": 9,
        "occurred_at": BASE_MS,
        "utc_offset": 0,
        "v": 2,
        "name": "Ann",
        "pronouns": "she/her",
    }
    raw = msgspec.msgpack.encode(fields)
    source = EventLog(open_store(str(tmp_path / "src.db")), None)
    source.ingest([msgspec.structs.replace(codec.decode_opaque("ContactAdded", raw), raw=raw)])
    data = export_bytes(source)
    assert b'"$raw"' in data and b'"pronouns":"she/her"' in data

    for line in (data, json.dumps(fields).encode() + b"\n"):  # with and without $raw
        target = make_home(tmp_path / new_id())
        import_bytes(target, line)
        log = target.open_log()
        assert stored_rows(log) == stored_rows(source)
        assert State(log.events()).contacts() == []  # kept, not shown by this build
        log.store.close()


def test_an_unknown_type_that_is_not_plain_data_is_refused(tmp_path: Path) -> None:
    """Binary and extension values cannot travel as JSON: no door lets them in
    (ADR 0080), so an export of a log that holds one (stored before) is refused
    at that line, naming the field, and nothing is imported."""
    source = EventLog(open_store(str(tmp_path / "src.db")), None)
    device = new_id()
    good = future_event(device, 1, BASE_MS, "x")
    fields = msgspec.msgpack.decode(good.raw)
    fields.update(seq=2, event_id=new_id(), blob=msgspec.msgpack.Ext(1, b"\x00"))
    bad = msgspec.structs.replace(good, seq=2, raw=msgspec.msgpack.encode(fields))
    source.ingest([good, bad])
    data = export_bytes(source)
    assert b"$raw" in data.splitlines()[1]  # the export still writes it (envelope, bytes)
    target = make_home(tmp_path / "t")
    with pytest.raises(FileRefused, match=r"line 2: .*\$\.blob: a Ext value is not plain"):
        jsonl.import_into(target.open_log(), jsonl.parse(data, "backup.jsonl"), "backup.jsonl")
    assert not stored_rows(target.open_log())


@ROUND_TRIP
@given(event=event_of(ContactDetailsSet))
def test_a_type_older_builds_lack_exports_with_the_bytes_they_would_store(event: Event) -> None:
    """An older build turns the JSON of a type it does not know into MessagePack
    generically (ADR 0033); a line is such that this gives back the stored bytes,
    or it carries them (`$raw`), so that the event never holds two byte forms."""
    state = codec.encode(stamp(event, device_id="d"))
    fields = json.loads(jsonl.line_for("ContactDetailsSet", state))
    raw = fields.pop("$raw", None)
    older = b64decode(raw) if raw is not None else msgspec.msgpack.encode(fields)
    assert older == state
