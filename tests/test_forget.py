"""Forgetting a person (ADR 0130): a canary grepped across every replica's bytes.

Two devices and a real `recip serve` (SQLite data directory, then PostgreSQL):
a contact with a canary name, email, phone, note and free texts is forgotten on
one device; after syncing, no file of either device home, no file of the
server's data directory (WAL included) and no PostgreSQL row holds any canary,
while the shape of the history (kinds, dates, weights, ledger totals) survives.
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from cli.main import cli
from core import codec, redaction
from core.events import (
    Address,
    AskMade,
    ContactAdded,
    ContactDetailsSet,
    ContactEdited,
    ContactForgotten,
    GiveMade,
    HowWeMet,
    InteractionLogged,
    NoteAdded,
    Occasion,
    Profile,
    contacts_of,
)
from server.run import free_port
from sync.remote import load as load_remote
from tests.conftest import PG_URL, run_recip_process
from tests.test_e2e_sync import OPEN, LiveServer, server  # noqa: F401 (the live server fixture)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CANARIES = (
    "Zebulon Quartzfeather",
    "zebulon@canary.example",
    "+4479990001",
    "canarynote-ultraviolet",
    "canaryask-tangerine",
    "canarygive-periwinkle",
    "canarylog-marmalade",
    "canaryresolve-saffron",
)
#: Recorded about the contact by a device that has not yet learnt of the forget.
LATE = "canarylate-obsidian"


def recip(home: Path, *args: str, input: str | None = None) -> str:
    result = CliRunner().invoke(cli, ["--home", str(home), *args], input=input)
    assert result.exit_code == 0, f"recip {' '.join(args)}: {result.output}"
    return result.stdout


def files_holding(root: Path, needles: tuple[str, ...]) -> list[str]:
    """Every (file, needle) where a needle's bytes occur in a file under `root`."""
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {n}" for n in needles if n.encode() in data]
    return found


def two_devices(tmp_path: Path, live: LiveServer) -> tuple[Path, Path]:
    """A laptop and a phone enrolled with a new owner of `live`."""
    token = live.add_owner("alice", tmp_path / "admin")
    laptop, phone = tmp_path / "laptop", tmp_path / "phone"
    for home in (laptop, phone):
        recip(home, "init", "--device-name", home.name)
        recip(home, "remote", "add", live.url, "--token", token, "--device-name", home.name)
    return laptop, phone


def record_canaries(home: Path) -> str:
    zeb = recip(
        home, "contact", "add", CANARIES[0], "--email", CANARIES[1], "--phone", CANARIES[2]
    ).strip()
    other = recip(home, "contact", "add", "Olive Plain").strip()
    recip(home, "note", zeb, CANARIES[3])
    ask = recip(home, "ask", zeb, CANARIES[4], "--weight", "3").strip()
    recip(home, "give", zeb, CANARIES[5], "--weight", "2")
    recip(home, "log", zeb, "--channel", "call", "--note", CANARIES[6])
    recip(home, "resolve", ask, "granted", "--note", CANARIES[7])
    recip(home, "give", other, "a plain favour")
    return zeb


def shape(home: Path) -> list[tuple[str, str, int]]:
    """(type, id, occurred_at) of every event: what forgetting must keep."""
    out = json.loads(recip(home, "events", "--json"))
    events = out if isinstance(out, list) else out["events"]
    return sorted((e["type"], e["event_id"], e["occurred_at"]) for e in events)


def test_forget_reaches_every_replica_of_a_sqlite_server(
    tmp_path: Path,
    server: LiveServer,  # noqa: F811 (the fixture)
) -> None:
    laptop, phone = two_devices(tmp_path, server)
    zeb = record_canaries(laptop)
    recip(laptop, "sync")
    recip(phone, "sync")
    # The phone, offline, records more about Zebulon before it learns of the forget.
    recip(phone, "note", zeb, LATE)
    assert files_holding(server.data, CANARIES), "the canary must reach the server first"
    token = load_remote(laptop).device_token
    headers = {"Authorization": f"Bearer {token}"}
    ledger = httpx.get(f"{server.url}/v1/ledger", headers=headers)  # views on the server
    assert CANARIES[0] in ledger.text
    ledger_before = recip(laptop, "ledger", "--json")
    shape_before = shape(laptop)

    recip(laptop, "contact", "forget", zeb, "--yes")
    assert files_holding(laptop, CANARIES) == []
    for home in (laptop, phone, laptop):  # the phone pushes its late note after the forget
        recip(home, "sync")

    needles = (*CANARIES, LATE)
    for root in (laptop, phone, server.data):
        assert files_holding(root, needles) == []
    ledger = httpx.get(f"{server.url}/v1/ledger", headers=headers)
    assert ledger.status_code == 200
    assert redaction.PLACEHOLDER in ledger.text
    assert recip(phone, "ledger", "--json") == recip(laptop, "ledger", "--json")
    before, after = json.loads(ledger_before), json.loads(recip(laptop, "ledger", "--json"))
    assert _totals(after) == _totals(before)
    assert shape(laptop) == shape(phone)
    kept = [s for s in shape(laptop) if s[0] != "ContactForgotten"]
    assert set(shape_before) < set(kept)  # every event kept: kind, id, date
    assert len(kept) == len(shape_before) + 1  # and the phone's late note
    listing = recip(phone, "contact", "show", zeb, "--json")
    assert redaction.PLACEHOLDER in listing


