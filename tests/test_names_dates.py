"""Properties of the one contact resolver (`core.names`) and of stated days (`core.dates`)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from core.dates import WEEKDAYS, natural_day, partial_date
from core.errors import AmbiguousError, NotFoundError
from core.names import NameRef, fold, resolve

days = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))
words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöüéñ", min_size=2, max_size=8)
names = st.lists(words, min_size=1, max_size=3).map(" ".join)


def ref(i: int, name: str, **kw: object) -> NameRef:
    cid = f"01a24242-0000-7000-8000-{i:012x}"
    return NameRef(cid, name, bool(kw.get("archived", False)), str(kw.get("survivor", cid)))


@given(days)
def test_a_full_day_reads_back_as_itself(day: date) -> None:
    assert partial_date(day.isoformat()) == day.isoformat()
    assert partial_date(day.strftime("%Y%m%d")) == day.isoformat()
    assert partial_date(day.strftime("--%m-%d")) == day.strftime("--%m-%d")
    assert partial_date(day.strftime("--%m%d")) == day.strftime("--%m-%d")


@given(days, st.integers(0, 2000))
def test_days_ago_counts_back(today: date, n: int) -> None:
    assume(today - timedelta(days=n) > date(1, 1, 1))
    assert natural_day(f"{n} days ago", today) == today - timedelta(days=n)
    assert natural_day(f"  {n}   DAYS  ago ", today) == today - timedelta(days=n)


@given(days, st.sampled_from(WEEKDAYS))
def test_last_weekday_is_within_the_week_before(today: date, weekday: str) -> None:
    day = natural_day(f"last {weekday}", today)
    assert day is not None and day.strftime("%A").lower() == weekday
    assert 1 <= (today - day).days <= 7
    plain = natural_day(weekday, today)
    assert plain is not None and 0 <= (today - plain).days <= 6


@pytest.mark.parametrize("text", ["next friday", "tomorrow", "2026-11-20", "3 fortnights ago"])
def test_what_is_not_a_phrase_is_left_to_iso(text: str) -> None:
    assert natural_day(text, date(2026, 12, 4)) is None


@given(st.lists(names, min_size=1, max_size=6, unique_by=fold), st.data())
def test_each_distinct_name_finds_its_contact(all_names: list[str], data: st.DataObject) -> None:
    refs = [ref(i, n) for i, n in enumerate(all_names)]
    chosen = data.draw(st.sampled_from(refs))
    assert resolve(refs, chosen.name) == chosen
    assert resolve(refs, chosen.name.upper()) == chosen
    assert resolve(refs, fold(chosen.name)) == chosen  # accents and case aside
    assert resolve(refs, chosen.contact_id[-8:]) == chosen  # the short id shown


@given(st.lists(names, min_size=2, max_size=6, unique_by=fold), st.data())
def test_a_word_head_finds_one_contact_or_lists_every_match(
    all_names: list[str], data: st.DataObject
) -> None:
    refs = [ref(i, n) for i, n in enumerate(all_names)]
    chosen = data.draw(st.sampled_from(refs))
    head = fold(chosen.name).split()[0][:2]
    exact = [r for r in refs if fold(r.name) == head]
    matching = [r for r in refs if any(w.startswith(head) for w in fold(r.name).split())]
    if exact:
        assert resolve(refs, head) == exact[0]
    elif len(matching) == 1:
        assert resolve(refs, head) == chosen
    else:
        with pytest.raises(AmbiguousError) as caught:
            resolve(refs, head)
        assert len(caught.value.candidates) == len(matching)


def test_no_match_suggests_the_closest_names() -> None:
    refs = [ref(1, "Ada Lovelace"), ref(2, "Jürgen Müller"), ref(3, "Grace Hopper")]
    with pytest.raises(NotFoundError, match="did you mean Jürgen Müller"):
        resolve(refs, "jurgan mueller")
    assert resolve(refs, "jurgen mul").name == "Jürgen Müller"


def test_a_merged_away_name_means_its_survivor() -> None:
    survivor = ref(1, "Ada King")
    absorbed = ref(2, "Ada Lovelace", survivor=survivor.contact_id)
    assert resolve([survivor, absorbed], "lovelace") == survivor
    assert resolve([survivor, absorbed], absorbed.contact_id) == survivor
