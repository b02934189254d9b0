"""The web app in headless Chromium against a real `recip serve` (ADR 0095).

Elements are found the way a person finds them: by role and accessible name,
or by label. A CLI device on the same owner checks that what the app recorded
is what every other device sees.
"""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.webapp import SAVED
from server.run import free_port
from tests.browser_support import browser
from tests.test_browser_device import device, recip, sync
from tests.test_e2e_sync import LiveServer

__all__ = ["browser"]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
PHONE = {"width": 390, "height": 844}
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path / "server", free_port())
    live.start()
    yield live
    live.kill(signal.SIGTERM)


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport=PHONE)
    yield ctx
    ctx.close()


def dialogs(page: Any) -> list[str]:
    """Every alert/confirm the page opens (an injected script would)."""
    seen: list[str] = []

    def record(dialog: Any) -> None:
        seen.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    return seen


def open_app(context: Any, url: str) -> Any:
    page = context.new_page()
    page.goto(url)
    return page


def enroll(page: Any, server: LiveServer, token: str) -> None:
    """Open the enrollment link, name the device, enroll; lands on Today."""
    page.goto(f"{server.url}/#enroll={token}")
    page.get_by_label("Device name").fill("phone")
    page.get_by_role("button", name="Enroll this device").click()
    page.get_by_role("heading", name="Today", level=1).wait_for()
    assert token not in page.url  # the token does not stay in the address bar


def add_contact(page: Any, name: str, circle: str = "wider", tags: str = "") -> None:
    page.get_by_role("link", name="Contacts").click()
    page.get_by_role("button", name="Add contact").click()
    form = page.get_by_role("form", name="Add a contact")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Circle").select_option(circle)
    form.get_by_label("Tags").fill(tags)
    form.get_by_role("button", name="Add contact").click()
    page.get_by_role("heading", name=name, level=1).wait_for()


def open_contact(page: Any, name: str) -> None:
    page.get_by_role("link", name="Contacts").click()
    page.get_by_label("Search contacts").fill(name)
    page.get_by_role("list", name="Contacts").get_by_role("link", name=name, exact=True).click()
    page.get_by_role("heading", name=name, level=1).wait_for()


def act(page: Any, action: str, form_name: str, fill: dict[str, str], submit: str) -> None:
    """Open an action's form on a contact screen, fill it by labels, submit it."""
    page.get_by_role("group", name="Actions").get_by_role("button", name=action, exact=True).click()
    form = page.get_by_role("form", name=form_name)
    for label, value in fill.items():
        control = form.get_by_label(label, exact=True)
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(label=value)
        else:
            control.fill(value)
    form.get_by_role("button", name=submit).click()
    form.wait_for(state="detached")


def synced(page: Any) -> None:
    """Wait until the status says nothing waits to be pushed, after a sync."""
    status = page.get_by_role("region", name="Sync status")
    status.get_by_text("all sent").wait_for(timeout=30_000)
    status.get_by_role("button", name="Sync now").click()
    page.wait_for_function(
        "() => document.querySelector('#sync-status').textContent.includes('Online')",
        timeout=30_000,
    )


def app_views(page: Any, contacts: list[str], day: str) -> Any:
    """The views of this browser's device, read through a second handle on its log."""
    text = page.evaluate(
        "async (arg) => { const recip = await import('/client/index.js');"
        " const dev = await recip.openDevice(); const v = dev.views;"
        " const out = {ledger: v.ledger(arg.day), cold: v.cold(arg.day, {all: true}),"
        " contacts: v.contacts({all: true}), stats: v.stats(arg.day),"
        " timelines: Object.fromEntries(arg.ids.map((id) => [id, v.timeline(id)]))};"
        " dev.close(); return JSON.stringify(out); }",
        {"ids": contacts, "day": day},
    )
    return json.loads(text)


def cli_views(home: Path, contacts: list[str], day: str) -> Any:
    def read(*args: str) -> Any:
        return json.loads(recip(home, *args))

    return {
        "ledger": read("ledger", "--as-of", day, "--json"),
        "cold": read("cold", "--all", "--as-of", day, "--json"),
        "contacts": read("contact", "list", "--all", "--json"),
        "stats": read("stats", "--as-of", day, "--json"),
        "timelines": {c: read("timeline", c, "--json") for c in contacts},
    }


