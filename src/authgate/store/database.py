"""``Database``: the engine, transactions, and the SQLite writer thread.

SQLite has one writer at a time: this instance queues its own writers on an
``asyncio.Lock``, in order, rather than in SQLite's busy handler, which sleeps in
growing steps. The hot paths (login, refresh) run their transaction as blocking
code: one worker-thread hop on SQLite, ``run_sync`` on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy import Engine, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from authgate.store.audit import SqlAudit
from authgate.store.bulk_users import SqlBulkUsers
from authgate.store.clients import SqlRegistry
from authgate.store.email import SqlEmailTokens, SqlOutbox
from authgate.store.errors import store_errors
from authgate.store.kek import KeyEncryptionKey
from authgate.store.keys import SqlKeys
from authgate.store.mfa import SqlSecondFactors
from authgate.store.migrate import upgrade
from authgate.store.passkeys import SqlChallenges, SqlPasskeys
from authgate.store.protocols import HotPath, Store, Transaction
from authgate.store.revocations import SqlRevocationLog
from authgate.store.sessions import SqlHotPath, SqlSessions
from authgate.store.url import READ_ONLY, create_engine, create_sqlite_thread_engine, normalize_url
from authgate.store.users import SqlUsers

__all__ = ["Database", "SqlTransaction"]

_T = TypeVar("_T")


class SqlTransaction:
    """Implements :class:`authgate.store.protocols.Transaction` over one connection."""

    __slots__ = ("_conn", "_kek")

    def __init__(self, conn: AsyncConnection, kek: KeyEncryptionKey | None) -> None:
        self._conn = conn
        self._kek = kek

    @property
    def users(self) -> SqlUsers:
        return SqlUsers(self._conn)

    @property
    def sessions(self) -> SqlSessions:
        return SqlSessions(self._conn)

    @property
    def bulk_users(self) -> SqlBulkUsers:
        return SqlBulkUsers(self._conn)

    @property
    def log(self) -> SqlRevocationLog:
        return SqlRevocationLog(self._conn)

    @property
    def audit(self) -> SqlAudit:
        return SqlAudit(self._conn)

    @property
    def email_tokens(self) -> SqlEmailTokens:
        return SqlEmailTokens(self._conn)

    @property
    def outbox(self) -> SqlOutbox:
        return SqlOutbox(self._conn)

    @property
    def keys(self) -> SqlKeys:
        assert self._kek is not None, "Database opened without a key-encryption key"
        return SqlKeys(self._conn, self._kek)

    @property
    def registry(self) -> SqlRegistry:
        return SqlRegistry(self._conn)

    @property
    def passkeys(self) -> SqlPasskeys:
        return SqlPasskeys(self._conn)

    @property
    def challenges(self) -> SqlChallenges:
        return SqlChallenges(self._conn)

    @property
    def factors(self) -> SqlSecondFactors:
        return SqlSecondFactors(self._conn, self._kek)

    async def ping(self) -> None:
        await self._conn.execute(text("SELECT 1"))


class Database:
    """One database: SQLite (the default) or PostgreSQL (several instances).

    Args:
        url: any URL :func:`authgate.store.url.normalize_url` accepts.
        kek: seals the signing keys (``Transaction.keys``).
    """

    def __init__(self, url: str, *, kek: KeyEncryptionKey | None = None) -> None:
        normalized = normalize_url(url)
        self.kek = kek
        self.engine: AsyncEngine = create_engine(normalized)
        self.thread_engine: Engine | None = create_sqlite_thread_engine(normalized)
        self._writer = asyncio.Lock() if self.engine.dialect.name == "sqlite" else None

    async def migrate(self, bootstrap: Callable[[SqlTransaction], object] | None = None) -> None:
        """Upgrade to head (creating the database), then ``bootstrap`` under the
        migration lock."""

        async def run(conn: AsyncConnection) -> None:
            if bootstrap is not None:
                await bootstrap(SqlTransaction(conn, self.kek))  # type: ignore[misc]

        await upgrade(self.engine, bootstrap=run)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[SqlTransaction]:
        """A write transaction (queued behind this instance's other writers on SQLite)."""
        if self._writer is None:
            with store_errors():
                async with self.engine.begin() as conn:
                    yield SqlTransaction(conn, self.kek)
            return
        async with self._writer:
            with store_errors():
                async with self.engine.begin() as conn:
                    yield SqlTransaction(conn, self.kek)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqlTransaction]:
        """A read-only transaction."""
        with store_errors():
            async with self.engine.connect() as conn:
                conn = await conn.execution_options(**{READ_ONLY: True})
                async with conn.begin():
                    yield SqlTransaction(conn, self.kek)

    async def run_write(self, fn: Callable[[HotPath], _T]) -> _T:
        """Run ``fn`` as one write transaction of blocking code: on SQLite in a worker
        thread (one hop for the whole transaction), elsewhere through ``run_sync``."""
        if self.thread_engine is None:
            with store_errors():
                async with self.engine.begin() as conn:
                    return await conn.run_sync(lambda c: fn(SqlHotPath(c)))
        assert self._writer is not None
        async with self._writer:
            return await asyncio.to_thread(self._in_thread, fn)

    async def run_read(self, fn: Callable[[HotPath], _T]) -> _T:
        """Run ``fn`` in a read-only transaction (see :meth:`run_write`)."""
        if self.thread_engine is None:
            with store_errors():
                async with self.engine.connect() as conn:
                    conn = await conn.execution_options(**{READ_ONLY: True})
                    async with conn.begin():
                        return await conn.run_sync(lambda c: fn(SqlHotPath(c)))
        return await asyncio.to_thread(self._in_thread_read, fn)

    def _in_thread(self, fn: Callable[[HotPath], _T]) -> _T:
        assert self.thread_engine is not None
        with store_errors(), self.thread_engine.begin() as conn:
            return fn(SqlHotPath(conn))

    def _in_thread_read(self, fn: Callable[[HotPath], _T]) -> _T:
        assert self.thread_engine is not None
        with store_errors(), self.thread_engine.connect() as conn:
            conn = conn.execution_options(**{READ_ONLY: True})
            with conn.begin():
                return fn(SqlHotPath(conn))

    async def aclose(self) -> None:
        await self.engine.dispose()
        if self.thread_engine is not None:
            self.thread_engine.dispose()


# mypy proves the implementations satisfy the Protocols the service types against.
_store: type[Store] = Database
_transaction: type[Transaction] = SqlTransaction
