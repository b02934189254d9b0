"""An end-to-end encrypted owner with a browser device (ADR 0135), in headless Chromium.

A CLI device makes the owner encrypted and records canaries; the web app joins
with the recovery phrase (refusing a missing, mistyped or wrong one with nothing
stored), opens what it pulls, seals what it pushes; the CLI device reads what
the browser recorded; and no file of the server's data directory holds a
canary: the server only ever relayed sealed events.
"""

from __future__ import annotations

import re
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from core.events import Sealed
from server.run import free_port
from sync.phrase import to_phrase
from sync.remote import load as load_remote
from sync.seal import OwnerKey
from tests.browser_support import browser, js, open_page
from tests.test_browser_device import recip, sync
from tests.test_e2e_sync import LiveServer
from tests.test_forget import files_holding
from tests.test_webapp import PHONE, add_contact, open_contact, synced

__all__ = ["browser"]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
PHRASE = re.compile(r"(?:[0-9A-Z]{4}-){13}[0-9A-Z]{4}")
CLI_CANARIES = ("Quillon Canaryfeather", "quillon@canary.example", "canarynote-heliotrope")
BROWSER_CANARY = "Browsette Canarysong"
#: What the browser's device holds, read through a second handle on its log.
IDENTITY = (
    "async () => { const recip = await import('/client/index.js');"
    " const dev = await recip.openDevice(); const id = dev.identity;"
    " const out = {enrolled: Boolean(id.device_token), key: id.owner_key?.key_id ?? null,"
    " extractable: id.owner_key ? id.owner_key.aes.extractable || id.owner_key.nonce.extractable"
    " : null, events: (await dev.store.since(0)).events.length};"
    " dev.close(); return out; }"
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path / "server", free_port())
    live.start()
    yield live
    live.kill(signal.SIGTERM)


def encrypted_laptop(tmp_path: Path, server: LiveServer, token: str) -> tuple[Path, str]:
    """The owner's first device, made encrypted, with canaries synced; its phrase."""
    laptop = tmp_path / "laptop"
    recip(laptop, "init", "--device-name", "laptop")
    out = recip(laptop, "remote", "add", server.url, "--token", token, "--e2e")
    found = PHRASE.findall(out)
    assert len(found) == 1, out
    name, email, note = CLI_CANARIES
    contact = recip(laptop, "contact", "add", name, "--email", email).strip()
    recip(laptop, "note", contact, note)
    sync(laptop)
    return laptop, found[0]


def devices(server: LiveServer, laptop: Path) -> list[Any]:
    headers = {"Authorization": f"Bearer {load_remote(laptop).device_token}"}
    answer: Any = httpx.get(f"{server.url}/v1/devices", headers=headers).json()
    return list(answer["devices"] if isinstance(answer, dict) else answer)


def try_phrase(page: Any, phrase: str, said: str) -> None:
    """Submit the enroll form with `phrase`; the screen must say `said`."""
    page.get_by_label(re.compile("Recovery phrase")).fill(phrase)
    page.get_by_role("button", name="Enroll this device").click()
    page.get_by_role("alert").filter(has_text=said).wait_for()


