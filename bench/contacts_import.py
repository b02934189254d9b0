"""Importing an address book, and importing it again after some cards changed.

What a person waits for in `recip import phone.vcf`: the file is read and parsed,
every card matched against the log's contacts (UID, email or phone, name), the
changes planned and validated, and the events appended in one transaction.

- first import: N iPhone-style vCard 3.0 cards with details (organisation units,
  title, birthday, address, URLs, a note, a photo and Apple's own properties) into
  an empty home;
- re-import: the same file with `changed` cards given a new title, into the home
  holding the first import: the log is folded, every card matched, `changed`
  updates recorded, the rest found unchanged.

Each beside the same run's plain read-and-parse of the same text (vobject's
`readComponents` into a list), the floor any vCard import pays.

    python -m bench.contacts_import [--quick] [--cards N] [--changed N] [--repeats R]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

import vobject

from bench.harness import Comparison, Figure, Mode, rate, report, result_name
from cli.home import Home
from core import commands
from transfer import vcard
from transfer.plan import ContactImport, plan_import

#: (cards, changed, repeats) per mode of `python -m bench`.
SIZES: dict[str, tuple[int, int, int]] = {
    "full": (5_000, 500, 3),
    "quick": (1_000, 100, 3),
    "smoke": (40, 4, 1),
}
NOW = commands.Now(1_800_000_000_000, 60)


def card(i: int, title: str = "Engineer") -> str:
    """One iPhone-style card with details, a photo and Apple's own properties."""
    return (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//iPhone OS 17.4//EN\r\n"
        f"N:Müller {i};Jürgen;;;\r\nFN:Jürgen Müller {i}\r\n"
        f"ORG:Firma {i % 97};Entwicklung;\r\nTITLE:{title}\r\n"
        f"EMAIL;type=INTERNET;type=HOME;type=pref:j{i}@example.de\r\n"
        f"TEL;type=CELL;type=VOICE;type=pref:+49 171 {i:07d}\r\n"
        f"item1.ADR;type=HOME;type=pref:;;Hauptstr. {i % 200};Berlin;;10{i % 1000:03d};DE\r\n"
        "item1.X-ABADR:de\r\n"
        f"BDAY:19{60 + i % 40}-0{1 + i % 9}-1{i % 9}\r\n"
        f"URL;type=HOME:https://example.de/~j{i}\r\n"
        f"X-SOCIALPROFILE;type=linkedin:https://www.linkedin.com/in/j{i}\r\n"
        f"NOTE:Met at meetup {i % 50}.\r\n"
        f"X-ABUID:{i:08X}-AB:ABPerson\r\nUID:{i:08X}-0000-4000-8000-000000000000\r\n"
        "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJ\r\n"
        "END:VCARD\r\n"
    )


def book(n: int, changed: int = 0) -> str:
    """N cards; the first `changed` of every N // changed carry a new title."""
    step = n // changed if changed else 0
    return "".join(
        card(i, "Architect" if step and i % step == 0 and i // step < changed else "Engineer")
        for i in range(n)
    )


def import_file(home: Home, text: str) -> ContactImport:
    """`recip import`'s work: fold the log, parse, plan, append (one transaction)."""
    log = home.open_log()
    try:
        state = home.state(log)
        skipped: dict[str, int] = {}
        records = vcard.parse(text, "book.vcf", skipped=skipped)
        plan = plan_import(
            state, records, kind="vcard", source="book.vcf", now=NOW, skipped=skipped
        )
        log.append(plan.drafts)
        return plan
    finally:
        log.store.close()


def parse_only(text: str) -> int:
    return len(list(vobject.readComponents(text, allowQP=True)))


def run(mode: Mode = "full") -> dict[str, Any]:
    """Entry point for `python -m bench` (the module contract in `bench/__main__.py`)."""
    n, changed, repeats = SIZES[mode]
    name = result_name("contacts_import", mode)
    return measure(n, changed, repeats, name=name, write=mode != "smoke")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cards", type=int, default=None)
    parser.add_argument("--changed", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    n, changed, repeats = SIZES["quick" if args.quick else "full"]
    measure(
        args.cards or n,
        args.changed or changed,
        args.repeats or repeats,
        name="contacts_import",
        write=True,
    )


def measure(n: int, changed: int, repeats: int, *, name: str, write: bool) -> dict[str, Any]:
    """Time the first import and the re-import, each beside parsing alone."""
    first, second = book(n), book(n, changed)
    first_ours = Figure("first import, ours", "c/s")
    first_base = Figure("vobject parse alone", "c/s")
    again_ours = Figure("re-import, ours", "c/s")
    again_base = Figure("vobject parse alone", "c/s")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        imported = Home(root / "imported")
        imported.init("bench", now_iso="2026-12-04")
        plan = import_file(imported, first)
        assert len(plan.added) == n, (len(plan.added), n)
        for r in range(repeats):
            fresh = Home(root / f"fresh{r}")
            fresh.init("bench", now_iso="2026-12-04")
            first_ours.samples.append(rate(n, lambda: import_file(fresh, first)))  # noqa: B023
            first_base.samples.append(rate(n, lambda: parse_only(first)))
            again = Home(root / f"again{r}")
            shutil.copytree(imported.path, again.path)
            plans: list[ContactImport] = []
            again_ours.samples.append(
                rate(n, lambda: plans.append(import_file(again, second)))  # noqa: B023
            )
            again_base.samples.append(rate(n, lambda: parse_only(second)))
            (done,) = plans
            assert len(done.updated) == changed and not done.added, (len(done.updated), changed)
            assert len(done.unchanged) == n - changed
    return report(
        name,
        {"cards": n, "changed": changed, "repeats": repeats},
        [
            Comparison("first import of N cards (cards/s)", first_ours, first_base),
            Comparison("re-import with some changed (cards/s)", again_ours, again_base),
        ],
        write=write,
    )


if __name__ == "__main__":
    main()
