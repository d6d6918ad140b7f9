"""Ending sessions and cutting off a user's tokens, inside the caller's transaction.

Every ended session id and every cut-off is appended to the revocation log in the
same transaction, so the tokens die on every instance (RFC 9700 §4.14.2, SECURITY.md
A.4 #33, A.7 #48); the caller applies the returned events after the commit.
"""

from __future__ import annotations

from authgate.clock import Clock
from authgate.domain import RevocationEvent
from authgate.service.revocation import KIND_GEN, KIND_SID, KIND_SUB
from authgate.store.protocols import Transaction

__all__ = ["Endings"]


class Endings:
    """Args: clock; horizon: how long an ended session or cut-off is remembered."""

    def __init__(self, clock: Clock, horizon: float) -> None:
        self.clock = clock
        self.horizon = horizon

    async def log(self, tx: Transaction, events: list[RevocationEvent]) -> None:
        await tx.log.append(events, self.clock.now())

    async def end_sessions(
        self,
        tx: Transaction,
        *,
        user_id: str,
        reason: str,
        only: str | None = None,
        keep: str | None = None,
        active_only: bool = False,
    ) -> list[RevocationEvent]:
        """End the user's sessions (all, ``only`` one, or all but ``keep``) and log
        their ids, so their access tokens die on every instance (RFC 9700 §4.14.2)."""
        now = self.clock.now()
        ids = await tx.sessions.end(
            user_id, now=now, reason=reason, only=only, keep=keep, active_only=active_only
        )
        if not ids:
            return []
        events = [RevocationEvent(KIND_SID, sid, now, now + self.horizon) for sid in ids]
        await tx.log.append(events, now)
        return events

    async def cut_off(
        self, tx: Transaction, user_id: str, version: int, now: float
    ) -> list[RevocationEvent]:
        """Log the cut-off that kills every token the user holds: by ``iat`` (A.4 #33)
        and exactly, by credential version: ``version`` is the first still valid
        (A.7 #48). The caller has already bumped ``users.credential_version``."""
        events = [
            RevocationEvent(KIND_SUB, user_id, now, now + self.horizon),
            RevocationEvent(KIND_GEN, user_id, float(version), now + self.horizon),
        ]
        await tx.log.append(events, self.clock.now())
        return events
