"""Tokens for messages and the queue they go through (SECURITY.md A.7 #57).

A token is 256 random bits (``secrets.token_urlsafe(32)``); only its SHA-256 digest
is stored, so a copy of the database cannot be used to reset a password. A message is
added to the outbox in the caller's transaction and the worker is woken after the
commit: the request never talks to the SMTP server.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from authgate.service.mail_templates import MailTemplates
from authgate.service.mailer import Message
from authgate.service.outbox import OutboxWorker
from authgate.store.protocols import Transaction

__all__ = ["MailQueue", "new_email_token", "token_digest"]

_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


def new_email_token() -> tuple[str, bytes]:
    """(token for the link, digest to store)."""
    token = secrets.token_urlsafe(32)
    return token, hashlib.sha256(token.encode("ascii")).digest()


def token_digest(token: object) -> bytes | None:
    """The lookup digest, or None for anything not shaped like our tokens."""
    if not isinstance(token, str) or not _TOKEN_SHAPE.fullmatch(token):
        return None
    return hashlib.sha256(token.encode("ascii")).digest()


class MailQueue:
    def __init__(self, templates: MailTemplates, worker: OutboxWorker | None) -> None:
        self.templates = templates
        self.worker = worker

    async def add(
        self, tx: Transaction, message: Message, *, now: float, void: bool = False
    ) -> None:
        """Queue ``message`` in ``tx``; ``void`` writes the same row already done (the
        reset request for an unknown account does the same work, A.7 #57)."""
        await tx.outbox.add(
            recipient=message.recipient,
            subject=message.subject,
            text_body=message.text_body,
            html_body=message.html_body,
            now=now,
            sent=void,
        )

    def wake(self) -> None:
        if self.worker is not None:
            self.worker.wake()
