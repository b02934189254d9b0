"""An end-to-end encrypted owner with a browser device (ADR 0135), in headless Chromium.

A CLI device makes the owner encrypted and records canaries; the web app joins
with the recovery phrase (refusing a missing, mistyped or wrong one with nothing
stored), opens what it pulls, seals what it pushes; the CLI device reads what
the browser recorded; and no file of the server's data directory holds a
canary: the server only ever relayed sealed events. A tampered box is refused
by the browser that pulls it; after a rotation on the CLI device the web app
says why its syncs fail and takes the new phrase. The web app can also be the
owner's first device: it makes the key and shows the phrase until it is written
down, and a lost answer never loses the key. A forget in the browser reaches the
sealed rows on the server, in the very bytes a CLI device sends.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from core.events import Sealed
from sync.phrase import from_phrase, to_phrase
from sync.remote import load as load_remote
from sync.seal import OwnerKey
from tests.browser_support import browser, js, open_page
from tests.test_browser_device import recip, sync
from tests.test_e2e_encryption import first_device, joined_phone, server_plaintext, tamper
from tests.test_e2e_sync import LiveServer, server  # noqa: F401 (the live server fixture)
from tests.test_forget import files_holding
from tests.test_webapp import PHONE, act, add_contact, open_contact, synced

__all__ = ["browser"]
_WORKER = ThreadPoolExecutor(1)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
CLI_CANARIES = ("Quillon Canaryfeather", "quillon@canary.example", "canarynote-heliotrope")
BROWSER_CANARY = "Browsette Canarysong"
BROWSER_NOTE = "canarynote-browser-ochre"
PHRASE = re.compile(r"(?:[0-9A-Z]{4}-){13}[0-9A-Z]{4}")
#: What the browser's device holds, read through a second handle on its log.
IDENTITY = (
    "async () => { const recip = await import('/client/index.js');"
    " const dev = await recip.openDevice(); const id = dev.identity;"
    " const out = {enrolled: Boolean(id.device_token), key: id.owner_key?.key_id ?? null,"
    " extractable: id.owner_key ? id.owner_key.aes.extractable || id.owner_key.nonce.extractable"
    " : null, events: (await dev.store.since(0)).events.length};"
    " dev.close(); return out; }"
)

#: The names of what the browser's device keeps in its identity.
IDENTITY_KEYS = (
    "async () => { const recip = await import('/client/index.js');"
    " const dev = await recip.openDevice(); const keys = Object.keys(dev.identity)"
    ".filter((k) => dev.identity[k] !== undefined); dev.close(); return keys; }"
)


def encrypted_laptop(tmp_path: Path, live: LiveServer, token: str) -> tuple[Path, str]:
    """The owner's first device, made encrypted, with canaries synced; its phrase."""
    laptop, phrase = _WORKER.submit(first_device, tmp_path, live, token).result()
    name, email, note = CLI_CANARIES
    contact = recip(laptop, "contact", "add", name, "--email", email).strip()
    recip(laptop, "note", contact, note)
    sync(laptop)
    return laptop, phrase


def enroll_screen(chromium: Any, live: LiveServer, token: str, **options: Any) -> tuple[Any, Any]:
    """A new browser profile (context) on the web app's enrollment link."""
    context = chromium.new_context(**options)
    page = context.new_page()
    page.goto(f"{live.url}/#enroll={token}")
    return context, page


def kept_nothing(page: Any) -> bool:
    """Whether the browser's device is as new: no token, no key, no event."""
    held = page.evaluate(IDENTITY)
    return bool((held["enrolled"], held["key"], held["events"]) == (False, None, 0))


def devices(live: LiveServer, laptop: Path) -> list[Any]:
    headers = {"Authorization": f"Bearer {load_remote(laptop).device_token}"}
    answer: Any = httpx.get(f"{live.url}/v1/devices", headers=headers).json()
    return list(answer["devices"] if isinstance(answer, dict) else answer)


def server_rows(live: LiveServer, owner_id: str) -> list[tuple[str, int, bytes]]:
    """(device, seq, sealed bytes) of every row the server holds for the owner."""
    db = sqlite3.connect(live.data / "owners" / f"{owner_id}.db")
    query = "SELECT originator_id, originator_version, state FROM stored_events ORDER BY 1, 2"
    rows = [(str(d), int(s), bytes(b)) for d, s, b in db.execute(query)]
    db.close()
    return rows


