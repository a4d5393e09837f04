"""The mail sender: .eml files in the outbox by default, SMTP when a URL is given."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from dalgo.mail import MailError, OutboxMailer, SmtpMailer, mailer_from_settings
from dalgo.settings import Settings
from tests.support.mail import Mailbox
from tests.support.network import free_port


def test_without_smtp_mails_are_written_to_the_outbox(tmp_path: Path) -> None:
    mailer = mailer_from_settings(Settings(home=tmp_path))
    assert isinstance(mailer, OutboxMailer)
    mailer.send("someone@example.org", "Hello", "A body with a link https://x/y?code=abc")
    (written,) = (tmp_path / "outbox").glob("*.eml")
    message = message_from_bytes(written.read_bytes(), policy=policy.default)
    assert message["To"] == "someone@example.org"
    assert message["Subject"] == "Hello"
    assert isinstance(message, EmailMessage)
    assert "https://x/y?code=abc" in message.get_content()


def test_smtp_mail_reaches_a_real_server(mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    mailer = mailer_from_settings(Settings(smtp_url=f"smtp://127.0.0.1:{port}"))
    assert isinstance(mailer, SmtpMailer)
    mailer.send("direct@example.org", "Direct", "Body")
    assert box.last_to("direct@example.org").get_content().strip() == "Body"


def test_an_unreachable_smtp_server_is_a_clear_error() -> None:
    mailer = SmtpMailer(f"smtp://127.0.0.1:{free_port()}", "x@example.org", timeout_s=3)
    with pytest.raises(MailError, match="did not take the mail"):
        mailer.send("a@example.org", "s", "b")


def test_a_malformed_smtp_url_is_a_clear_error() -> None:
    with pytest.raises(MailError, match="must look like"):
        SmtpMailer("http://nope", "x@example.org").send("a@example.org", "s", "b")
