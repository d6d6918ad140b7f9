"""Where messages go: the :class:`EmailSender` strategy and its two implementations.

:class:`SmtpSender` speaks SMTP through ``aiosmtplib``: ``smtp://`` (plain, for a
relay on loopback), ``smtp+starttls://`` (STARTTLS, required: a server that does not
offer it is an error, never a silent downgrade, RFC 3207 §4) or ``smtps://`` (implicit
TLS, RFC 8314 §3.3); certificates are verified. :class:`DevSender` (no SMTP URL)
logs each message and writes it to ``<data_dir>/outbox/`` as a 0600 file, so a
zero-config ``authgate serve`` shows its links. Only the outbox worker
(:mod:`authgate.service.outbox`) calls a sender, never a request.
"""

from __future__ import annotations

import logging
import os
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from authgate.errors import ConfigError
from authgate.settings import EmailSettings
from authgate.store.files import PRIVATE_FILE_MODE, make_private_dir

__all__ = [
    "DevSender",
    "EmailSender",
    "Message",
    "SendFailed",
    "SmtpSender",
    "SmtpTarget",
    "open_sender",
    "parse_smtp_url",
]

_log = logging.getLogger("authgate.email")


@dataclass(frozen=True, slots=True)
class Message:
    recipient: str
    subject: str
    text_body: str
    html_body: str


class SendFailed(Exception):
    """The message could not be handed over now; the outbox retries it later."""


class EmailSender(Protocol):
    async def send(self, message: Message) -> None:
        """Hand ``message`` over for delivery.

        Raises:
            SendFailed: not delivered this time (server down, refused, timeout).
        """
        ...


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    host: str
    port: int
    tls: str  # "none", "starttls" or "implicit"
    username: str | None
    password: str | None


_SCHEMES = {"smtp": ("none", 25), "smtp+starttls": ("starttls", 587), "smtps": ("implicit", 465)}


def parse_smtp_url(url: str) -> SmtpTarget:
    """``smtp://``, ``smtp+starttls://user:pass@host:587`` or ``smtps://``.

    Raises:
        ConfigError: another scheme, no host, or a bad port (the message never
            repeats the password).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ConfigError(
            "AUTHGATE_EMAIL__SMTP_URL: the scheme must be smtp://, smtp+starttls:// or smtps://"
        )
    tls, default_port = _SCHEMES[scheme]
    try:
        port = parts.port or default_port
    except ValueError:
        raise ConfigError("AUTHGATE_EMAIL__SMTP_URL: the port is not a number") from None
    if not parts.hostname:
        raise ConfigError("AUTHGATE_EMAIL__SMTP_URL: no host")
    return SmtpTarget(
        host=parts.hostname,
        port=port,
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def _mime(message: Message, sender: str) -> EmailMessage:
    mime = EmailMessage()
    mime["From"] = sender
    mime["To"] = message.recipient
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(localtime=False)
    mime["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    mime["Auto-Submitted"] = "auto-generated"  # RFC 3834 §5: no auto-replies
    mime.set_content(message.text_body)
    mime.add_alternative(message.html_body, subtype="html")
    return mime


class SmtpSender:
    """One SMTP connection per batch of messages, with timeouts."""

    def __init__(self, target: SmtpTarget, *, sender: str, timeout: float, ca_file: Path | None):
        self.target = target
        self.sender = sender
        self.timeout = timeout
        self.tls_context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)

    async def send(self, message: Message) -> None:
        t = self.target
        client = aiosmtplib.SMTP(
            hostname=t.host,
            port=t.port,
            username=t.username,
            password=t.password,
            use_tls=t.tls == "implicit",
            start_tls=t.tls == "starttls",
            tls_context=self.tls_context,
            timeout=self.timeout,
        )
        try:
            await client.connect()
            await client.send_message(_mime(message, self.sender))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            client.close()
            raise SendFailed(f"{type(exc).__name__}: {str(exc)[:200]}") from None
        # The server accepted the message: a failed QUIT must not make the outbox send
        # it again (the outbox's "never twice on the normal path").
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            client.close()


class DevSender:
    """Development: log the message and write it to ``directory`` (0600 files)."""

    def __init__(self, directory: Path, *, sender: str) -> None:
        self.directory = directory
        self.sender = sender
        self._count = 0

    async def send(self, message: Message) -> None:
        make_private_dir(self.directory)
        self._count += 1
        name = f"{os.getpid()}-{self._count:06d}-{os.urandom(4).hex()}.eml"
        data = bytes(_mime(message, self.sender))
        try:
            fd = os.open(
                self.directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE
            )
            try:
                os.fchmod(fd, PRIVATE_FILE_MODE)
                os.write(fd, data)
            finally:
                os.close(fd)
        except OSError as exc:
            raise SendFailed(f"outbox directory: {exc.strerror}") from None
        _log.info(
            "email to %s (%s) written to %s:\n%s",
            message.recipient,
            message.subject,
            self.directory / name,
            message.text_body,
        )


def open_sender(settings: EmailSettings, data_dir: Path) -> EmailSender:
    """The SMTP sender when ``smtp_url`` is set, else the development sender.

    Raises:
        ConfigError: a bad ``smtp_url``.
    """
    if settings.smtp_url is None:
        return DevSender(data_dir / "outbox", sender=settings.sender)
    target = parse_smtp_url(settings.smtp_url.get_secret_value())
    return SmtpSender(
        target, sender=settings.sender, timeout=settings.timeout, ca_file=settings.ca_file
    )
