"""End-to-end encrypted owners (ADR 0135), against a real `recip serve`.

Canaries recorded on an encrypted device appear in no file of the server's data
directory and in no PostgreSQL row; the devices converge; a wrong phrase is
refused with nothing stored or spent; a tampered box is refused by the device
that pulls it, which stores nothing of that page; the server's plaintext
features refuse such an owner; and the server refuses plaintext from it.
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from click.testing import CliRunner

from cli.main import cli
from core.events import Sealed
from server.pg import owner_schema
from server.run import free_port
from sync.phrase import from_phrase, to_phrase
from sync.remote import load as load_remote
from sync.seal import OwnerKey, SealError
from tests.conftest import PG_URL, run_recip_process
from tests.test_e2e_sync import LiveServer, server  # noqa: F401 (the live server fixture)
from tests.test_forget import CANARIES, PgServer, files_holding, pg_rows_holding, record_canaries

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PHRASE = re.compile(r"(?:[0-9A-Z]{4}-){13}[0-9A-Z]{4}")


def run(home: Path, *args: str, phrase: str | None = None, ok: bool = True) -> str:
    env = {"RECIP_PHRASE": phrase} if phrase is not None else {}
    result = CliRunner().invoke(cli, ["--home", str(home), *args], env=env)
    if ok:
        assert result.exit_code == 0, f"recip {' '.join(args)}: {result.output}"
    else:
        assert result.exit_code == 1, f"recip {' '.join(args)} should fail: {result.output}"
    return result.output


def first_device(tmp_path: Path, live: LiveServer, token: str) -> tuple[Path, str]:
    """The owner's first device, made encrypted by `remote add --e2e`; its phrase."""
    laptop = tmp_path / "laptop"
    run(laptop, "init", "--device-name", "laptop")
    out = run(laptop, "remote", "add", live.url, "--token", token, "--e2e")
    found = PHRASE.findall(out)
    assert len(found) == 1, out
    return laptop, found[0]


def tamper(live: LiveServer, owner_id: str, seq: int) -> None:
    """Flip one bit of the box of the owner's event `seq`, in the server's SQLite file."""
    db = sqlite3.connect(live.data / "owners" / f"{owner_id}.db", isolation_level=None)
    where = "WHERE originator_version = ?"
    (state,) = db.execute(f"SELECT state FROM stored_events {where}", (seq,)).fetchone()
    sealed = msgspec.msgpack.decode(state, type=Sealed)
    box = bytearray(sealed.box)
    box[20] ^= 1
    altered = msgspec.structs.replace(sealed, box=bytes(box))
    db.execute(
        f"UPDATE stored_events SET state = ? {where}", (msgspec.msgpack.encode(altered), seq)
    )
    db.close()


def joined_phone(tmp_path: Path, live: LiveServer, token: str, phrase: str) -> Path:
    """A second device, joined with the phrase (not synced yet)."""
    phone = tmp_path / "phone"
    run(phone, "init", "--device-name", "phone")
    run(phone, "remote", "add", live.url, "--token", token, "--phrase", phrase=phrase)
    return phone


def ledger(home: Path) -> object:
    return json.loads(run(home, "ledger", "--json"))


