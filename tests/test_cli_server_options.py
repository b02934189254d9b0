"""The server options of the CLI refuse what they cannot do, with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.asgi import from_env, to_env
from server.pg import split_prefix
from server.service import ServerConfig
from tests.conftest import Recip


def test_several_workers_need_postgresql(bare_recip: Recip, tmp_path: Path) -> None:
    error = bare_recip.fails("serve", "--workers", "2", "--data", str(tmp_path / "d"))
    assert "--database-url" in error


def test_add_owner_needs_a_store(bare_recip: Recip) -> None:
    result = bare_recip("admin", "add-owner", "alice")
    assert result.exit_code != 0
    assert "--data" in result.output and "--database-url" in result.output


def test_a_bad_schema_prefix_is_refused(bare_recip: Recip) -> None:
    url = "postgresql://root@127.0.0.1:5432/test?prefix=Robert');DROP"
    error = bare_recip.fails("admin", "add-owner", "alice", "--database-url", url)
    assert "invalid schema prefix" in error


@pytest.mark.parametrize(
    ("url", "bare", "prefix"),
    [
        ("postgresql://u@h:5/db", "postgresql://u@h:5/db", "recip"),
        ("postgresql://u@h:5/db?prefix=t_1", "postgresql://u@h:5/db", "t_1"),
        ("postgresql://u@h/db?sslmode=off&prefix=x", "postgresql://u@h/db?sslmode=off", "x"),
    ],
)
def test_split_prefix(url: str, bare: str, prefix: str) -> None:
    assert split_prefix(url) == (bare, prefix)


def test_worker_configuration_round_trips_through_the_environment(tmp_path: Path) -> None:
    config = ServerConfig(
        data=tmp_path, max_body=123, database_url="postgresql://x@y/z?prefix=p", pool_size=3
    )
    back = from_env(to_env(config))
    assert back == config
