"""The view commands name contacts exactly as the recording commands do."""

from __future__ import annotations

import json
from datetime import date

from cli.home import Home
from core import commands

from .conftest import Recip
from .test_views_cli import NOW, home, network, record, run  # noqa: F401 (fixtures)


def test_a_merged_away_name_means_its_survivor_in_every_view(
    run: Recip,  # noqa: F811
    home: Home,  # noqa: F811
    network: dict[str, str],  # noqa: F811
) -> None:
    """`recip log Ben` after merging Ben into Ann records on Ann; the views agree."""
    record(home, lambda s: commands.merge_contacts(s, NOW, "Ann", "Ben"))
    shown = json.loads(run.ok("contact", "show", "Ben", "--json"))
    assert shown["contact_id"] == network["Ann"]
    (row,) = json.loads(run.ok("ledger", "Ben", "--json"))
    assert row["contact_id"] == network["Ann"]
    assert run.ok("timeline", "Ben", "--json") == run.ok("timeline", "Ann", "--json")


def test_an_ambiguous_reference_lists_a_few_candidates_not_all(run: Recip) -> None:  # noqa: F811
    """One readable error line even when a short prefix matches hundreds of contacts."""
    for i in range(30):
        run.ok("contact", "add", f"Person {i}")
    for argv in (("timeline", "0"), ("ledger", "0"), ("log", "0"), ("contact", "show", "0")):
        err = run.fails(*argv)
        assert err.count("\n") == 1, err
        assert "matches 30 contacts" in err
        assert "and 20 more" in err
        assert len(err) < 700, err


def test_a_timeline_at_80_columns_still_says_what_happened() -> None:
    """The summary is the point of a timeline row: a narrow terminal must not hide it."""
    from cli.views import _timeline_table
    from projections.views import TimelineEntry

    entries = [
        TimelineEntry(
            event_id="01a215ab-d0dd-711b-8c3f-011f1e3249d5",
            type="InteractionLogged",
            device_id="01a215ab-cf01-717c-82c2-b2d1e479d531",
            recorded_at="2026-11-26T02:25:11+00:00",
            occurred_at="2026-11-20T12:00:00+05:30",
            date="2026-11-20",
            summary="call with Ada Lovelace (they reached out): catch-up",
            contact_ids=("01a215ab-d0dd-711b-8c3f-011f1e3249d5",),
            retracted=False,
        )
    ]
    text = " ".join("\n".join(_timeline_table("Ada Lovelace", entries).lines(80)).split())
    assert "call with Ada" in text, text


def test_a_ledger_at_80_columns_keeps_its_dates_and_numbers_whole() -> None:
    """Names and flags wrap; a cut date ('2026-…') or count tells nothing."""
    from cli.views import _ledger_table
    from projections.views import LedgerRow

    row = LedgerRow(
        contact_id="018c7e10-0366-7768-aed4-612ed59cc071",
        name="Amira Fischer-Lindqvist",
        gives=12,
        give_weight=30,
        asks=18,
        ask_weight=41,
        granted=8,
        declined=3,
        withdrawn=2,
        unanswered=2,
        open=3,
        balance=-11,
        last_give="2025-11-28",
        last_ask="2026-10-20",
        last_touch="2026-11-17",
        one_sided=True,
        only_asks=True,
    )
    text = "\n".join(_ledger_table([row]).lines(80))
    for whole in ("2026-11-17", "12 (w30)", "18 (w41)", "-11", "8 3 2 2 3"):
        assert whole in text, text


def test_the_cold_view_at_80_columns_keeps_circles_and_statuses_whole() -> None:
    from cli.views import _cold_table
    from projections.views import ColdRow, day_of

    rows = [
        ColdRow(
            contact_id="018c7e10-0366-7768-aed4-612ed59cc071",
            name="Luca Wagner-Okonkwo",
            circle="distant",
            cadence_days=7,
            last_touch=None,
            days_since=180,
            status="cooling",
            overdue_days=173,
        )
    ]
    text = "\n".join(_cold_table(rows, day_of(date(2026, 11, 26)), everyone=False).lines(80))
    for whole in ("distant", "cooling", "180", "7 d", "173 d"):
        assert whole in text, text