def test_canaries_never_reach_the_server_and_devices_converge(
    tmp_path: Path,
    server: LiveServer,  # noqa: F811 (the fixture)
) -> None:
    token = server.add_owner("alice", tmp_path / "admin")
    laptop, phrase = first_device(tmp_path, server, token)
    record_canaries(laptop)
    run(laptop, "sync")

    phone = joined_phone(tmp_path, server, token, phrase.lower())
    run(phone, "sync")
    zeb = run(phone, "contact", "add", "Yolanda Canarytwo").strip()
    run(phone, "note", zeb, "canarynote-phone-cerulean")
    run(phone, "sync")
    run(laptop, "sync")

    assert CANARIES[0] in json.dumps(ledger(phone))
    assert ledger(laptop) == ledger(phone)
    assert "Yolanda Canarytwo" in json.dumps(ledger(laptop))

    sqlite3.connect(server.data / "accounts.db").execute("PRAGMA wal_checkpoint(TRUNCATE)")
    needles = (*CANARIES, "Yolanda Canarytwo", "canarynote-phone-cerulean")
    assert files_holding(server.data, needles) == []
    # ... while the devices hold them (the check can find them where they are)
    assert files_holding(phone, needles[:1])

    # what the server holds is sealed, every row under the owner's key
    owner = load_remote(laptop).owner_id
    db = sqlite3.connect(server.data / "owners" / f"{owner}.db")
    topics = {t for (t,) in db.execute("SELECT topic FROM stored_events")}
    assert topics == {"Sealed"}

    # the server's plaintext features refuse, each saying what to do instead
    headers = {"Authorization": f"Bearer {load_remote(laptop).device_token}"}
    for method, path in (
        ("GET", "/v1/ledger"),
        ("GET", "/v1/contacts"),
        ("GET", "/v1/today"),
        ("POST", "/v1/feed"),
    ):
        answer = httpx.request(method, server.url + path, headers=headers)
        assert answer.status_code == 409, (path, answer.text)
        assert answer.json()["error"] == "end_to_end_encrypted"
    digest = httpx.put(
        server.url + "/v1/digest",
        headers=headers,
        json={"email": "a@example.org", "weekday": 0, "hour": 8},
    )
    assert digest.status_code == 409 and "recip today --mail" in digest.json()["message"]
    assert "end-to-end encrypted (key" in run(laptop, "e2e", "status")
    listed = run_recip_process(
        tmp_path / "admin", "admin", "list-owners", "--data", str(server.data)
    )
    assert "alice" in listed.stdout and "end-to-end encrypted" in listed.stdout


def test_a_wrong_phrase_is_refused_and_spends_nothing(
    tmp_path: Path,
    server: LiveServer,  # noqa: F811 (the fixture)
) -> None:
    token = server.add_owner("bob", tmp_path / "admin")
    laptop, phrase = first_device(tmp_path, server, token)
    run(laptop, "contact", "add", "Wilhelmina Canary")
    run(laptop, "sync")
    before = httpx.get(
        server.url + "/v1/devices",
        headers={"Authorization": f"Bearer {load_remote(laptop).device_token}"},
    ).json()

    phone = tmp_path / "phone"
    run(phone, "init", "--device-name", "phone")
    other = to_phrase(OwnerKey.generate().key)
    out = run(
        phone, "remote", "add", server.url, "--token", token, "--phrase", phrase=other, ok=False
    )
    assert "recovery phrase is not the owner's" in out
    assert not (phone / "remote.json").exists()
    typo = phrase[:-1] + ("0" if phrase[-1] != "0" else "1")
    out = run(
        phone, "remote", "add", server.url, "--token", token, "--phrase", phrase=typo, ok=False
    )
    assert "typo" in out
    out = run(phone, "remote", "add", server.url, "--token", token, ok=False)
    assert "end-to-end encrypted: join with its recovery phrase" in out
    after = httpx.get(
        server.url + "/v1/devices",
        headers={"Authorization": f"Bearer {load_remote(laptop).device_token}"},
    ).json()
    assert after == before, "a refused join enrolls no device"
    # the invite is still good for the right phrase (one use, spent only now)
    run(phone, "remote", "add", server.url, "--token", token, "--phrase", phrase=phrase)
    run(phone, "sync")
    assert "Wilhelmina Canary" in json.dumps(ledger(phone))


def test_a_tampered_box_is_refused_by_the_device_that_pulls_it(
    tmp_path: Path,
    server: LiveServer,  # noqa: F811 (the fixture)
) -> None:
    token = server.add_owner("carol", tmp_path / "admin")
    laptop, phrase = first_device(tmp_path, server, token)
    run(laptop, "contact", "add", "Xavier First")
    run(laptop, "contact", "add", "Xavier Second")
    run(laptop, "sync")
    tamper(server, load_remote(laptop).owner_id, seq=2)

    phone = joined_phone(tmp_path, server, token, phrase)
    out = run(phone, "sync", ok=False)
    assert "does not open with the owner key: it was altered" in out
    assert json.loads(run(phone, "events", "--json")) in ([], {"events": []})


