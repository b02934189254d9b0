"""The calendar feed: the plan, follow-ups and occasions as iCalendar (RFC 5545).

Built with the `icalendar` library (ADR 0101). Every item is an all-day event
whose UID is derived from what it is about, never from when the feed was made,
so a calendar that polls the feed updates its events instead of adding copies:

- `reach-out-<ISO week>@reciprocity`: a weekly "reach out" item on the Monday of
  the week, listing the plan (updated as the plan changes during the week);
- `follow-up-<ask id>@reciprocity`: an open ask, on the day a follow-up is due,
  or on the feed's day once that has passed, for `FOLLOW_UP_DAYS` after that
  (older open asks are the plan's "resolve it as unanswered" items: a calendar
  holding years of stale asks on today's date would bury the rest);
- `occasion-<contact id>-<label>@reciprocity`: a contact's yearly date, as a
  yearly recurring event from its next occurrence.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Final

from icalendar import Calendar, Event

from scoring.history import date_of, day_of
from scoring.plan import Outlook, week_start

PRODID: Final = "-//Reciprocity//recip today//EN"
DOMAIN: Final = "reciprocity"
#: How many days past due an open ask stays in the feed as a follow-up.
FOLLOW_UP_DAYS: Final = 30


def _all_day(uid: str, start: date, summary: str, description: str, stamp: datetime) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(days=1))
    event.add("summary", summary)
    event.add("description", description)
    event.add("transp", "TRANSPARENT")  # a reminder, not busy time
    return event


def _slug(label: str) -> str:
    """A label as a UID part: short, stable, any characters in the label."""
    return hashlib.sha256(label.casefold().encode()).hexdigest()[:12]


def feed(outlook: Outlook, *, owner: str, now_ms: int) -> bytes:
    """The owner's feed as of the plan's day, serialised."""
    plan, follow, upcoming = outlook.plan, outlook.follow_ups, outlook.occasions
    stamp = datetime.fromtimestamp(now_ms / 1000, UTC).replace(microsecond=0)
    today = date.fromisoformat(plan.as_of)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"Reciprocity: {owner}")
    monday = date_of(week_start(day_of(today)))
    iso = monday.isocalendar()
    if plan.items:
        names = ", ".join(n.name for n in plan.items)
        lines = [f"{i}. {n.name}: {n.why}. {n.todo}." for i, n in enumerate(plan.items, 1)]
        cal.add_component(
            _all_day(
                f"reach-out-{iso.year}-W{iso.week:02d}@{DOMAIN}",
                monday,
                f"Reach out: {names}",
                "\n".join([f"Your plan as of {plan.as_of}:", *lines]),
                stamp,
            )
        )
    for f in follow:
        due = max(date.fromisoformat(f.due), today)
        cal.add_component(
            _all_day(
                f"follow-up-{f.ask_id}@{DOMAIN}",
                due,
                f"Follow up with {f.name}: {f.what}",
                f"You asked {f.name} on {f.asked}; still open. Follow up, or resolve it "
                f"as unanswered (recip resolve {f.ask_id} unanswered).",
                stamp,
            )
        )
    for u in upcoming:
        event = _all_day(
            f"occasion-{u.contact_id}-{_slug(u.label)}@{DOMAIN}",
            date.fromisoformat(u.next),
            f"{u.name}: {u.label}",
            f"{u.label} of {u.name}.",
            stamp,
        )
        event.add("rrule", {"freq": "yearly"})
        cal.add_component(event)
    return bytes(cal.to_ical())
