"""End to end: a history recorded with `recip`, exported, imported into a fresh home.

The read commands of both homes must print byte-identical output, and a second
import must change nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Recip

NOW = "2026-03-01T09:30:00+01:00"
READS: list[tuple[str, ...]] = [
    ("contact", "list", "--json"),
    ("contact", "list", "--json", "--all"),
    ("ledger", "--json"),
    ("ledger", "--json", "--as-of", "2026-02-21"),
    ("cold", "--json", "--as-of", "2026-06-01"),
    ("cold", "--json", "--all", "--as-of", "2026-03-01"),
    ("stats", "--json", "--as-of", "2026-04-01"),
    ("timeline", "--json", "Ada Lovelace"),
    ("timeline", "--json", "Charles Babbage"),
]


@pytest.fixture(autouse=True)
def fixed_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECIP_NOW", NOW)


def record_history(recip: Recip) -> None:
    """A small but complete history: every kind of event, a merge, a retraction."""
    recip.ok("contact", "add", "Ada Lovelace", "--email", "ada@example.org", "--circle", "close")
    recip.ok("contact", "add", "Charles Babbage", "--phone", "+44 20 7946 0000")
    recip.ok("contact", "add", "Chas Babbage", "--tag", "engines")
    recip.ok("contact", "add", "Zoë O'Brien", "--org", "TCD")
    recip.ok("log", "Ada Lovelace", "--channel", "call", "--by", "them", "--on", "2026-02-20")
    ask = recip.ok("ask", "Ada Lovelace", "review my talk", "--weight", "3").strip()
    recip.ok("resolve", ask, "granted")
    recip.ok("give", "Ada Lovelace", "intro to a publisher", "--kind", "referral")
    recip.ok("intro", "Ada Lovelace", "Charles Babbage", "--note", "both into engines")
    recip.ok("contact", "merge", "Charles Babbage", "Chas Babbage")
    wrong = recip.ok("give", "Zoë O'Brien", "logged by mistake").strip()
    recip.ok("retract", wrong, "--reason", "logged twice")
    recip.ok("contact", "archive", "Zoë O'Brien")


def fresh(tmp_path: Path, name: str) -> Recip:
    runner = Recip(tmp_path / name)
    runner.ok("init", "--device-name", name)
    return runner


def test_export_then_import_gives_identical_reads(recip: Recip, tmp_path: Path) -> None:
    record_history(recip)
    backup = tmp_path / "backup.jsonl"
    recip.ok("export", str(backup))
    other = fresh(tmp_path, "restored")

    assert "imported 13 new events of 13" in other.ok("import", str(backup))
    for read in READS:
        assert other.ok(*read) == recip.ok(*read), read
    assert "Ada Lovelace" in other.ok("timeline", "--json", "Ada Lovelace")
    events = json.loads(recip.ok("events", "--json"))
    assert [e["event_id"] for e in json.loads(other.ok("events", "--json"))] == [
        e["event_id"] for e in events
    ]

    assert "imported 0 new events of 13 (13 already held)" in other.ok("import", str(backup))
    assert other.ok("export").encode() == backup.read_bytes()


def test_a_restored_home_records_on(recip: Recip, tmp_path: Path) -> None:
    """The person records on the new home; the old export still imports as a no-op."""
    record_history(recip)
    backup = tmp_path / "backup.jsonl"
    recip.ok("export", str(backup))
    other = fresh(tmp_path, "restored")
    other.ok("import", str(backup))
    other.ok("log", "Ada Lovelace", "--channel", "meeting")
    assert "imported 0 new events" in other.ok("import", str(backup))
    # ... and the first home takes the second's new event back through an export.
    recip.ok("import", "--format", "jsonl", str(_export(other, tmp_path / "back.jsonl")))
    for read in READS:
        assert other.ok(*read) == recip.ok(*read), read


def _export(runner: Recip, path: Path) -> Path:
    runner.ok("export", str(path))
    return path


def test_contacts_imported_by_the_cli_are_listed(recip: Recip) -> None:
    data = Path(__file__).parent / "data" / "vcard" / "android_2.1.vcf"
    recip.ok("import", str(data))
    rows = json.loads(recip.ok("contact", "list", "--json"))
    assert sorted(r["name"] for r in rows) == ["+44 7700 900123", "Jürgen Müller", "Мария Иванова"]


def test_an_export_to_a_missing_directory_is_refused(recip: Recip, tmp_path: Path) -> None:
    message = recip.fails("export", str(tmp_path / "no" / "such" / "dir" / "x.jsonl"))
    assert message.startswith("error: ")
    assert not (tmp_path / "no").exists()


def test_an_export_replaces_a_file_whole(recip: Recip, tmp_path: Path) -> None:
    target = tmp_path / "contacts.vcf"
    target.write_text("old content\n", encoding="utf-8")
    recip.ok("contact", "add", "Ada Lovelace")
    recip.ok("export", "--format", "vcard", str(target))
    assert target.read_bytes().startswith(b"BEGIN:VCARD\r\n")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_ledger_and_cold_as_csv_hold_the_json_views(recip: Recip) -> None:
    import csv
    import io

    record_history(recip)
    for what, view in (
        (("--what", "ledger", "--as-of", "2026-02-21"), ("ledger", "--as-of", "2026-02-21")),
        (("--what", "cold", "--as-of", "2026-06-01"), ("cold", "--as-of", "2026-06-01")),
        (("--what", "cold", "--all"), ("cold", "--all")),
    ):
        table = list(csv.reader(io.StringIO(recip.ok("export", "--format", "csv", *what))))
        rows = json.loads(recip.ok(*view, "--json"))
        assert rows, view
        assert table[0] == list(rows[0])
        assert table[1:] == [[_cell(v) for v in row.values()] for row in rows]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
