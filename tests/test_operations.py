"""Running a server for real: first-run hints, `GET /`, logs without secrets, metrics.

The central test runs a real `recip serve` process with JSON logs at debug
level through a whole sync scenario (enrollment, pushes, pulls, a refused
token, the device list, a revocation), then greps every line it logged for
each secret the scenario used: device tokens, the enrollment token, and the
text of the events.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from server.accounts import OPEN_INVITE
from server.app import create_app
from server.logs import JsonFormatter, LogfmtFormatter, Redact, scrub
from server.run import free_port
from server.service import ServerConfig
from tests.conftest import ROOT, run_recip_process

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@dataclass
class Served:
    """`recip serve ARGS` as a process whose stderr is kept in a file."""

    port: int
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines()

    def records(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.lines() if line.startswith("{")]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[object]:
    started: list[Served] = []

    def start(*args: str, env: dict[str, str] | None = None, port: int | None = None) -> Served:
        port = port or free_port()
        log = tmp_path / f"serve-{port}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "cli", "serve", "--port", str(port), *args],
                env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                cwd=tmp_path,
                stdout=sink,
                stderr=sink,
                start_new_session=True,
            )
        served = Served(port, log, process)
        started.append(served)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{served.url}/healthz", timeout=1).status_code == 200:
                    return served
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()
            time.sleep(0.05)
        raise AssertionError("recip serve did not become healthy")

    yield start
    for served in started:
        if served.process.poll() is None:
            os.killpg(served.process.pid, signal.SIGTERM)
            served.process.wait(timeout=30)


def stop(served: Served) -> None:
    os.killpg(served.process.pid, signal.SIGTERM)
    served.process.wait(timeout=30)


def recip(home: Path, *args: str) -> str:
    return run_recip_process(home, *args).stdout


def metrics(url: str) -> dict[str, float]:
    """Every sample of `/metrics`, keyed by name and labels."""
    text = httpx.get(f"{url}/metrics").text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


def test_a_whole_sync_logs_no_secret_and_is_counted(serve: object, tmp_path: Path) -> None:
    data = tmp_path / "server"
    served = serve("--data", str(data), "--log-format", "json", "--log-level", "debug")  # type: ignore[operator]
    assert "no owners yet" in served.log.read_text()
    assert "recip admin add-owner NAME --data" in served.log.read_text()

    added = recip(
        tmp_path / "admin", "admin", "add-owner", "alice", "--uses", "2", "--data", str(data)
    )
    enroll_token = added.strip().splitlines()[-1]
    secrets = {enroll_token, "Zelda Quietname", "a-very-private-note"}
    homes = [tmp_path / "laptop", tmp_path / "phone"]
    for home in homes:
        recip(home, "init", "--device-name", home.name)
        recip(home, "remote", "add", served.url, "--token", enroll_token)
        secrets.add(json.loads((home / "remote.json").read_text())["device_token"])
    recip(homes[0], "contact", "add", "Zelda Quietname", "--email", "zelda@example.org")
    recip(homes[0], "log", "Zelda Quietname", "--channel", "call", "--note", "a-very-private-note")
    for home in (*homes, homes[0]):
        recip(home, "sync")
    assert "Zelda Quietname" in recip(homes[1], "contact", "list")
    recip(homes[0], "remote", "devices")
    bad = httpx.post(
        f"{served.url}/v1/sync",
        json={"device_id": "x", "events": [], "cursor": 0},
        headers={"Authorization": "Bearer recip-device-forged-secret"},
    )
    assert bad.status_code == 401
    secrets.add("recip-device-forged-secret")
    recip(homes[0], "remote", "revoke", "phone")

    counted = metrics(served.url)
    assert counted["recip_exchanges_total"] >= 3
    assert counted["recip_events_in_total"] == 2  # one contact, one interaction
    assert counted["recip_events_out_total"] >= 2
    assert counted["recip_refusals_total{reason=unauthorized}"] == 1
    assert counted["recip_request_duration_seconds_count{route=/v1/sync}"] >= 4
    assert counted["recip_open_owners"] == 1
    assert counted["recip_sse_streams"] == 0
    stop(served)

    text = served.log.read_text()
    for secret in secrets:
        assert secret not in text, f"{secret[:14]}... was logged"
    records = served.records()
    access = [r for r in records if r["logger"] == "recip.access"]
    assert {r["route"] for r in access} >= {"/v1/enroll", "/v1/sync", "/v1/devices", "/metrics"}
    assert all(set(r) >= {"ts", "level", "method", "path", "status", "ms"} for r in access)
    assert any(r.get("device") for r in access if r["route"] == "/v1/devices")
    assert any(r["msg"] == "device enrolled" for r in records)
    assert any(r["msg"] == "refused" and r["reason"] == "unauthorized" for r in records)


def test_log_level_and_format_are_obeyed(serve: object, tmp_path: Path) -> None:
    served = serve(  # type: ignore[operator]
        "--data", str(tmp_path / "d"), "--log-level", "warning", env={"RECIP_LOG_FORMAT": "logfmt"}
    )
    httpx.get(f"{served.url}/")
    quiet = [line for line in served.lines() if line.startswith("ts=")]
    assert not any("logger=recip.access" in line for line in quiet)
    stop(served)
    loud = serve("--data", str(tmp_path / "d"))  # type: ignore[operator]
    httpx.get(f"{loud.url}/nowhere")
    stop(loud)
    [line] = [x for x in loud.lines() if "logger=recip.access" in x]  # /healthz: debug only
    assert "path=/nowhere" in line and "status=404" in line and "route=unmatched" in line


def test_root_is_the_web_app(tmp_path: Path) -> None:
    with TestClient(create_app(ServerConfig(data=tmp_path))) as client:
        page = client.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert client.get("/v1/devices").status_code == 401  # the API still answers


def test_the_redact_filter_scrubs_every_record() -> None:
    record = logging.LogRecord(
        "uvicorn.error",
        logging.ERROR,
        __file__,
        1,
        "failed with %s at %s",
        ("recip-device-AbC_12-x", "postgresql://u:hunter2@db/x"),
        None,
    )
    record.fields = {"token": "recip-enroll-zzz", "n": 3}
    assert Redact().filter(record)
    for formatter in (JsonFormatter(), LogfmtFormatter()):
        line = formatter.format(record)
        assert "AbC_12" not in line and "hunter2" not in line and "zzz" not in line
    assert scrub("x recip-enroll-abc y") == "x recip-*** y"


@pytest.mark.postgres
def test_metrics_sum_every_workers_counts(serve: object, tmp_path: Path, pg_url: str) -> None:
    """With --workers 2, any worker's /metrics counts the exchanges of both."""
    from server.accounts import Accounts
    from server.pg import PgBackend

    served = serve("--database-url", pg_url, "--workers", "2")  # type: ignore[operator]
    backend = PgBackend(pg_url, pool_size=1)
    try:
        accounts: Accounts = backend.accounts
        _, token = accounts.add_owner("alice", OPEN_INVITE)
    finally:
        backend.close()
    devices = []
    for i in range(4):
        device_id = f"0190a000-0000-7000-8000-00000000000{i}"
        enrolled = httpx.post(
            f"{served.url}/v1/enroll",
            json={"token": token, "device_id": device_id, "device_name": f"d{i}"},
        ).json()
        devices.append((device_id, enrolled["device_token"]))
    for n in range(20):
        device_id, device_token = devices[n % 4]
        with httpx.Client() as fresh:  # a new connection: any worker may take it
            answer = fresh.post(
                f"{served.url}/v1/sync",
                json={"device_id": device_id, "events": [], "cursor": 0},
                headers={"Authorization": f"Bearer {device_token}"},
            )
        assert answer.status_code == 200, answer.text
    for _ in range(5):
        with httpx.Client() as fresh:
            text = fresh.get(f"{served.url}/metrics").text
        [family] = [f for f in text_string_to_metric_families(text) if f.name == "recip_exchanges"]
        assert sum(s.value for s in family.samples if s.name.endswith("_total")) == 20


_PIECES = st.sampled_from(
    ["recip-device-", "recip-enroll-", "recip-", "postgres://", "postgresql://u:", "@h", "x", " "]
)


@settings(max_examples=300)
@given(parts=st.lists(st.one_of(_PIECES, st.text(max_size=8)), max_size=8))
def test_scrub_skipping_texts_without_either_start_changes_nothing(parts: list[str]) -> None:
    from server.logs import PASSWORD_RE, TOKEN_RE

    text = "".join(parts)
    assert scrub(text) == PASSWORD_RE.sub(r"\1***@", TOKEN_RE.sub("recip-***", text))
