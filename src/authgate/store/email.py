"""Email tokens and the outbox (implement :class:`EmailTokenRepository` and
:class:`Outbox` of :mod:`authgate.store.protocols`).

SECURITY.md A.7 #57: a token is found by its SHA-256 digest and **taken** by one
``DELETE ... RETURNING``: of any number of concurrent uses exactly one gets the row.
A new token **replaces** the user's earlier ones of its purpose under a lock per
(user, purpose) (PostgreSQL: an advisory transaction lock; SQLite: one writer), so of
a concurrent burst of requests one token survives, not one per request.
The outbox is claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite
has one writer and ignores the clause) and a lease, so each message is sent by one
instance; a crash leaves the lease to expire and another pass sends it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from authgate.store.schema import email_outbox, email_tokens

__all__ = ["EmailToken", "OutboxMessage", "SqlEmailTokens", "SqlOutbox"]


@dataclass(frozen=True, slots=True)
class EmailToken:
    user_id: str | None
    purpose: str
    email: str | None
    email_key: str | None
    credential_version: int
    expires_at: float


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: int
    recipient: str
    subject: str
    text_body: str
    html_body: str
    attempts: int


class SqlEmailTokens:
    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

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
    ) -> None:
        """Store a token, deleting the user's earlier ones of the same purpose (a
        newer token invalidates the older, A.7 #57).

        Concurrent replaces for one user and purpose are serialised until their
        transactions end: under READ COMMITTED, two that each deleted before the
        other's insert committed would otherwise both leave their token alive.
        """
        if user_id is not None:
            if self._conn.dialect.name == "postgresql":
                await self._conn.execute(
                    text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(user_id, purpose)}
                )
            await self._conn.execute(
                delete(email_tokens).where(
                    email_tokens.c.user_id == user_id, email_tokens.c.purpose == purpose
                )
            )
        await self._conn.execute(
            insert(email_tokens).values(
                token_hash=digest,
                user_id=user_id,
                purpose=purpose,
                email=email,
                email_key=email_key,
                credential_version=credential_version,
                created_at=now,
                expires_at=expires_at,
            )
        )

    async def revoke(self, user_id: str, purpose: str) -> None:
        """Delete the user's tokens of ``purpose``."""
        await self._conn.execute(
            delete(email_tokens).where(
                email_tokens.c.user_id == user_id, email_tokens.c.purpose == purpose
            )
        )

    async def peek(self, digest: bytes) -> EmailToken | None:
        row = (
            await self._conn.execute(
                select(email_tokens).where(email_tokens.c.token_hash == digest)
            )
        ).first()
        return None if row is None else _token(row)

    async def take(self, digest: bytes, purposes: tuple[str, ...]) -> EmailToken | None:
        """Delete the token and return it: single use, atomic."""
        stmt = (
            delete(email_tokens)
            .where(email_tokens.c.token_hash == digest, email_tokens.c.purpose.in_(purposes))
            .returning(*email_tokens.c)
        )
        row = (await self._conn.execute(stmt)).first()
        return None if row is None else _token(row)

    async def purge_expired(self, now: float) -> int:
        stmt = delete(email_tokens).where(email_tokens.c.expires_at < now)
        return int((await self._conn.execute(stmt)).rowcount or 0)


def _lock_key(user_id: str, purpose: str) -> int:
    """A signed 64-bit advisory-lock key for (user, purpose); a rare collision only
    serialises two unrelated requests."""
    digest = hashlib.sha256(f"email-token:{purpose}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _token(row: Any) -> EmailToken:
    return EmailToken(
        user_id=row.user_id,
        purpose=row.purpose,
        email=row.email,
        email_key=row.email_key,
        credential_version=int(row.credential_version),
        expires_at=float(row.expires_at),
    )


class SqlOutbox:
    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(
        self,
        *,
        recipient: str,
        subject: str,
        text_body: str,
        html_body: str,
        now: float,
        sent: bool = False,
    ) -> None:
        """Queue a message (``sent``: a row of the same shape that is never sent; the
        reset request for an unknown account writes one, A.7 #57)."""
        await self._conn.execute(
            insert(email_outbox).values(
                created_at=now,
                recipient=recipient,
                subject=subject[:256],
                text_body="" if sent else text_body,
                html_body="" if sent else html_body,
                attempts=0,
                next_attempt_at=now,
                sent_at=now if sent else None,
            )
        )

    async def claim(
        self, owner: str, *, now: float, lease: float, limit: int
    ) -> list[OutboxMessage]:
        """Lease up to ``limit`` due messages to ``owner`` (skipping rows another
        instance holds locked or leased)."""
        due = (
            select(email_outbox.c.id)
            .where(
                email_outbox.c.sent_at.is_(None),
                email_outbox.c.next_attempt_at <= now,
                or_(email_outbox.c.lease_until.is_(None), email_outbox.c.lease_until < now),
            )
            .order_by(email_outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = [int(i) for i in (await self._conn.execute(due)).scalars()]
        if not ids:
            return []
        await self._conn.execute(
            update(email_outbox)
            .where(email_outbox.c.id.in_(ids))
            .values(
                lease_until=now + lease,
                lease_owner=owner,
                attempts=email_outbox.c.attempts + 1,
            )
        )
        rows = (
            await self._conn.execute(
                select(email_outbox).where(email_outbox.c.id.in_(ids)).order_by(email_outbox.c.id)
            )
        ).all()
        return [
            OutboxMessage(
                id=int(r.id),
                recipient=r.recipient,
                subject=r.subject,
                text_body=r.text_body,
                html_body=r.html_body,
                attempts=int(r.attempts),
            )
            for r in rows
        ]

    async def sent(self, message_id: int, owner: str, *, now: float) -> bool:
        """Mark sent and blank the bodies (their links are secrets)."""
        stmt = (
            update(email_outbox)
            .where(email_outbox.c.id == message_id, email_outbox.c.lease_owner == owner)
            .values(sent_at=now, lease_until=None, text_body="", html_body="", last_error=None)
        )
        return (await self._conn.execute(stmt)).rowcount == 1

    async def failed(
        self, message_id: int, owner: str, *, retry_at: float | None, error: str, now: float
    ) -> None:
        """Release the lease; ``retry_at`` None gives up (bodies blanked)."""
        values: dict[str, Any] = {"lease_until": None, "last_error": error[:256]}
        if retry_at is None:
            values.update(sent_at=now, text_body="", html_body="")
        else:
            values["next_attempt_at"] = retry_at
        await self._conn.execute(
            update(email_outbox)
            .where(email_outbox.c.id == message_id, email_outbox.c.lease_owner == owner)
            .values(**values)
        )

    async def pending(self) -> int:
        stmt = (
            select(func.count()).select_from(email_outbox).where(email_outbox.c.sent_at.is_(None))
        )
        return int((await self._conn.execute(stmt)).scalar() or 0)

    async def purge_sent(self, before: float) -> int:
        stmt = delete(email_outbox).where(
            and_(email_outbox.c.sent_at.is_not(None), email_outbox.c.sent_at < before)
        )
        return int((await self._conn.execute(stmt)).rowcount or 0)