def contact_id(page: Any) -> str:
    match = re.search(r"#/contact/([0-9a-f-]+)$", page.url)
    assert match, page.url
    return match.group(1)


# -- the server side ----------------------------------------------------------------


def test_the_app_is_served_with_a_strict_policy_and_no_inline_code(server: LiveServer) -> None:
    page = httpx.get(f"{server.url}/")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "object-src 'none'" in policy
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), "an inline script"
    assert "<style" not in page.text and " style=" not in page.text
    worker = httpx.get(f"{server.url}/sw.js")
    assert worker.headers["content-type"].startswith("text/javascript")
    shell = json.loads(
        worker.text.split("\n", 1)[0].removeprefix("self.RECIP_SHELL = ").rstrip(";")
    )
    assert (
        "/" in shell["urls"]
        and "/app/main.js" in shell["urls"]
        and "/client/index.js" in shell["urls"]
    )
    for url in shell["urls"]:  # everything the worker caches exists
        assert httpx.get(f"{server.url}{url}").status_code == 200, url
    manifest = httpx.get(f"{server.url}/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    assert {i["sizes"] for i in manifest.json()["icons"]} == {"192x192", "512x512"}


def test_the_worker_version_follows_the_files(tmp_path: Path) -> None:
    from server import webapp
    from web import CLIENT_DIR

    app_dir = tmp_path / "app"
    for path in webapp.APP_DIR.rglob("*"):
        if path.is_file():
            (app_dir / path.relative_to(webapp.APP_DIR)).parent.mkdir(parents=True, exist_ok=True)
            (app_dir / path.relative_to(webapp.APP_DIR)).write_bytes(path.read_bytes())
    before = webapp.worker_source(app_dir, CLIENT_DIR)
    assert webapp.worker_source(app_dir, CLIENT_DIR) == before
    (app_dir / "app.css").write_text((app_dir / "app.css").read_text() + "\n/* changed */\n")
    assert webapp.worker_source(app_dir, CLIENT_DIR) != before


def test_add_owner_prints_the_enrollment_link(tmp_path: Path) -> None:
    from tests.conftest import run_recip_process

    out = run_recip_process(
        tmp_path,
        "admin",
        "add-owner",
        "ann",
        "--data",
        str(tmp_path / "d"),
        "--url",
        "https://r.example/",
    ).stdout.splitlines()
    token = out[-1]
    assert token.startswith("recip-enroll-")
    assert f"https://r.example/#enroll={token}" in out[-2]


def test_add_owner_prints_the_link_as_a_qr_code_to_scan(tmp_path: Path) -> None:
    import io

    import segno

    from tests.conftest import run_recip_process

    out = run_recip_process(
        tmp_path, "admin", "add-owner", "ann", "--data", str(tmp_path / "d"), "--qr"
    ).stdout
    token = out.splitlines()[-1]
    expected = io.StringIO()
    link = f"http://127.0.0.1:8765/#enroll={token}"
    segno.make(link, error="m").terminal(out=expected, compact=True)
    assert expected.getvalue() in out  # the code of exactly this link
    assert out.splitlines()[-2].endswith(link)


# -- in the browser -------------------------------------------------------------------


def test_a_day_in_the_life(tmp_path: Path, server: LiveServer, context: Any) -> None:
    token = server.add_owner("ada", tmp_path / "admin")
    laptop = device(tmp_path, server, token, "laptop")
    page = context.new_page()
    alerts = dialogs(page)
    enroll(page, server, token)

    add_contact(page, "Charles Babbage", "close", "engines")
    babbage = contact_id(page)
    add_contact(page, "Ada Lovelace", "close", "math, poetry")
    ada = contact_id(page)
    act(
        page,
        "Log interaction",
        "Log an interaction with Ada Lovelace",
        {"Channel": "call", "Note": "catch-up"},
        "Log interaction",
    )
    act(
        page,
        "Ask",
        "Ask Ada Lovelace",
        {"What you asked": "review my talk", "Weight": "3"},
        "Record ask",
    )
    page.get_by_role("button", name="Resolve the ask: review my talk").click()
    resolve = page.get_by_role("form", name="Resolve the ask: review my talk")
    resolve.get_by_label("Outcome").select_option("granted")
    resolve.get_by_role("button", name="Resolve ask").click()
    resolve.wait_for(state="detached")
    act(
        page,
        "Give",
        "Give to Ada Lovelace",
        {"What you gave": "intro to a publisher", "Kind": "referral", "Weight": "2"},
        "Record give",
    )
    act(
        page,
        "Give",
        "Give to Ada Lovelace",
        {"What you gave": "intro to a publisher"},
        "Record give",
    )
    act(
        page,
        "Introduce",
        "Introduce Ada Lovelace",
        {"Introduce Ada Lovelace to": "Charles Babbage", "Note": "both into engines"},
        "Record introduction",
    )
    act(page, "Note", "Note about Ada Lovelace", {"Note": "loves analytical engines"}, "Save note")

    # a refusal says why, inline, and records nothing
    page.get_by_role("group", name="Actions").get_by_role("button", name="Ask", exact=True).click()
    ask = page.get_by_role("form", name="Ask Ada Lovelace")
    ask.get_by_role("button", name="Record ask").click()
    assert "Say what you asked for" in ask.get_by_role("alert").inner_text()
    ask.get_by_role("button", name="Cancel").click()

    # retract the second give: struck through with its reason
    timeline = page.get_by_role("list", name="Timeline, newest first")
    timeline.get_by_role(
        "button", name=re.compile(r"^Retract: gave Ada Lovelace: intro")
    ).first.click()
    retract = page.get_by_role("form", name=re.compile("^Retract: gave"))
    retract.get_by_label("Why retract it").fill("logged twice")
    retract.get_by_role("button", name="Retract entry").click()
    retract.wait_for(state="detached")
    struck = timeline.locator("del")
    assert struck.count() == 1 and "intro to a publisher" in struck.inner_text()
    assert timeline.get_by_text("Retracted: logged twice").is_visible()
    words = page.get_by_role("region", name="Give and ask").inner_text()
    assert "asked once (weight 3)" in words and "Asks: 1 granted." in words

    # the CLI device sees the same views after a sync
    synced(page)
    sync(laptop)
    day = json.loads(recip(laptop, "stats", "--json"))["as_of"]
    expected = cli_views(laptop, [ada, babbage], day)
    assert [r["name"] for r in expected["ledger"]] == ["Ada Lovelace", "Charles Babbage"]
    assert app_views(page, [ada, babbage], day) == expected

    # once the views were saved, a reload shows Today from them before the log is folded
    for _ in range(100):
        if page.evaluate(SAVED):
            break
        page.wait_for_timeout(100)
    page.goto(f"{server.url}/#/today")
    page.reload()
    page.get_by_role("heading", name="Today", level=1).wait_for()
    page.wait_for_function("() => performance.getEntriesByName('recip:ready').length")
    first = "() => performance.getEntriesByName('recip:first-view')[0].detail"
    assert page.evaluate(first) == "saved views"
    open_contact(page, "Ada Lovelace")
    timeline = page.get_by_role("list", name="Timeline, newest first")

    # and what the CLI records reaches the app by itself (a poke, then a pull)
    recip(laptop, "give", ada, "a copy of the notes", "--weight", "1")
    sync(laptop)
    timeline.get_by_text("a copy of the notes", exact=False).wait_for(timeout=30_000)
    assert alerts == []


def test_offline_the_app_opens_records_and_sends_everything_once(
    tmp_path: Path, server: LiveServer, context: Any
) -> None:
    token = server.add_owner("ada", tmp_path / "admin")
    laptop = device(tmp_path, server, token, "laptop")
    page = context.new_page()
    enroll(page, server, token)
    add_contact(page, "Grace Hopper", "inner")
    grace = contact_id(page)
    synced(page)
    page.wait_for_function(
        "async () => (await navigator.serviceWorker.ready) && !!navigator.serviceWorker.controller"
    )

    context.set_offline(True)
    page.reload()
    page.get_by_role("heading", name="Grace Hopper", level=1).wait_for()
    status = page.get_by_role("region", name="Sync status")
    assert "Offline" in status.inner_text()
    act(
        page,
        "Log interaction",
        "Log an interaction with Grace Hopper",
        {"Note": "on the train"},
        "Log interaction",
    )
    act(page, "Note", "Note about Grace Hopper", {"Note": "compilers"}, "Save note")
    act(page, "Give", "Give to Grace Hopper", {"What you gave": "a nanosecond"}, "Record give")
    act(page, "Ask", "Ask Grace Hopper", {"What you asked": "a talk"}, "Record ask")
    add_contact(page, "Alan Turing")
    status.get_by_text("5 events waiting").wait_for()
    page.reload()  # still opens, and nothing was lost
    status.get_by_text("5 events waiting").wait_for()
    assert sync(laptop)["pulled"] == 1  # only the contact added while online

    context.set_offline(False)
    status.get_by_text("all sent").wait_for(timeout=30_000)
    assert sync(laptop)["pulled"] == 5
    timeline = json.loads(recip(laptop, "timeline", grace, "--json"))
    assert [e["type"] for e in timeline] == [
        "ContactAdded",
        "InteractionLogged",
        "NoteAdded",
        "GiveMade",
        "AskMade",
    ]
    names = [c["name"] for c in json.loads(recip(laptop, "contact", "list", "--json"))]
    assert names == ["Alan Turing", "Grace Hopper"]
    context.set_offline(True)  # a second reconnection sends nothing again
    context.set_offline(False)
    page.get_by_role("button", name="Sync now").click()
    status.get_by_text("all sent").wait_for()
    assert sync(laptop)["pulled"] == 0


def test_two_tabs_of_one_device_record_at_once(
    tmp_path: Path, server: LiveServer, context: Any
) -> None:
    token = server.add_owner("ada", tmp_path / "admin")
    laptop = device(tmp_path, server, token, "laptop")
    first = context.new_page()
    enroll(first, server, token)
    add_contact(first, "Ada Lovelace")
    url = first.url
    second = open_app(context, url)
    second.get_by_role("heading", name="Ada Lovelace", level=1).wait_for()

    # each tab submits its note form ten times as fast as it can, both at once
    start = """async ([tab, at]) => {
      window.done = (async () => {
        await new Promise((r) => setTimeout(r, at - Date.now()));
        for (let i = 0; i < 10; i++) {
          const toggle = [...document.querySelectorAll('[aria-label="Actions"] button')]
            .find((b) => b.textContent === 'Note');
          if (toggle.getAttribute('aria-expanded') !== 'true') toggle.click();
          const form = document.querySelector('form[aria-label^="Note about"]');
          form.querySelector('textarea').value = `${tab} note ${i}`;
          form.requestSubmit();
          while (document.contains(form)) await new Promise((r) => setTimeout(r, 5));
        }
      })();
    }"""
    at = first.evaluate("() => Date.now() + 500")  # one clock: both tabs share the browser's
    first.evaluate(start, ["first", at])
    second.evaluate(start, ["second", at])
    first.evaluate("() => window.done")
    second.evaluate("() => window.done")

    notes = [f"{tab} note {i}" for tab in ("first", "second") for i in range(10)]
    for page in (first, second):
        timeline = page.get_by_role("list", name="Timeline, newest first")
        for note in notes:
            timeline.get_by_text(f"note: {note}", exact=True).wait_for()
    # a draft in one tab outlives what the other tab records meanwhile
    first.get_by_role("group", name="Actions").get_by_role(
        "button", name="Note", exact=True
    ).click()
    draft = first.get_by_role("form", name="Note about Ada Lovelace").get_by_label("Note")
    draft.fill("half a thought")
    act(second, "Note", "Note about Ada Lovelace", {"Note": "from the second tab"}, "Save note")
    second.get_by_text("note: from the second tab").wait_for()
    first.wait_for_timeout(300)  # the first tab has heard of it by now (BroadcastChannel)
    assert draft.input_value() == "half a thought"
    draft.press("Escape")  # leaving the form: the redraw that waited happens
    first.get_by_text("note: from the second tab").wait_for()

    synced(first)
    sync(laptop)
    ada = contact_id(first)
    texts = [e["summary"] for e in json.loads(recip(laptop, "timeline", ada, "--json"))]
    assert sorted(t for t in texts if t.startswith("note: ")) == sorted(
        [f"note: {n}" for n in notes] + ["note: from the second tab"]
    )
    seqs = sorted(
        e["seq"]
        for e in json.loads(recip(laptop, "events", "--json"))
        if e["device_id"] != laptop_id(laptop)
    )
    assert seqs == list(range(1, len(seqs) + 1))  # one device, no seq twice, no gap


def laptop_id(home: Path) -> str:
    return str(json.loads((home / "device.json").read_text())["device_id"])


def test_a_name_full_of_markup_is_shown_as_text(
    tmp_path: Path, server: LiveServer, context: Any
) -> None:
    token = server.add_owner("ada", tmp_path / "admin")
    laptop = device(tmp_path, server, token, "laptop")
    page = context.new_page()
    alerts = dialogs(page)
    enroll(page, server, token)
    add_contact(page, XSS, "inner", "<b>bold</b>")
    act(page, "Note", f"Note about {XSS}", {"Note": "<script>alert(2)</script>"}, "Save note")
    # one from another device too, shown through the sync
    recip(laptop, "contact", "add", '"><svg onload=alert(3)>', "--circle", "inner")
    sync(laptop)
    page.get_by_role("link", name="Contacts").click()
    contacts = page.get_by_role("list", name="Contacts")
    contacts.get_by_role("link", name='"><svg onload=alert(3)>').wait_for(timeout=30_000)
    assert contacts.get_by_role("link", name=XSS).is_visible()
    for screen in ("Today", "Ledger", "Stats", "Contacts"):
        page.get_by_role("link", name=screen, exact=True).click()
        page.get_by_role("heading", name=screen, level=1).wait_for()
        assert page.locator("main img, main script, [onerror], [onload]").count() == 0
    open_contact(page, XSS)
    assert page.get_by_text("note: <script>alert(2)</script>").is_visible()
    assert page.locator("main img, main script").count() == 0
    assert alerts == []


def test_the_package_data_carries_every_file_of_the_app() -> None:
    """`pip install .` installs what `package-data` names: the whole app."""
    import tomllib

    from server.webapp import APP_DIR

    root = APP_DIR.parent.parent
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["web"]
    carried = {p for pattern in patterns for p in APP_DIR.parent.glob(pattern)}
    assert {p for p in APP_DIR.rglob("*") if p.is_file()} <= carried


def test_the_keyboard_alone_records_a_note(
    tmp_path: Path, server: LiveServer, context: Any
) -> None:
    token = server.add_owner("ada", tmp_path / "admin")
    page = context.new_page()
    enroll(page, server, token)
    add_contact(page, "Ada Lovelace")
    focused = (
        "() => { const e = document.activeElement;"
        " return e.getAttribute('aria-label') || e.textContent; }"
    )

    def tab_to(name: str) -> None:
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate(focused) == name:
                return
        raise AssertionError(f"Tab never reached {name!r}")

    tab_to("Note")
    page.keyboard.press("Enter")
    note = page.get_by_role("form", name="Note about Ada Lovelace").get_by_label("Note")
    assert note.evaluate("e => e === document.activeElement")  # the form's first control
    page.keyboard.press("Escape")  # closes it
    page.get_by_role("form", name="Note about Ada Lovelace").wait_for(state="detached")
    tab_to("Note")
    page.keyboard.press("Enter")
    page.keyboard.type("met at the library")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # "Save note"
    timeline = page.get_by_role("list", name="Timeline, newest first")
    timeline.get_by_text("note: met at the library").wait_for()

    # a redraw (here: a record through another handle on the device) keeps the place
    tab_to("Give")
    page.evaluate(
        "async (id) => { const r = await import('/client/index.js');"
        " const d = await r.openDevice();"
        " await d.record('NoteAdded', {contact_id: id, text: 'from elsewhere'}); d.close(); }",
        contact_id(page),
    )
    timeline.get_by_text("note: from elsewhere").wait_for()
    assert page.evaluate(focused) == "Give"


def test_today_one_tap_touch_undo_archive_and_restore(
    tmp_path: Path, server: LiveServer, context: Any
) -> None:
    token = server.add_owner("ada", tmp_path / "admin")
    laptop = device(tmp_path, server, token, "laptop")
    long_ago = (date.today() - timedelta(days=60)).isoformat()
    recip(laptop, "contact", "add", "Old Friend", "--every", "7")
    recip(laptop, "log", "Old Friend", "--on", long_ago)
    recip(laptop, "contact", "add", "New Friend")
    sync(laptop)
    page = context.new_page()
    enroll(page, server, token)
    reach = page.get_by_role("region", name="Reach out")
    reach.get_by_role("link", name="Old Friend").wait_for(timeout=30_000)
    assert "60 days since you were last in touch, every 7" in (reach.text_content() or "")

    reach.get_by_role("button", name="Log a touch with Old Friend").click()
    flash = page.get_by_role("status").filter(has_text="Logged a touch with Old Friend.")
    reach.get_by_text("Nothing pressing today").wait_for()
    flash.get_by_role("button", name="Undo").click()
    reach.get_by_role("link", name="Old Friend").wait_for()

    open_contact(page, "New Friend")
    page.get_by_role("group", name="Actions").get_by_role("button", name="Archive").click()
    page.get_by_role("link", name="Contacts").click()
    page.get_by_label("Search contacts").fill("")  # the last search is remembered
    contacts = page.get_by_role("list", name="Contacts")
    contacts.get_by_role("link", name="Old Friend").wait_for()
    assert contacts.get_by_role("link").all_inner_texts() == ["Old Friend"]
    page.get_by_label("Include archived").check()
    contacts.get_by_role("link", name="New Friend").click()
    actions = page.get_by_role("group", name="Actions")
    actions.get_by_role("button", name="Restore").wait_for()  # the contact's page is shown
    # nothing to record is offered: restoring, or forgetting the person (ADR 0130)
    assert actions.get_by_role("button").all_inner_texts() == ["Restore", "Forget this person"]
    actions.get_by_role("button", name="Restore").click()
    actions.get_by_role("button", name="Log interaction").wait_for()

    synced(page)
    sync(laptop)
    timeline = json.loads(recip(laptop, "timeline", "Old Friend", "--json"))
    assert [(e["type"], e["retracted"]) for e in timeline] == [
        ("InteractionLogged", False),  # 60 days ago
        ("ContactAdded", False),
        ("InteractionLogged", True),
        ("EventRetracted", False),
    ]
    assert [c["name"] for c in json.loads(recip(laptop, "contact", "list", "--json"))] == [
        "New Friend",
        "Old Friend",
    ]


def test_an_enrolled_device_refuses_a_second_link_and_a_bad_one_says_why(
    tmp_path: Path, server: LiveServer, context: Any
) -> None:
    token = server.add_owner("ada", tmp_path / "admin")
    other = server.add_owner("bob", tmp_path / "admin")
    fresh = context.new_page()
    fresh.goto(f"{server.url}/")
    fresh.get_by_label("Enrollment link or token").fill(
        "https://elsewhere.example/#enroll=recip-enroll-x"
    )
    fresh.get_by_role("button", name="Enroll this device").click()
    assert "another server" in fresh.get_by_role("alert").inner_text()
    fresh.get_by_label("Enrollment link or token").fill("recip-enroll-not-a-real-one")
    fresh.get_by_role("button", name="Enroll this device").click()
    fresh.get_by_role("alert").get_by_text("The server refused").wait_for()

    enroll(fresh, server, token)
    fresh.goto(f"{server.url}/#enroll={other}")
    assert "enrolled already" in fresh.get_by_role("alert").inner_text()
    assert other not in fresh.url
    owner = fresh.evaluate(
        "async () => { const r = await import('/client/index.js'); const d = await r.openDevice();"
        " const name = d.identity.owner_name; d.close(); return name; }"
    )
    assert owner == "ada"
