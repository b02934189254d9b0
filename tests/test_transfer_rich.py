"""Contacts as people really are, through imports: details kept, updates recorded, reports."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.details import profile
from core.events import (
    Address,
    ContactAdded,
    ContactDetailsSet,
    ContactEdited,
    ContactsMerged,
    HowWeMet,
    NoteAdded,
    Occasion,
)
from core.state import Details, State
from tests.cli_support import stored
from tests.conftest import Recip
from tests.test_transfer_support import BASE_MS, examples, make_home
from transfer import csv as csv_io
from transfer import vcard

DATA = Path(__file__).parent / "data"

IPHONE = """BEGIN:VCARD
VERSION:3.0
PRODID:-//Apple Inc.//iPhone OS 17.4//EN
N:Lovelace;Ada;;;
FN:Ada Lovelace
ORG:Analytical Engines;Research;Poetry
TITLE:Analyst
EMAIL;type=INTERNET;type=HOME;type=pref:ada@example.org
TEL;type=CELL;type=VOICE;type=pref:+44 20 7946 0000
item1.ADR;type=HOME;type=pref:;;12 St James's Square;London;;SW1Y 4JH;UK
item1.X-ABADR:gb
item2.X-ABDATE;type=pref:2010-06-30
item2.X-ABLabel:_$!<Anniversary>!$_
BDAY;X-APPLE-OMIT-YEAR=1604:1604-12-10
URL;type=WORK:https://ada.example.org
X-SOCIALPROFILE;type=linkedin:https://www.linkedin.com/in/ada
NOTE:Met at the engine demo.
CATEGORIES:math,pycon
X-ABUID:5C7F-ADA:ABPerson
UID:7A2B0C1D-ADA
PHOTO;ENCODING=b;TYPE=PNG:iVBORw0KGgo=
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Charles Babbage
EMAIL:charles@example.org
X-ABUID:5C7F-CB:ABPerson
UID:7A2B0C1D-CB
PHOTO;ENCODING=b;TYPE=PNG:iVBORw0KGgo=
END:VCARD
"""


@pytest.fixture
def recip_home(tmp_path: Path) -> Recip:
    make_home(tmp_path / "home")
    return Recip(tmp_path / "home")


def show(recip: Recip, ref: str) -> dict[str, Any]:
    shown: dict[str, Any] = json.loads(recip.ok("contact", "show", ref, "--json"))
    return shown


def test_an_iphone_card_keeps_every_field_the_model_holds(
    recip_home: Recip, tmp_path: Path
) -> None:
    book = tmp_path / "iphone.vcf"
    book.write_text(IPHONE, encoding="utf-8")
    out = recip_home.ok("import", str(book))
    assert ": added 2, updated 0, unchanged 0, possible duplicates 0" in out
    assert "skipped: PHOTO x2, X-ABUID x2, X-ABADR x1" in out
    ada = show(recip_home, "ada")
    assert ada["org"] == "Analytical Engines" and ada["org_units"] == ["Research", "Poetry"]
    assert ada["title"] == "Analyst"
    assert ada["birthday"] == "--12-10"  # Apple's 1604 means: no year
    assert ada["occasions"] == [{"label": "anniversary", "date": "2010-06-30"}]
    assert ada["addresses"] == [
        {
            "label": "home",
            "street": "12 St James's Square",
            "locality": "London",
            "postcode": "SW1Y 4JH",
            "country": "UK",
        }
    ]
    assert ada["profiles"] == [
        {"kind": "url", "url": "https://ada.example.org"},
        {"kind": "linkedin", "url": "https://www.linkedin.com/in/ada"},
    ]
    assert ada["tags"] == ["math", "pycon"]
    assert [n["text"] for n in ada["notes"]] == ["Met at the engine demo."]


def test_a_changed_card_updates_only_its_changed_fields(recip_home: Recip, tmp_path: Path) -> None:
    book = tmp_path / "iphone.vcf"
    book.write_text(IPHONE, encoding="utf-8")
    recip_home.ok("import", str(book))
    ada_id = str(show(recip_home, "ada")["contact_id"])
    before = len(stored(recip_home))
    changed = IPHONE.replace("FN:Ada Lovelace", "FN:Ada King").replace(
        "TITLE:Analyst", "TITLE:Countess"
    )
    changed = changed.replace("EMAIL;type=INTERNET;type=HOME;type=pref:ada@example.org", "")
    book.write_text(changed, encoding="utf-8")
    dry = recip_home.ok("import", "--dry-run", str(book))
    assert ": would be added 0, would be updated 1, unchanged 1," in dry
    assert "update 'Ada Lovelace'" in dry
    assert "name: Ada Lovelace -> Ada King" in dry and "title: Analyst -> Countess" in dry
    assert len(stored(recip_home)) == before
    out = recip_home.ok("import", str(book))
    assert ": added 0, updated 1, unchanged 1, possible duplicates 0" in out
    new = [e for _, e in stored(recip_home)[before:]]
    edit = next(e for e in new if isinstance(e, ContactEdited))
    assert edit.contact_id == ada_id and edit.name == "Ada King"
    assert not isinstance(edit.emails, tuple)  # an email missing from the card is not removed
    details = next(e for e in new if isinstance(e, ContactDetailsSet))
    assert details.title == "Countess" and not isinstance(details.addresses, tuple)
    shown = show(recip_home, ada_id)
    assert shown["name"] == "Ada King" and shown["emails"] == ["ada@example.org"]
    again = recip_home.ok("import", str(book))
    assert ": added 0, updated 0, unchanged 2," in again


def test_reimport_into_a_merged_contact_updates_the_survivor(
    recip_home: Recip, tmp_path: Path
) -> None:
    book = tmp_path / "iphone.vcf"
    book.write_text(IPHONE, encoding="utf-8")
    recip_home.ok("import", str(book))
    recip_home.ok("contact", "merge", "Charles Babbage", "Ada Lovelace")
    assert any(isinstance(e, ContactsMerged) for _, e in stored(recip_home))
    book.write_text(IPHONE.replace("TITLE:Analyst", "TITLE:Countess"), encoding="utf-8")
    out = recip_home.ok("import", str(book))
    assert ": added 0, updated 1," in out
    assert show(recip_home, "charles")["title"] == "Countess"


def test_linkedin_connections_with_their_preamble(recip_home: Recip) -> None:
    out = recip_home.ok("import", str(DATA / "csv" / "linkedin_connections.csv"))
    assert ": added 2, updated 0, unchanged 0, possible duplicates 0" in out
    ada = show(recip_home, "ada")
    assert ada["title"] == "Chief Analyst" and ada["org"] == "Analytical Engines"
    assert ada["profiles"] == [
        {"kind": "linkedin", "url": "https://www.linkedin.com/in/ada-lovelace"}
    ]
    assert ada["met"] == {"where": "LinkedIn", "on": "2021-03-15"}
    assert show(recip_home, "babbage")["met"] == {"where": "LinkedIn", "on": "2019-01-02"}


def test_google_and_outlook_details(recip_home: Recip) -> None:
    recip_home.ok("import", str(DATA / "csv" / "google_contacts.csv"))
    recip_home.ok("import", str(DATA / "csv" / "outlook_contacts.csv"))
    ann = show(recip_home, "Ann Lee")
    assert ann["title"] == "Architect" and ann["birthday"] == "1990-04-01"
    assert ann["addresses"] and [n["text"] for n in ann["notes"]] == [
        "Met at the climbing gym.\nPrefers texts."
    ]
    john = show(recip_home, "John")
    assert john["title"] == "Controller" and john["org_units"] == ["Finance"]
    assert john["addresses"] == [
        {"label": "work", "street": "1 Microsoft Way", "locality": "Redmond"}
    ]


def test_vcard_export_round_trips_details_and_notes(recip_home: Recip, tmp_path: Path) -> None:
    recip_home.ok(
        "contact", "add", "Charles Babbage", "--email", "cb@example.org",
    )  # fmt: skip
    recip_home.ok(
        "contact", "add", "Ada Lovelace",
        "--birthday", "1815-12-10", "--occasion", "anniversary=1835-07-08",
        "--occasion", "first program=--09-01", "--title", "Analyst",
        "--org", "Engines", "--unit", "Research",
        "--address", "home: 12 St James's Square; London; ; SW1Y 4JH; UK",
        "--url", "https://www.linkedin.com/in/ada", "--met-at", "a soirée",
        "--met-on", "1833-06-05", "--met-through", "babbage",
    )  # fmt: skip
    recip_home.ok("note", "ada", "likes poetry")
    for fmt, name in (("vcard", "out.vcf"), ("csv", "out.csv")):
        out = tmp_path / name
        recip_home.ok("export", "--format", fmt, str(out))
        assert ": added 0, updated 0, unchanged 2," in recip_home.ok("import", str(out))
        make_home(tmp_path / f"fresh-{fmt}")
        fresh = Recip(tmp_path / f"fresh-{fmt}")
        fresh.ok("import", str(out))
        for ref in ("ada", "babbage"):
            here, there = show(recip_home, ref), show(fresh, ref)
            for key in ("birthday", "occasions", "title", "org_units", "addresses", "profiles"):
                assert there[key] == here[key], (fmt, key)
            assert [n["text"] for n in there["notes"]] == [n["text"] for n in here["notes"]]
        met = show(fresh, "ada")["met"]
        babbage = show(fresh, "babbage")["contact_id"]
        assert met == {"where": "a soirée", "on": "1833-06-05", "through": babbage}
        notes = [e for _, e in stored(fresh) if isinstance(e, NoteAdded)]
        assert len(notes) == 1


def test_at_most_twenty_possible_duplicates_are_listed(recip_home: Recip, tmp_path: Path) -> None:
    cards = "".join(
        f"BEGIN:VCARD\nVERSION:3.0\nFN:Person {i}\nEMAIL:same@example.org\nEND:VCARD\n"
        for i in range(30)
    )
    book = tmp_path / "many.vcf"
    book.write_text(cards, encoding="utf-8")
    out = recip_home.ok("import", str(book))
    assert ": added 30, updated 0, unchanged 0, possible duplicates 29" in out
    assert "possible duplicates (20 of 29 shown" in out
    assert out.count("looks like new") == 20


# -- any details, through both formats ------------------------------------------------

_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Zl", "Zp", "Zs"]),
    min_size=1,
    max_size=20,
).filter(lambda s: s.strip() == s and ":::" not in s and ";" not in s and "=" not in s)
_days = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))
_partial = st.one_of(_days.map(date.isoformat), _days.map(lambda d: d.strftime("--%m-%d")))
details = st.builds(
    Details,
    birthday=st.none() | _partial,
    occasions=st.lists(
        st.builds(
            Occasion,
            label=_text.filter(lambda s: s.casefold() != "anniversary" and ":" not in s),
            date=_partial,
        ),
        max_size=2,
        unique=True,
    ).map(tuple),
    title=st.none() | _text,
    org_units=st.lists(_text, max_size=2, unique=True).map(tuple),
    addresses=st.lists(
        st.builds(
            Address,
            label=st.sampled_from(["", "home", "work"]),
            street=_text.filter(lambda s: "," not in s),
            locality=st.just("") | _text.filter(lambda s: "," not in s),
            country=st.just("") | _text.filter(lambda s: "," not in s),
        ),
        max_size=2,
        unique=True,
    ).map(tuple),
    profiles=st.lists(
        st.sampled_from(["https://www.linkedin.com/in/", "https://example.org/"]).flatmap(
            lambda base: st.from_regex(r"[a-z0-9]{1,10}", fullmatch=True).map(
                lambda tail: profile(base + tail)
            )
        ),
        max_size=2,
        unique_by=lambda p: p.url,
    ).map(tuple),
    met=st.none() | st.builds(HowWeMet, where=_text, on=st.none() | _partial),
)


@examples(60)
@given(held=details)
def test_any_details_survive_vcard_and_csv_export(held: Details) -> None:
    added = ContactAdded(
        event_id="01900000-0000-7000-8000-000000000001",
        device_id="d",
        seq=1,
        hlc=1,
        occurred_at=BASE_MS,
        name="Ada Lovelace",
        org="Engines" if held.org_units else None,
    )
    [contact] = State([added]).contacts()
    contact = dataclasses.replace(contact, details=held)
    [from_vcard] = vcard.parse(vcard.export([contact], {contact.id: ["a note"]}), "x.vcf")
    assert from_vcard.details == held
    assert from_vcard.notes == ("a note",)
    table = csv_io.export_contacts([contact], {contact.id: ["a note"]})
    [from_csv] = csv_io.parse(table, "x.csv", {})
    assert from_csv.details == held
    assert from_csv.notes == ("a note",)


_any_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Zl", "Zp"]),
    min_size=1,
    max_size=20,
).filter(lambda s: s.strip() == s and s)


@examples(60)
@given(
    title=_any_text,
    unit=_any_text,
    label=_any_text,
    where=_any_text,
    street=_any_text,
)
def test_any_text_survives_vcard_export(
    title: str, unit: str, label: str, where: str, street: str
) -> None:
    """vCard has room for any text (escaped values, RFC 6868 parameters)."""
    held = Details(
        title=title,
        org_units=(unit,),
        occasions=(Occasion(label=label, date="--02-29"),),
        addresses=(Address(street=street),),
        met=HowWeMet(where=where),
    )
    added = ContactAdded(
        event_id="01900000-0000-7000-8000-000000000001",
        device_id="d",
        seq=1,
        hlc=1,
        occurred_at=BASE_MS,
        name="Ada Lovelace",
        org="Engines",
    )
    [contact] = State([added]).contacts()
    contact = dataclasses.replace(contact, details=held)
    [record] = vcard.parse(vcard.export([contact], {contact.id: [where]}), "x.vcf")
    if label.casefold() != "anniversary":
        assert record.details == held
    assert record.notes == (where,)


def test_google_events_are_occasions(recip_home: Recip, tmp_path: Path) -> None:
    table = tmp_path / "google.csv"
    table.write_text(
        "First Name,Last Name,Event 1 - Label,Event 1 - Value,Event 2 - Label,Event 2 - Value\n"
        "Ada,Lovelace,Anniversary,1835-07-08,first program, --09-01\n",
        encoding="utf-8",
    )
    out = recip_home.ok("import", str(table))
    assert ": added 1," in out and "skipped" not in out
    assert show(recip_home, "ada")["occasions"] == [
        {"label": "anniversary", "date": "1835-07-08"},
        {"label": "first program", "date": "--09-01"},
    ]


def test_a_foreign_urn_uuid_uid_matches_the_card_next_time(
    recip_home: Recip, tmp_path: Path
) -> None:
    card = (
        "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1\r\n"
        "FN:{name}\r\nTITLE:{title}\r\nEND:VCARD\r\n"
    )
    book = tmp_path / "book.vcf"
    book.write_text(card.format(name="Ada Lovelace", title="Analyst"), encoding="utf-8")
    recip_home.ok("import", str(book))
    book.write_text(card.format(name="Ada King", title="Countess"), encoding="utf-8")
    out = recip_home.ok("import", str(book))  # no email, no phone, a new name: the UID
    assert ": added 0, updated 1," in out
    assert show(recip_home, "ada")["title"] == "Countess"
