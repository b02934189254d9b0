"""CSV import (Google, Outlook, mapped spreadsheets) and export, with every refusal."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.home import Home
from core import commands
from core.state import State
from tests.conftest import Recip
from tests.test_transfer_support import BASE_MS, contacts_of, examples, make_home, rows_of
from transfer import csv as csv_io
from transfer.contacts import ContactRecord
from transfer.errors import FileRefused, decode_text

DATA = Path(__file__).parent / "data" / "csv"
SPREADSHEET_MAP = (
    "--map",
    "name=Contact",
    "--map",
    "email=Work email",
    "--map",
    "email=Private email",
    "--map",
    "phone=Cell",
)


def read(name: str, *pairs: str) -> list[ContactRecord]:
    path = DATA / name
    text = decode_text(path.read_bytes(), name, "utf-8-sig")
    return csv_io.parse(text, name, csv_io.parse_mapping(pairs))


def test_google_contacts_export() -> None:
    ann, jose, acme, lee = read("google_contacts.csv")
    assert ann.line == 2 and jose.line == 5  # Ann's notes and address span lines
    assert ann.name == "Ann Lee"
    assert ann.emails == ("ann@example.org", "ann.climbs@example.net", "ann.lee@work.example.com")
    assert ann.phones == ("+1 415-555-0101", "+1 415-555-0199")
    assert ann.org == "Lee & Partners"
    assert ann.tags == ("Friends", "Climbing")  # Google's system groups dropped
    assert jose.name == "José Ángel Núñez"
    assert (acme.name, acme.org, acme.phones) == (
        "Acme Plumbing",
        "Acme Plumbing",
        ("(555) 010-2030",),
    )
    assert lee.name == "李 小龙" and lee.tags == ()


def test_outlook_export_with_bom() -> None:
    john, soren = read("outlook_contacts.csv")
    assert john.name == "John Q. Doe"  # not the "Title" (Mr.) column
    assert john.emails == ("john.doe@contoso.example.com", "jdoe@home.example.net")
    assert john.phones == ("(425) 555-0102", "(425) 555-0111")  # no fax
    assert john.tags == ("Clients", "Golf")
    assert soren.name == "Søren Kierkegård"


def test_a_spreadsheet_needs_and_uses_a_mapping() -> None:
    with pytest.raises(FileRefused) as refused:
        read("spreadsheet.csv")
    assert refused.value.line == 1 and "--map" in refused.value.reason
    zoe, marek = read("spreadsheet.csv", *SPREADSHEET_MAP[1::2])
    assert zoe.emails == ("zoe.obrien@example.ie", "zoe@home.example.ie")
    assert (marek.name, marek.emails, marek.phones) == (
        "Marek Nowak",
        ("marek@example.pl",),
        ("+48 600 100 200",),
    )


# -- through the CLI ---------------------------------------------------------------------


@pytest.fixture
def recip_home(tmp_path: Path) -> Recip:
    make_home(tmp_path / "home")
    return Recip(tmp_path / "home")


def test_import_records_its_source_and_twice_adds_nothing(recip_home: Recip) -> None:
    out = recip_home.ok("import", str(DATA / "spreadsheet.csv"), *SPREADSHEET_MAP)
    assert ": added 2," in out
    sources = sorted(c.added.source or "" for c in contacts_of(recip_home))
    assert all(s.startswith("csv:sha256-") for s in sources)
    assert [s.rsplit(";", 1)[1] for s in sources] in (
        ["spreadsheet.csv:2", "spreadsheet.csv:3"],
        ["spreadsheet.csv:3", "spreadsheet.csv:2"],
    )
    before = rows_of(recip_home)
    again = recip_home.ok("import", str(DATA / "spreadsheet.csv"), *SPREADSHEET_MAP)
    assert ": added 0, updated 0, unchanged 2," in again
    assert rows_of(recip_home) == before


def test_the_same_people_from_vcard_and_csv_are_one_import(recip_home: Recip) -> None:
    """Identity is content, not format: Zoë read from a CSV after her vCard is known."""
    vcf = Path(__file__).parent / "data" / "vcard" / "rfc6350_4.0.vcf"
    recip_home.ok("import", str(vcf))
    line = "Contact,Work email,Private email,Cell,Org\n"
    line += "Zoë O'Brien,zoe.obrien@example.ie,zoe@home.example.ie,+353-87-555-0100 ::: "
    line += '+353-1-555-0199,"Trinity College Dublin, School of Physics"\n'
    table = recip_home.home.parent / "zoe.csv"
    table.write_text(line, encoding="utf-8")
    out = recip_home.ok("import", str(table), *SPREADSHEET_MAP)
    assert ": added 0, updated 0, unchanged 1," in out


def test_an_existing_contact_is_matched_by_phone_and_updated(recip_home: Recip) -> None:
    zoe = commands.add_contact(commands.Now(BASE_MS, 0), "Z. O'Brien", phones=["087 555 0100"])
    log = Home(recip_home.home).open_log()
    log.append([zoe])
    log.store.close()
    out = recip_home.ok("import", str(DATA / "spreadsheet.csv"), *SPREADSHEET_MAP)
    assert ": added 1, updated 1, unchanged 0, possible duplicates 0" in out
    assert "skipped: Where we met x2" in out
    contacts = {c.id: c for c in contacts_of(recip_home)}
    assert len(contacts) == 2
    assert contacts[zoe.event_id].name == "Zoë O'Brien"
    assert contacts[zoe.event_id].phones == ("087 555 0100",)  # the same number, kept as held


REFUSALS = {
    "extra_cells.csv": (3, "5 cells, but the header names only 3"),
    "broken_quote.csv": (3, "not valid CSV"),
    "bad_email.csv": (3, "not an email address"),
    "bad_phone.csv": (3, "'Bob Stone': not a phone number: 'n/a'"),
    "no_name_column.csv": (1, "no column for the contact's name"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_a_malformed_file_is_refused_whole(recip_home: Recip, name: str) -> None:
    line, reason = REFUSALS[name]
    before = rows_of(recip_home)
    message = recip_home.fails("import", str(DATA / "bad" / name))
    assert f"{name} line {line}: " in message and reason in message
    assert "nothing was imported" in message
    assert rows_of(recip_home) == before


@pytest.mark.parametrize(
    ("mapping", "reason"),
    [
        ("name=Full Name", "column 'Full Name' (mapped to name) is not in the header"),
        ("nickname=Contact", "unknown field 'nickname'"),
        ("name", "is not field=Column"),
    ],
)
def test_bad_mappings_are_refused(recip_home: Recip, mapping: str, reason: str) -> None:
    before = rows_of(recip_home)
    message = recip_home.fails("import", str(DATA / "spreadsheet.csv"), "--map", mapping)
    assert reason in message
    assert rows_of(recip_home) == before


def test_a_file_in_another_encoding(recip_home: Recip, tmp_path: Path) -> None:
    table = tmp_path / "latin.csv"
    table.write_bytes("name,email\nFrançois Gonçalves,francois@example.fr\n".encode("cp1252"))
    message = recip_home.fails("import", str(table))
    assert "latin.csv line 2" in message and "--encoding" in message
    recip_home.ok("import", "--encoding", "cp1252", str(table))
    assert [c.name for c in contacts_of(recip_home)] == ["François Gonçalves"]


def test_usage_mistakes(recip_home: Recip, tmp_path: Path) -> None:
    assert "give --format" in recip_home.fails("import", str(tmp_path / "x.txt"))
    message = recip_home.fails("import", str(DATA / "google_contacts.csv"), "--format", "jsonl")
    assert "google_contacts.csv line 1" in message  # read as an event log: refused
    assert "--what applies to --format csv" in recip_home.fails("export", "--what", "ledger")
    assert "--map applies to CSV" in recip_home.fails(
        "import", str(DATA / "google_contacts.csv"), "--format", "vcard", "--map", "name=x"
    )


# -- export ----------------------------------------------------------------------------


def test_contacts_csv_export_round_trips(recip_home: Recip, tmp_path: Path) -> None:
    recip_home.ok("import", str(DATA / "google_contacts.csv"))
    recip_home.ok("import", str(DATA / "outlook_contacts.csv"))
    log = Home(recip_home.home).open_log()
    state = State(log.events())
    soren = next(c for c in state.contacts() if c.name.startswith("Søren"))
    now = commands.Now(BASE_MS + 10**12, 0)
    log.append([commands.edit_contact(state, now, soren.id, circle="inner", cadence_days=10)])
    log.store.close()

    table = tmp_path / "contacts.csv"
    recip_home.ok("export", "--format", "csv", "--what", "contacts", str(table))
    lines = table.read_bytes().decode("utf-8").split("\r\n")
    assert lines[0] == ",".join(csv_io.CONTACT_HEADER)
    assert len(list(csv.reader(io.StringIO(table.read_text())))) == 1 + 6
    again = recip_home.ok("import", str(table))  # the id column
    assert ": added 0, updated 0, unchanged 6," in again

    make_home(tmp_path / "fresh")
    fresh = Recip(tmp_path / "fresh")
    assert ": added 6," in fresh.ok("import", str(table))

    def summary(runner: Recip) -> list[tuple[object, ...]]:
        return sorted(
            (c.name, c.emails, c.phones, c.org, c.tags, c.circle, c.cadence_days, c.details)
            for c in contacts_of(runner)
        )

    assert summary(fresh) == summary(recip_home)


cells = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=20)


@examples(50)
@given(rows=st.lists(st.lists(cells, min_size=3, max_size=3), max_size=5))
def test_written_rows_read_back(rows: list[list[str]]) -> None:
    text = csv_io.write_rows(["name", "email", "notes"], rows)
    import csv as std_csv
    import io

    back = list(std_csv.reader(io.StringIO(text, newline="")))
    assert back == [["name", "email", "notes"], *rows]
