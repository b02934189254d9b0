"""Every CLI failure is one clear `error:` line with exit status 1, never a traceback."""

from __future__ import annotations

import functools
import json
import os
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import core.store
from tests.cli_support import position, recorded, refused
from tests.conftest import ROOT, Recip, run_recip_process

#: One invocation of every command (arguments valid in shape).
EVERY_COMMAND: list[tuple[str, ...]] = [
    ("contact", "add", "Ada"),
    ("contact", "edit", "Ada", "--name", "B"),
    ("contact", "archive", "Ada"),
    ("contact", "restore", "Ada"),
    ("contact", "merge", "Ada", "Bob"),
    ("contact", "list"),
    ("contact", "list", "--json"),
    ("contact", "show", "Ada"),
    ("log", "Ada"),
    ("ask", "Ada", "x"),
    ("resolve", "0190", "granted"),
    ("give", "Ada", "x"),
    ("intro", "Ada", "Bob"),
    ("note", "Ada", "x"),
    ("retract", "0190", "--reason", "x"),
    ("events",),
    ("events", "--json"),
]


def one_error_line(recip: Recip, *args: str) -> str:
    result = recip(*args)
    assert result.exit_code == 1, (args, result.exit_code, result.output)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.stdout == ""
    return lines[0]


@pytest.mark.parametrize("args", EVERY_COMMAND, ids=" ".join)
def test_uninitialised_home(bare_recip: Recip, args: tuple[str, ...]) -> None:
    line = one_error_line(bare_recip, *args)
    assert "run 'recip init' first" in line
    assert not bare_recip.home.exists()


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b'{"device_id": 3, "name": "x", "created_at": "t"}', b"[]"],
    ids=["empty", "garbage", "wrong-type", "not-an-object"],
)
def test_corrupt_device_file(recip: Recip, content: bytes) -> None:
    (recip.home / "device.json").write_bytes(content)
    for args in EVERY_COMMAND[:1] + EVERY_COMMAND[5:6]:
        assert "cannot read" in one_error_line(recip, *args)


def test_corrupt_log_file(recip: Recip) -> None:
    (recip.home / "log.db").write_bytes(b"this is not a database" * 100)
    for args in (("contact", "add", "Ada"), ("events", "--json"), ("ledger",), ("stats",)):
        line = one_error_line(recip, *args)
        assert "log.db is damaged (file is not a database)" in line
        assert "Nothing was changed" in line and "recip import" in line


def test_truncated_log_file_reads_as_damaged(tmp_path: Path) -> None:
    demo = Recip(tmp_path / "demo")
    demo.ok("demo", "--contacts", "30", "--years", "0.3")
    log = demo.home / "log.db"
    with log.open("r+b") as f:
        f.truncate(log.stat().st_size // 2)
    for args in (("ledger",), ("contact", "list"), ("events",), ("timeline", "x")):
        assert "is damaged" in one_error_line(demo, *args)


@pytest.mark.parametrize("how", ["zero-bytes", "removed", "older-copy"])
def test_an_emptied_log_is_refused_not_reset(recip: Recip, how: str) -> None:
    """The device's identity remembers its last seq: a log holding less is refused,
    with what to do, and nothing is recorded (a new seq 1 would orphan the old ones)."""
    recip.ok("contact", "add", "Ada")
    older = (recip.home / "log.db").read_bytes() if how == "older-copy" else b""
    recip.ok("contact", "add", "Bo")
    for suffix in ("", "-wal", "-shm"):
        (recip.home / f"log.db{suffix}").unlink(missing_ok=True)
    if how != "removed":
        (recip.home / "log.db").write_bytes(older)
    for args in (("contact", "add", "Cy"), ("ledger",), ("contact", "list"), ("events",)):
        line = one_error_line(recip, *args)
        assert "the log was emptied or replaced" in line and "recorded up to seq 2" in line
    assert "the log was emptied" in recip.ok("doctor")
    assert "goes on after seq" in recip.ok("doctor", "--accept-lost-events")
    recip.ok("contact", "add", "Cy")  # the person chose to go on


def test_home_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    line = one_error_line(Recip(path), "contact", "list")
    assert "--home" in line and "is a file" in line


def test_home_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from cli.main import cli

    monkeypatch.setenv("RECIP_HOME", str(tmp_path / "envhome"))
    runner = CliRunner()
    assert runner.invoke(cli, ["init", "--device-name", "env"]).exit_code == 0
    added = runner.invoke(cli, ["contact", "add", "Ada"])
    assert added.exit_code == 0
    listed = json.loads(runner.invoke(cli, ["contact", "list", "--json"]).stdout)
    assert [r["contact_id"] for r in listed] == [added.stdout.strip()]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("frobnicate",), "no such command"),
        (("contact", "befriend", "Ada"), "no such command"),
        (("--bogus", "events"), "no such option"),
        (("ask", "Ada"), "missing argument"),
        (("ask", "Ada", "x", "--weight"), "requires an argument"),
        (("contact", "list", "--colour"), "no such option"),
    ],
)
def test_usage_mistakes_are_one_line(recip: Recip, args: tuple[str, ...], match: str) -> None:
    recorded(recip, "contact", "add", "Ada")
    line = refused(recip, *args, match=match)
    assert "--help" in line


