"""Mail: the SMTP settings, the digest message, and sending it (ADR 0102).

`--smtp URL` names the relay: `smtp://host[:port]` speaks STARTTLS (port 587 by
default) and refuses to go on if the server does not offer it; `smtps://host[:port]`
is TLS from the first byte (465); `smtp+plain://host[:port]` is unencrypted, for
a relay on the same machine (and tests). Credentials never go in the URL, where
process listings and shell histories would show them: they come from
`RECIP_SMTP_USER` and `RECIP_SMTP_PASSWORD`. `RECIP_SMTP_CAFILE` adds a private
certificate authority.

The digest is one message with a plain-text part and an HTML alternative, both
listing the plan (`scoring.plan.Plan`). `recip today --mail` on a device sends
the same message through the same settings.
"""

from __future__ import annotations

import html
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Final
from urllib.parse import urlparse

import msgspec

from core.errors import ValidationError
from scoring.plan import Plan

USER_ENV: Final = "RECIP_SMTP_USER"
PASSWORD_ENV: Final = "RECIP_SMTP_PASSWORD"
CAFILE_ENV: Final = "RECIP_SMTP_CAFILE"
_SECURITY: Final = {"smtp": ("starttls", 587), "smtps": ("tls", 465), "smtp+plain": ("none", 25)}
TIMEOUT_S: Final = 30.0


class SmtpSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Where and how mail leaves: relay, security, credentials, sender address."""

    host: str
    port: int
    security: str  # "starttls" | "tls" | "none"
    sender: str
    user: str | None = None
    password: str | None = None
    cafile: str | None = None


class MailError(ValidationError):
    """Mail could not be configured or sent; the message says why."""


def check_address(address: str, what: str = "address") -> str:
    """A bare e-mail address (`name@host`), or a one-line refusal."""
    text = address.strip()
    _, parsed = parseaddr(text)
    local, at, domain = parsed.rpartition("@")
    if parsed != text or not at or not local or "." not in domain or any(c.isspace() for c in text):
        raise MailError(f"{what} {address!r} is not an e-mail address like name@example.org")
    return text


def settings_from(url: str, sender: str | None, env: Mapping[str, str]) -> SmtpSettings:
    """The settings of an `--smtp` URL, with the sender and credentials from `env`."""
    parsed = urlparse(url.strip())
    scheme = parsed.scheme.lower()
    if scheme not in _SECURITY:
        raise MailError(f"--smtp {url!r}: use smtp:// (STARTTLS), smtps:// (TLS) or smtp+plain://")
    if parsed.username or parsed.password:
        raise MailError(f"--smtp: put credentials in ${USER_ENV} and ${PASSWORD_ENV}, not the URL")
    if not parsed.hostname:
        raise MailError(f"--smtp {url!r} names no host")
    if not sender:
        raise MailError("--smtp needs a sender address: --smtp-from (or $RECIP_SMTP_FROM)")
    security, default_port = _SECURITY[scheme]
    try:
        port = parsed.port or default_port
    except ValueError:
        raise MailError(f"--smtp {url!r} has an invalid port") from None
    user = env.get(USER_ENV) or None
    password = env.get(PASSWORD_ENV) or None
    if (user is None) != (password is None):
        raise MailError(f"set both ${USER_ENV} and ${PASSWORD_ENV}, or neither")
    if user is not None and security == "none":
        raise MailError("refusing to send a password unencrypted: use smtp:// or smtps://")
    return SmtpSettings(
        host=parsed.hostname,
        port=port,
        security=security,
        sender=check_address(sender, "sender"),
        user=user,
        password=password,
        cafile=env.get(CAFILE_ENV) or None,
    )


def send(settings: SmtpSettings, message: EmailMessage) -> None:
    """Deliver one message to the relay (MailError on any failure)."""
    context = ssl.create_default_context(cafile=settings.cafile)
    try:
        client: smtplib.SMTP
        if settings.security == "tls":
            client = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=TIMEOUT_S, context=context
            )
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=TIMEOUT_S)
        with client:
            client.ehlo()
            if settings.security == "starttls":
                if not client.has_extn("starttls"):
                    raise MailError(f"{settings.host} does not offer STARTTLS: not sending")
                client.starttls(context=context)
                client.ehlo()
            if settings.user is not None and settings.password is not None:
                client.login(settings.user, settings.password)
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        where = f"{settings.host}:{settings.port}"
        raise MailError(f"cannot send mail through {where}: {exc}") from exc


def _subject(plan: Plan) -> str:
    count = len(plan.items)
    if not count:
        return f"Reciprocity: nothing pressing this week ({plan.as_of})"
    people = "person" if count == 1 else "people"
    return f"Reciprocity: {count} {people} to reach out to this week ({plan.as_of})"


def plan_lines(plan: Plan) -> list[str]:
    """The plan as numbered lines of text: who, why, what to do."""
    return [
        f"{i}. {n.name}: {n.why}. {n.todo[0].upper()}{n.todo[1:]}."
        for i, n in enumerate(plan.items, 1)
    ]


def digest(plan: Plan, *, to: str, sender: str, owner: str) -> EmailMessage:
    """The weekly digest of a plan: plain text, with an HTML alternative."""
    message = EmailMessage()
    message["Subject"] = _subject(plan)
    message["From"] = sender
    message["To"] = to
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    lines = plan_lines(plan) or ["Nothing pressing: everyone is in touch and nothing is owed."]
    more = plan.candidates - len(plan.items)
    tail = [f"({more} more in 'recip today --limit {plan.candidates}')"] if more > 0 else []
    text = [f"Hello {owner},", "", f"Your plan as of {plan.as_of}:", "", *lines, *tail, ""]
    text.append("-- Reciprocity (recip today shows the same plan)")
    message.set_content("\n".join(text) + "\n")
    items = "".join(
        f"<li><strong>{html.escape(n.name)}</strong>: {html.escape(n.why)}. "
        f"<em>{html.escape(n.todo)}</em></li>"
        for n in plan.items
    )
    body = f"<ol>{items}</ol>" if items else f"<p>{html.escape(lines[0])}</p>"
    more_html = f"<p>{html.escape(tail[0])}</p>" if tail else ""
    message.add_alternative(
        f"<!doctype html><html><body><p>Hello {html.escape(owner)},</p>"
        f"<p>Your plan as of {html.escape(plan.as_of)}:</p>{body}{more_html}"
        "<p>— Reciprocity</p></body></html>\n",
        subtype="html",
    )
    return message