def test_a_browser_joins_an_encrypted_owner_with_its_phrase(
    tmp_path: Path, server: LiveServer, browser: Any
) -> None:
    token = server.add_owner("alice", tmp_path / "admin")
    laptop, phrase = encrypted_laptop(tmp_path, server, token)
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/#enroll={token}")
    page.get_by_label("Device name").fill("browser")

    # no phrase, a typo, another owner's phrase: each refused in words, nothing kept
    try_phrase(page, "", "end-to-end encrypted: enter its recovery phrase")
    assert page.get_by_label(re.compile("Recovery phrase")).evaluate(
        "e => e === document.activeElement"
    )
    page.screenshot(path=str(tmp_path / "enroll-desktop.png"), full_page=True)
    typo = phrase[:-1] + ("0" if phrase[-1] != "0" else "1")
    try_phrase(page, typo, "has a typo")
    try_phrase(page, to_phrase(OwnerKey.generate().key), "not this owner’s: nothing was stored")
    assert page.evaluate(IDENTITY) == {
        "enrolled": False,
        "key": None,
        "extractable": None,
        "events": 0,
    }
    assert [d["name"] for d in devices(server, laptop)] == ["laptop"]

    # the phrase as a person might type it: lower case, spaces for dashes
    page.get_by_label(re.compile("Recovery phrase")).fill(phrase.lower().replace("-", " "))
    page.get_by_role("button", name="Enroll this device").click()
    page.get_by_role("heading", name="Today", level=1).wait_for()
    held = page.evaluate(IDENTITY)
    key = load_remote(laptop).key()
    assert held["enrolled"] and key is not None and held["key"] == key.key_id
    assert held["extractable"] is False  # the subkeys cannot be read back out as bytes
    synced(page)
    open_contact(page, CLI_CANARIES[0])
    page.get_by_text(CLI_CANARIES[2]).wait_for()

    add_contact(page, BROWSER_CANARY)
    synced(page)
    sync(laptop)
    assert BROWSER_CANARY in recip(laptop, "contact", "list", "--json")

    # the server relayed sealed events only, under the owner's key
    owner = load_remote(laptop).owner_id
    sqlite3.connect(server.data / "accounts.db").execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db = sqlite3.connect(server.data / "owners" / f"{owner}.db")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert {t for (t,) in db.execute("SELECT topic FROM stored_events")} == {"Sealed"}
    devices_ = {d["name"] for d in devices(server, laptop)}
    assert devices_ == {"laptop", "browser"}
    assert files_holding(server.data, (*CLI_CANARIES, BROWSER_CANARY)) == []
    assert files_holding(laptop, (BROWSER_CANARY,))  # ... while the devices hold them
    context.close()


def test_the_enroll_screen_on_a_phone_asks_for_the_phrase(
    tmp_path: Path, server: LiveServer, browser: Any
) -> None:
    token = server.add_owner("carol", tmp_path / "admin")
    encrypted_laptop(tmp_path, server, token)
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{server.url}/#enroll={token}")
    try_phrase(page, "", "enter its recovery phrase")
    field = page.get_by_label(re.compile("Recovery phrase"))
    box = field.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    page.screenshot(path=str(tmp_path / "enroll-phone.png"), full_page=True)
    held = page.evaluate(IDENTITY)
    assert (held["enrolled"], held["key"]) == (False, None)
    context.close()


def test_a_plain_owner_refuses_a_phrase_and_nothing_is_kept(
    tmp_path: Path, server: LiveServer, browser: Any
) -> None:
    token = server.add_owner("dave", tmp_path / "admin")
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/#enroll={token}")
    try_phrase(page, to_phrase(OwnerKey.generate().key), "leave the recovery phrase empty")
    held = page.evaluate(IDENTITY)
    assert (held["enrolled"], held["key"]) == (False, None)
    context.close()


def test_a_tampered_box_is_refused_by_the_browser_that_pulls_it(
    tmp_path: Path, server: LiveServer, browser: Any
) -> None:
    token = server.add_owner("erin", tmp_path / "admin")
    laptop, phrase = encrypted_laptop(tmp_path, server, token)
    owner = load_remote(laptop).owner_id
    db = sqlite3.connect(server.data / "owners" / f"{owner}.db", isolation_level=None)
    (state,) = db.execute("SELECT state FROM stored_events WHERE originator_version = 2").fetchone()
    sealed = msgspec.msgpack.decode(state, type=Sealed)
    box = bytearray(sealed.box)
    box[20] ^= 1
    altered = msgspec.msgpack.encode(msgspec.structs.replace(sealed, box=bytes(box)))
    db.execute("UPDATE stored_events SET state = ? WHERE originator_version = 2", (altered,))
    db.close()

    context = browser.new_context()
    page = open_page(context, server.url)
    outcome = js(
        page,
        "const d = await recip.openDevice();"
        " await d.enroll(arg.token, 'browser', arg.phrase);"
        " let error = null;"
        " try { await d.sync(); } catch (e) { error = `${e.name}: ${e.message}`; }"
        " return {error, status: d.status.state, cursor: (await d.store.state()).cursor,"
        " events: (await d.store.since(0)).events.length};",
        {"token": token, "phrase": phrase},
    )
    assert "SealError" in outcome["error"] and "it was altered" in outcome["error"], outcome
    assert outcome["status"] == "error"
    assert outcome["events"] == 0 and outcome["cursor"] == 0  # nothing of the page
    context.close()
