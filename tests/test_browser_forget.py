"""Forgetting a person reaches the browser, and the web app forgets (ADR 0130).

Headless Chromium against a real `recip serve`, with a CLI device of the same
owner: a contact holding canary texts is forgotten (by the CLI, then by the web
app, confirmation included); after syncing, no IndexedDB store of the browser
(every record of every store, read back), no file of the CLI device home and
no file of the server's data directory holds a canary, while the contact and
the shape of its history remain, named `(forgotten)`.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from core import redaction
from tests.browser_support import browser, js, open_page
from tests.test_browser_device import device, enroll, recip, sync
from tests.test_e2e_sync import LiveServer
from tests.test_forget import CANARIES, files_holding
from tests.test_webapp import context, server, synced
from tests.test_webapp import enroll as enroll_app

__all__ = ["browser", "context", "server"]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
#: Recorded by the browser about the contact, before and after the CLI forgets.
BROWSER_NOTE = "canarybrowser-vermilion"
LATE_NOTE = "canarybrowserlate-cerulean"
NEEDLES = (*CANARIES, BROWSER_NOTE, LATE_NOTE)

#: Every record of every object store of every IndexedDB database of the page.
DUMP = """async () => {
  const ask = (request) => new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const out = [];
  for (const info of await indexedDB.databases()) {
    const db = await ask(indexedDB.open(info.name));
    for (const store of db.objectStoreNames) {
      const os = db.transaction(store).objectStore(store);
      const [keys, values] = await Promise.all([ask(os.getAllKeys()), ask(os.getAll())]);
      out.push(JSON.stringify({ db: info.name, store, keys, values },
        (_, v) => (typeof v === "bigint" ? String(v) : v)));
    }
    db.close();
  }
  return out;
}"""


def indexeddb(page: Any) -> list[str]:
    stores: list[str] = page.evaluate(DUMP)
    return stores


def holding(stores: list[str], needles: tuple[str, ...]) -> list[str]:
    """(database/store, needle) for every needle found in a store's records."""
    found = []
    for text in stores:
        where = json.loads(text)
        found += [f"{where['db']}/{where['store']}: {n}" for n in needles if n in text]
    return found


def record_canaries(home: Path) -> str:
    """The canary contact and a history about it, on a CLI device."""
    zeb = recip(
        home, "contact", "add", CANARIES[0], "--email", CANARIES[1], "--phone", CANARIES[2]
    ).strip()
    recip(home, "contact", "add", "Olive Plain")
    recip(home, "note", zeb, CANARIES[3])
    ask = recip(home, "ask", zeb, CANARIES[4], "--weight", "3").strip()
    recip(home, "give", zeb, CANARIES[5], "--weight", "2")
    recip(home, "log", zeb, "--channel", "call", "--note", CANARIES[6])
    recip(home, "resolve", ask, "granted", "--note", CANARIES[7])
    return zeb


def test_a_forget_pulled_by_the_browser_leaves_no_canary_in_indexeddb(
    tmp_path: Path, server: LiveServer, context: Any
) -> None:
    token = server.add_owner("alice", tmp_path / "admin")
    laptop = device(tmp_path, server, token, "laptop")
    page = open_page(context, server.url)
    enroll(page, token)
    zeb = record_canaries(laptop)
    sync(laptop)
    js(page, "await dev.sync();")
    js(
        page,
        "await dev.record('NoteAdded', {contact_id: arg.zeb, text: arg.note}); await dev.sync();",
        {"zeb": zeb, "note": BROWSER_NOTE},
    )
    names = js(page, "return dev.views.contacts({all: true}).map((c) => c.name);")
    assert CANARIES[0] in names
    assert holding(indexeddb(page), (CANARIES[0], CANARIES[3], BROWSER_NOTE))
    shape_before = js(page, "return dev.views.timeline(arg).map((e) => [e.type, e.date]);", zeb)

    recip(laptop, "contact", "forget", zeb, "--yes")
    sync(laptop)
    # Offline from the server meanwhile, the browser notes more about Zebulon: its
    # push precedes its pull of the forget, the server stores it redacted.
    js(
        page,
        "await dev.record('NoteAdded', {contact_id: arg.zeb, text: arg.note});",
        {"zeb": zeb, "note": LATE_NOTE},
    )
    js(page, "await dev.sync();")

    assert holding(indexeddb(page), NEEDLES) == []
    views = js(
        page,
        "const v = dev.views; return {contacts: v.contacts({all: true}),"
        " timeline: v.timeline(arg), forgotten: [...v.fold.forgotten]};",
        zeb,
    )
    assert [c["name"] for c in views["contacts"] if c["contact_id"] == zeb] == [
        redaction.PLACEHOLDER
    ]
    assert views["forgotten"] == [zeb]
    assert not [n for n in NEEDLES if n in json.dumps(views)]
    assert [[e["type"], e["date"]] for e in views["timeline"]][: len(shape_before)] == shape_before
    # A fresh handle on the log (another tab, a restart) folds the same redacted views.
    again = js(
        page,
        "const d = await recip.openDevice(); const c = d.views.contacts({all: true});"
        " d.close(); return c;",
    )
    assert again == views["contacts"]
    # The browser's own notes reached the server and the laptop redacted only.
    sync(laptop)
    for root in (laptop, server.data):
        assert files_holding(root, NEEDLES) == []
    timeline = recip(laptop, "timeline", zeb, "--json")
    assert timeline.count(redaction.PLACEHOLDER) >= 2  # the two browser notes among them
    assert js(page, "return dev.status.pending;") == 0


def test_the_web_app_forgets_a_person_after_a_typed_confirmation(
    tmp_path: Path, server: LiveServer, context: Any
) -> None:
    token = server.add_owner("alice", tmp_path / "admin")
    laptop = device(tmp_path, server, token, "laptop")
    zeb = record_canaries(laptop)
    sync(laptop)
    page = context.new_page()
    enroll_app(page, server, token)
    synced(page)
    page.goto(f"{server.url}/#/contact/{zeb}")
    page.get_by_role("heading", name=CANARIES[0], level=1).wait_for()

    page.get_by_role("group", name="Actions").get_by_role(
        "button", name="Forget this person"
    ).click()
    form = page.get_by_role("form", name=f"Forget {CANARIES[0]}")
    assert "cannot be undone" in form.inner_text()
    assert "Kept:" in form.inner_text()
    form.get_by_label("Type their name to confirm").fill("Zebulon")
    form.get_by_role("button", name="Forget for good").click()
    form.get_by_text("nothing was forgotten").wait_for()
    assert holding(indexeddb(page), (CANARIES[0],))  # a wrong name forgets nothing

    form.get_by_label("Type their name to confirm").fill(CANARIES[0].lower())
    form.get_by_role("button", name="Forget for good").click()
    page.get_by_role("heading", name=redaction.PLACEHOLDER, level=1).wait_for()
    page.get_by_text("This person was forgotten").wait_for()
    assert page.get_by_role("button", name="Forget this person").count() == 0
    synced(page)
    sync(laptop)

    assert holding(indexeddb(page), CANARIES) == []
    assert files_holding(laptop, CANARIES) == []
    assert files_holding(server.data, CANARIES) == []
    shown = json.loads(recip(laptop, "contact", "show", zeb, "--json"))
    assert redaction.PLACEHOLDER in json.dumps(shown)
    server.kill(signal.SIGTERM)  # closed: every WAL checkpointed into its file
    assert files_holding(server.data, CANARIES) == []
