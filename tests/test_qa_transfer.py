"""QA: export refusals name the file the person gave, not a temporary one."""

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
