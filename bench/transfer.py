"""Export and import of the event log (JSON Lines), and of an address book (vCard).

- export: ours is `transfer.jsonl.export_lines` over a log of N events
  (reads pages of stored rows, decodes, checks the encoding is canonical, writes
  JSON). The baseline reads the same rows with raw `sqlite3` and converts each
  MessagePack blob to JSON with msgspec, untyped and unchecked.
- import: ours parses the export strictly and ingests it into an empty home in one
  transaction (`jsonl.parse` + `jsonl.import_into`). The baseline converts each line
  back to MessagePack, untyped, and inserts the rows into the same table layout with
  one `executemany` in one transaction.
- vCard: ours reads N cards and plans their import (identity digests, duplicate
  index, validation through `add_contact`); the baseline is vobject's parse alone.

Peak memory of the import (tracemalloc) is reported beside, since an import holds
the whole file before its single transaction.

    python -m bench.transfer [--quick] [--events N] [--cards N] [--repeats R]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

import msgspec
import vobject

from bench.harness import Comparison, Figure, Mode, rate, report, result_name
from cli.home import Home
from core import commands
from core import events as ev
from core.log import EventLog
from core.state import State
from core.store import open_store
from transfer import jsonl, vcard
from transfer.plan import plan_import

CREATE = (
    "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
    "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
)


def source_log(path: Path, n: int) -> EventLog:
    """A log of N typical events: contacts, then interactions, asks and gives."""
    log = EventLog(open_store(str(path)), str(uuid.uuid4()))
    now = commands.Now(1_700_000_000_000, 60)
    contacts = [
        commands.add_contact(now, f"Person {i}", emails=[f"p{i}@example.org"]) for i in range(100)
    ]
    log.append(contacts)
    drafts: list[ev.Event] = []
    for i in range(n - len(contacts)):
        who = contacts[i % len(contacts)].event_id
        base: dict[str, Any] = {"event_id": "", "device_id": "", "seq": 0, "hlc": 0}
        base["occurred_at"] = 1_700_000_000_000 - i * 60_000
        if i % 3 == 0:
            drafts.append(ev.InteractionLogged(**base, contact_ids=(who,), note=f"call {i}"))
        elif i % 3 == 1:
            drafts.append(ev.AskMade(**base, contact_id=who, what=f"favour {i}", weight=2))
        else:
            drafts.append(ev.GiveMade(**base, contact_id=who, what=f"help {i}", kind="advice"))
    for start in range(0, len(drafts), 1000):
        log.append(drafts[start : start + 1000])
    return log


def export_ours(log: EventLog) -> bytes:
    return b"".join(jsonl.export_lines(log))


def export_baseline(path: Path) -> bytes:
    to_json = msgspec.json.Encoder().encode
    decode = msgspec.msgpack.Decoder().decode
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT state FROM stored_events ORDER BY rowid")
        return b"".join(to_json(decode(state)) + b"\n" for (state,) in rows)


def import_ours(directory: Path, data: bytes) -> int:
    home = Home(directory / uuid.uuid4().hex)
    home.init("bench", now_iso="2026-01-01T00:00:00Z")
    log = home.open_log()
    try:
        return jsonl.import_into(log, jsonl.parse(data, "bench.jsonl"), "bench.jsonl").new
    finally:
        log.store.close()


def import_baseline(directory: Path, data: bytes) -> int:
    decode = msgspec.json.Decoder().decode
    encode = msgspec.msgpack.Encoder().encode
    rows = []
    for line in data.splitlines():
        fields = decode(line)
        rows.append((fields["device_id"], fields["seq"], fields["type"], encode(fields)))
    with sqlite3.connect(directory / f"{uuid.uuid4().hex}.db") as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(CREATE)
        conn.executemany("INSERT INTO stored_events VALUES (?, ?, ?, ?)", rows)
    return len(rows)


def cards(n: int) -> str:
    """N Android-style 2.1 cards with quoted-printable names, emails and phones."""
    out = []
    for i in range(n):
        out.append(
            "BEGIN:VCARD\r\nVERSION:2.1\r\n"
            f"N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller {i};J=C3=BCrgen;;;\r\n"
            f"FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:J=C3=BCrgen M=C3=BCller {i}\r\n"
            f"TEL;CELL:+49 171 {i:07d}\r\nEMAIL;HOME:j{i}@example.de\r\nEND:VCARD\r\n"
        )
    return "".join(out)


#: (events, cards, repeats) per mode of `python -m bench`.
SIZES: dict[str, tuple[int, int, int]] = {
    "full": (100_000, 5_000, 5),
    "quick": (10_000, 1_000, 3),
    "smoke": (500, 50, 1),
}


def run(mode: Mode = "full") -> dict[str, Any]:
    """Entry point for `python -m bench` (the module contract in `bench/__main__.py`)."""
    n, n_cards, repeats = SIZES[mode]
    return transfer(n, n_cards, repeats, name=result_name("transfer", mode), write=mode != "smoke")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--cards", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    n = args.events or (10_000 if args.quick else 100_000)
    n_cards = args.cards or (1_000 if args.quick else 5_000)
    repeats = args.repeats or (3 if args.quick else 5)
    transfer(n, n_cards, repeats, name="transfer", write=True)


def transfer(n: int, n_cards: int, repeats: int, *, name: str, write: bool) -> dict[str, Any]:
    """Measure export, import and vCard planning; report as `name`."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        log = source_log(directory / "source.db", n)
        data = export_ours(log)
        assert data.count(b"\n") == n

        exp_ours = Figure("export, ours", "ev/s")
        exp_base = Figure("export, raw sqlite3 + msgspec", "ev/s")
        imp_ours = Figure("import, ours", "ev/s")
        imp_base = Figure("import, raw executemany", "ev/s")
        for _ in range(repeats):
            exp_ours.samples.append(rate(n, lambda: export_ours(log)))
            exp_base.samples.append(rate(n, lambda: export_baseline(directory / "source.db")))
            imp_ours.samples.append(rate(n, lambda: import_ours(directory, data)))
            imp_base.samples.append(rate(n, lambda: import_baseline(directory, data)))

        tracemalloc.start()
        import_ours(directory, data)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        memory = Figure("import peak memory (tracemalloc)", "MB", [peak / 1e6])
        size = Figure("export size", "MB", [len(data) / 1e6])

        text = cards(n_cards)
        state = State()
        now = commands.Now(1_700_000_000_000, 0)
        vcf_ours = Figure("vCard import plan, ours", "c/s")
        vcf_base = Figure("vobject parse alone", "c/s")

        def ours_cards() -> None:
            records = vcard.parse(text, "bench.vcf")
            plan_import(state, records, kind="vcard", source="bench.vcf", now=now)

        for _ in range(repeats):
            vcf_ours.samples.append(rate(n_cards, ours_cards))
            vcf_base.samples.append(
                rate(n_cards, lambda: list(vobject.readComponents(text, allowQP=True)))
            )
        log.store.close()

    return report(
        name,
        {"events": n, "cards": n_cards, "repeats": repeats},
        [
            Comparison("jsonl export (events/s)", exp_ours, exp_base),
            Comparison("jsonl import into an empty home (events/s)", imp_ours, imp_base),
            Comparison("vCard read + plan (cards/s)", vcf_ours, vcf_base),
        ],
        [memory, size],
        write=write,
    )


if __name__ == "__main__":
    main()
