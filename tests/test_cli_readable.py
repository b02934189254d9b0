"""Output a person reads: text not reprs, one date format, distinct short ids, next steps."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import Recip

NOW = {"RECIP_NOW": "2026-12-04T10:00:00+00:00"}  # a Friday


def test_timeline_renders_values_as_text_and_short_ids_are_distinct(recip: Recip) -> None:
    ada = recip.ok("contact", "add", "Ada Lovelace", "--tag", "pycon").strip()
    recip.ok("contact", "edit", "ada", "--tag", "pycon", "--tag", "math", "--title", "Analyst")
    ids = [recip.ok("note", "ada", f"note {i}").strip() for i in range(5)]
    text = recip.ok("timeline", "ada")
    assert "tags: pycon, math" in text and "title: Analyst" in text
    assert "('" not in text and "=(" not in text and "Occasion(" not in text
    shown = {i[-8:] for i in ids}
    assert len(shown) == 5 and all(s in text for s in shown)  # the random tails, all distinct
    assert len({i[:8] for i in [ada, *ids]}) < 6  # the heads are the time: they collide
    dates = re.findall(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?(?:[+-]\d{2}:\d{2})?", text)
    assert dates and all(re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", d) for d in dates)
    recip.ok("retract", ids[2][-8:], "--reason", "typo")  # what is shown is accepted
    entries = json.loads(recip.ok("timeline", ada[-8:], "--json"))
    assert [e["retracted"] for e in entries if e["event_id"] == ids[2]] == [True]


def test_on_accepts_natural_dates_and_says_which_day(
    recip: Recip, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in NOW.items():
        monkeypatch.setenv(name, value)
    recip.ok("contact", "add", "Ada Lovelace")
    for phrase, day in (
        ("yesterday", "2026-12-03"),
        ("last friday", "2026-11-27"),
        ("3 days ago", "2026-12-01"),
        ("2 weeks ago", "2026-11-20"),
    ):
        result = recip("log", "ada", "--on", phrase)
        assert result.exit_code == 0, result.stderr
        assert f"{day} (" in result.stderr
    result = recip("log", "ada", "--on", "2026-11-02")
    assert result.exit_code == 0 and result.stderr == ""  # ISO: nothing to confirm
    entries = json.loads(recip.ok("timeline", "ada", "--json"))
    days = [e["date"] for e in entries if e["type"] == "InteractionLogged"]
    assert days == ["2026-11-02", "2026-11-20", "2026-11-27", "2026-12-01", "2026-12-03"]


def test_empty_views_say_so_and_suggest_a_next_step(recip: Recip) -> None:
    assert "recip contact add" in recip.ok("contact", "list")
    assert "recip contact add" in recip.ok("ledger")
    assert "recip import" in recip.ok("events")
    recip.ok("contact", "add", "Ada Lovelace", "--circle", "none")
    assert "--every" in recip.ok("cold", "--all")


def test_backtest_explains_its_columns_and_auc(recip: Recip) -> None:
    recip.ok("contact", "add", "Ada Lovelace")
    ask = recip.ok("ask", "ada", "review my talk").strip()
    recip.ok("resolve", ask[-8:], "granted")
    out = recip.ok("replay", "--rule", "cadence", "--backtest")
    assert "0.5" in out and "coin toss" in out
    out = recip.ok("replay", "--rule", "cadence", "--rule", "decay", "--all")
    assert "Spearman" in out and "1 the same order" in out
