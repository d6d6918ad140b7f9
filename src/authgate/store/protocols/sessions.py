"""Sessions behind Protocols: the session and refresh-token rows
(:class:`SessionRepository`), the login and refresh transactions as blocking code
(:class:`HotPath`), and the append-only revocation log that ends them everywhere
(:class:`RevocationLog`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from authgate.domain import ClientInfo, RefreshRecord, RevocationEvent, SessionInfo, UserRecord

__all__ = ["HotPath", "RevocationLog", "SessionRepository"]


class SessionRepository(Protocol):
    async def token(self, digest: bytes) -> RefreshRecord | None: ...

    async def end(
        self,
        user_id: str,
        *,
        now: float,
        reason: str,
        only: str | None = None,
        keep: str | None = None,
        active_only: bool = False,
    ) -> list[str]:
        """End the matching sessions; their ids."""
        ...

    async def reopen(
        self,
        user_id: str,
        sid: str,
        new_sid: str,
        digest: bytes,
        *,
        now: float,
        idle_ttl: float,
    ) -> frozenset[str] | None:
        """Copy the active session ``sid`` as ``new_sid`` (same device, scope and
        absolute expiry) with one new refresh token ``digest``; ``sid`` itself and its
        refresh tokens are left for the caller to end. The session's scope, or None
        when ``sid`` is not active."""
        ...

    async def active(self, user_id: str, now: float) -> list[SessionInfo]: ...

    async def amr(self, sid: str) -> tuple[str, ...]:
        """The RFC 8176 methods the session's login proved (``sessions.amr``)."""
        ...

    async def purge_dead_tokens(self, now: float) -> None: ...


class HotPath(Protocol):
    """The login and refresh transactions, as blocking code (one thread hop)."""

    def user_by_key(self, username_key: str) -> UserRecord | None: ...

    def open_session(
        self,
        user: UserRecord,
        *,
        sid: str,
        digest: bytes,
        scope: str,
        new_hash: str | None,
        now: float,
        idle_expires_at: float,
        absolute_expires_at: float,
        client: ClientInfo,
        audit_detail: dict[str, Any],
    ) -> bool: ...

    def rotate(
        self,
        digest: bytes,
        new_digest: bytes,
        *,
        now: float,
        idle_ttl: float,
        ip: str | None,
        check: Callable[[RefreshRecord], frozenset[str]],
    ) -> tuple[RefreshRecord, frozenset[str] | None]: ...


class RevocationLog(Protocol):
    async def append(self, events: Sequence[RevocationEvent], now: float) -> None: ...

    async def load_active(self, now: float) -> list[tuple[int, RevocationEvent]]: ...

    async def after(self, seq: int) -> list[tuple[int, RevocationEvent]]: ...

    async def max_seq(self) -> int: ...

    async def purge_expired(self, now: float) -> int: ...
