"""The audit log behind a Protocol (:class:`AuditLog`,
:mod:`authgate.store.audit`): rows written in the caller's transaction, read back by
filter, purged after the retention period.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from authgate.store.audit import AuditRow

__all__ = ["AuditLog"]


class AuditLog(Protocol):
    async def add(
        self,
        event: str,
        *,
        now: float,
        user_id: str | None,
        session_id: str | None,
        ip: str | None,
        detail: dict[str, Any],
    ) -> None: ...

    async def purge_before(self, cutoff: float) -> int: ...

    async def events(
        self,
        *,
        user: str | None = None,
        user_key: str | None = None,
        event: str | None = None,
        since: float | None = None,
        limit: int = 100,
    ) -> list[AuditRow]: ...
