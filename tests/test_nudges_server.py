"""The plan and the calendar feed over HTTP, against a real `recip serve`.

The device records the hand-computed history of `tests/test_today.py` and syncs;
then `GET /v1/today` must equal `recip today --json`, the feed (URL from `recip
remote feed`) is parsed back by `icalendar` and checked field by field, and the
feed token is refused by every other endpoint (and a device token by the feed).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from icalendar import Calendar

from cli.home import Home
from server.openapi import document
from server.webapp import openapi_paths
from sync.remote import load as load_remote
from tests.conftest import Recip
from tests.scale_support import Served, served_server
from tests.test_today import PINNED, build_network

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
AS_OF = "2025-03-01"


@pytest.fixture(params=["sqlite", "postgres-2-workers"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    yield from served_server(request, tmp_path)


@pytest.fixture
def device(
    tmp_path: Path, served: Served, monkeypatch: pytest.MonkeyPatch
) -> tuple[Recip, dict[str, str]]:
    """A device holding the hand-computed history, synced to the server."""
    monkeypatch.setenv("RECIP_NOW", PINNED)
    token = served.add_owner("alice", tmp_path / "admin")
    home = Home(tmp_path / "laptop")
    home.init("laptop", now_iso="2025-03-01T12:00:00Z")
    ids = build_network(home)
    recip = Recip(home.path)
    recip.ok("remote", "add", served.url, "--token", token)
    recip.ok("sync")
    return recip, ids


def _auth(recip: Recip) -> dict[str, str]:
    return {"Authorization": f"Bearer {load_remote(recip.home).device_token}"}


def test_today_over_http_equals_the_devices_own(
    served: Served, device: tuple[Recip, dict[str, str]]
) -> None:
    recip, _ = device
    for limit in ("5", "2", "20"):
        answer = httpx.get(
            f"{served.url}/v1/today",
            params={"as_of": AS_OF, "limit": limit},
            headers=_auth(recip),
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == json.loads(recip.ok("today", "--json", "--limit", limit))
    bad = httpx.get(f"{served.url}/v1/today", params={"limit": "0"}, headers=_auth(recip))
    assert bad.status_code == 400 and "limit" in bad.json()["message"]


def _events(feed: bytes) -> tuple[Calendar, dict[str, Any]]:
    calendar = Calendar.from_ical(feed)
    return calendar, {str(e["UID"]): e for e in calendar.walk("VEVENT")}


def test_the_feed_field_by_field(served: Served, device: tuple[Recip, dict[str, str]]) -> None:
    recip, ids = device
    url = recip.ok("remote", "feed").strip()
    assert url.startswith(f"{served.url}/v1/calendar.ics?token=recip-feed-")
    answer = httpx.get(f"{url}&as_of={AS_OF}", timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/calendar; charset=utf-8"
    calendar, events = _events(answer.content)
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["PRODID"]) == "-//Reciprocity//recip today//EN"
    assert str(calendar["X-WR-CALNAME"]) == "Reciprocity: alice"
    assert set(events) == {
        "reach-out-2025-W09@reciprocity",
        f"follow-up-{ids['eve_ask']}@reciprocity",
        f"follow-up-{ids['fay_ask']}@reciprocity",
    }
    for event in events.values():  # all-day: DATE values, one day long, a DTSTAMP
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        assert type(start) is date and type(end) is date
        assert (end - start).days == 1
        assert isinstance(event.decoded("DTSTAMP"), datetime)
        assert str(event["TRANSP"]) == "TRANSPARENT"
    week = events["reach-out-2025-W09@reciprocity"]
    assert week.decoded("DTSTART") == date(2025, 2, 24)  # the Monday of 1 Mar's week
    assert str(week["SUMMARY"]) == "Reach out: Eve, Ada, Cole, Ben, Coy"
    lines = str(week["DESCRIPTION"]).splitlines()
    assert lines[0] == "Your plan as of 2025-03-01:"
    assert lines[1] == "1. Eve: asked “a reference letter” 35 days ago, still open. " + (
        f"follow up, or resolve it as unanswered (recip resolve {ids['eve_ask'][:13]} unanswered)."
    )
    assert lines[3] == "3. Cole: 42 days since you were last in touch, every 30. reach out."
    assert len(lines) == 6
    eve = events[f"follow-up-{ids['eve_ask']}@reciprocity"]
    assert eve.decoded("DTSTART") == date(2025, 3, 1)  # due 8 Feb, overdue: today
    assert str(eve["SUMMARY"]) == "Follow up with Eve: a reference letter"
    assert "You asked Eve on 2025-01-25; still open." in str(eve["DESCRIPTION"])
    fay = events[f"follow-up-{ids['fay_ask']}@reciprocity"]
    assert fay.decoded("DTSTART") == date(2025, 3, 6)  # asked 20 Feb + 14 days

    # Stable UIDs: a day later the same items are the same events (moved, not copied).
    later = httpx.get(f"{url}&as_of=2025-03-02", timeout=60)
    _, next_day = _events(later.content)
    assert set(next_day) == set(events)
    assert next_day[f"follow-up-{ids['eve_ask']}@reciprocity"].decoded("DTSTART") == date(
        2025, 3, 2
    )


def test_a_feed_token_opens_the_feed_and_nothing_else(
    served: Served, device: tuple[Recip, dict[str, str]]
) -> None:
    recip, _ = device
    url = recip.ok("remote", "feed").strip()
    token = url.partition("token=")[2]
    paths = document()["paths"]
    public = {"/healthz", "/openapi.json", *openapi_paths()}  # the web app's files are public
    with httpx.Client(base_url=served.url, timeout=60) as http:
        for path, operations in paths.items():
            if path in public or path == "/v1/calendar.ics":
                continue
            concrete = path.replace("{contact}", "Eve")
            for method in operations:
                for how in ("header", "query"):
                    headers = {"Authorization": f"Bearer {token}"} if how == "header" else {}
                    body = b'{"token": "%s", "device_id": "x", "device_name": "x"}' % (
                        token.encode()
                    )
                    answer = http.request(
                        method.upper(),
                        concrete,
                        params={"token": token},
                        headers={**headers, "Content-Type": "application/json"},
                        content=body if method in ("post", "put") else None,
                    )
                    assert answer.status_code == 401, (method, path, how, answer.text)
        # a device token does not open the feed
        device_token = load_remote(recip.home).device_token
        refused = http.get("/v1/calendar.ics", params={"token": device_token})
        assert refused.status_code == 401
        assert refused.json()["error"] == "wrong_token"
        assert http.get("/v1/calendar.ics").status_code == 401
        # a new URL ends the old one; --revoke ends the feed
        newer = recip.ok("remote", "feed").strip()
        assert http.get(url).status_code == 401
        assert http.get(newer).status_code == 200
        assert recip.ok("remote", "feed", "--revoke").strip() == "feed ended"
        assert http.get(newer).status_code == 401
        assert recip.ok("remote", "feed", "--revoke").strip() == "there was no feed to end"


def test_digest_settings_from_a_device(
    served: Served, device: tuple[Recip, dict[str, str]]
) -> None:
    recip, _ = device
    assert recip.ok("remote", "digest").strip() == "no weekly digest"
    out = recip.ok(
        "remote", "digest", "ada@example.org", "--weekday", "fri", "--hour", "7",
        "--timezone", "Europe/Paris",
    )  # fmt: skip
    assert out.strip() == "weekly digest to ada@example.org on fri at 07:00 Europe/Paris"
    assert recip.ok("remote", "digest").strip() == out.strip()
    assert "unknown time zone" in recip.fails("remote", "digest", "a@b.org", "--timezone", "Mars/X")
    assert "not an e-mail address" in recip.fails("remote", "digest", "not-an-address")
    assert recip.ok("remote", "digest", "--off").strip() == "no weekly digest"


def test_occasions_are_yearly_all_day_events() -> None:
    """Contacts carry no dates yet; the feed already renders them (ADR 0101)."""
    from scoring.plan import Outlook, Plan, Upcoming
    from server import ics

    empty = Plan(as_of="2025-03-01", rule="today", limit=5, candidates=0, items=[])
    upcoming = Upcoming(
        contact_id="c1", name="Ida", label="birthday", month=3, day=4, next="2025-03-04"
    )
    only = Outlook(plan=empty, follow_ups=[], occasions=[upcoming])
    feed = ics.feed(only, owner="alice", now_ms=1_740_830_400_000)
    _, events = _events(feed)
    (uid,) = events
    assert uid.startswith("occasion-c1-") and uid.endswith("@reciprocity")
    event = events[uid]
    assert event.decoded("DTSTART") == date(2025, 3, 4)
    assert str(event["SUMMARY"]) == "Ida: birthday"
    assert event["RRULE"]["FREQ"] == ["YEARLY"]
    again = ics.feed(only, owner="alice", now_ms=1_750_000_000_000)
    assert set(_events(again)[1]) == {uid}  # the UID does not depend on when
    assert b"BEGIN:VCALENDAR\r\n" in feed and feed.endswith(b"END:VCALENDAR\r\n")


def test_follow_ups_leave_the_feed_a_month_after_they_fall_due(
    served: Served, device: tuple[Recip, dict[str, str]]
) -> None:
    """Eve's ask fell due on 8 Feb: in the feed until 10 Mar, then only in the plan."""
    recip, ids = device
    url = recip.ok("remote", "feed").strip()
    eve = f"follow-up-{ids['eve_ask']}@reciprocity"
    assert eve in _events(httpx.get(f"{url}&as_of=2025-03-10", timeout=60).content)[1]
    _, later = _events(httpx.get(f"{url}&as_of=2025-03-11", timeout=60).content)
    assert eve not in later
    assert f"follow-up-{ids['fay_ask']}@reciprocity" in later