def test_the_server_refuses_plaintext_from_an_encrypted_owner(
    tmp_path: Path,
    server: LiveServer,  # noqa: F811 (the fixture)
) -> None:
    token = server.add_owner("dora", tmp_path / "admin")
    laptop, _ = first_device(tmp_path, server, token)
    run(laptop, "contact", "add", "Plain Canaryperson")
    config = load_remote(laptop)
    plain = msgspec.structs.replace(config, owner_key=None)  # a device that forgot to seal
    (laptop / "remote.json").write_bytes(msgspec.json.encode(plain))
    out = run(laptop, "sync", ok=False)
    assert "plain text" in out and "nothing of the batch was stored" in out
    assert files_holding(server.data, ("Plain Canaryperson",)) == []
    # and a plaintext owner's server refuses sealed events the same way
    token2 = server.add_owner("erin", tmp_path / "admin2")
    other = tmp_path / "other"
    run(other, "init", "--device-name", "other")
    run(other, "remote", "add", server.url, "--token", token2)
    run(other, "contact", "add", "Someone")
    keyed = msgspec.structs.replace(load_remote(other), owner_key=config.owner_key)
    (other / "remote.json").write_bytes(msgspec.json.encode(keyed))
    assert "not end-to-end encrypted" in run(other, "sync", ok=False)


def test_e2e_enable_on_an_enrolled_device_and_too_late(
    tmp_path: Path,
    server: LiveServer,  # noqa: F811 (the fixture)
) -> None:
    token = server.add_owner("fay", tmp_path / "admin")
    first = tmp_path / "first"
    run(first, "init", "--device-name", "first")
    run(first, "remote", "add", server.url, "--token", token)
    out = run(first, "e2e", "enable")
    assert len(PHRASE.findall(out)) == 1
    run(first, "contact", "add", "Gregor Canaryenabled")
    run(first, "sync")
    assert files_holding(server.data, ("Gregor Canaryenabled",)) == []

    # an owner that already synced in plain text cannot become encrypted
    token2 = server.add_owner("gus", tmp_path / "admin2")
    late = tmp_path / "late"
    run(late, "init", "--device-name", "late")
    run(late, "remote", "add", server.url, "--token", token2)
    run(late, "contact", "add", "Already Plain")
    run(late, "sync")
    out = run(late, "e2e", "enable", ok=False)
    assert "chosen before anything is synced" in out
    assert load_remote(late).owner_key is None, "a refused enable keeps no key"


def test_canaries_never_reach_postgresql(tmp_path: Path, pg_schema: str) -> None:
    url = f"{PG_URL}?prefix={pg_schema}"
    live = PgServer(
        tmp_path / "server", free_port(), options=("--database-url", url), database_url=url
    )
    live.start()
    try:
        token = live.add_owner("hana", tmp_path / "admin")
        laptop, phrase = first_device(tmp_path, live, token)
        zeb = record_canaries(laptop)
        run(laptop, "sync")
        phone = joined_phone(tmp_path, live, token, phrase)
        run(phone, "sync")
        assert ledger(phone) == ledger(laptop)
        assert CANARIES[0] in json.dumps(ledger(phone))
        assert pg_rows_holding(pg_schema, CANARIES) == []
        assert files_holding(live.data, CANARIES) == []
        headers = {"Authorization": f"Bearer {load_remote(phone).device_token}"}
        assert httpx.get(live.url + "/v1/cold", headers=headers).status_code == 409

        # forgetting reaches the sealed rows in PostgreSQL too
        key = OwnerKey(from_phrase(phrase))
        schema = owner_schema(pg_schema, load_remote(laptop).owner_id)
        assert any(CANARIES[0].encode() in p for p in pg_plaintext(schema, key))
        run(laptop, "contact", "forget", zeb, "--yes")
        run(laptop, "sync")
        opened = pg_plaintext(schema, key)
        assert [n for n in CANARIES for p in opened if n.encode() in p] == []
    finally:
        live.kill(signal.SIGTERM)


def server_plaintext(live: LiveServer, owner_id: str, key: OwnerKey) -> list[bytes]:
    """Every event the server holds for the owner, opened with the owner key."""
    db = sqlite3.connect(live.data / "owners" / f"{owner_id}.db")
    try:
        rows = db.execute(
            "SELECT originator_id, originator_version, topic, state FROM stored_events"
        ).fetchall()
    finally:
        db.close()
    return opened(rows, key)


