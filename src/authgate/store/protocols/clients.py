"""Registered APIs and clients behind Protocols: the registry
(:class:`RegistryRepository`, :mod:`authgate.store.clients`) and the single use of
client-assertion jtis (:class:`ReplayStore`, :mod:`authgate.store.replay`).
"""

from __future__ import annotations

from typing import Protocol

from authgate.domain import Api, RegisteredClient

__all__ = ["RegistryRepository", "ReplayStore"]


class RegistryRepository(Protocol):
    """Registered APIs and clients, and the client-assertion jti table."""

    async def insert_api(self, api: Api) -> None:
        """Raises Conflict when the name or the audience is taken."""
        ...

    async def apis(self) -> list[Api]: ...

    async def delete_api(self, name: str) -> bool: ...

    async def insert_client(self, client: RegisteredClient) -> None:
        """Raises Conflict when the name is taken."""
        ...

    async def clients(self) -> list[RegisteredClient]: ...

    async def client(self, client_id: str) -> RegisteredClient | None: ...

    async def client_by_name(self, name: str) -> RegisteredClient | None: ...

    async def set_secret(self, client_id: str, digest: bytes) -> bool: ...

    async def delete_client(self, client_id: str) -> bool: ...

    async def consume_jti(self, client_id: str, jti: str, expires_at: float) -> bool:
        """True the first time; False when the jti is already recorded (atomic)."""
        ...

    async def purge_jtis(self, now: float) -> int: ...


class ReplayStore(Protocol):
    """Single use of client-assertion jtis (:mod:`authgate.store.replay`)."""

    async def consume(self, client_id: str, jti: str, expires_at: float, now: float) -> bool:
        """True the first time ``(client_id, jti)`` is seen before ``expires_at``."""
        ...

    async def aclose(self) -> None: ...
