"""Mail behind Protocols: the single-use tokens a message carries (verification,
reset, address change: :class:`EmailTokenRepository`) and the outbox of messages
committed with the request (:class:`Outbox`), both in :mod:`authgate.store.email`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from authgate.store.email import EmailToken, OutboxMessage

__all__ = ["EmailTokenRepository", "Outbox"]


class EmailTokenRepository(Protocol):
    """Verification, reset and address-change tokens, by digest (A.7 #57)."""

    async def replace(
        self,
        digest: bytes,
        *,
        user_id: str | None,
        purpose: str,
        credential_version: int,
        now: float,
        expires_at: float,
        email: str | None = None,
        email_key: str | None = None,
    ) -> None: ...

    async def revoke(self, user_id: str, purpose: str) -> None: ...

    async def peek(self, digest: bytes) -> EmailToken | None: ...

    async def take(self, digest: bytes, purposes: tuple[str, ...]) -> EmailToken | None: ...

    async def purge_expired(self, now: float) -> int: ...


class Outbox(Protocol):
    """Messages committed with the request, sent by the outbox worker."""

    async def add(
        self,
        *,
        recipient: str,
        subject: str,
        text_body: str,
        html_body: str,
        now: float,
        sent: bool = False,
    ) -> None: ...

    async def claim(
        self, owner: str, *, now: float, lease: float, limit: int
    ) -> list[OutboxMessage]: ...

    async def sent(self, message_id: int, owner: str, *, now: float) -> bool: ...

    async def failed(
        self, message_id: int, owner: str, *, retry_at: float | None, error: str, now: float
    ) -> None: ...

    async def pending(self) -> int: ...

    async def purge_sent(self, before: float) -> int: ...
