"""State and helpers shared by the service's operation modules."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from authgate.clock import Clock
from authgate.errors import InvalidGrant
from authgate.passwords import PasswordHasher
from authgate.service.audit_limit import FailureAudit
from authgate.service.keystore import KeyStore
from authgate.service.revocation import (
    GENERATION_CLAIM,
    KIND_GEN,
    KIND_SID,
    KIND_SUB,
    RevocationEvent,
    RevocationState,
    cutoff_horizon,
)
from authgate.service.sync import RevocationSync
from authgate.service.throttle import LoginThrottle
from authgate.service.types import TokenPair
from authgate.settings import MAX_ACCESS_TOKEN_TTL, Settings
from authgate.store import revocations as log
from authgate.store.errors import store_errors
from authgate.store.schema import sessions
from authgate.store.url import READ_ONLY
from authgate.tokens import KeyRing, TokenCodec

__all__ = ["ServiceCore", "hash_refresh_token", "new_refresh_token"]

_T = TypeVar("_T")
#: secrets.token_urlsafe(32): 43 characters, 256 bits (RFC 6749 §10.10, A.4 #24).
_REFRESH_SHAPE = re.compile(r"[A-Za-z0-9_-]{43,128}")


def new_refresh_token() -> tuple[str, bytes]:
    token = secrets.token_urlsafe(32)
    return token, hashlib.sha256(token.encode("ascii")).digest()


def hash_refresh_token(token: object) -> bytes | None:
    """The SHA-256 lookup key, or None for anything not shaped like our tokens."""
    if not isinstance(token, str) or not _REFRESH_SHAPE.fullmatch(token):
        return None
    return hashlib.sha256(token.encode("ascii")).digest()


class ServiceCore:
    """Holds the engine, codec, hasher, throttle and revocation machinery."""

    settings: Settings
    codec: TokenCodec
    keyring: KeyRing

    def __init__(
        self,
        settings: Settings,
        *,
        engine: AsyncEngine,
        clock: Clock,
        codec: TokenCodec,
        keystore: KeyStore,
        hasher: PasswordHasher,
        throttle: LoginThrottle,
        revocation: RevocationState,
        sync: RevocationSync,
        thread_engine: Engine | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.codec = codec
        self.keyring = codec.keys
        self.keystore = keystore
        self.hasher = hasher
        self.throttle = throttle
        self.revocation = revocation
        self.sync = sync
        self.thread_engine = thread_engine
        self._sqlite_writer = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        # Key changes and reloads install rings one at a time, in the order they read them.
        self._keys_lock = asyncio.Lock()
        self.failure_audit = FailureAudit(settings.audit, self._write)
        # Cut-offs and ended sessions must outlive every token issued before them.
        self.horizon = cutoff_horizon(max(MAX_ACCESS_TOKEN_TTL, settings.access_token_ttl))

    def sync_counts(self) -> dict[str, int]:
        return self.sync.counts.snapshot()

    # -- database -----------------------------------------------------------------

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        if self._sqlite_writer is None:
            with store_errors():
                async with self.engine.begin() as conn:
                    yield conn
            return
        # SQLite has one writer at a time. Queue our own writers here, in order,
        # rather than in SQLite's busy handler, which sleeps in growing steps.
        async with self._sqlite_writer:
            with store_errors():
                async with self.engine.begin() as conn:
                    yield conn

    async def _write_blocking(self, fn: Callable[[Connection], _T]) -> _T:
        """Run ``fn(conn)`` as one write transaction: on SQLite in a worker thread
        (one hop for the whole transaction), elsewhere through ``run_sync``."""
        if self.thread_engine is None:
            with store_errors():
                async with self.engine.begin() as conn:
                    return await conn.run_sync(fn)
        assert self._sqlite_writer is not None
        async with self._sqlite_writer:
            return await asyncio.to_thread(self._in_thread, fn)

    async def _read_blocking(self, fn: Callable[[Connection], _T]) -> _T:
        """Run ``fn(conn)`` in a read-only transaction (see :meth:`_write_blocking`)."""
        if self.thread_engine is None:
            async with self._read() as conn:
                return await conn.run_sync(fn)
        return await asyncio.to_thread(self._in_thread_read, fn)

    def _in_thread_read(self, fn: Callable[[Connection], _T]) -> _T:
        assert self.thread_engine is not None
        with store_errors(), self.thread_engine.connect() as conn:
            conn = conn.execution_options(**{READ_ONLY: True})
            with conn.begin():
                return fn(conn)

    def _in_thread(self, fn: Callable[[Connection], _T]) -> _T:
        assert self.thread_engine is not None
        with store_errors(), self.thread_engine.begin() as conn:
            return fn(conn)

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        with store_errors():
            async with self.engine.connect() as conn:
                conn = await conn.execution_options(**{READ_ONLY: True})
                async with conn.begin():
                    yield conn

    async def _log(self, conn: AsyncConnection, events: Iterable[RevocationEvent]) -> None:
        now = self.clock.now()
        for e in events:
            await log.append(conn, e.kind, e.key, e.value, e.expires_at, now)

    async def _end_sessions(
        self,
        conn: AsyncConnection,
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
        query = select(sessions.c.id).where(
            sessions.c.user_id == user_id, sessions.c.ended_at.is_(None)
        )
        if only is not None:
            query = query.where(sessions.c.id == only)
        if keep is not None:
            query = query.where(sessions.c.id != keep)
        if active_only:
            query = query.where(
                sessions.c.idle_expires_at > now, sessions.c.absolute_expires_at > now
            )
        ids = list((await conn.execute(query)).scalars())
        if not ids:
            return []
        await conn.execute(
            update(sessions)
            .where(sessions.c.id.in_(ids), sessions.c.ended_at.is_(None))
            .values(ended_at=now, end_reason=reason)
        )
        events = [RevocationEvent(KIND_SID, sid, now, now + self.horizon) for sid in ids]
        await self._log(conn, events)
        return events

    async def _cut_off(
        self, conn: AsyncConnection, user_id: str, version: int, now: float
    ) -> list[RevocationEvent]:
        """Log the cut-off that kills every token the user holds: by ``iat`` (A.4 #33)
        and exactly, by credential version: ``version`` is the first still valid
        (A.7 #48). The caller has already bumped ``users.credential_version``."""
        events = [
            RevocationEvent(KIND_SUB, user_id, now, now + self.horizon),
            RevocationEvent(KIND_GEN, user_id, float(version), now + self.horizon),
        ]
        await self._log(conn, events)
        return events

    # -- tokens -------------------------------------------------------------------

    def _pair(
        self,
        user_id: str,
        session_id: str,
        scope: frozenset[str],
        refresh_token: str,
        generation: int,
    ) -> TokenPair:
        """RFC 9068 §2.2 access token bound to the session by ``sid``, and to the
        user's credential version by ``gen`` (A.7 #48)."""
        s = self.settings
        token, _ = self.codec.issue(
            sub=user_id,
            ttl=s.access_token_ttl,
            client_id=s.client_id,
            scope=scope,
            sid=session_id,
            extra={GENERATION_CLAIM: generation},
        )
        return TokenPair(
            access_token=token,
            refresh_token=refresh_token,
            expires_in=s.access_token_ttl,
            scope=scope,
            session_id=session_id,
            user_id=user_id,
        )

    @staticmethod
    def _require_hash(token: object) -> bytes:
        digest = hash_refresh_token(token)
        if digest is None:
            raise InvalidGrant("invalid refresh token")
        return digest

    def _install_ring(self, ring: KeyRing) -> None:
        self.keyring = ring
        self.codec.keys = ring
