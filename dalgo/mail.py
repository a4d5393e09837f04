"""The platform's one mail sender: SMTP when DALGO_SMTP_URL is set, else .eml files in an outbox."""

from __future__ import annotations

import smtplib
import ssl
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from dalgo.settings import Settings


class MailError(RuntimeError):
    """A mail could not be handed over; the message says why in plain words. `permanent` when the
    mail server refused this mail itself for good (a 5xx answer to its recipient or its content):
    sending it again would be refused again. Anything else (no server, a 4xx answer, a refused
    sender or login, a dropped connection) is the server being unavailable, and the mail can wait
    for it."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def refused_for_good(exc: BaseException) -> bool:
    """Whether the SMTP server refused the mail itself with a permanent (5xx) answer: every
    recipient refused with 5xx, or the content refused with 5xx after DATA."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(code >= 500 for code in codes)
    if isinstance(exc, smtplib.SMTPDataError):
        return exc.smtp_code >= 500
    return False


class Mailer(Protocol):
    """Anything that can send one plain-text mail."""

    def send(self, to: str, subject: str, body: str) -> None: ...


def build_message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    """A plain-text mail with the headers every mail needs."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain="dalgo.local")
    message.set_content(body)
    return message


@dataclass
class OutboxMailer:
    """Writes each mail as an .eml file into a folder (the local default)."""

    outbox: Path
    sender: str

    def send(self, to: str, subject: str, body: str) -> None:
        message = build_message(self.sender, to, subject, body)
        try:
            self.outbox.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            path = self.outbox / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
            path.write_bytes(message.as_bytes())
        except OSError as exc:
            raise MailError(f"The mail could not be written to {self.outbox}: {exc.strerror}.") from exc


@dataclass
class SmtpMailer:
    """Sends through an SMTP server named by a URL: smtp://[user:password@]host[:port][?starttls=true]
    or smtps://... for implicit TLS."""

    url: str
    sender: str
    timeout_s: float = 15.0

    def send(self, to: str, subject: str, body: str) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise MailError("DALGO_SMTP_URL must look like smtp://user:password@host:port.")
        options = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
        message = build_message(self.sender, to, subject, body)
        try:
            if parts.scheme == "smtps":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    parts.hostname,
                    parts.port or 465,
                    timeout=self.timeout_s,
                    context=ssl.create_default_context(),
                )
            else:
                client = smtplib.SMTP(parts.hostname, parts.port or 25, timeout=self.timeout_s)
            with client:
                if options.get("starttls") in ("1", "true", "yes"):
                    client.starttls(context=ssl.create_default_context())
                if parts.username:
                    client.login(unquote(parts.username), unquote(parts.password or ""))
                client.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(
                f"The mail server at {parts.hostname} did not take the mail: {exc}.",
                permanent=refused_for_good(exc),
            ) from exc


def mailer_from_settings(settings: Settings) -> Mailer:
    """The mailer the settings ask for."""
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url, settings.mail_from)
    return OutboxMailer(settings.outbox_dir, settings.mail_from)
