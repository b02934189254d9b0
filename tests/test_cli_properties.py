"""Properties of the CLI over random command sequences (hypothesis).

- A model of contacts, driven by the same random commands as the CLI, predicts
  which commands are refused and what `contact list --json` prints; the output
  also agrees with `core.state.State` folded from the log, and a refused command
  never moves the log.
- Two devices that recorded different things and then exchanged their events
  print byte-identical `contact list --json`, whatever order their logs hold the
  events in.
- Any invalid weight or date is refused with one line and appends nothing.

Run more examples with `HYPOTHESIS_PROFILE=soak` (profiles in tests/conftest.py).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from cli.home import Home
from core.state import State
from tests.cli_support import position, stored
from tests.conftest import Recip

#: Examples per property scale with the loaded profile (default 100, soak 2000).
BUDGET = settings().max_examples

NAMES = st.sampled_from(["Ada", "ada", "Bob", "Cy", "Dee", "Émile", "Zoë", "bob "])
CIRCLES = st.sampled_from(["inner", "close", "wider", "distant", "none"])
EMAILS = st.lists(st.sampled_from(["a@x.org", "b@y.net", "c@z.io"]), max_size=2, unique=True)
TAGS = st.lists(st.sampled_from(["work", "family", "climbing"]), max_size=2, unique=True)
CADENCE = st.one_of(st.none(), st.integers(1, 400))


@dataclass
class Model:
    """What a contact should look like, maintained independently of `core`."""

    contact_id: str
    name: str
    emails: list[str]
    phones: list[str] = field(default_factory=list)
    org: str | None = None
    tags: list[str] = field(default_factory=list)
    circle: str = "wider"
    cadence_days: int | None = None
    archived: bool = False
    merged_into: str | None = None

    def row(self) -> dict[str, Any]:
        return dict(self.__dict__)


class ContactCommands(RuleBasedStateMachine):
    """Random contact commands through the CLI, checked against a model."""

    contacts = Bundle("contacts")

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="recip-prop-"))
        self.recip = Recip(self.dir / "home")
        self.model: dict[str, Model] = {}

    @initialize()
    def init(self) -> None:
        self.recip.ok("init", "--device-name", "prop")

    def teardown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- helpers -------------------------------------------------------------

    def survivor(self, contact_id: str) -> Model:
        found = self.model[contact_id]
        return self.model[found.merged_into] if found.merged_into else found

    def run(self, ok: bool, *args: str) -> str:
        """Run a command expected to succeed (one event appended, its id printed)
        or to be refused (one error line, nothing appended)."""
        before = position(self.recip)
        result = self.recip(*args)
        after = position(self.recip)
        if ok:
            assert result.exit_code == 0, (args, result.stderr)
            assert after == before + 1
            return result.stdout.strip()
        assert result.exit_code == 1, (args, result.stdout)
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        assert after == before, "a refused command appended something"
        return ""

    # -- rules ---------------------------------------------------------------

    @rule(target=contacts, name=NAMES, circle=CIRCLES, emails=EMAILS, every=CADENCE)
    def add(self, name: str, circle: str, emails: list[str], every: int | None) -> str:
        args = ["contact", "add", name, "--circle", circle, "--allow-duplicate"]
        args += [x for e in emails for x in ("--email", e)]
        args += ["--every", str(every)] if every is not None else []
        contact_id = self.run(True, *args)
        self.model[contact_id] = Model(
            contact_id, name.strip(), emails, circle=circle, cadence_days=every
        )
        return contact_id

    @rule(
        ref=contacts,
        name=st.one_of(st.none(), NAMES),
        tags=st.one_of(st.none(), TAGS),
        circle=st.one_of(st.none(), CIRCLES),
        every=st.one_of(st.none(), st.just("clear"), st.integers(1, 400)),
        org=st.one_of(st.none(), st.just(""), st.sampled_from(["Acme", "Initech"])),
    )
    def edit(
        self,
        ref: str,
        name: str | None,
        tags: list[str] | None,
        circle: str | None,
        every: int | str | None,
        org: str | None,
    ) -> None:
        target = self.survivor(ref)
        args = ["contact", "edit", ref]
        changes: dict[str, Any] = {}
        if name is not None:
            args += ["--name", name]
            changes["name"] = name.strip()
        if tags == []:
            args.append("--clear-tags")
            changes["tags"] = []
        elif tags is not None:
            args += [x for t in tags for x in ("--tag", t)]
            changes["tags"] = tags
        if circle is not None:
            args += ["--circle", circle]
            changes["circle"] = circle
        if every == "clear":
            args.append("--no-cadence")
            changes["cadence_days"] = None
        elif every is not None:
            args += ["--every", str(every)]
            changes["cadence_days"] = every
        if org == "":
            args.append("--clear-org")
            changes["org"] = None
        elif org is not None:
            args += ["--org", org]
            changes["org"] = org
        differs = any(getattr(target, k) != v for k, v in changes.items())
        ok = not target.archived and differs
        self.run(ok, *args)
        if ok:
            self.model[target.contact_id] = replace(target, **changes)

    @rule(ref=contacts)
    def archive(self, ref: str) -> None:
        target = self.survivor(ref)
        self.run(not target.archived, "contact", "archive", ref)
        target.archived = True

    @rule(ref=contacts)
    def restore(self, ref: str) -> None:
        target = self.survivor(ref)
        self.run(target.archived, "contact", "restore", ref)
        target.archived = False

    @rule(keep=contacts, other=contacts)
    def merge(self, keep: str, other: str) -> None:
        survivor, absorbed = self.survivor(keep), self.survivor(other)
        ok = not survivor.archived and not absorbed.archived and survivor is not absorbed
        self.run(ok, "contact", "merge", keep, other)
        if ok:
            for contact in self.model.values():
                if contact is absorbed or contact.merged_into == absorbed.contact_id:
                    contact.merged_into = survivor.contact_id

    @rule(ref=contacts, weight=st.integers(-1, 7))
    def give(self, ref: str, weight: int) -> None:
        ok = not self.survivor(ref).archived and 1 <= weight <= 5
        self.run(ok, "give", ref, "help", "--weight", str(weight))

    @precondition(lambda self: len(self.model) >= 2)
    @rule(data=st.data())
    def log_many(self, data: st.DataObject) -> None:
        refs = data.draw(st.lists(st.sampled_from(sorted(self.model)), min_size=1, max_size=3))
        targets = [self.survivor(r).contact_id for r in refs]
        ok = len(set(targets)) == len(targets) and not any(self.model[t].archived for t in targets)
        self.run(ok, "log", *refs)

    # -- invariants ------------------------------------------------------------

    @invariant()
    def listing_matches_model_and_state(self) -> None:
        listed = json.loads(self.recip.ok("contact", "list", "--all", "--json"))
        expected = sorted(self.model.values(), key=lambda m: (m.name.casefold(), m.contact_id))
        assert listed == [m.row() for m in expected]
        active = json.loads(self.recip.ok("contact", "list", "--json"))
        assert active == [r for r in listed if not r["archived"] and r["merged_into"] is None]
        log = Home(self.recip.home).open_log()
        try:
            state = State(log.events())
        finally:
            log.store.close()
        for row in listed:
            contact = state.contact(row["contact_id"])
            assert contact is not None
            assert (contact.name, list(contact.tags), contact.archived) == (
                row["name"],
                row["tags"],
                row["archived"],
            )
            assert (contact.survivor if contact.absorbed else None) == row["merged_into"]


ContactCommands.TestCase.settings = settings(
    max_examples=max(1, BUDGET // 5),
    stateful_step_count=12 if BUDGET <= 100 else 40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_contact_commands = ContactCommands.TestCase


# -- two devices, same events, same bytes ---------------------------------------------


def _exchange(a: Recip, b: Recip) -> None:
    """Give each home the other's events (as sync would)."""
    log_a, log_b = Home(a.home).open_log(), Home(b.home).open_log()
    try:
        for src, dst in ((log_a, log_b), (log_b, log_a)):
            assert src.device_id is not None
            dst.ingest(src.stream(src.device_id))
    finally:
        log_a.store.close()
        log_b.store.close()


