"""The browser as a device: headless Chromium against a real `recip serve` (ADR 0090).

The client library (`web/client`) runs in a real browser: it enrolls, records
into its own IndexedDB log, syncs through `/v1/sync` with CLI devices, and
computes its views locally, which must equal what the CLI prints.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from cli.home import Home
from server.run import free_port
from tests import test_e2e_sync as cli_side
from tests.browser_support import LOAD, browser, eventually, js, open_page
from tests.test_e2e_sync import LiveServer

__all__ = ["browser"]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
AS_OF = "2026-12-31"
_WORKER = ThreadPoolExecutor(1)


def recip(home: Path, *args: str) -> str:
    """The real `recip` command, in a thread: Playwright's sync API keeps an
    event loop running in this one, and the CLI runs its own."""
    return _WORKER.submit(cli_side.recip, home, *args).result()


def device(tmp_path: Path, server: LiveServer, token: str, name: str) -> Path:
    return _WORKER.submit(cli_side.device, tmp_path, server, token, name).result()


def sync(home: Path) -> dict[str, int]:
    return _WORKER.submit(cli_side.sync, home).result()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path / "server", free_port())
    live.start()
    yield live
    live.kill(signal.SIGTERM)


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context()
    yield ctx
    ctx.close()


def enroll(page: Any, token: str, name: str = "browser") -> str:
    device_id: str = js(
        page,
        "window.dev = await recip.openDevice(); await window.dev.enroll(arg.token, arg.name);"
        " return window.dev.deviceId;",
        {"token": token, "name": name},
    )
    return device_id


def reopen(page: Any) -> None:
    js(page, "window.dev = await recip.openDevice();")


def laptop_and_browser(
    tmp_path: Path, server: LiveServer, context: Any, name: str = "browser"
) -> tuple[Path, Any]:
    """A CLI device and an enrolled browser device of one owner."""
    token = server.add_owner("alice", tmp_path / "admin")
    laptop = device(tmp_path, server, token, "laptop")
    page = open_page(context, server.url)
    enroll(page, token, name)
    return laptop, page


def reload(context: Any, page: Any) -> None:
    """Reload the page (online: pages come from the server) and reopen the device offline."""
    context.set_offline(False)
    page.reload()
    context.set_offline(True)
    page.evaluate(LOAD)
    reopen(page)


def browser_views(page: Any, contacts: list[str]) -> dict[str, Any]:
    return js(  # type: ignore[no-any-return]
        page,
        "const v = dev.views; return {contacts: v.contacts({all: true}),"
        " ledger: v.ledger(arg.day), cold: v.cold(arg.day, {all: true}), stats: v.stats(arg.day),"
        " timelines: Object.fromEntries(arg.ids.map((id) => [id, v.timeline(id)]))};",
        {"day": AS_OF, "ids": contacts},
    )


def cli_views(home: Path, contacts: list[str]) -> dict[str, Any]:
    def read(*args: str) -> Any:
        return json.loads(recip(home, *args))

    return {
        "contacts": read("contact", "list", "--all", "--json"),
        "ledger": read("ledger", "--as-of", AS_OF, "--json"),
        "cold": read("cold", "--all", "--as-of", AS_OF, "--json"),
        "stats": read("stats", "--as-of", AS_OF, "--json"),
        "timelines": {c: read("timeline", c, "--json") for c in contacts},
    }


def test_a_browser_and_two_cli_devices_converge(
    tmp_path: Path, server: LiveServer, context: Any
) -> None:
    token = server.add_owner("alice", tmp_path / "admin")
    laptop = device(tmp_path, server, token, "laptop")
    phone = device(tmp_path, server, token, "phone")
    page = open_page(context, server.url)
    enroll(page, token)

    ann = recip(laptop, "contact", "add", "Ann", "--circle", "close").strip()
    bob = recip(laptop, "contact", "add", "Bob", "--every", "10").strip()
    sync(laptop)
    sync(phone)
    assert js(page, "return (await dev.sync()).pulled;") == 2

    # concurrently, offline from each other, on the same contacts
    cy = js(
        page,
        "const cy = await dev.record('ContactAdded', {name: 'Cy', circle: 'inner'});"
        "await dev.record('InteractionLogged', {contact_ids: [arg.ann, cy.event_id],"
        " channel: 'call', note: 'coffee'}, {occurredAt: Date.UTC(2026, 5, 1, 12)});"
        "await dev.record('ContactEdited', {contact_id: arg.ann, name: 'Ann Browser'});"
        "const ask = await dev.record('AskMade', {contact_id: arg.bob, what: 'a lift', weight: 3});"
        "await dev.record('AskResolved', {ask_id: ask.event_id, outcome: 'granted'});"
        "await dev.record('ContactsMerged', {survivor_id: arg.bob, absorbed_id: arg.ann});"
        "return cy.event_id;",
        {"ann": ann, "bob": bob},
    )
    recip(laptop, "contact", "edit", ann, "--name", "Ann Laptop", "--circle", "inner")
    recip(laptop, "give", bob, "an intro", "--kind", "referral", "--weight", "2")
    recip(phone, "contact", "merge", ann, bob)
    recip(phone, "log", "Ann", "--channel", "meeting", "--on", "2026-07-01")
    recip(phone, "retract", recip(phone, "give", ann, "oops").strip(), "--reason", "twice")

    for _ in range(2):
        sync(laptop)
        sync(phone)
        js(page, "await dev.sync();")
    contacts = [ann, bob, cy]
    expected = cli_views(laptop, contacts)
    assert expected["contacts"] and expected["ledger"]
    assert cli_views(phone, contacts) == expected
    assert browser_views(page, contacts) == expected


def test_the_browser_records_offline_survives_reload_and_a_closed_tab(
    tmp_path: Path, server: LiveServer, context: Any
) -> None:
    laptop, page = laptop_and_browser(tmp_path, server, context)
    js(page, "await dev.sync();")

    context.set_offline(True)
    ann = js(
        page,
        "const ann = await dev.record('ContactAdded', {name: 'Ann'});"
        "await dev.record('GiveMade', {contact_id: ann.event_id, what: 'soup', weight: 2});"
        "return ann.event_id;",
    )
    failed = js(
        page,
        "try { await dev.sync(); return 'synced'; }"
        " catch (e) { return e.name + ' ' + dev.status.state; }",
    )
    assert failed == "TransientError offline"

    # Loading a page needs the network (an app would cache itself in a service
    # worker); the device does not sync by itself until `live()`.
    reload(context, page)
    assert js(page, "return dev.status.pending;") == 2
    js(page, "await dev.record('NoteAdded', {contact_id: arg, text: 'after a reload'});", ann)
    page.close()

    context.set_offline(False)
    second = open_page(context, server.url)
    context.set_offline(True)
    reopen(second)
    assert js(second, "return dev.views.contacts().map((c) => c.name);") == ["Ann"]
    assert js(second, "return dev.status.pending;") == 3
    assert sync(laptop)["pulled"] == 0  # nothing reached the server yet
    js(second, "dev.live();")
    context.set_offline(False)
    second.wait_for_function("() => window.dev.status.pending === 0", timeout=30_000)

    sync(laptop)
    timeline = json.loads(recip(laptop, "timeline", ann, "--json"))
    assert [e["type"] for e in timeline] == ["ContactAdded", "GiveMade", "NoteAdded"]
    ledger = json.loads(recip(laptop, "ledger", "--json"))
    assert [(r["name"], r["give_weight"]) for r in ledger] == [("Ann", 2)]


def test_a_revoked_browser_device_is_told_so(
    tmp_path: Path, server: LiveServer, context: Any
) -> None:
    laptop, page = laptop_and_browser(tmp_path, server, context, "phone-browser")
    js(page, "await dev.record('ContactAdded', {name: 'Ann'}); await dev.sync();")
    js(
        page,
        "window.told = [];"
        " dev.subscribe((c) => { if (c.type === 'status') window.told.push(c.status.state); });"
        "dev.live();",
    )
    recip(laptop, "remote", "revoke", "phone-browser")
    js(page, "await dev.record('ContactAdded', {name: 'Bob'});")
    page.wait_for_function("() => window.dev.status.state === 'refused'", timeout=30_000)
    status = js(page, "return dev.status;")
    assert "revoked" in status["message"]
    assert "refused" in js(page, "return window.told;")
    refused = js(
        page, "try { await dev.sync(); return null; } catch (e) { return [e.name, e.code]; }"
    )
    assert refused == ["DeviceRefused", "revoked"]
    # told once more after a reload: the refusal is kept with the device
    page.reload()
    page.evaluate(LOAD)
    reopen(page)
    assert js(page, "return [dev.status.state, dev.enrolled];") == ["refused", True]


def test_two_tabs_of_one_device_never_share_a_seq(
    tmp_path: Path, server: LiveServer, context: Any
) -> None:
    first, second = open_page(context, server.url), open_page(context, server.url)
    for page in (first, second):
        reopen(page)
    add = "const c = await dev.record('ContactAdded', {name: 'Ann'}); window.ann = c.event_id;"
    js(first, add)
    ann = js(first, "return window.ann;")
    record = (
        "await new Promise((r) => setTimeout(r, 50));"
        "const out = await Promise.all(Array.from({length: 40}, (_, i) =>"
        " dev.record('NoteAdded', {contact_id: arg, text: 'n' + i})));"
        "return out.map((e) => e.seq);"
    )
    handles = [
        p.evaluate_handle(f"(arg) => (async () => {{ const dev = window.dev; {record} }})()", ann)
        for p in (first, second)
    ]
    seqs = [h.json_value() for h in handles]
    every = sorted(seqs[0] + seqs[1])
    assert every == list(range(2, 82))
    for page in (first, second):
        page.wait_for_function(
            "() => window.dev.views.timeline(window.dev.views.contacts()[0].contact_id)"
            ".length === 81"
        )


def test_a_tab_closed_mid_pull_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, server: LiveServer, context: Any
) -> None:
    from bench import workload
    from sync.http import HttpTransport
    from sync.http import enroll as enroll_cli
    from sync.replica import Replica

    token = server.add_owner("alice", tmp_path / "admin")
    [made] = workload.build_devices(tmp_path / "big", 1, 12_000)
    home = Home(made.home)
    reply = enroll_cli(server.url, token, made.device_id, "big")
    log = home.open_log()
    with HttpTransport(server.url, reply.device_token) as transport:
        Replica(log, transport, upstream=server.url).sync()
    log.store.close()

    page = open_page(context, server.url)
    enroll(page, token)
    page.evaluate("() => { window.dev.sync().catch(() => {}); }")  # pages of 5,000
    page.wait_for_function("() => window.dev.pos > 0", timeout=60_000)
    page.close()  # mid-pull: the first page is stored with its cursor, the rest is not

    second = open_page(context, server.url)
    reopen(second)
    held = js(
        second,
        "const state = await dev.store.state(); const {events} = await dev.store.since(0);"
        " return [state.cursor, events.length];",
    )
    assert 0 < held[0] < made.events
    assert held[1] == held[0]  # the events stored are exactly those up to the cursor
    js(second, "await dev.sync();")
    keys = js(
        second,
        "const {events} = await dev.store.since(0); return events.map((e) => e.seq);",
    )
    assert sorted(keys) == list(range(1, made.events + 1))


def test_a_live_browser_is_poked_and_pulls_what_a_cli_device_pushed(
    tmp_path: Path, server: LiveServer, context: Any
) -> None:
    laptop, page = laptop_and_browser(tmp_path, server, context)
    js(
        page,
        "window.seen = []; dev.subscribe((c) => { if (c.type === 'events')"
        " window.seen.push(...c.events.map((e) => e.type)); }); dev.live();",
    )
    page.wait_for_function("() => window.dev.status.lastSync !== null", timeout=30_000)
    recip(laptop, "contact", "add", "Ann")
    sync(laptop)  # no sync is asked of the browser: the stream pokes it
    page.wait_for_function("() => window.seen.includes('ContactAdded')", timeout=30_000)
    assert js(page, "return dev.views.contacts().map((c) => c.name);") == ["Ann"]


def test_events_of_unknown_types_are_kept_and_count_nowhere(
    tmp_path: Path, server: LiveServer, context: Any
) -> None:
    import msgspec

    from core.clock import pack
    from core.events import OpaqueEvent

    laptop, page = laptop_and_browser(tmp_path, server, context)
    ann = recip(laptop, "contact", "add", "Ann").strip()
    device_id = Home(laptop).device().device_id
    fields = {  # recorded by a newer build; its nested "hlc" defeats the fast JSON path
        "type": "MoodLogged",
        "event_id": "01900000-0000-7000-8000-0000000000aa",
        "device_id": device_id,
        "seq": 2,
        "hlc": pack(1_790_000_000_000, 7),
        "occurred_at": 1_790_000_000_000,
        "utc_offset": 60,
        "v": 1,
        "contact_id": ann,
        "mood": {"hlc": 12, "word": "cheerful"},
    }
    envelope = {k: v for k, v in fields.items() if k not in ("type", "contact_id", "mood")}
    log = Home(laptop).open_log()
    raw = msgspec.msgpack.encode(fields)
    log.ingest([OpaqueEvent(type="MoodLogged", raw=raw, **envelope)])  # type: ignore[arg-type]
    log.store.close()
    recip(laptop, "give", ann, "soup")
    sync(laptop)

    assert js(page, "return (await dev.sync()).pulled;") == 3
    kept = js(
        page,
        "const {events} = await dev.store.since(0);"
        " const e = events.find((x) => x.type === 'MoodLogged');"
        " return [e.mood, e.hlc === BigInt(arg), e.contact_id];",
        str(fields["hlc"]),
    )
    assert kept == [{"hlc": 12, "word": "cheerful"}, True, ann]
    assert js(page, "return dev.views.ledger().map((r) => [r.name, r.gives]);") == [["Ann", 1]]
    assert js(page, "return dev.views.timeline(arg).length;", ann) == 2


def test_a_restart_shows_the_saved_summaries_first_and_only_if_the_log_is_unchanged(
    tmp_path: Path, server: LiveServer, context: Any
) -> None:
    page = open_page(context, server.url)
    reopen(page)
    js(
        page,
        "const ann = await dev.record('ContactAdded', {name: 'Ann', circle: 'inner'});"
        "await dev.record('GiveMade', {contact_id: ann.event_id, what: 'tea', weight: 4});"
        "await dev.record('ContactAdded', {name: 'Bob', cadence_days: 3});",
    )
    eventually(page, "return (await dev.store.snapshot(1)) !== null;")
    first = (
        "window.first = null; window.dev = await recip.openDevice({onFirstView: (v) => {"
        " window.first = {ledger: v.ledger(arg), cold: v.cold(arg, {all: true}),"
        " stats: v.stats(arg)}; }});"
        " const v = window.dev.views; return [window.first, {ledger: v.ledger(arg),"
        " cold: v.cold(arg, {all: true}), stats: v.stats(arg)}];"
    )
    page.reload()
    page.evaluate(LOAD)
    shown, folded = js(page, first, AS_OF)
    assert shown == folded
    assert [r["name"] for r in shown["ledger"]] == ["Ann", "Bob"]

    # the log moves on and the page is left before the summaries are saved again
    js(page, "await dev.record('ContactAdded', {name: 'Cy'});")
    page.reload()
    page.evaluate(LOAD)
    shown, folded = js(page, first, AS_OF)
    assert shown is None
    assert [r["name"] for r in folded["ledger"]] == ["Ann", "Bob", "Cy"]


def test_a_refused_record_leaves_the_log_as_it_was(
    tmp_path: Path, server: LiveServer, context: Any
) -> None:
    page = open_page(context, server.url)
    reopen(page)
    js(page, "window.ann = (await dev.record('ContactAdded', {name: 'Ann'})).event_id;")
    refused = js(
        page,
        "const out = [];"
        "for (const drafts of ["
        " [{type: 'GiveMade', fields: {contact_id: window.ann, what: 'x', weight: 9}}],"
        " [{type: 'NoteAdded', fields: {contact_id: window.ann, text: 'ok'}},"
        "  {type: 'NoteAdded', fields: {contact_id: window.ann, text: 'bad time'},"
        "   occurredAt: 1.5}]]) {"
        " try { await dev.recordMany(drafts); out.push('recorded'); }"
        " catch (e) { out.push(e.name); } }"
        "return out;",
    )
    assert refused == ["InvalidEvent", "InvalidEvent"]
    seqs = js(
        page,
        "const e = await dev.record('NoteAdded', {contact_id: window.ann, text: 'next'});"
        "const {events} = await dev.store.since(0);"
        "return [e.seq, events.length, (await dev.store.own(0, 99)).length,"
        " dev.views.timeline(window.ann).length];",
    )
    assert seqs == [2, 2, 2, 2]
