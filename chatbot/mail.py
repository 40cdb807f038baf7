"""Sending email (password resets). ``SMTPMailer`` when SMTP_HOST is set; otherwise, in
development, ``LogMailer`` prints each message to the server log."""
from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from typing import Protocol

log = logging.getLogger(__name__)


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> None: ...


class SMTPMailer:
    def __init__(self, host: str, port: int, security: str, sender: str,
                 username: str | None, password: str | None, timeout: float = 20.0) -> None:
        self.host, self.port, self.security, self.sender = host, port, security, sender
        self.username, self.password, self.timeout = username, password, timeout

    def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message.set_content(body)
        context = ssl.create_default_context()
        if self.security == "ssl":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.security == "starttls":
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


class LogMailer:
    """Development only: the message goes to the server log instead of an inbox."""

    def send(self, to: str, subject: str, body: str) -> None:
        log.warning("email to %s (no SMTP_HOST set, so it is printed here): %s\n%s", to, subject, body)