def try_phrase(page: Any, phrase: str, said: str) -> None:
    """Submit the enroll form with `phrase`; the screen must say `said`."""
    page.get_by_label(re.compile("Recovery phrase")).fill(phrase)
    page.get_by_role("button", name="Enroll this device").click()
    page.get_by_role("alert").filter(has_text=said).wait_for()


def join(page: Any, phrase: str) -> None:
    """Enroll on the enroll screen with `phrase`; lands on Today."""
    page.get_by_label(re.compile("Recovery phrase")).fill(phrase)
    page.get_by_role("button", name="Enroll this device").click()
    page.get_by_role("heading", name="Today", level=1).wait_for()


@pytest.fixture
def encrypted(tmp_path: Path, server: LiveServer) -> tuple[str, Path, str]:  # noqa: F811
    """An encrypted owner's enrollment token, its first device (with canaries), its phrase."""
    token = server.add_owner("alice", tmp_path / "admin")
    laptop, phrase = encrypted_laptop(tmp_path, server, token)
    return token, laptop, phrase


@pytest.fixture
def joining(
    server: LiveServer,  # noqa: F811 (the fixture)
    browser: Any,
    encrypted: tuple[str, Path, str],
) -> Iterator[tuple[Any, Path, str]]:
    """A new browser profile on the encrypted owner's enrollment link: (page, laptop, phrase)."""
    token, laptop, phrase = encrypted
    context, page = enroll_screen(browser, server, token)
    yield page, laptop, phrase
    context.close()


@pytest.fixture
def joined(joining: tuple[Any, Path, str]) -> tuple[Any, Path, str]:
    """The browser joined with the phrase and synced: (page, laptop, phrase)."""
    page, _, phrase = joining
    join(page, phrase)
    synced(page)
    return joining


def test_a_browser_joins_an_encrypted_owner_with_its_phrase(
    tmp_path: Path,
    server: LiveServer,  # noqa: F811 (the fixture)
    joining: tuple[Any, Path, str],
) -> None:
    page, laptop, phrase = joining
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
    assert kept_nothing(page)
    assert [d["name"] for d in devices(server, laptop)] == ["laptop"]

    # the phrase as a person might type it: lower case, spaces for dashes
    join(page, phrase.lower().replace("-", " "))
    held = page.evaluate(IDENTITY)
    key = load_remote(laptop).key()
    assert held["enrolled"] and key is not None and held["key"] == key.key_id
    assert held["extractable"] is False  # the subkeys cannot be read back out as bytes
    synced(page)
    open_contact(page, CLI_CANARIES[0])
    page.get_by_text(CLI_CANARIES[2]).wait_for()

    add_contact(page, BROWSER_CANARY)
    act(page, "Note", f"Note about {BROWSER_CANARY}", {"Note": BROWSER_NOTE}, "Save note")
    synced(page)
    sync(laptop)
    assert BROWSER_CANARY in recip(laptop, "contact", "list", "--json")

    # the server relayed sealed events only, under the owner's key
    owner = load_remote(laptop).owner_id
    sqlite3.connect(server.data / "accounts.db").execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db = sqlite3.connect(server.data / "owners" / f"{owner}.db")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert {t for (t,) in db.execute("SELECT topic FROM stored_events")} == {"Sealed"}
    # the browser sealed each event's JSON as Python writes it: the very same bytes
    key = load_remote(laptop).key()
    assert key is not None
    rows = db.execute("SELECT originator_id, state FROM stored_events").fetchall()
    for _, state in rows:
        sealed = msgspec.msgpack.decode(state, type=Sealed)
        assert key.seal_row(key.open(sealed)) == sealed
    assert len({device for device, _ in rows}) == 2
    devices_ = {d["name"] for d in devices(server, laptop)}
    assert devices_ == {"laptop", "browser"}
    assert files_holding(server.data, (*CLI_CANARIES, BROWSER_CANARY, BROWSER_NOTE)) == []
    assert files_holding(laptop, (BROWSER_CANARY,))  # ... while the devices hold them


