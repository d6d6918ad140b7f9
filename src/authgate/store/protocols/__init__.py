"""The store behind small Protocols, one per aggregate (ARCHITECTURE.md).

The service types against these only; :mod:`authgate.store.database` gives the
SQLAlchemy Core implementations (SQLite and PostgreSQL). A :class:`Transaction` holds
one repository per aggregate, all bound to one database transaction, so an operation
that spans aggregates (a cut-off: user row, sessions, revocation log, audit row)
commits or rolls back as one. The hot paths (login, refresh) run as blocking code in
one hop (:class:`HotPath`). Redis fan-out is :class:`authgate.store.fanout.Fanout`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeVar

from authgate.store.protocols.audit import AuditLog
from authgate.store.protocols.clients import RegistryRepository, ReplayStore
from authgate.store.protocols.factors import (
    ChallengeRepository,
    PasskeyRepository,
    SecondFactorRepository,
)
from authgate.store.protocols.keys import KeyRepository
from authgate.store.protocols.mail import EmailTokenRepository, Outbox
from authgate.store.protocols.sessions import HotPath, RevocationLog, SessionRepository
from authgate.store.protocols.throttle import ThrottleCounters
from authgate.store.protocols.users import BulkUsers, UserRepository

__all__ = [
    "AuditLog",
    "BulkUsers",
    "ChallengeRepository",
    "EmailTokenRepository",
    "HotPath",
    "KeyRepository",
    "Outbox",
    "PasskeyRepository",
    "RegistryRepository",
    "ReplayStore",
    "RevocationLog",
    "SecondFactorRepository",
    "SessionRepository",
    "Store",
    "ThrottleCounters",
    "Transaction",
    "UserRepository",
]


class Transaction(Protocol):
    """One database transaction, with a repository per aggregate bound to it."""

    @property
    def users(self) -> UserRepository: ...

    @property
    def sessions(self) -> SessionRepository: ...

    @property
    def bulk_users(self) -> BulkUsers: ...

    @property
    def log(self) -> RevocationLog: ...

    @property
    def audit(self) -> AuditLog: ...

    @property
    def keys(self) -> KeyRepository: ...

    @property
    def registry(self) -> RegistryRepository: ...

    @property
    def passkeys(self) -> PasskeyRepository: ...

    @property
    def challenges(self) -> ChallengeRepository: ...

    @property
    def factors(self) -> SecondFactorRepository: ...

    @property
    def email_tokens(self) -> EmailTokenRepository: ...

    @property
    def outbox(self) -> Outbox: ...

    async def ping(self) -> None: ...


_T = TypeVar("_T")


class Store(Protocol):
    """The database (:class:`authgate.store.database.Database`)."""

    def write(self) -> AbstractAsyncContextManager[Transaction]:
        """A write transaction."""
        ...

    def read(self) -> AbstractAsyncContextManager[Transaction]:
        """A read-only transaction."""
        ...

    async def run_write(self, fn: Callable[[HotPath], _T]) -> _T:
        """``fn`` as one write transaction of blocking code."""
        ...

    async def run_read(self, fn: Callable[[HotPath], _T]) -> _T:
        """``fn`` in one read-only transaction of blocking code."""
        ...