def test_forgetting_reaches_the_sealed_rows_on_the_server(
    tmp_path: Path,
    server: LiveServer,  # noqa: F811 (the fixture)
) -> None:
    token = server.add_owner("ivy", tmp_path / "admin")
    laptop, phrase = first_device(tmp_path, server, token)
    key = OwnerKey(from_phrase(phrase))
    zeb = record_canaries(laptop)
    run(laptop, "sync")
    phone = joined_phone(tmp_path, server, token, phrase)
    run(phone, "sync")
    # the phone, offline, records one more note about the person about to be forgotten
    run(phone, "note", zeb, "canarynote-offline-amber")
    owner = load_remote(laptop).owner_id
    assert any(CANARIES[0].encode() in p for p in server_plaintext(server, owner, key))
    db_path = server.data / "owners" / f"{owner}.db"
    boxes = [
        bytes(b) for (b,) in sqlite3.connect(db_path).execute("SELECT state FROM stored_events")
    ]

    run(laptop, "contact", "forget", zeb, "--yes")
    run(laptop, "sync")
    run(phone, "sync")  # pushes its note sealed, pulls the forget, sends it redacted
    run(laptop, "sync")

    needles = (*CANARIES, "canarynote-offline-amber")
    opened = server_plaintext(server, owner, key)
    assert [n for n in needles for p in opened if n.encode() in p] == []
    assert any(b"(forgotten)" in p for p in opened)
    assert files_holding(server.data, needles) == []
    # the replaced ciphertext is gone from the file (scrubbed), not just unreferenced
    now = {bytes(b) for (b,) in sqlite3.connect(db_path).execute("SELECT state FROM stored_events")}
    stale = [box for box in boxes if box not in now]
    assert stale, "the forget replaced sealed rows"
    files = [p.read_bytes() for p in server.data.rglob("*") if p.is_file()]
    assert [box[-40:] for box in stale if any(box[-40:] in f for f in files)] == []
    for home in (laptop, phone):
        assert CANARIES[0] not in json.dumps(ledger(home))
        assert files_holding(home, needles) == []
    assert ledger(laptop) == ledger(phone)


def pg_plaintext(schema: str, key: OwnerKey) -> list[bytes]:
    """Every event of an owner's PostgreSQL log, opened with the owner key."""
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        rows = conn.execute(
            f'SELECT originator_id, originator_version, topic, state FROM "{schema}".stored_events'
        ).fetchall()
    return opened(rows, key)


def test_rotating_the_key_reseals_the_server_and_old_phrases_stop_working(
    tmp_path: Path,
    server: LiveServer,  # noqa: F811 (the fixture)
) -> None:
    token = server.add_owner("jo", tmp_path / "admin")
    laptop, old_phrase = first_device(tmp_path, server, token)
    record_canaries(laptop)
    run(laptop, "sync")
    phone = joined_phone(tmp_path, server, token, old_phrase)
    run(phone, "sync")
    run(phone, "contact", "add", "Kasimir Offline")  # recorded before it hears of the rotation

    out = run(laptop, "e2e", "rotate", "--yes")
    (new_phrase,) = PHRASE.findall(out)
    assert new_phrase != old_phrase
    old, new = OwnerKey(from_phrase(old_phrase)), OwnerKey(from_phrase(new_phrase))
    owner = load_remote(laptop).owner_id
    opened = server_plaintext(server, owner, new)  # every row opens under the new key
    assert any(CANARIES[0].encode() in p for p in opened)
    with pytest.raises(SealError):
        server_plaintext(server, owner, old)

    # the phone is told what to do; its offline contact waits on the phone
    assert "recip e2e rekey" in run(phone, "sync", ok=False)
    assert "not the owner's current key" in run(phone, "e2e", "rekey", phrase=old_phrase, ok=False)
    run(phone, "e2e", "rekey", phrase=new_phrase)
    run(phone, "sync")
    run(laptop, "sync")
    assert ledger(phone) == ledger(laptop)
    assert "Kasimir Offline" in json.dumps(ledger(laptop))
    # every row the server holds, the phone's late contact included, opens under the new key
    assert any(b"Kasimir Offline" in p for p in server_plaintext(server, owner, new))

    # a new device joins with the new phrase only
    tablet = tmp_path / "tablet"
    run(tablet, "init", "--device-name", "tablet")
    join = ("remote", "add", server.url, "--token", token, "--phrase")
    assert "not the owner's" in run(tablet, *join, phrase=old_phrase, ok=False)
    run(tablet, *join, phrase=new_phrase)
    run(tablet, "sync")
    assert ledger(tablet) == ledger(laptop)


def opened(rows: list[Any], key: OwnerKey) -> list[bytes]:
    """The stored bytes of each (device, seq, topic, state) row, opened with the key."""
    return [key.open_row((str(d), int(s), t, bytes(b)))[3] for d, s, t, b in rows]
