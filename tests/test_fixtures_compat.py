"""Fixtures written by earlier releases stay readable by every later build.

Each directory under `tests/fixtures/` (`v1`, ...) holds what one release wrote
through its CLI (`tests/fixtures/make_fixtures.sh`): its log database, its JSONL
export, its vCard and CSV exports, and the `contact list --all --json` and
`ledger --json` it printed. They are never rewritten; a build that cannot read one
of them, or reads it to different contacts or a different ledger, breaks history.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Recip

FIXTURES = Path(__file__).parent / "fixtures"
RELEASES = sorted(p for p in FIXTURES.iterdir() if p.is_dir())


def _same_keys(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
    """Every key an old release printed is still printed with the same value
    (later builds may add keys)."""
    assert len(old) == len(new)
    for was, now in zip(old, new, strict=True):
        assert {k: now.get(k) for k in was} == was


@pytest.fixture(params=RELEASES, ids=lambda p: p.name)
def release(request: pytest.FixtureRequest) -> Path:
    return Path(request.param)


def test_a_release_log_database_opens_and_reads_the_same(
    release: Path, recip: Recip, tmp_path: Path
) -> None:
    shutil.copy(release / "log.db", recip.home / "log.db")
    listed = json.loads(recip.ok("contact", "list", "--all", "--json"))
    _same_keys(json.loads((release / "contacts.json").read_text()), listed)
    ledger = json.loads(recip.ok("ledger", "--json", "--as-of", "2026-12-01"))
    _same_keys(json.loads((release / "ledger.json").read_text()), ledger)
    recip.ok("rebuild")
    again = json.loads(recip.ok("contact", "list", "--all", "--json"))
    assert again == listed


def test_a_release_jsonl_export_imports_and_exports_the_same_events(
    release: Path, recip: Recip, tmp_path: Path
) -> None:
    recip.ok("import", str(release / "export.jsonl"))
    listed = json.loads(recip.ok("contact", "list", "--all", "--json"))
    _same_keys(json.loads((release / "contacts.json").read_text()), listed)
    out = tmp_path / "again.jsonl"
    recip.ok("export", str(out))
    old = [json.loads(line) for line in (release / "export.jsonl").read_text().splitlines()]
    new = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(old) == len(new)
    for was, now in zip(old, new, strict=True):
        assert {k: now.get(k) for k in was} == was
    recip.ok("import", str(out))  # a re-import of the re-export changes nothing
    assert json.loads(recip.ok("contact", "list", "--all", "--json")) == listed


@pytest.mark.parametrize("name", ["contacts.vcf", "contacts.csv"])
def test_a_release_contact_export_imports(release: Path, recip: Recip, name: str) -> None:
    recip.ok("import", str(release / name))
    listed = json.loads(recip.ok("contact", "list", "--json"))
    old = json.loads((release / "contacts.json").read_text())
    kept = ("name", "emails", "phones", "org", "tags", "circle", "cadence_days")
    expect = sorted(
        ({k: r[k] for k in kept} for r in old if r["merged_into"] is None),
        key=lambda r: r["name"],
    )
    got = sorted(({k: r[k] for k in kept} for r in listed), key=lambda r: r["name"])
    assert got == expect


def test_a_release_contact_export_into_its_own_log_adds_nothing(
    release: Path, recip: Recip
) -> None:
    shutil.copy(release / "log.db", recip.home / "log.db")
    before = recip.ok("contact", "list", "--all", "--json")
    recip.ok("import", str(release / "contacts.vcf"))
    recip.ok("import", str(release / "contacts.csv"))
    assert recip.ok("contact", "list", "--all", "--json") == before


DETAIL_KEYS = ("birthday", "occasions", "title", "org_units", "addresses", "profiles")


def test_a_release_contact_details_read_back_from_every_form(
    release: Path, recip: Recip, tmp_path: Path
) -> None:
    if not (release / "ada.json").exists():
        pytest.skip(f"{release.name} predates contact details")
    ada = json.loads((release / "ada.json").read_text())
    shutil.copy(release / "log.db", recip.home / "log.db")
    shown = json.loads(recip.ok("contact", "show", ada["contact_id"], "--json"))
    assert {k: shown.get(k) for k in ada} == ada
    for name in ("export.jsonl", "contacts.vcf", "contacts.csv"):
        other = Recip(tmp_path / name)
        other.ok("init", "--device-name", "other")
        other.ok("import", str(release / name))
        shown = json.loads(other.ok("contact", "show", "Ada Lovelace", "--json"))
        assert {k: shown[k] for k in DETAIL_KEYS} == {k: ada[k] for k in DETAIL_KEYS}, name
        assert {k: v for k, v in shown["met"].items() if k != "through"} == {
            k: v for k, v in ada["met"].items() if k != "through"
        }
        babbage = json.loads(other.ok("contact", "show", "Charles Babbage", "--json"))
        assert shown["met"]["through"] == babbage["contact_id"]
