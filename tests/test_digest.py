"""The weekly digest against a real SMTP server in-process (aiosmtpd), parsed as it arrives.

Once per period is the property under test: a tick before the chosen hour sends
nothing, the first tick after it sends one digest, and neither another tick, a
restart (a new process's sender on the same database) nor a second worker
ticking at the same instant sends another; the next week sends again. On SQLite
and on PostgreSQL, in-process senders and real servers with the digest loop.
"""

from __future__ import annotations

import email
import email.policy
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.home import Home
from scoring.history import History
from scoring.plan import Plan, plan
from server.accounts import Accounts
from server.digest import DigestConfig, DigestSender, due
from server.mail import MailError, SmtpSettings, settings_from
from server.nudge_store import DigestSettings, NudgeStore
from server.run import BackgroundServer, free_port
from server.service import ServerConfig
from tests.conftest import PG_URL, Recip
from tests.test_today import PINNED, build_network

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: Monday 3 March 2025, 09:00 in Paris (08:00 UTC): the owner's chosen moment.
MONDAY_9_PARIS = int(datetime(2025, 3, 3, 8, 0, tzinfo=UTC).timestamp() * 1000)
HOUR = 3_600_000
WEEK = 7 * 24 * HOUR
SETTINGS = DigestSettings(
    email="ada@example.org", weekday=0, hour=9, timezone="Europe/Paris", updated_at=0
)


