"""A real SMTP server for the tests: aiosmtpd on loopback, STARTTLS required with a
certificate made here with ``cryptography``, AUTH LOGIN/PLAIN required after it. It
keeps every message it accepts; ``delay`` makes it answer each DATA that much later
(the benchmark's slow server)."""

from __future__ import annotations

import asyncio
import datetime
import email
import email.policy
import ipaddress
import re
import socket
import ssl
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER = "mailer"
PASSWORD = "smtp-secret-7"
_TOKEN = re.compile(r"#token=([A-Za-z0-9_-]{43})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert, key) PEM files.
    The client trusts the certificate itself as its CA (``email.ca_file``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "authgate test smtp")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok)


class _Inbox:
    def __init__(self, owner: TestSmtp) -> None:
        self.owner = owner

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.owner.delay:
            await asyncio.sleep(self.owner.delay)
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.owner.lock:
            self.owner.messages.append(message)
            tls = session.ssl is not None  # STARTTLS; implicit TLS shows on the transport
            transport = server.transport
            tls = tls or (
                transport is not None and transport.get_extra_info("ssl_object") is not None
            )
            self.owner.tls_used.append(tls)
        return "250 OK"


class TestSmtp:
    """Start with :meth:`start` (again after :meth:`stop`, on the same port)."""

    __test__ = False

    def __init__(
        self,
        directory: Path,
        *,
        port: int | None = None,
        delay: float = 0.0,
        implicit_tls: bool = False,
    ):
        self.implicit_tls = implicit_tls
        self.cert, self.key = make_certificate(directory)
        self.port = port or free_port()
        self.delay = delay
        self.messages: list[EmailMessage] = []
        self.tls_used: list[bool] = []
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        scheme = "smtps" if self.implicit_tls else "smtp+starttls"
        return f"{scheme}://{USER}:{PASSWORD}@127.0.0.1:{self.port}"

    def start(self) -> TestSmtp:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        tls: dict[str, Any] = (
            # aiosmtpd's "TLS before AUTH" check knows STARTTLS only; here the whole
            # connection is TLS from the first byte.
            {"ssl_context": context, "auth_require_tls": False}
            if self.implicit_tls
            else {"tls_context": context, "require_starttls": True}
        )
        self._controller = Controller(
            _Inbox(self),
            hostname="127.0.0.1",
            port=self.port,
            auth_required=True,
            authenticator=_authenticate,
            **tls,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, recipient: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == recipient]

    def subjects(self, recipient: str, subject: str) -> list[EmailMessage]:
        """The messages to ``recipient`` whose subject contains ``subject``."""
        return [m for m in self.to(recipient) if subject in str(m["Subject"])]

    def wait_for(
        self, recipient: str, count: int = 1, *, subject: str = "", timeout: float = 30.0
    ) -> list[EmailMessage]:
        """The messages to ``recipient`` (``subject`` in their subject) once there are
        ``count`` of them (a readiness wait, not a timed assertion)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.subjects(recipient, subject)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(
            f"{count} message(s) to {recipient} did not arrive: {self.to(recipient)}"
        )


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def token_in(message: EmailMessage) -> str:
    """The token of the message's link (in the URL fragment)."""
    found = _TOKEN.search(text_of(message))
    assert found is not None, text_of(message)
    return found.group(1)


def link_in(message: EmailMessage) -> str:
    found = re.search(r"https?://\S+#token=\S+", text_of(message))
    assert found is not None
    return found.group(0)