@pytest.mark.parametrize(
    ("encrypted", "viewport", "said"),
    [
        (True, PHONE, "enter its recovery phrase"),
        (False, {"width": 1280, "height": 720}, "leave the recovery phrase empty"),
    ],
    ids=["no-phrase-for-an-encrypted-owner-on-a-phone", "a-phrase-for-a-plain-owner"],
)
def test_the_enroll_screen_says_when_a_phrase_is_missing_or_not_wanted(
    tmp_path: Path,
    server: LiveServer,  # noqa: F811 (the fixture)
    browser: Any,
    encrypted: bool,
    viewport: dict[str, int],
    said: str,
) -> None:
    token = server.add_owner("carol", tmp_path / "admin")
    if encrypted:
        encrypted_laptop(tmp_path, server, token)
    context, page = enroll_screen(browser, server, token, viewport=viewport)
    try_phrase(page, "" if encrypted else to_phrase(OwnerKey.generate().key), said)
    box = page.get_by_label(re.compile("Recovery phrase")).bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
    page.screenshot(path=str(tmp_path / "enroll.png"), full_page=True)
    assert kept_nothing(page)
    context.close()


def test_a_tampered_box_is_refused_by_the_browser_that_pulls_it(
    server: LiveServer,  # noqa: F811 (the fixture)
    browser: Any,
    encrypted: tuple[str, Path, str],
) -> None:
    token, laptop, phrase = encrypted
    tamper(server, load_remote(laptop).owner_id, seq=2)

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


def test_after_a_rotation_the_browser_takes_the_new_phrase_and_syncs_again(
    tmp_path: Path,
    server: LiveServer,  # noqa: F811 (the fixture)
    joined: tuple[Any, Path, str],
) -> None:
    page, laptop, phrase = joined
    found = PHRASE.findall(recip(laptop, "e2e", "rotate", "--yes"))
    assert len(found) == 1 and found[0] != phrase
    new_phrase = found[0]
    recip(laptop, "contact", "add", "Rotaria Canaryafter")
    sync(laptop)

    # the browser's push is sealed under the old key: refused, and it says why
    add_contact(page, "Brio Canarybefore")
    page.get_by_role("button", name="Sync now").click()
    page.get_by_role("link", name="Why?").click()
    page.get_by_role("alert").filter(has_text="rotated on another device").wait_for()
    rekey = page.get_by_role("form", name="New recovery phrase")
    for typed, said in (
        (phrase, "holds that key already"),
        (to_phrase(OwnerKey.generate().key), "not the owner’s current key"),
        (new_phrase[:-1] + ("0" if new_phrase[-1] != "0" else "1"), "has a typo"),
    ):
        rekey.get_by_label("New recovery phrase").fill(typed)
        rekey.get_by_role("button", name="Use the new phrase").click()
        rekey.get_by_text(said).wait_for()
    page.screenshot(path=str(tmp_path / "rekey.png"), full_page=True)
    rekey.get_by_label("New recovery phrase").fill(new_phrase)
    rekey.get_by_role("button", name="Use the new phrase").click()
    page.get_by_role("heading", name="Today", level=1).wait_for()
    synced(page)
    open_contact(page, "Rotaria Canaryafter")
    sync(laptop)
    assert "Brio Canarybefore" in recip(laptop, "contact", "list", "--json")
    assert files_holding(server.data, ("Rotaria Canaryafter", "Brio Canarybefore")) == []


def test_the_browser_as_first_device_makes_the_owner_encrypted_and_a_cli_joins(
    tmp_path: Path,
    server: LiveServer,  # noqa: F811 (the fixture)
    browser: Any,
) -> None:
    token = server.add_owner("fay", tmp_path / "admin")
    context, page = enroll_screen(browser, server, token, viewport=PHONE)
    page.get_by_label(re.compile("Encrypt end to end")).check()
    page.get_by_role("button", name="Enroll this device").click()
    page.get_by_role("heading", name="Your recovery phrase").wait_for()
    page.screenshot(path=str(tmp_path / "new-phrase.png"), full_page=True)
    shown = PHRASE.findall(page.get_by_role("region", name="Recovery phrase").inner_text())
    assert len(shown) == 1
    page.reload()  # shown until it is written down
    page.get_by_role("heading", name="Your recovery phrase").wait_for()
    assert PHRASE.findall(page.locator("main").inner_text()) == shown
    page.get_by_role("button", name="I have written it down").click()
    page.get_by_role("heading", name="Today", level=1).wait_for()
    assert "pending_phrase" not in json.dumps(page.evaluate(IDENTITY_KEYS))

    add_contact(page, BROWSER_CANARY)
    synced(page)
    phone = _WORKER.submit(joined_phone, tmp_path, server, token, shown[0].lower()).result()
    sync(phone)
    assert BROWSER_CANARY in recip(phone, "contact", "list", "--json")
    assert files_holding(server.data, (BROWSER_CANARY,)) == []
    context.close()