STEP = st.tuples(
    st.sampled_from(["a", "b"]),
    st.sampled_from(["add", "edit", "archive", "restore", "merge"]),
    st.integers(0, 5),
    st.integers(0, 5),
    NAMES,
    CIRCLES,
)


@settings(
    max_examples=max(1, BUDGET // 8), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(shared=st.lists(NAMES, min_size=1, max_size=3), steps=st.lists(STEP, max_size=10))
def test_two_devices_with_the_same_events_print_the_same_bytes(
    tmp_path_factory: pytest.TempPathFactory,
    shared: list[str],
    steps: list[tuple[str, str, int, int, str, str]],
) -> None:
    base = tmp_path_factory.mktemp("pair")
    homes = {k: Recip(base / k) for k in ("a", "b")}
    for name, recip in homes.items():
        recip.ok("init", "--device-name", name)
    ids = [homes["a"].ok("contact", "add", n, "--allow-duplicate").strip() for n in shared]
    _exchange(homes["a"], homes["b"])
    for device, action, i, j, name, circle in steps:
        recip = homes[device]
        if action == "add":
            ids.append(recip.ok("contact", "add", name, "--allow-duplicate").strip())
            continue
        known = [c for c in ids if c in recip.ok("contact", "list", "--all", "--json")]
        x, y = known[i % len(known)], known[j % len(known)]
        args = {
            "edit": ("contact", "edit", x, "--name", name, "--circle", circle),
            "archive": ("contact", "archive", x),
            "restore": ("contact", "restore", x),
            "merge": ("contact", "merge", x, y),
        }[action]
        recip(*args)  # refusals are fine here; only successes change the log
    _exchange(homes["a"], homes["b"])
    for flags in (("--json",), ("--all", "--json")):
        out_a = homes["a"].ok("contact", "list", *flags)
        out_b = homes["b"].ok("contact", "list", *flags)
        assert out_a == out_b
    held = {k: json.loads(r.ok("events", "--json")) for k, r in homes.items()}
    assert len(held["a"]) == len(held["b"])


# -- refusals of arbitrary bad input ---------------------------------------------------


@pytest.fixture(scope="module")
def with_ada(tmp_path_factory: pytest.TempPathFactory) -> Recip:
    recip = Recip(tmp_path_factory.mktemp("bad") / "home")
    recip.ok("init")
    recip.ok("contact", "add", "Ada")
    return recip


@settings(max_examples=max(1, BUDGET // 3), deadline=None)
@given(weight=st.integers().filter(lambda w: not 1 <= w <= 5))
def test_any_out_of_range_weight_is_refused(with_ada: Recip, weight: int) -> None:
    before = position(with_ada)
    for command in (("ask", "Ada", "x"), ("give", "Ada", "x")):
        result = with_ada(*command, "--weight", str(weight))
        assert result.exit_code == 1 and result.stderr.startswith("error: weight must be 1-5")
    assert position(with_ada) == before


OFFSETS = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-23 * 60 - 59, 23 * 60 + 59)
)
DATE_TEXT = st.one_of(
    st.text(min_size=1, max_size=30).filter(lambda t: t.strip() and "\x00" not in t),
    st.datetimes(timezones=st.one_of(st.none(), OFFSETS)).map(datetime.isoformat),
    st.dates().map(date.isoformat),
)


@settings(max_examples=max(1, BUDGET // 2), deadline=None)
@given(text=DATE_TEXT)
def test_any_unreadable_date_is_refused_or_read(with_ada: Recip, text: str) -> None:
    """Whatever `--on` holds, the command either records one event that decodes, or
    is refused with one line and appends nothing; it never crashes."""
    before = position(with_ada)
    result = with_ada("log", "Ada", "--on", text)
    if result.exit_code == 0:
        assert position(with_ada) == before + 1
        stored(with_ada)  # what was recorded decodes (its schema's limits hold)
    else:
        assert result.exit_code == 1, result.output
        assert isinstance(result.exception, SystemExit), repr(result.exception)
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        assert position(with_ada) == before
