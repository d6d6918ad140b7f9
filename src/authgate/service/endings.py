"""Ending sessions and cutting off a user's tokens, inside the caller's transaction.

Every ended session id and every cut-off is appended to the revocation log in the
same transaction, so the tokens die on every instance (RFC 9700 §4.14.2, SECURITY.md
A.4 #33, A.7 #48); the caller applies the returned events after the commit.
"""

from __future__ import annotations

from authgate.clock import Clock
from authgate.domain import RevocationEvent
from authgate.errors import NotFound
from authgate.service.revocation import KIND_GEN, KIND_SID, KIND_SUB, cutoff_horizon
from authgate.settings import MAX_ACCESS_TOKEN_TTL, Settings
from authgate.store.protocols import Transaction

__all__ = ["Endings", "endings_for"]


def endings_for(settings: Settings, clock: Clock) -> Endings:
    """The endings of a deployment: cut-offs and ended sessions are remembered until
    every token issued before them has expired (the longest access-token lifetime)."""
    return Endings(clock, cutoff_horizon(max(MAX_ACCESS_TOKEN_TTL, settings.access_token_ttl)))


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

    async def cut_off_user(
        self, tx: Transaction, user_id: str, *, reason: str, disable: bool, now: float
    ) -> list[RevocationEvent]:
        """Global invalidation of one user (A.4 #33, A.7 #48): bump the credential
        version and set ``tokens_valid_after`` (and ``disabled`` when ``disable``),
        log the cut-off, end every session. The one path behind ``logout_all``,
        ``users disable``, a ``users set-scopes`` that removes a scope and ``users
        import --update``.

        The version is bumped first, locking the user row before the sessions to end
        are selected: a racing login either committed before, and its session is
        ended, or it waits for this commit and fails its version check.

        Raises:
            NotFound: no such user.
        """
        version = await tx.users.bump_version(user_id, now, disable=disable)
        if version is None:
            raise NotFound("no such user")
        events = await self.cut_off(tx, user_id, version, now)
        events += await self.end_sessions(tx, user_id=user_id, reason=reason)
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
