"""`recip contact ...`: add, edit, archive, restore, merge, list, show, and their refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgspec
import pytest

from core.events import (
    ContactAdded,
    ContactArchived,
    ContactEdited,
    ContactRestored,
    ContactsMerged,
)
from tests.cli_support import json_out, recorded, refused, state
from tests.conftest import Recip


def add(recip: Recip, name: str, *options: str) -> str:
    return recorded(recip, "contact", "add", name, *options).event_id


# -- add ------------------------------------------------------------------------------


def test_add_records_every_field(recip: Recip) -> None:
    event = recorded(
        recip,
        "contact", "add", "  Ada Lovelace ",
        "--email", "ada@example.org", "--email", "ada@math.org",
        "--phone", "+44 20 7946 0958 ext. 12", "--org", "Analytical",
        "--tag", "math", "--tag", "friend",
        "--circle", "inner", "--every", "7",
    )  # fmt: skip
    assert isinstance(event, ContactAdded)
    assert event.name == "Ada Lovelace"
    assert event.emails == ("ada@example.org", "ada@math.org")
    assert event.phones == ("+44 20 7946 0958 ext. 12",)
    assert event.org == "Analytical"
    assert event.tags == ("math", "friend")
    assert (event.circle, event.cadence_days) == ("inner", 7)
    assert event.seq == 1 and event.device_id


@pytest.mark.parametrize(
    "phone", ["1-800-FLOWERS", "+44 20 7946 0958 ext. 12", "112", "(425) 555-0102"]
)
def test_add_keeps_any_phone_with_digits_as_written(recip: Recip, phone: str) -> None:
    event = recorded(recip, "contact", "add", "Ada", "--phone", f" {phone} ")
    assert isinstance(event, ContactAdded) and event.phones == (phone,)


def test_add_defaults(recip: Recip) -> None:
    event = recorded(recip, "contact", "add", "Bob")
    assert isinstance(event, ContactAdded)
    assert (event.circle, event.cadence_days, event.org, event.emails) == ("wider", None, None, ())


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (("",), "name must not be empty"),
        (("   ",), "name must not be empty"),
        (("Ada", "--email", "not-an-email"), "not an email"),
        (("Ada", "--circle", "besties"), "--circle"),
        (("Ada", "--every", "0"), "cadence"),
        (("Ada", "--every", "x"), "--every"),
        (("Ada", "--tag", " "), "tag must not be empty"),
        (("Ada", "--phone", ""), "phone must not be empty"),
        (("Ada", "--phone", "abc"), "not a phone number: 'abc'"),
        (("Ada", "--phone", "+44 20 7946 0958", "--phone", "12"), "not a phone number: '12'"),
    ],
)
def test_add_refusals(recip: Recip, options: tuple[str, ...], match: str) -> None:
    refused(recip, "contact", "add", *options, match=match)


# -- edit -----------------------------------------------------------------------------


def test_edit_changes_only_given_fields(recip: Recip) -> None:
    cid = add(recip, "Ada", "--email", "a@x.org", "--tag", "t1", "--org", "Old")
    event = recorded(
        recip, "contact", "edit", "ada", "--name", "Ada L", "--tag", "t2", "--tag", "t3"
    )
    assert isinstance(event, ContactEdited)
    assert event.contact_id == cid
    contact = state(recip).contact(cid)
    assert contact is not None
    assert (contact.name, contact.tags, contact.emails, contact.org) == (
        "Ada L",
        ("t2", "t3"),
        ("a@x.org",),
        "Old",
    )


def test_edit_clears_lists_org_and_cadence(recip: Recip) -> None:
    cid = add(
        recip, "Ada", "--email", "a@x.org", "--phone", "112", "--tag", "t", "--org", "O",
        "--every", "5",
    )  # fmt: skip
    recorded(
        recip, "contact", "edit", cid,
        "--clear-emails", "--clear-phones", "--clear-tags", "--clear-org", "--no-cadence",
    )  # fmt: skip
    contact = state(recip).contact(cid)
    assert contact is not None
    assert contact.emails == contact.phones == contact.tags == ()
    assert contact.org is None and contact.cadence_days is None
    rows = json_out(recip, "contact", "list", "--json")
    assert rows[0]["emails"] == [] and rows[0]["cadence_days"] is None


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ((), "nothing to change"),
        (("--name", " "), "name must not be empty"),
        (("--name", "Ada"), "already has those values"),
        (("--email", "a@x.org", "--clear-emails"), "not both"),
        (("--org", "X", "--clear-org"), "not both"),
        (("--every", "5", "--no-cadence"), "not both"),
        (("--every", "-3"), "cadence"),
        (("--email", "nope"), "not an email"),
        (("--email", "@x.org"), "not an email"),
        (("--email", "a@b@c"), "not an email"),
        (("--phone", "n/a"), "not a phone number: 'n/a'"),
        (("--circle", "galaxy"), "--circle"),
    ],
)
def test_edit_refusals(recip: Recip, options: tuple[str, ...], match: str) -> None:
    add(recip, "Ada")
    refused(recip, "contact", "edit", "Ada", *options, match=match)


def test_edit_unknown_and_archived_contact_refused(recip: Recip) -> None:
    refused(recip, "contact", "edit", "Nobody", "--name", "X", match="no contact matches")
    add(recip, "Ada")
    recorded(recip, "contact", "archive", "Ada")
    refused(recip, "contact", "edit", "Ada", "--name", "X", match="archived")


# -- archive / restore ----------------------------------------------------------------


def test_archive_and_restore(recip: Recip) -> None:
    cid = add(recip, "Ada")
    archived = recorded(recip, "contact", "archive", "ADA")
    assert isinstance(archived, ContactArchived) and archived.contact_id == cid
    assert json_out(recip, "contact", "list", "--json") == []
    listed = json_out(recip, "contact", "list", "--all", "--json")
    assert [(r["contact_id"], r["archived"]) for r in listed] == [(cid, True)]
    refused(recip, "contact", "archive", "Ada", match="already archived")
    refused(recip, "log", "Ada", match="archived")
    restored = recorded(recip, "contact", "restore", "ada")
    assert isinstance(restored, ContactRestored) and restored.contact_id == cid
    refused(recip, "contact", "restore", "Ada", match="not archived")
    assert [r["name"] for r in json_out(recip, "contact", "list", "--json")] == ["Ada"]


def test_archive_restore_unknown_refused(recip: Recip) -> None:
    refused(recip, "contact", "archive", "Ghost", match="no contact matches")
    refused(recip, "contact", "restore", "Ghost", match="no contact matches")


# -- merge ------------------------------------------------------------------------------


def test_merge_hides_absorbed_and_redirects_references(recip: Recip) -> None:
    keep = add(recip, "Ada Lovelace")
    other = add(recip, "A. Lovelace")
    merged = recorded(recip, "contact", "merge", "Ada Lovelace", "a. lovelace")
    assert isinstance(merged, ContactsMerged)
    assert (merged.survivor_id, merged.absorbed_id) == (keep, other)
    assert [r["contact_id"] for r in json_out(recip, "contact", "list", "--json")] == [keep]
    rows = {r["contact_id"]: r for r in json_out(recip, "contact", "list", "--all", "--json")}
    assert rows[other]["merged_into"] == keep and rows[keep]["merged_into"] is None
    # The absorbed contact's id now means its survivor.
    note = recorded(recip, "note", other, "met at the salon")
    assert note.contact_id == keep  # type: ignore[attr-defined]
    shown = json_out(recip, "contact", "show", other, "--json")
    assert shown["contact_id"] == keep and shown["merged_from"] == [other]
    table = recip.ok("contact", "list", "--all")
    assert "merged into Ada Lovelace" in table


def test_merge_refusals(recip: Recip) -> None:
    add(recip, "Ada")
    refused(recip, "contact", "merge", "Ada", "ada", match="same contact")
    refused(recip, "contact", "merge", "Ada", "Ghost", match="no contact matches")
    add(recip, "Bob")
    recorded(recip, "contact", "archive", "Bob")
    refused(recip, "contact", "merge", "Ada", "Bob", match="archived")


# -- references -----------------------------------------------------------------------


def test_reference_by_id_prefix_and_case_insensitive_name(recip: Recip) -> None:
    cid = add(recip, "Grace Hopper")
    assert recorded(recip, "note", cid, "a").contact_id == cid  # type: ignore[attr-defined]
    assert recorded(recip, "note", cid[:-4], "b").contact_id == cid  # type: ignore[attr-defined]
    assert recorded(recip, "note", "grace HOPPER", "c").contact_id == cid  # type: ignore[attr-defined]
    assert recorded(recip, "note", "Grace", "d").contact_id == cid  # type: ignore[attr-defined]
    assert recorded(recip, "note", cid[-8:], "e").contact_id == cid  # type: ignore[attr-defined]
    line = refused(recip, "note", "Grase Hopper", "f", match="no contact matches")
    assert "did you mean Grace Hopper?" in line


def test_ambiguous_name_lists_candidates(recip: Recip) -> None:
    first = add(recip, "Sam")
    second = add(recip, "sam", "--allow-duplicate")
    line = refused(recip, "note", "SAM", "hello", match="matches 2 contacts")
    assert first in line and second in line


def test_ambiguous_prefix_lists_candidates(recip: Recip) -> None:
    ids = [add(recip, name) for name in ("A", "B", "C")]
    common = ids[0][:8]
    assert all(i.startswith(common) for i in ids)  # UUIDv7: same millisecond-ish prefix
    line = refused(recip, "note", common, "x", match="matches 3 contacts")
    assert all(i in line for i in ids)


# -- list and show ----------------------------------------------------------------------


def test_list_json_keys_and_order(recip: Recip) -> None:
    add(recip, "bob")
    add(recip, "Alice", "--org", "Acme", "--tag", "x")
    add(recip, "Bob", "--allow-duplicate")
    rows = json_out(recip, "contact", "list", "--json")
    assert [list(r) for r in rows] == [
        [
            "contact_id", "name", "emails", "phones", "org", "tags", "circle",
            "cadence_days", "archived", "merged_into",
        ]
    ] * 3  # fmt: skip
    names = [(r["name"].casefold(), r["contact_id"]) for r in rows]
    assert names == sorted(names)
    assert rows[0]["org"] == "Acme" and rows[0]["tags"] == ["x"]


def test_list_table_and_empty(recip: Recip) -> None:
    assert "no contacts" in recip.ok("contact", "list")
    cid = add(recip, "Ada", "--circle", "inner")
    table = recip.ok("contact", "list")
    assert "Ada" in table and cid in table and "14d (inner)" in table
    assert "status" not in table


def test_show_json_and_table(recip: Recip) -> None:
    cid = add(recip, "Ada", "--circle", "close", "--email", "a@x.org")
    ask = recorded(recip, "ask", "Ada", "review my paper", "--weight", "3")
    recorded(recip, "note", "Ada", "likes tea")
    recorded(recip, "contact", "archive", "Ada")
    shown = json_out(recip, "contact", "show", "ada", "--json")
    assert shown["contact_id"] == cid
    assert shown["archived"] is True
    assert shown["effective_cadence_days"] == 30
    assert [a["ask_id"] for a in shown["open_asks"]] == [ask.event_id]
    assert [n["text"] for n in shown["notes"]] == ["likes tea"]
    table = recip.ok("contact", "show", cid[:20])
    for text in ("Ada", "archived", "a@x.org", "review my paper", "likes tea"):
        assert text in table
    refused(recip, "contact", "show", "Nobody", match="no contact matches")


def test_retracted_contact_disappears(recip: Recip) -> None:
    cid = add(recip, "Typo")
    recorded(recip, "retract", cid, "--reason", "added by mistake")
    assert json_out(recip, "contact", "list", "--all", "--json") == []
    refused(recip, "note", cid, "x", match="no contact matches")


def test_table_prints_names_literally(recip: Recip) -> None:
    for name in ("[bold]Ada[/bold]", "李小龙", "Zoë :smile:"):
        add(recip, name)
    table = recip.ok("contact", "list")
    for name in ("[bold]Ada[/bold]", "李小龙", "Zoë :smile:"):
        assert name in table
    assert json_out(recip, "contact", "list", "--json")[0]["name"] == "[bold]Ada[/bold]"


def test_merged_away_name_means_its_survivor(recip: Recip) -> None:
    keep = add(recip, "Ada Lovelace")
    add(recip, "A. Lovelace")
    recorded(recip, "contact", "merge", keep, "A. Lovelace")
    assert recorded(recip, "note", "a. lovelace", "x").contact_id == keep  # type: ignore[attr-defined]
    assert json_out(recip, "contact", "show", "A. Lovelace", "--json")["contact_id"] == keep
    recorded(recip, "contact", "archive", keep)
    refused(recip, "note", "A. Lovelace", "x", match="archived")


# -- names that are found, details ---------------------------------------------------


def test_add_refuses_a_taken_name_and_says_whose(recip: Recip) -> None:
    first = add(recip, "Jürgen Müller")
    line = refused(recip, "contact", "add", "jurgen muller", match="already has this name")
    assert first[-8:] in line and "--allow-duplicate" in line
    second = add(recip, "Jürgen Müller", "--allow-duplicate")
    line = refused(recip, "note", "jurgen mul", "hi", match="matches 2 contacts")
    assert first in line and second in line


def test_words_and_accents_find_a_contact(recip: Recip) -> None:
    ada = add(recip, "Ada Lovelace")
    jm = add(recip, "Jürgen Müller")
    assert recorded(recip, "note", "ada", "a").contact_id == ada  # type: ignore[attr-defined]
    assert recorded(recip, "note", "lovel", "a").contact_id == ada  # type: ignore[attr-defined]
    assert recorded(recip, "note", "jurgen mul", "b").contact_id == jm  # type: ignore[attr-defined]
    assert recorded(recip, "note", "JÜRGEN", "b").contact_id == jm  # type: ignore[attr-defined]
    line = refused(recip, "note", "Jurgan", "c", match="no contact matches")
    assert "Jürgen Müller" in line


def test_details_are_set_shown_edited_and_cleared(recip: Recip) -> None:
    bab = add(recip, "Charles Babbage")
    ada = recip.ok(
        "contact",
        "add",
        "Ada Lovelace",
        "--birthday", "1815-12-10",
        "--occasion", "anniversary=--06-30",
        "--title", "Analyst",
        "--unit", "Engines", "--unit", "Poetry",
        "--address", "home: 12 St James's Square; London; ; SW1Y 4JH; UK",
        "--url", "https://www.linkedin.com/in/ada",
        "--url", "https://ada.example.org",
        "--met-at", "PyCon 1833", "--met-on", "1833-06-05", "--met-through", "babbage",
    ).strip()  # fmt: skip
    shown = json.loads(recip.ok("contact", "show", "ada", "--json"))
    assert shown["birthday"] == "1815-12-10"
    assert shown["occasions"] == [{"label": "anniversary", "date": "--06-30"}]
    assert shown["title"] == "Analyst" and shown["org_units"] == ["Engines", "Poetry"]
    assert shown["addresses"] == [
        {
            "label": "home",
            "street": "12 St James's Square",
            "locality": "London",
            "postcode": "SW1Y 4JH",
            "country": "UK",
        }
    ]
    assert [p["kind"] for p in shown["profiles"]] == ["linkedin", "url"]
    assert shown["met"] == {"where": "PyCon 1833", "on": "1833-06-05", "through": bab}
    text = recip.ok("contact", "show", "ada")
    assert "12-10" in text and "linkedin" in text and "Charles Babbage" in text
    assert "Occasion(" not in text and "('" not in text
    introducer = " ".join(recip.ok("timeline", "babbage").split())
    assert "met: PyCon 1833 on 1833-06-05 through Charles Babbage" in introducer
    intro = recip.ok("contact", "show", "babbage")
    assert re.search(r"introduced you to\W+Ada Lovelace", intro)
    recorded(recip, "contact", "edit", "ada", "--title", "Countess", "--clear", "met")
    shown = json.loads(recip.ok("contact", "show", ada, "--json"))
    assert shown["title"] == "Countess" and shown["met"] is None
    assert shown["birthday"] == "1815-12-10"  # untouched fields stay
    refused(recip, "contact", "edit", "ada", "--title", "Countess", match="already has")
    refused(recip, "contact", "edit", "ada", "--birthday", "1815-02-30", match="calendar")
    refused(recip, "contact", "edit", "ada", "--met-through", "ada", match="themselves")


def test_list_filters(recip: Recip) -> None:
    recip.ok("contact", "add", "Ada Lovelace", "--tag", "math", "--org", "Engines Ltd")
    recip.ok("contact", "add", "Jürgen Müller", "--circle", "inner", "--email", "jm@x.de")
    recip.ok("contact", "add", "Grace Hopper", "--tag", "Navy", "--org", "US Navy")

    def names_of(*options: str) -> list[str]:
        return [r["name"] for r in json.loads(recip.ok("contact", "list", "--json", *options))]

    assert names_of("--search", "jurgen") == ["Jürgen Müller"]
    assert names_of("--search", "jm@x") == ["Jürgen Müller"]
    assert names_of("--tag", "navy") == ["Grace Hopper"]
    assert names_of("--circle", "inner") == ["Jürgen Müller"]
    assert names_of("--org", "engines") == ["Ada Lovelace"]
    assert names_of("--org", "navy", "--tag", "math") == []
    assert "no contact matches these filters" in recip.ok("contact", "list", "--tag", "x")


def test_birthdays_and_occasions_reach_the_plan(
    recip: Recip, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Contacts now carry yearly dates: `recip today` mentions them (ADR 0100)."""
    monkeypatch.setenv("RECIP_NOW", "2026-12-04T10:00:00+00:00")
    recip.ok("contact", "add", "Ada Lovelace", "--birthday", "1815-12-10", "--circle", "none")
    recip.ok("contact", "add", "Jürgen Müller", "--occasion", "wedding=--12-06", "--circle", "none")
    recip.ok("contact", "add", "Grace Hopper", "--birthday", "12-25", "--circle", "none")
    items = json.loads(recip.ok("today", "--json"))["items"]
    assert [(i["name"], i["kind"], i["due"]) for i in items] == [
        ("Jürgen Müller", "occasion", "2026-12-06"),
        ("Ada Lovelace", "occasion", "2026-12-10"),
    ]


def test_contact_show_from_the_views_equals_the_whole_log_fold(tmp_path: Path) -> None:
    """`contact show` folds only the contact's group from the persisted views; for
    every contact of a sample network (merges, retractions, details) it must say
    what a fold of the whole log says."""
    from cli.contacts import contact_detail
    from cli.home import Home
    from core.state import State

    demo = Recip(tmp_path / "demo")
    demo.ok("demo", "--contacts", "40", "--years", "2", "--seed", "3")
    home = Home(tmp_path / "demo")
    log = home.open_log()
    try:
        state = State(event for _, event in log.read())
    finally:
        home.close_log(log)
    shown = 0
    for c in state.contacts():
        if c.absorbed:
            continue
        expected = json.loads(msgspec.json.encode(contact_detail(state, c)))
        assert json.loads(demo.ok("contact", "show", c.id, "--json")) == expected
        shown += 1
    assert shown >= 30