def test_a_made_key_survives_a_lost_answer_and_a_plain_refusal_keeps_nothing(
    tmp_path: Path,
    server: LiveServer,  # noqa: F811 (the fixture)
    browser: Any,
) -> None:
    token = server.add_owner("gus", tmp_path / "admin")
    context = browser.new_context()
    page = open_page(context, server.url)
    enrolling = (
        "const d = await recip.openDevice(); let error = null, phrase = null;"
        " try { phrase = await d.enrollEncrypted(arg, 'browser'); }"
        " catch (e) { error = e.code ?? e.name; }"
        " const out = {error, phrase, pending: d.identity.pending_phrase ?? null,"
        " enrolled: d.enrolled}; d.close(); return out;"
    )
    refused = js(page, enrolling, "recip-enroll-no-such-token")
    assert refused == {"error": "unauthorized", "phrase": None, "pending": None, "enrolled": False}

    lost: list[str] = []

    def lose_the_answer(route: Any) -> None:
        lost.append(route.fetch().text())  # the server enrolls the device...
        route.abort()  # ... and the answer never arrives

    page.route("**/v1/enroll", lose_the_answer)
    first = js(page, enrolling, token)
    assert first["error"] == "TransientError" and first["pending"] and not first["enrolled"]
    assert '"device_token"' in lost[0]
    page.unroute("**/v1/enroll")
    # the retry is refused (the device id is taken now): the phrase stays, for the
    # owner is encrypted under it, and another device joins with it
    again = js(page, enrolling, token)
    assert again["error"] == "device_exists" and again["pending"] == first["pending"]
    laptop = _WORKER.submit(joined_phone, tmp_path, server, token, first["pending"]).result()
    sync(laptop)
    page.goto(f"{server.url}/#/enroll")
    kept = page.get_by_role("region", name="Recovery phrase")
    assert PHRASE.findall(kept.inner_text()) == [first["pending"]]
    kept.get_by_role("button", name="I have written it down").click()
    kept.wait_for(state="detached")
    assert "pending_phrase" not in json.dumps(page.evaluate(IDENTITY_KEYS))
    context.close()


def test_a_forget_in_the_browser_reaches_the_sealed_rows_on_the_server(
    server: LiveServer,  # noqa: F811 (the fixture)
    joined: tuple[Any, Path, str],
) -> None:
    page, laptop, phrase = joined
    owner = load_remote(laptop).owner_id
    key = OwnerKey(from_phrase(phrase))
    assert any(CLI_CANARIES[2].encode() in p for p in server_plaintext(server, owner, key))

    name = CLI_CANARIES[0]
    open_contact(page, name)
    page.get_by_role("group", name="Actions").get_by_role(
        "button", name="Forget this person"
    ).click()
    form = page.get_by_role("form", name=f"Forget {name}")
    form.get_by_label("Type their name to confirm").fill(name)
    form.get_by_role("button", name="Forget for good").click()
    page.get_by_text("This person was forgotten").wait_for()
    synced(page)  # pushes the forget, then sends the redacted rows sealed again

    # no other device synced: the browser alone rewrote the server's sealed rows
    opened = server_plaintext(server, owner, key)
    assert [n for n in CLI_CANARIES for p in opened if n.encode() in p] == []
    assert any(b"ContactForgotten" in p for p in opened)
    held = server_rows(server, owner)
    sync(laptop)  # pulls the forget, redacts, sends its own replacements: the same bytes
    assert name not in recip(laptop, "contact", "list", "--all", "--json")
    assert server_rows(server, owner) == held
