"""Shared fixtures: device homes, an in-process `recip` runner, PostgreSQL access."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, settings

from cli.main import cli

# Timing is not a property we test: no deadlines (a loaded CI machine is slow).
# `HYPOTHESIS_PROFILE=soak` runs many more examples for long soaks.
settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "soak", deadline=None, max_examples=2000, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("RECIP_TEST_PG", "postgresql://root@127.0.0.1:5432/test")


@dataclass
class Recip:
    """Runs `recip --home HOME ...` in process and returns click's result."""

    home: Path

    def __call__(self, *args: str, input: str | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(cli, ["--home", str(self.home), *args], input=input)

    def ok(self, *args: str) -> str:
        """Run and assert success; returns stdout."""
        result = self(*args)
        assert result.exit_code == 0, (
            f"recip {' '.join(args)} failed ({result.exit_code}): {result.output}"
            f"{result.stderr if result.stderr_bytes else ''}"
        )
        return result.stdout

    def fails(self, *args: str) -> str:
        """Run and assert a clean refusal (exit 1 with a message); returns stderr."""
        result = self(*args)
        assert result.exit_code == 1, (
            f"recip {' '.join(args)} should fail, got {result.exit_code}: {result.output}"
        )
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            result.exception
        )
        assert result.stderr.strip(), "a refusal must say why on stderr"
        return result.stderr


@pytest.fixture
def recip(tmp_path: Path) -> Recip:
    """A runner on a fresh, initialised home."""
    runner = Recip(tmp_path / "home")
    runner.ok("init", "--device-name", "test-device")
    return runner


@pytest.fixture
def bare_recip(tmp_path: Path) -> Recip:
    """A runner on a home that has not been initialised."""
    return Recip(tmp_path / "home")


def run_recip_process(
    home: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `recip` as a real process (for end-to-end tests)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "cli", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=check,
        timeout=120,
    )


def _postgres_up() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_available() -> bool:
    up = _postgres_up()
    if not up and os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI but not reachable at {PG_URL}")
    return up


@pytest.fixture
def pg_schema(pg_available: bool) -> Iterator[str]:
    """A fresh PostgreSQL schema name for one test; it and every schema named from it
    (a server's `?prefix=`: its accounts and owner schemas) are dropped afterwards."""
    if not pg_available:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    from server.pg import drop_prefix

    schema = "t_" + uuid.uuid4().hex[:16]
    yield schema
    drop_prefix(f"{PG_URL}?prefix={schema}")


@pytest.fixture
def pg_url(pg_available: bool) -> Iterator[str]:
    """A database URL whose schemas (accounts and owners) are this test's alone."""
    if not pg_available:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    from server.pg import drop_prefix

    url = f"{PG_URL}?prefix=t_{uuid.uuid4().hex[:12]}"
    yield url
    drop_prefix(url)
