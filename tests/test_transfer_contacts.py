"""Properties of contact imports: identity, idempotence, duplicates, CSV round trips."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import commands
from core.events import ContactDetailsSet, ContactEdited, Event
from core.state import Details, State
from tests.test_transfer_support import BASE_MS, examples
from transfer import csv as csv_io
from transfer.contacts import ContactRecord, identity, identity_of_source, phone_key, source_of
from transfer.plan import plan_import

NOW = commands.Now(BASE_MS, 0)
plain = st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Zl", "Zp"])
names = st.text(alphabet=plain, min_size=1, max_size=20).filter(lambda s: s.strip() == s and s)
emails = st.from_regex(r"[a-z0-9._%+-]{1,10}@[a-z0-9-]{1,8}\.[a-z]{2,3}", fullmatch=True)
phones = st.from_regex(r"\+?[0-9]{2}[0-9 ()-]{3,11}[0-9]", fullmatch=True)  # 3+ digits
records = st.builds(
    ContactRecord,
    line=st.integers(1, 10_000),
    name=names,
    emails=st.lists(emails, max_size=2).map(tuple),
    phones=st.lists(phones, max_size=2).map(tuple),
    org=st.one_of(st.none(), names),
    tags=st.lists(
        names.filter(lambda t: not {":", ";", "*"} & set(t) and t.casefold() != "starred"),
        max_size=2,
        unique=True,
    ).map(tuple),
)


def imported(record_list: list[ContactRecord], state: State | None = None) -> State:
    """The state after importing `record_list` into `state` (a fresh log by default)."""
    state = state or State()
    plan = plan_import(state, record_list, kind="vcard", source="x.vcf", now=NOW)
    events = list(state.by_id.values())
    for seq, draft in enumerate(plan.drafts, start=len(events) + 1):
        events.append(_stamped(draft, seq))
    return State(events)


def _stamped(draft: Event, seq: int) -> Event:
    import msgspec

    return msgspec.structs.replace(draft, device_id="d", seq=seq, hlc=seq)


@examples(60)
@given(st.lists(records, max_size=8))
def test_importing_the_same_records_again_adds_nothing(batch: list[ContactRecord]) -> None:
    state = imported(batch)
    again = plan_import(state, batch, kind="vcard", source="x.vcf", now=NOW)
    assert again.drafts == []
    accounted = (
        len(again.unchanged) + len(again.repeated) + len(again.empty) + len(again.duplicates)
    )
    assert accounted == len(batch)


@examples(60)
@given(st.lists(records, max_size=8), st.randoms())
def test_order_and_format_do_not_change_what_is_recognised(
    batch: list[ContactRecord], rng: object
) -> None:
    state = imported(batch)
    shuffled = list(batch)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert plan_import(state, shuffled, kind="csv", source="y.csv", now=NOW).drafts == []


@examples(60)
@given(records)
def test_identity_ignores_spacing_email_case_and_order(record: ContactRecord) -> None:
    import msgspec

    variant = msgspec.structs.replace(
        record,
        line=record.line + 7,
        name=f"  {record.name}  ".replace(" ", "  "),
        emails=tuple(e.upper() for e in reversed(record.emails)),
        phones=tuple(reversed(record.phones)),
        tags=tuple(reversed(record.tags)),
    )
    assert identity(variant) == identity(record)
    assert identity_of_source(source_of("csv", identity(record), "a;b.csv", 3)) == identity(record)


def test_a_changed_contact_is_updated_with_only_what_changed() -> None:
    ann = ContactRecord(line=1, name="Ann Lee", emails=("ann@example.org",))
    state = imported([ann])
    (contact,) = state.contacts()
    moved = ContactRecord(
        line=1,
        name="Ann Lee",
        emails=("ANN@example.org",),
        phones=("+1 555 0100 200",),
        details=Details(title="Architect"),
        notes=("likes climbing",),
    )
    plan = plan_import(state, [moved], kind="vcard", source="x.vcf", now=NOW)
    assert plan.added == [] and plan.duplicates == []
    [update] = plan.updated
    assert [c.field for c in update.changes] == ["phones", "title", "note"]
    edit, details, _ = plan.drafts
    assert isinstance(edit, ContactEdited) and edit.contact_id == contact.id
    assert msgspec.structs.asdict(edit).keys() >= {"phones"} and edit.emails is msgspec.UNSET
    assert isinstance(details, ContactDetailsSet) and details.title == "Architect"
    after = imported([moved], state)
    assert after.contact(contact.id).details.title == "Architect"  # type: ignore[union-attr]
    again = plan_import(after, [moved], kind="vcard", source="x.vcf", now=NOW)
    assert again.drafts == [] and len(again.unchanged) == 1


def test_duplicates_within_one_file_are_reported_too() -> None:
    plan = plan_import(
        State(),
        [
            ContactRecord(line=1, name="Ann Lee", phones=("+44 7700 900123",)),
            ContactRecord(line=9, name="A. Lee", phones=("07700 900123",)),
        ],
        kind="csv",
        source="x.csv",
        now=NOW,
    )
    assert len(plan.drafts) == 2
    [dup] = plan.duplicates
    assert dup.line == 9 and dup.other_is_new and dup.reason == "same phone (07700 900123)"


@examples(60)
@given(st.lists(records, min_size=1, max_size=6), st.data())
def test_a_reimport_changes_only_what_changed(
    batch: list[ContactRecord], data: st.DataObject
) -> None:
    """Changing some entries of an imported file updates those alone, never adds."""
    state = imported(batch)
    changed = [
        msgspec.structs.replace(r, details=Details(title=f"t{i}"), line=r.line)
        if data.draw(st.booleans())
        else r
        for i, r in enumerate(batch)
    ]
    plan = plan_import(state, changed, kind="vcard", source="x.vcf", now=NOW)
    assert plan.added == []
    touched = {u.contact_id for u in plan.updated}
    assert len(touched) == len(plan.updated)  # one update per contact
    assert all(c.field == "title" for u in plan.updated for c in u.changes)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("+44 7700 900123", "07700 900123", True),
        ("(555) 010-2030", "555.010.2030", True),
        ("112", "112", False),  # too short to mean one person
        ("+1 415 555 0101", "+1 415 555 0102", False),
    ],
)
def test_phone_keys(a: str, b: str, same: bool) -> None:
    key = phone_key(a)
    assert (key is not None and key == phone_key(b)) is same


@examples(60)
@given(st.lists(records, min_size=1, max_size=6))
def test_contacts_survive_csv_export_and_import(batch: list[ContactRecord]) -> None:
    state = imported(batch)
    contacts = state.contacts()
    text = csv_io.export_contacts(contacts)
    back = csv_io.parse(text, "c.csv", {})
    assert [(r.uid, r.name, r.emails, r.phones, r.org, r.tags) for r in back] == [
        (c.id, c.name, c.emails, c.phones, c.org, c.tags) for c in contacts
    ]
    assert plan_import(state, back, kind="csv", source="c.csv", now=NOW).drafts == []


def test_a_value_beyond_the_schema_is_refused_at_its_line() -> None:
    from transfer.errors import FileRefused

    long_tag = ContactRecord(line=42, name="Ann", tags=("x" * 501,))
    with pytest.raises(FileRefused) as refused:
        plan_import(State(), [long_tag], kind="csv", source="big.csv", now=NOW)
    assert refused.value.line == 42 and "'Ann'" in refused.value.reason