def _totals(ledger: object) -> list[list[tuple[str, float]]]:
    """The ledger's numbers, names aside."""
    rows = ledger if isinstance(ledger, list) else ledger["rows"]  # type: ignore[index]
    return sorted(
        sorted((k, v) for k, v in row.items() if isinstance(v, int | float)) for row in rows
    )


def test_forget_confirmation_refused_keeps_everything(tmp_path: Path) -> None:
    home = tmp_path / "home"
    recip(home, "init", "--device-name", "d")
    zeb = recip(home, "contact", "add", CANARIES[0]).strip()
    result = CliRunner().invoke(cli, ["--home", str(home), "contact", "forget", zeb], input="n\n")
    assert result.exit_code == 1
    assert "nothing forgotten" in result.stderr
    assert CANARIES[0] in recip(home, "contact", "list", "--json")
    recip(home, "contact", "forget", zeb, input="y\n")
    assert CANARIES[0] not in recip(home, "contact", "list", "--json")


def test_redaction_is_read_from_the_schema() -> None:
    fields = {
        cls.__name__: dict(redaction.personal_fields(cls))
        for cls in (
            ContactAdded,
            ContactEdited,
            AskMade,
            GiveMade,
            InteractionLogged,
            NoteAdded,
            ContactForgotten,
        )
    }
    assert set(fields["ContactAdded"]) == {"name", "emails", "phones", "org", "tags", "source"}
    assert set(fields["AskMade"]) == {"what"}
    assert set(fields["InteractionLogged"]) == {"note"}
    assert fields["ContactForgotten"] == {}


def test_the_nested_details_are_forgotten_and_their_ids_kept() -> None:
    details = ContactDetailsSet(
        event_id="e",
        device_id="d",
        seq=1,
        hlc=1,
        occurred_at=0,
        contact_id="zeb",
        title="canarytitle",
        occasions=(Occasion(label="canarylabel", date="--02-29"),),
        addresses=(Address(street="canarystreet", country="canarycountry"),),
        profiles=(Profile(kind="url", url="https://canary.example"),),
        met=HowWeMet(where="canarywhere", on="2001-06-30", through="olive"),
        source="canarysource",
    )
    redacted = redaction.redact(details)
    assert isinstance(redacted, ContactDetailsSet)
    assert "canary" not in repr(redacted)
    assert redacted.met == HowWeMet(through="olive")  # whom we met through: an id, kept
    assert contacts_of(redacted) == contacts_of(details)
    codec.check("ContactDetailsSet", codec.encode(redacted))


@dataclass
class PgServer(LiveServer):
    """`recip serve` on PostgreSQL (schemas named by `prefix`)."""

    database_url: str = ""

    def add_owner(self, name: str, scratch: Path) -> str:
        out = run_recip_process(
            scratch, "admin", "add-owner", name, *OPEN, "--database-url", self.database_url
        )
        return out.stdout.strip().splitlines()[-1]


def pg_rows_holding(prefix: str, needles: tuple[str, ...]) -> list[str]:
    """Every (schema.table, needle) where a needle occurs in a row's text or bytes."""
    import psycopg

    found = []
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema LIKE %s",
            (f"{prefix}%",),
        ).fetchall()
        for schema, table in tables:
            for (row,) in conn.execute(f'SELECT t::text FROM "{schema}"."{table}" t'):
                # bytea columns print as hex in a row's text form
                text = str(row)
                found += [
                    f"{schema}.{table}: {n}"
                    for n in needles
                    if n in text or n.encode().hex() in text
                ]
    return found


def test_forget_reaches_a_postgresql_server(tmp_path: Path, pg_schema: str) -> None:
    prefix = pg_schema
    url = f"{PG_URL}?prefix={prefix}"
    live = PgServer(
        tmp_path / "server", free_port(), options=("--database-url", url), database_url=url
    )
    live.start()
    try:
        laptop, phone = two_devices(tmp_path, live)
        zeb = record_canaries(laptop)
        recip(laptop, "sync")
        recip(phone, "sync")
        assert pg_rows_holding(prefix, CANARIES), "the canary must reach PostgreSQL first"
        # The laptop, offline, records more about Zebulon before it learns of the
        # forget; its push after the forget is a plain batch (no forget in it), the
        # kind the one-statement exchange stores unless it declines (ADR 0130).
        recip(laptop, "note", zeb, LATE)
        recip(phone, "contact", "forget", zeb, "--yes")
        for home in (phone, laptop, phone):
            recip(home, "sync")
        needles = (*CANARIES, LATE)
        assert pg_rows_holding(prefix, needles) == []
        for root in (laptop, phone, live.data):
            assert files_holding(root, needles) == []
        assert LATE not in recip(phone, "contact", "show", zeb, "--json")
    finally:
        live.kill(signal.SIGTERM)
