"""`recip serve`'s settings (ADR 0110): flag > RECIP_* variable > TOML file > default."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.main import cli
from server.config import (
    DEFAULTS,
    SETTINGS,
    ConfigError,
    ServeSettings,
    default_data_dir,
    resolve,
)

ROOT = Path(__file__).resolve().parent.parent

#: Two distinct valid values of each setting, as Python values.
VALUES: dict[str, tuple[Any, ...]] = {
    "host": ("0.0.0.0", "127.0.0.2", "::1"),
    "port": (8001, 8002, 9999),
    "data": ("/srv/a", "/srv/b", "/srv/c"),
    "database_url": ("postgresql://a@h/d", "postgresql://b@h/d", "postgresql://c@h/d"),
    "workers": (2, 3, 4),
    "max_body": (2048, 4096, 8192),
    "max_open_owners": (5, 6, 7),
    "smtp": ("smtp://a", "smtps://b:465", "smtp+plain://c:25"),
    "smtp_from": ("a@example.org", "b@example.org", "c@example.org"),
    "digest_interval": (5.0, 6.5, 120.0),
    "log_level": ("debug", "warning", "error"),
    "log_format": ("json", "logfmt", "json"),
    "access_log": (False, True, False),
}


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else f'"{value}"'


def _env(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def test_every_setting_has_sample_values() -> None:
    assert {s.attr for s in SETTINGS} == set(VALUES)


@settings(max_examples=60)
@given(
    sources=st.fixed_dictionaries(
        {s.attr: st.sets(st.sampled_from(["flag", "env", "file"])) for s in SETTINGS}
    )
)
def test_each_setting_comes_from_its_first_source(
    sources: dict[str, set[str]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    flags: dict[str, Any] = {}
    environ: dict[str, str] = {}
    lines: list[str] = []
    for setting in SETTINGS:
        from_flag, from_env, from_file = VALUES[setting.attr]
        given_by = sources[setting.attr]
        if "flag" in given_by:
            flags[setting.attr] = from_flag
        if "env" in given_by:
            environ[setting.env] = _env(from_env)
        if "file" in given_by:
            lines.append(f"{setting.key} = {_toml(from_file)}")
    path = tmp_path_factory.mktemp("cfg") / "recip.toml"
    path.write_text("\n".join(lines) + "\n")
    got = resolve(flags, environ, path)
    for setting in SETTINGS:
        given_by = sources[setting.attr]
        expected = next(
            (
                VALUES[setting.attr][i]
                for i, source in enumerate(("flag", "env", "file"))
                if source in given_by
            ),
            setting.default,
        )
        assert getattr(got, setting.attr) == expected, (setting.attr, given_by)


def test_the_file_is_found_through_recip_config(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("port = 9100\n")
    assert resolve({}, {"RECIP_CONFIG": str(path)}).port == 9100
    assert resolve({}, {}) == DEFAULTS


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prot = 1\n", "unknown key 'prot'"),
        ("port = 0\n", "port: Expected `int` >= 1"),
        ('port = "80"\n', "port: Expected `int`, got `str`"),
        ('log-level = "loud"\n', "log-level"),
        ("port = \n", "not valid TOML"),
    ],
)
def test_a_bad_file_is_refused_in_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        resolve({}, {}, path)
    assert message in str(caught.value) and "\n" not in str(caught.value).strip()


def test_bad_variables_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="RECIP_PORT"):
        resolve({}, {"RECIP_PORT": "eighty"})
    with pytest.raises(ConfigError, match="RECIP_ACCESS_LOG: expected true or false"):
        resolve({}, {"RECIP_ACCESS_LOG": "maybe"})
    with pytest.raises(ConfigError, match="cannot read configuration"):
        resolve({}, {}, tmp_path / "missing.toml")


def test_the_default_data_directory_is_per_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", "/somewhere/data")
    assert default_data_dir() == Path("/somewhere/data/reciprocity-server")
    assert ServeSettings().data_dir == default_data_dir()
    assert ServeSettings(data="~/x").data_dir == Path.home() / "x"


def test_help_names_every_flag_variable_and_key() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"], terminal_width=400)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for setting in SETTINGS:
        assert setting.flag in text and f"env: {setting.env}" in text
        assert f"key: {setting.key}" in text
    assert "RECIP_CONFIG" in text


def test_serve_refuses_a_bad_config_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("workers = 0\n")
    result = CliRunner().invoke(cli, ["serve", "--config", str(path)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: configuration") and "workers" in result.stderr


def test_device_commands_do_not_load_the_server() -> None:
    """`recip` builds its command list without importing `server` (ADR 0001)."""
    code = (
        "import sys, cli.main\n"
        "from click.testing import CliRunner\n"
        "CliRunner().invoke(cli.main.cli, ['contact', '--help'])\n"
        "print(sorted(m for m in sys.modules if m == 'server' or m.startswith('server.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "[]"
