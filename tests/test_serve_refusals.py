"""`recip serve` refuses what it cannot do with one line, not a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli


def _serve(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["serve", "--data", str(tmp_path / "data"), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stderr


@pytest.mark.parametrize("port", ["99999", "-1", "0"])
def test_a_port_out_of_range_is_a_usage_error(tmp_path: Path, port: str) -> None:
    code, err = _serve(tmp_path, "--port", port)
    assert code == 1
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "--port" in err


def test_a_port_already_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code, err = _serve(tmp_path, "--host", "127.0.0.1", "--port", str(port))
    assert code == 1
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{port}"), err


def test_a_body_limit_below_one_kib_is_refused(tmp_path: Path) -> None:
    code, err = _serve(tmp_path, "--max-body", "0")
    assert code == 1
    assert "--max-body" in err and err.count("\n") == 1, err


def test_sync_says_once_that_it_is_retrying(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sync against a server that does not answer retries for ~15 s: say so, once."""
    from cli import remote

    said: list[str] = []
    slept: list[float] = []
    monkeypatch.setattr("cli.remote.time.sleep", slept.append)
    sleep = remote._retrying(said.append)
    for delay in (0.25, 0.5, 1.0):
        sleep(delay)
    assert slept == [0.25, 0.5, 1.0]
    assert len(said) == 1 and "retrying" in said[0]


def test_ctrl_c_is_one_error_line_with_the_sigint_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C in the middle of a command: `error: interrupted ...`, exit 130, no traceback."""
    from cli import views

    def interrupted(coro: object) -> None:
        getattr(coro, "close", lambda: None)()
        raise KeyboardInterrupt

    home = tmp_path / "home"
    assert CliRunner().invoke(cli, ["--home", str(home), "init"]).exit_code == 0
    monkeypatch.setattr(views, "_run", interrupted)
    result = CliRunner().invoke(cli, ["--home", str(home), "ledger"])
    assert result.exit_code == 130
    assert result.stderr.startswith("error: interrupted"), result.stderr
    assert result.stderr.count("\n") == 1
