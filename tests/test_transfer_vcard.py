"""vCard import and export: real-world files, re-import identity, duplicates, refusals."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.home import Home
from core import commands
from core.events import ContactAdded
from core.state import State
from tests.conftest import Recip
from tests.test_transfer_support import BASE_MS, contacts_of, examples, make_home, rows_of
from transfer import vcard
from transfer.contacts import ContactRecord, identity_of_source
from transfer.errors import FileRefused, decode_text

DATA = Path(__file__).parent / "data" / "vcard"


def read(name: str, encoding: str = "utf-8-sig") -> list[ContactRecord]:
    path = DATA / name
    return vcard.parse(decode_text(path.read_bytes(), name, encoding), name)


def fields(record: ContactRecord) -> tuple[object, ...]:
    return (record.name, record.emails, record.phones, record.org, record.tags)


# -- what each exporter's cards become ------------------------------------------------

EXPECTED: dict[str, list[tuple[object, ...]]] = {
    "apple_ios_3.0.vcf": [
        (
            "Søren Aabye Kierkegård",
            ("soren@example.dk", "s.kierkegaard@ku.example.dk"),
            ("+45 20 12 34 56", "+45 33 12 34 56"),
            "Københavns Universitet",
            (),
        ),
        ("李小龙", ("bruce.lee@example.hk",), ("+852 9123 4567",), None, ()),
        ("Acme Plumbing", (), ("(555) 010-2030",), "Acme Plumbing", ()),
    ],
    "google_3.0.vcf": [
        (
            "Ann Lee",
            ("ann@example.org", "ann.lee@work.example.com", "ann.climbs@example.net"),
            ("+1 415-555-0101", "+1 415-555-0199", "+1 415 555 0150"),
            "Lee & Partners",
            ("Friends", "Climbing"),
        ),
        ("José Ángel Núñez", ("jose.nunez@example.es",), ("+34 612 34 56 78",), None, ()),
    ],
    "android_2.1.vcf": [
        (
            "Jürgen Müller",
            ("juergen@example.de", "j.mueller@firma.example.de"),
            ("+49 171 1234567", "030 1234567", "+49 30 7654321"),
            "Große Firma GmbH",
            (),
        ),
        ("Мария Иванова", (), ("+7 912 345-67-89",), None, ()),
        ("+44 7700 900123", (), ("+44 7700 900123",), None, ()),
    ],
    "outlook_2.1.vcf": [
        (
            "John Q. Doe Jr.",
            ("john.doe@contoso.example.com", "jdoe@home.example.net"),
            ("(425) 555-0102", "(425) 555-0111", "(425) 555-0103"),
            "Contoso Ltd",
            (),
        )
    ],
    "rfc6350_4.0.vcf": [
        (
            "Zoë O'Brien",
            ("zoe.obrien@example.ie", "zoe@home.example.ie"),
            ("+353-87-555-0100", "+353-1-555-0199"),
            "Trinity College Dublin, School of Physics",
            ("colleagues", "physics"),
        )
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_exporters_cards_read_as_contacts(name: str) -> None:
    assert [fields(r) for r in read(name)] == EXPECTED[name]


def test_card_lines_point_at_begin_vcard() -> None:
    lines = (DATA / "apple_ios_3.0.vcf").read_text(encoding="utf-8").split("\n")
    for record in read("apple_ios_3.0.vcf"):
        assert lines[record.line - 1].strip() == "BEGIN:VCARD"


def test_a_windows_1252_file_reads_with_its_encoding() -> None:
    with pytest.raises(FileRefused) as refused:
        read("outlook_cp1252_2.1.vcf")
    assert refused.value.line == 3 and "--encoding" in refused.value.reason
    [record] = read("outlook_cp1252_2.1.vcf", encoding="cp1252")
    assert fields(record)[:2] == ("François Gonçalves", ("francois@example.fr",))


def test_a_foreign_uid_is_not_taken_as_a_contact_id() -> None:
    [record] = read("rfc6350_4.0.vcf")
    assert record.uid == "4fbe8971-0bc3-424c-9c26-36c3e1eff6b1"  # only matched, never reused


# -- importing through the CLI -----------------------------------------------------------


@pytest.fixture
def recip_home(tmp_path: Path) -> Recip:
    make_home(tmp_path / "home")
    return Recip(tmp_path / "home")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_importing_a_file_twice_adds_its_contacts_once(recip_home: Recip, name: str) -> None:
    out = recip_home.ok("import", str(DATA / name))
    count = len(EXPECTED[name])
    assert f": added {count}, updated 0, unchanged 0, possible duplicates 0" in out
    contacts = contacts_of(recip_home)
    assert sorted(c.name for c in contacts) == sorted(str(e[0]) for e in EXPECTED[name])
    for contact in contacts:
        source = contact.added.source or ""
        assert source.startswith("vcard:sha256-") and f";{name}:" in source
        assert identity_of_source(source) is not None

    before = rows_of(recip_home)
    again = recip_home.ok("import", str(DATA / name))
    assert f": added 0, updated 0, unchanged {count}, possible duplicates 0" in again
    assert rows_of(recip_home) == before


def test_reimport_after_edit_archive_and_retract_still_adds_nothing(recip_home: Recip) -> None:
    recip_home.ok("import", str(DATA / "google_3.0.vcf"))
    home = Home(recip_home.home)
    log = home.open_log()
    state = State(log.events())
    ann, jose = sorted(state.contacts(), key=lambda c: c.name)
    now = commands.Now(BASE_MS + 10**12, 0)
    log.append([commands.edit_contact(state, now, ann.id, name="Ann Lee-Smith")])
    log.append([commands.retract(State(log.events()), now, jose.id, "not a friend")])
    log.store.close()
    out = recip_home.ok("import", str(DATA / "google_3.0.vcf"))
    assert ": added 0, updated 0, unchanged 2" in out  # the person's decisions stand


def test_existing_contacts_are_matched_by_email_phone_or_name(recip_home: Recip) -> None:
    home = Home(recip_home.home)
    log = home.open_log()
    now = commands.Now(BASE_MS, 0)
    log.append(
        [
            commands.add_contact(now, "ann lee", emails=["ANN@example.org"]),
            commands.add_contact(now, "Granny", phones=["07700 900123"]),
        ]
    )
    log.store.close()
    out = recip_home.ok("import", str(DATA / "google_3.0.vcf"))
    assert ": added 1, updated 1, unchanged 0, possible duplicates 0" in out
    out = recip_home.ok("import", str(DATA / "android_2.1.vcf"))
    assert ": added 2, updated 0, unchanged 1," in out  # Granny's card holds nothing new
    names = sorted(c.name for c in contacts_of(recip_home))
    assert names.count("ann lee") == 1 and "Ann Lee" not in names  # one Ann, updated
    assert "Granny" in names  # a card named only by its number does not rename her


def test_an_entry_matching_several_contacts_is_a_possible_duplicate(recip_home: Recip) -> None:
    log = Home(recip_home.home).open_log()
    now = commands.Now(BASE_MS, 0)
    log.append(
        [
            commands.add_contact(now, "Ann Lee", emails=["ann@example.org"]),
            commands.add_contact(now, "A. Lee", emails=["ann@example.org"]),
        ]
    )
    log.store.close()
    before = rows_of(recip_home)
    out = recip_home.ok("import", "--dry-run", str(DATA / "google_3.0.vcf"))
    assert ": would be added 1, would be updated 0, unchanged 0, possible duplicates 1" in out
    assert "possible duplicates (1 of 1 shown" in out
    assert "'Ann Lee' matches 2 contacts, not imported: " in out and "A. Lee (" in out
    assert rows_of(recip_home) == before


def test_dry_run_shows_what_would_be_added_and_changed(recip_home: Recip) -> None:
    log = Home(recip_home.home).open_log()
    log.append([commands.add_contact(commands.Now(BASE_MS, 0), "Ann Lee")])
    log.store.close()
    before = rows_of(recip_home)
    out = recip_home.ok("import", "--dry-run", str(DATA / "google_3.0.vcf"))
    assert ": would be added 1, would be updated 1," in out
    assert "add 'José Ángel Núñez'" in out and "update 'Ann Lee'" in out
    assert "emails: - -> ann@example.org" in out
    assert rows_of(recip_home) == before
    out = recip_home.ok("import", str(DATA / "google_3.0.vcf"))
    assert ": added 1, updated 1," in out
    assert sorted(c.name for c in contacts_of(recip_home)) == ["Ann Lee", "José Ángel Núñez"]


def test_a_card_repeated_in_one_file_is_added_once(recip_home: Recip, tmp_path: Path) -> None:
    text = (DATA / "google_3.0.vcf").read_text(encoding="utf-8")
    doubled = tmp_path / "doubled.vcf"
    doubled.write_text(text + text, encoding="utf-8")
    out = recip_home.ok("import", str(doubled))
    assert ": added 2," in out and "same entry as line 1" in out


def test_circle_option(recip_home: Recip) -> None:
    recip_home.ok("import", "--circle", "close", str(DATA / "apple_ios_3.0.vcf"))
    assert {c.circle for c in contacts_of(recip_home)} == {"close"}


# -- refusals -------------------------------------------------------------------------

REFUSALS = {
    "unclosed.vcf": (9, "never closed"),
    "garbage_line.vcf": (8, "this line lost its property name"),
    "bad_email.vcf": (6, "not an email address"),
    "bad_phone.vcf": (6, "'Bob Stone': not a phone number: 'ask his sister'"),
    "bad_quoted_printable.vcf": (5, "can't decode"),
    "calendar.vcf": (1, "not a vCard"),
    "stray_end.vcf": (5, "never opened"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_a_malformed_file_is_refused_whole(recip_home: Recip, name: str) -> None:
    line, reason = REFUSALS[name]
    before = rows_of(recip_home)
    message = recip_home.fails("import", str(DATA / "bad" / name))
    assert f"{name} line {line}: " in message
    assert reason in message
    assert "nothing was imported" in message
    assert rows_of(recip_home) == before  # the good cards before the bad one too


# -- export ----------------------------------------------------------------------------


def test_export_reimports_into_a_fresh_home_and_is_recognised_at_home(
    recip_home: Recip, tmp_path: Path
) -> None:
    for name in ("apple_ios_3.0.vcf", "android_2.1.vcf", "rfc6350_4.0.vcf"):
        recip_home.ok("import", str(DATA / name))
    out = tmp_path / "export.vcf"
    recip_home.ok("export", "--format", "vcard", str(out))
    text = out.read_bytes().decode("utf-8")
    assert text.count("BEGIN:VCARD") == 7 and "VERSION:4.0" in text
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))

    again = recip_home.ok("import", str(out))  # same ids: same contacts
    assert ": added 0, updated 0, unchanged 7," in again

    make_home(tmp_path / "fresh")
    fresh = Recip(tmp_path / "fresh")
    assert ": added 7," in fresh.ok("import", str(out))

    def summary(runner: Recip) -> list[tuple[object, ...]]:
        return sorted(
            (c.name, c.emails, c.phones, c.org, c.tags, c.circle, c.cadence_days)
            for c in contacts_of(runner)
        )

    assert summary(fresh) == summary(recip_home)


names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Zl", "Zp"]),
    min_size=1,
    max_size=30,
).filter(lambda s: s.strip() == s and s)
emails = st.from_regex(r"[a-z0-9._%+-]{1,12}@[a-z0-9-]{1,10}\.[a-z]{2,4}", fullmatch=True)
phones = st.from_regex(r"\+?[0-9][0-9 ()-]{4,14}[0-9]", fullmatch=True)


@examples(60)
@given(
    name=names,
    mails=st.lists(emails, max_size=3),
    tels=st.lists(phones, max_size=3),
    org=st.one_of(st.none(), names),
    tags=st.lists(names, max_size=3, unique=True),
    circle=st.sampled_from(["inner", "close", "wider", "distant", "none"]),
    cadence=st.one_of(st.none(), st.integers(1, 36_500)),
)
def test_any_contact_survives_vcard_export_and_import(
    name: str,
    mails: list[str],
    tels: list[str],
    org: str | None,
    tags: list[str],
    circle: str,
    cadence: int | None,
) -> None:
    added = ContactAdded(
        event_id="01900000-0000-7000-8000-000000000001",
        device_id="d",
        seq=1,
        hlc=1,
        occurred_at=BASE_MS,
        name=name,
        emails=tuple(mails),
        phones=tuple(tels),
        org=org,
        tags=tuple(tags),
        circle=circle,  # type: ignore[arg-type]
        cadence_days=cadence,
    )
    [contact] = State([added]).contacts()
    [record] = vcard.parse(vcard.export([contact]), "x.vcf")
    assert record.uid == contact.id
    assert (record.name, record.emails, record.phones) == (name, tuple(mails), tuple(tels))
    assert (record.org, record.tags) == (org, tuple(tags))
    assert (record.circle, record.cadence_days) == (circle, cadence)


def test_an_empty_card_is_skipped_and_reported(recip_home: Recip, tmp_path: Path) -> None:
    book = tmp_path / "book.vcf"
    book.write_text(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann Lee\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nNOTE:just a note\r\nEND:VCARD\r\n",
        encoding="utf-8",
    )
    out = recip_home.ok("import", str(book))
    assert ": added 1," in out and "line 5: nothing to import, skipped" in out


def test_archived_contacts_are_exported_only_when_asked(recip_home: Recip) -> None:
    recip_home.ok("import", str(DATA / "google_3.0.vcf"))
    log = Home(recip_home.home).open_log()
    state = State(log.events())
    ann = next(c for c in state.contacts() if c.name == "Ann Lee")
    log.append([commands.archive_contact(state, commands.Now(BASE_MS + 10**12, 0), ann.id)])
    log.store.close()
    assert "Ann Lee" not in recip_home.ok("export", "--format", "vcard")
    assert "Ann Lee" in recip_home.ok("export", "--format", "vcard", "--archived")
    table = recip_home.ok("export", "--format", "csv", "--archived")
    assert f"{ann.id},Ann Lee," in table
    rows = list(csv.DictReader(io.StringIO(table)))
    assert [row["archived"] for row in rows] == ["true", "false"]