@pytest.fixture
def short_lock_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make SQLite give up on a lock after one second instead of thirty."""
    original = core.store.CachingSQLiteDatastore

    @functools.wraps(original)
    def quick(*args: Any, **kwargs: Any) -> Any:
        return original(*args, **{**kwargs, "lock_timeout": 1})

    monkeypatch.setattr(core.store, "CachingSQLiteDatastore", quick)


def test_locked_database(recip: Recip, short_lock_timeout: None) -> None:
    recorded(recip, "contact", "add", "Ada")
    before = position(recip)
    conn = sqlite3.connect(recip.home / "log.db", isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")  # another process is writing
    try:
        line = one_error_line(recip, "note", "Ada", "hello")
    finally:
        conn.execute("ROLLBACK")
        conn.close()
    assert "try again" in line  # locked, or (after retries) "the log kept changing"
    assert position(recip) == before
    recorded(recip, "note", "Ada", "hello")  # works once the lock is gone


def test_help_for_every_command(recip: Recip) -> None:
    seen = set()
    for args in EVERY_COMMAND:
        words = [a for a in args if a[0].isalpha() and a.islower()][:2]
        path = words[:2] if words[0] == "contact" else words[:1]
        result = recip(*path, "--help")
        assert result.exit_code == 0 and "Usage:" in result.stdout
        seen.add(tuple(path))
    assert len(seen) == 15


# -- real processes ------------------------------------------------------------------


def test_process_end_to_end(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert "initialised" in run_recip_process(home, "init", "--device-name", "proc").stdout
    ada = run_recip_process(home, "contact", "add", "Ada").stdout.strip()
    logged = run_recip_process(home, "log", "ada", "--channel", "call").stdout.strip()
    events = json.loads(run_recip_process(home, "events", "--json").stdout)
    assert [e["event_id"] for e in events] == [ada, logged]
    assert [e["seq"] for e in events] == [1, 2]
    assert events[1]["contact_ids"] == [ada]


def test_process_refusal_is_one_line_without_traceback(tmp_path: Path) -> None:
    home = tmp_path / "home"
    uninitialised = run_recip_process(home, "events", check=False)
    assert uninitialised.returncode == 1
    assert uninitialised.stderr.startswith("error: ") and "Traceback" not in uninitialised.stderr
    run_recip_process(home, "init")
    bad = run_recip_process(home, "ask", "Nobody", "x", "--weight", "7", check=False)
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("error: ")
    assert json.loads(run_recip_process(home, "events", "--json").stdout) == []


def test_process_version(tmp_path: Path) -> None:
    result = run_recip_process(tmp_path, "--version")
    assert result.stdout.startswith("recip, version")


def test_home_below_a_file_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    line = one_error_line(Recip(blocker / "home"), "init")
    assert "Not a directory" in line and str(blocker) in line


def test_non_utf8_arguments_are_refused(recip: Recip) -> None:
    # Python keeps undecodable argv bytes as lone surrogates; they cannot be stored.
    refused(recip, "contact", "add", "Ad\udcff", match="UTF-8")
    recorded(recip, "contact", "add", "Ada")
    refused(recip, "note", "Ada", "caf\udce9", match="UTF-8")
    refused(recip, "contact", "edit", "Ada", "--tag", "\udcff", match="UTF-8")


def test_non_utf8_arguments_in_a_real_process(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run_recip_process(home, "init")
    result = subprocess.run(
        [sys.executable, "-m", "cli", "--home", str(home), "contact", "add", b"Ad\xff"],
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 1 and result.stderr == b"error: text must be valid UTF-8\n"


def test_readme_tour_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's tour is a script that works, in order, on a fresh home."""
    monkeypatch.setenv("RECIP_NOW", "2026-12-01T10:00:00+00:00")  # after its --on date
    readme = (ROOT / "README.md").read_text()
    tour = readme.split("## A short tour", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    runner = Recip(tmp_path / "home")
    ids: dict[str, str] = {}
    for line in tour.strip().splitlines():
        words = shlex.split(line, comments=True)
        assert words[0] == "recip"
        words = [ids.get(w, w) for w in words[1:]]
        out = runner.ok(*words).strip()
        if words[0] == "ask":
            ids["<ask-id>"] = out
        if words[0] in ("log", "ask", "resolve", "give", "intro"):
            ids["<event-id>"] = out
