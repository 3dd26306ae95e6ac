"""Email senders chosen by a setting: SMTP for real, an outbox directory for development."""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol

from broadsheet.digest.errors import PermanentSendError, TemporarySendError
from broadsheet.settings import Settings

log = logging.getLogger(__name__)


class EmailSender(Protocol):
    """Hands one message to the mail system; raises TemporarySendError or PermanentSendError."""

    def send(self, message: EmailMessage) -> None: ...

    def close(self) -> None: ...


def _address(header: str | None) -> str:
    return parseaddr(header or "")[1]


class SmtpSender:
    """One SMTP connection reused across messages, reopened after any error."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        settings = self._settings
        try:
            connection: smtplib.SMTP
            if settings.smtp_security == "tls":
                connection = smtplib.SMTP_SSL(
                    settings.smtp_host,
                    settings.smtp_port,
                    timeout=settings.smtp_timeout_s,
                    context=ssl.create_default_context(),
                )
            else:
                connection = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_s)
                if settings.smtp_security == "starttls":
                    connection.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                connection.login(settings.smtp_user, settings.smtp_password)
        except smtplib.SMTPAuthenticationError as error:
            raise PermanentSendError(f"SMTP login refused: {error.smtp_code} {error.smtp_error!r}") from error
        except (OSError, smtplib.SMTPException) as error:
            raise TemporarySendError(f"cannot reach the SMTP server {settings.smtp_host}: {error}") from error
        return connection

    def send(self, message: EmailMessage) -> None:
        if self._connection is None:
            self._connection = self._connect()
        sender = _address(self._settings.mail_from) or _address(message["From"])
        recipient = _address(message["To"])
        try:
            refused = self._connection.send_message(message, from_addr=sender, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()), (550, b"refused"))
            self._raise_for(int(code), text)
        except smtplib.SMTPResponseException as error:
            self._raise_for(error.smtp_code, error.smtp_error)
        except (OSError, smtplib.SMTPException) as error:
            self.close()
            raise TemporarySendError(f"SMTP connection failed: {error}") from error
        if refused:
            code, text = next(iter(refused.values()))
            self._raise_for(int(code), text)

    def _raise_for(self, code: int, text: bytes | str) -> None:
        detail = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
        self._reset()
        if 500 <= code < 600:
            raise PermanentSendError(f"{code} {detail}", code)
        raise TemporarySendError(f"{code} {detail}")

    def _reset(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.rset()
        except (OSError, smtplib.SMTPException):
            self.close()

    def close(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.quit()
        except (OSError, smtplib.SMTPException):
            self._connection.close()
        self._connection = None


class OutboxDirSender:
    """Writes each message as a .eml file in data_dir/outbox and logs a line, for development."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}-{_address(message['To']).replace('@', '_at_')}.eml"
        (self.directory / name).write_bytes(bytes(message))
        log.info("email to %s written to %s: %s", message["To"], self.directory / name, message["Subject"])

    def close(self) -> None:
        return None


def make_sender(settings: Settings) -> EmailSender:
    if settings.smtp_host:
        return SmtpSender(settings)
    return OutboxDirSender(settings.data_dir / "outbox")


def send_with_retries(sender: EmailSender, message: EmailMessage, attempts: int, base_delay_s: float) -> int:
    """Send, retrying temporary failures with exponential backoff; returns the tries used."""
    for attempt in range(1, attempts + 1):
        try:
            sender.send(message)
            return attempt
        except TemporarySendError as error:
            if attempt == attempts:
                raise
            delay = base_delay_s * 2 ** (attempt - 1)
            log.warning("temporary failure sending to %s (%s); retrying in %.1fs", message["To"], error, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")
