"""Export refusals name the file the person gave, not a temporary one."""

from __future__ import annotations

from pathlib import Path

from .conftest import Recip


def test_an_unwritable_target_is_named_as_given(recip: Recip, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir" / "x.jsonl"
    message = recip.fails("export", str(target))
    assert message.startswith(f"error: cannot write {target}: "), message
    assert ".x.jsonl." not in message  # the temporary file is an implementation detail
    assert message.count("\n") == 1


def test_an_empty_file_name_is_refused(recip: Recip, tmp_path: Path) -> None:
    message = recip.fails("export", "")
    assert "file name" in message, message
    assert list(tmp_path.parent.glob("..*")) == []


def test_importing_recip_events_output_says_what_to_use_instead(
    recip: Recip, tmp_path: Path
) -> None:
    """`recip events --jsonl` looks like a backup but carries log positions."""
    recip.ok("contact", "add", "Ada Lovelace")
    listing = tmp_path / "events.jsonl"
    listing.write_text(recip.ok("events", "--jsonl"), encoding="utf-8")
    message = recip.fails("import", str(listing))
    assert "line 1" in message and "recip export --format jsonl" in message, message