class Inbox:
    """An aiosmtpd handler keeping every message that arrives, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            self.messages.append(parsed)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def wait(self, count: int, timeout: float = 30) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        return list(self.messages)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, SmtpSettings]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, SmtpSettings(host="127.0.0.1", port=port, security="none", sender="r@example.org")
    controller.stop()


@pytest.fixture
def history(tmp_path: Path) -> History:
    home = Home(tmp_path / "device")
    home.init("device", now_iso="2025-03-01T12:00:00Z")
    build_network(home)
    log = home.open_log()
    try:
        return History(log.events())
    finally:
        log.store.close()


def _sqlite_store(path: Path) -> tuple[NudgeStore, str, Callable[[], None]]:
    accounts = Accounts(path)
    owners = accounts.owners()
    owner_id = owners[0].owner_id if owners else accounts.add_owner("alice")[0].owner_id
    return NudgeStore(accounts), owner_id, accounts.close


def _pg_store(url: str) -> tuple[NudgeStore, str, Callable[[], None]]:
    from server.pg import PgBackend

    backend = PgBackend(url, pool_size=2)
    owners = backend.accounts.owners()
    owner_id = owners[0].owner_id if owners else backend.accounts.add_owner("alice")[0].owner_id
    return NudgeStore(backend.accounts), owner_id, backend.close


@pytest.fixture(params=["sqlite", "postgres"])
def opener(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], tuple[NudgeStore, str, Callable[[], None]]]]:
    """Opens the same accounts database again each call (a restart, another worker)."""
    if request.param == "sqlite":
        yield lambda: _sqlite_store(tmp_path / "accounts.db")
        return
    if not request.getfixturevalue("pg_available"):
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    from server.pg import drop_prefix

    url = f"{PG_URL}?prefix=t_{uuid.uuid4().hex[:12]}"
    yield lambda: _pg_store(url)
    drop_prefix(url)


def _sender(store: NudgeStore, smtp: SmtpSettings, history: History) -> DigestSender:
    def plans(owner_id: str, day: int, limit: int) -> Plan:
        return plan(history, day, limit=limit)

    return DigestSender(store, DigestConfig(smtp=smtp), plans)


def test_the_digest_is_sent_once_per_week_across_restarts_and_workers(
    smtp: tuple[Inbox, SmtpSettings],
    history: History,
    opener: Callable[[], tuple[NudgeStore, str, Callable[[], None]]],
) -> None:
    inbox, settings = smtp
    store, owner_id, close = opener()
    store.set_digest(owner_id, SETTINGS)
    first = _sender(store, settings, history)
    assert first.tick(MONDAY_9_PARIS - 60_000) == []  # 08:59 in Paris: not yet
    assert first.tick(MONDAY_9_PARIS) == [owner_id]
    assert first.tick(MONDAY_9_PARIS + 60_000) == []
    close()  # a restart: a new process opens the same database
    store2, _, close2 = opener()
    assert _sender(store2, settings, history).tick(MONDAY_9_PARIS + HOUR) == []
    # two workers tick at the same instant of the next week: one sends
    store3, _, close3 = opener()
    workers = [_sender(store2, settings, history), _sender(store3, settings, history)]
    results: list[list[str]] = []
    barrier = threading.Barrier(2)

    def run(sender: DigestSender) -> None:
        barrier.wait()
        results.append(sender.tick(MONDAY_9_PARIS + WEEK + 5 * 60_000))

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r) for r in results) == [0, 1]
    messages = inbox.wait(2)
    assert len(messages) == 2
    assert [s.period for s in store2.sent(owner_id)] == ["2025-W10", "2025-W11"]
    assert all(s.sent_at is not None for s in store2.sent(owner_id))
    close2()
    close3()

    message = messages[0]
    assert inbox.envelopes[0] == ("r@example.org", ["ada@example.org"])
    assert message["To"] == "ada@example.org" and message["From"] == "r@example.org"
    assert message["Subject"] == ("Reciprocity: 5 people to reach out to this week (2025-03-03)")
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    body = text.get_content()
    assert "Hello alice," in body
    assert "Your plan as of 2025-03-03:" in body
    assert "3. Cole: 44 days since you were last in touch, every 30. Reach out." in body
    markup = html.get_content()
    assert "<li><strong>Cole</strong>: 44 days since you were last in touch, every 30." in markup


def test_a_failed_send_is_retried_and_an_early_setting_waits_a_week(
    smtp: tuple[Inbox, SmtpSettings], history: History, tmp_path: Path
) -> None:
    inbox, settings = smtp
    store, owner_id, close = _sqlite_store(tmp_path / "accounts.db")
    store.set_digest(owner_id, SETTINGS)
    down = SmtpSettings(host="127.0.0.1", port=free_port(), security="none", sender="r@example.org")
    assert _sender(store, down, history).tick(MONDAY_9_PARIS) == []
    assert store.sent(owner_id) == []  # the claim was released
    assert _sender(store, settings, history).tick(MONDAY_9_PARIS + 60_000) == [owner_id]
    assert len(inbox.wait(1)) == 1
    # saved on Tuesday: this week's Monday 09:00 is past, so the first digest is next week's
    later = DigestSettings(
        email="ada@example.org",
        weekday=0,
        hour=9,
        timezone="Europe/Paris",
        updated_at=MONDAY_9_PARIS + WEEK + 24 * HOUR,
    )
    store.set_digest(owner_id, later)
    assert due(later, MONDAY_9_PARIS + WEEK + 25 * HOUR) is None
    assert due(later, MONDAY_9_PARIS + 2 * WEEK) == ("2025-W12", 20164)
    close()


def test_due_follows_the_owners_time_zone() -> None:
    """09:00 Monday in Paris is 08:00 UTC in winter; a Sunday-night UTC instant is
    already Monday in Tokyo (ISO week of the local date)."""
    assert due(SETTINGS, MONDAY_9_PARIS - 1) is None
    assert due(SETTINGS, MONDAY_9_PARIS) == ("2025-W10", 20150)
    tokyo = DigestSettings(email="a@b.org", weekday=0, hour=6, timezone="Asia/Tokyo")
    sunday_22_utc = int(datetime(2025, 3, 2, 22, 0, tzinfo=UTC).timestamp() * 1000)
    assert due(tokyo, sunday_22_utc) == ("2025-W10", 20150)  # 07:00 Monday in Tokyo
    assert date(1970, 1, 1).toordinal() + 20150 == date(2025, 3, 3).toordinal()


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_servers_with_the_digest_loop_send_once(
    smtp: tuple[Inbox, SmtpSettings], tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    """Two servers on one database (two workers, or a restart overlapping the old
    process), each running the loop every 0.2 s with the clock at the chosen hour:
    one mail."""
    inbox, settings = smtp
    url = None
    if store == "postgres":
        if not request.getfixturevalue("pg_available"):
            pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
        url = f"{PG_URL}?prefix=t_{uuid.uuid4().hex[:12]}"
    nudges, owner_id, close = (
        _sqlite_store(tmp_path / "a" / "accounts.db") if url is None else _pg_store(url)
    )
    nudges.set_digest(owner_id, SETTINGS)
    close()

    def config(name: str) -> ServerConfig:
        return ServerConfig(
            data=tmp_path / ("a" if url is None else name),
            database_url=url,
            clock=lambda: MONDAY_9_PARIS,
            digest=DigestConfig(smtp=settings, interval_s=0.2),
        )

    try:
        first, second = config("w1"), config("w2")
        with (
            BackgroundServer(first.data, config=first),
            BackgroundServer(second.data, config=second),
        ):
            assert len(inbox.wait(1)) == 1
            time.sleep(1.0)  # several more ticks of both loops
    finally:
        if url is not None:
            from server.pg import drop_prefix

            drop_prefix(url)
    assert len(inbox.messages) == 1
    assert inbox.messages[0]["Subject"].startswith("Reciprocity: nothing pressing")


def test_today_mail_from_a_device(
    smtp: tuple[Inbox, SmtpSettings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, settings = smtp
    monkeypatch.setenv("RECIP_NOW", PINNED)
    home = Home(tmp_path / "laptop")
    home.init("laptop", now_iso="2025-03-01T12:00:00Z")
    build_network(home)
    recip = Recip(home.path)
    monkeypatch.setenv("RECIP_SMTP", f"smtp+plain://127.0.0.1:{settings.port}")
    monkeypatch.setenv("RECIP_SMTP_FROM", "me@example.org")
    out = recip.ok("today", "--mail", "--to", "me@example.org", "--limit", "2")
    assert out.strip() == "sent the plan for 2025-03-01 (2 items) to me@example.org"
    (message,) = inbox.wait(1)
    assert message["Subject"] == "Reciprocity: 2 people to reach out to this week (2025-03-01)"
    body = message.get_body(("plain",))
    assert body is not None
    lines = body.get_content().splitlines()
    assert lines[0] == "Hello laptop,"
    assert lines[4].startswith("1. Eve: asked “a reference letter” 35 days ago, still open.")
    assert lines[
        5
    ] == "2. Ada: granted “review my talk” on 3 Feb 2025; nothing given back since. " + (
        "Offer something back."
    )
    assert lines[6] == "(4 more in 'recip today --limit 6')"
    assert "not an e-mail address" in recip.fails("today", "--mail", "--to", "nobody")


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_starttls_with_credentials_from_the_environment(history: History, tmp_path: Path) -> None:
    """smtp:// insists on STARTTLS, verifies the certificate (a private CA from
    $RECIP_SMTP_CAFILE) and logs in with $RECIP_SMTP_USER/$RECIP_SMTP_PASSWORD."""
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    logins: list[str] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and data.password == b"s3cret"
        if ok:
            logins.append(data.login.decode())
        return AuthResult(success=ok)

    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
    )
    controller.start()
    try:
        env = {
            "RECIP_SMTP_USER": "ada",
            "RECIP_SMTP_PASSWORD": "s3cret",
            "RECIP_SMTP_CAFILE": str(cert),
        }
        settings = settings_from(f"smtp://127.0.0.1:{port}", "r@example.org", env)
        assert (settings.security, settings.user) == ("starttls", "ada")
        accounts = Accounts(tmp_path / "accounts.db")
        owner, _ = accounts.add_owner("alice")
        store = NudgeStore(accounts)
        store.set_digest(owner.owner_id, SETTINGS)
        assert _sender(store, settings, history).tick(MONDAY_9_PARIS) == [owner.owner_id]
        assert len(inbox.wait(1)) == 1 and logins == ["ada"]
        # without the private CA the certificate is refused, and nothing is recorded as sent
        untrusted = settings_from(f"smtp://127.0.0.1:{port}", "r@example.org", {})
        store.set_digest(owner.owner_id, SETTINGS)
        assert _sender(store, untrusted, history).tick(MONDAY_9_PARIS + WEEK) == []
        assert [s.period for s in store.sent(owner.owner_id)] == ["2025-W10"]
        accounts.close()
    finally:
        controller.stop()


CREDENTIALS = {"RECIP_SMTP_USER": "u", "RECIP_SMTP_PASSWORD": "p"}


@pytest.mark.parametrize(
    ("url", "sender", "env", "match"),
    [
        ("http://x", "a@b.org", {}, "use smtp://"),
        ("smtp://u:p@x", "a@b.org", {}, "credentials"),
        ("smtp://x", None, {}, "sender"),
        ("smtp://x", "a@b.org", {"RECIP_SMTP_USER": "u"}, "both"),
        ("smtp+plain://x", "a@b.org", CREDENTIALS, "unencrypted"),
        ("smtp://", "a@b.org", {}, "no host"),
        ("smtp://x", "not an address", {}, "not an e-mail address"),
    ],
)  # fmt: skip
def test_bad_smtp_settings_are_refused(
    url: str, sender: str | None, env: dict[str, str], match: str
) -> None:
    with pytest.raises(MailError, match=match):
        settings_from(url, sender, env)


def test_serve_refuses_a_bad_smtp_url(tmp_path: Path) -> None:
    out = Recip(tmp_path / "h").fails(
        "serve", "--data", str(tmp_path / "d"), "--port", str(free_port()), "--smtp", "ftp://x"
    )
    assert "use smtp://" in out


def test_admin_set_email(tmp_path: Path) -> None:
    data = tmp_path / "server"
    admin = Recip(tmp_path / "admin")
    admin.ok("admin", "add-owner", "alice", "--data", str(data))
    out = admin.ok(
        "admin", "set-email", "alice", "ada@example.org", "--weekday", "wed", "--hour", "18",
        "--timezone", "America/New_York", "--data", str(data),
    )  # fmt: skip
    assert out.strip() == "alice: weekly digest to ada@example.org on wed at 18:00 America/New_York"
    accounts = Accounts(data / "accounts.db")
    try:
        (recipient,) = NudgeStore(accounts).recipients()
        got = recipient.settings
        assert (recipient.name, got.email, got.weekday, got.hour) == (
            "alice",
            "ada@example.org",
            2,
            18,
        )
        assert got.updated_at > 0
    finally:
        accounts.close()
    assert "no owner named 'bob'" in admin.fails(
        "admin", "set-email", "bob", "b@example.org", "--data", str(data)
    )
    assert "unknown time zone" in admin.fails(
        "admin",
        "set-email",
        "alice",
        "a@example.org",
        "--timezone",
        "Nowhere/X",
        "--data",
        str(data),
    )
    assert admin.ok("admin", "set-email", "alice", "--off", "--data", str(data)).strip() == (
        "alice: no weekly digest"
    )
    accounts = Accounts(data / "accounts.db")
    try:
        assert NudgeStore(accounts).recipients() == []
    finally:
        accounts.close()


def test_worker_processes_get_the_digest_settings() -> None:
    """`--workers N` passes the configuration to each worker as JSON (server.asgi)."""
    from server.asgi import from_env, to_env

    smtp = SmtpSettings(host="h", port=587, security="starttls", sender="r@example.org")
    config = ServerConfig(data=Path("d"), digest=DigestConfig(smtp=smtp, interval_s=5.0))
    assert from_env(to_env(config)).digest == config.digest
    assert from_env(to_env(ServerConfig(data=Path("d")))).digest is None


@settings(max_examples=60, deadline=None)
@given(
    ticks=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 3 * 7 * 24 - 1), st.booleans()),
        max_size=30,
    )
)
def test_each_week_is_sent_exactly_once_whoever_ticks_when(
    ticks: list[tuple[int, int, bool]],
) -> None:
    """Three workers tick at arbitrary hours of three weeks (in any order); some sends
    fail. A week is mailed once if some tick in it came after the chosen hour and its
    send worked, else never; never twice."""
    import tempfile

    base = MONDAY_9_PARIS - 9 * HOUR  # Monday 3 March, 00:00 in Paris
    with tempfile.TemporaryDirectory() as tmp:
        accounts = Accounts(Path(tmp) / "accounts.db")
        owner, _ = accounts.add_owner("alice")
        store = NudgeStore(accounts)
        store.set_digest(owner.owner_id, SETTINGS)
        mailed: list[str] = []
        empty = Plan(as_of="2025-03-03", rule="today", limit=5, candidates=0, items=[])
        config = DigestConfig(
            smtp=SmtpSettings(host="x", port=1, security="none", sender="r@example.org")
        )

        def sender(fails: bool) -> DigestSender:
            def send(_: SmtpSettings, message: EmailMessage) -> None:
                if fails:
                    raise MailError("relay down")
                mailed.append(str(message["Subject"]))

            return DigestSender(store, config, lambda o, d, n: empty, send)

        workers = [(sender(False), sender(True)) for _ in range(3)]
        expected: set[int] = set()
        for worker, hour, fails in ticks:
            now = base + hour * HOUR
            sent = workers[worker][1 if fails else 0].tick(now)
            week, hour_of_week = divmod(hour, 7 * 24)
            if not fails and hour_of_week >= 9:
                expected.add(week)
            assert len(sent) <= 1
        periods = [s.period for s in store.sent(owner.owner_id) if s.sent_at is not None]
        assert sorted(periods) == [f"2025-W{10 + w}" for w in sorted(expected)]
        assert len(mailed) == len(expected)
        assert all(s.sent_at is not None for s in store.sent(owner.owner_id))
        accounts.close()


def test_the_plans_day_follows_the_owners_time_zone(tmp_path: Path) -> None:
    """Sunday 22:00 UTC is Monday 07:00 in Tokyo: an owner whose digest goes out in
    Tokyo gets Monday's plan and feed; `as_of` still wins."""
    import httpx

    from core.ids import new_id
    from sync.http import enroll

    sunday_22_utc = int(datetime(2025, 3, 2, 22, 0, tzinfo=UTC).timestamp() * 1000)
    config = ServerConfig(data=tmp_path / "server", clock=lambda: sunday_22_utc)
    server = BackgroundServer(config.data, config=config)
    with server as url:
        _, token = server.service.accounts.add_owner("alice")
        auth = {"Authorization": f"Bearer {enroll(url, token, new_id(), 'laptop').device_token}"}
        tokyo = {"email": "a@example.org", "weekday": 0, "hour": 6, "timezone": "Asia/Tokyo"}
        assert httpx.put(f"{url}/v1/digest", json=tokyo, headers=auth).status_code == 200
        assert httpx.get(f"{url}/v1/today", headers=auth).json()["as_of"] == "2025-03-03"
        pinned = httpx.get(f"{url}/v1/today", params={"as_of": "2025-01-01"}, headers=auth)
        assert pinned.json()["as_of"] == "2025-01-01"
        path = httpx.post(f"{url}/v1/feed", headers=auth).json()["path"]
        calendar = httpx.get(f"{url}{path}")
        assert calendar.status_code == 200 and b"BEGIN:VCALENDAR" in calendar.content
        assert httpx.delete(f"{url}/v1/digest", headers=auth).json() == {"digest": None}
