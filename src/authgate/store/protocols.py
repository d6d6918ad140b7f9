"""The store behind small Protocols, one per aggregate (ARCHITECTURE.md).

The service types against these only; :mod:`authgate.store.database` gives the
SQLAlchemy Core implementations (SQLite and PostgreSQL). A :class:`Transaction` holds
one repository per aggregate, all bound to one database transaction, so an operation
that spans aggregates (a cut-off: user row, sessions, revocation log, audit row)
commits or rolls back as one. The hot paths (login, refresh) run as blocking code in
one hop (:class:`SessionWrites`). Redis fan-out is :class:`authgate.store.fanout.Fanout`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from authgate.domain import (
    ClientInfo,
    ImportedUser,
    RefreshRecord,
    RevocationEvent,
    SessionInfo,
    User,
    UserRecord,
)

if TYPE_CHECKING:
    from authgate.store.audit import AuditRow
    from authgate.store.throttle import AttemptKeys, Reservation
    from authgate.tokens import KeyRing, KeyState
    from authgate.tokens.keys import Key

__all__ = [
    "AuditLog",
    "BulkUsers",
    "HotPath",
    "KeyRepository",
    "RevocationLog",
    "SessionRepository",
    "Store",
    "ThrottleCounters",
    "Transaction",
    "UserRepository",
]


class UserRepository(Protocol):
    async def get(self, user_id: str) -> User | None: ...

    async def get_record(self, user_id: str) -> UserRecord | None: ...

    async def by_key(self, username_key: str) -> User | None: ...

    async def key_taken(self, username_key: str) -> bool: ...

    async def username(self, user_id: str) -> str | None: ...

    async def list(self) -> list[User]: ...

    async def insert(self, user: User, *, username_key: str, password_hash: str) -> None:
        """Raises UsernameTaken when the unique username key is already there."""
        ...

    async def set_scopes(self, user_id: str, scopes: str) -> bool: ...

    async def bump_version(self, user_id: str, now: float, *, disable: bool) -> int | None:
        """Lock the row, bump ``credential_version``, set ``tokens_valid_after``;
        the new version, or None for no such user (SECURITY.md A.7 #48)."""
        ...

    async def set_password(
        self, user_id: str, *, version: int, password_hash: str, now: float
    ) -> bool:
        """Store the hash and ``version + 1`` only if the row is still at ``version``
        and enabled (compare-and-set)."""
        ...


class BulkUsers(Protocol):
    """``authgate users import`` / ``export`` (:mod:`authgate.store.bulk_users`)."""

    async def insert_many(self, rows: Sequence[ImportedUser], *, update: bool) -> tuple[int, int]:
        """One statement for the batch, in the transaction: (inserted, updated)."""
        ...

    async def existing_keys(self, keys: Iterable[str]) -> set[str]: ...

    def stream(self, *, batch: int = 1000) -> AsyncIterator[dict[str, Any]]: ...

    def foreign_hashes(self, own_prefix: str, *, batch: int = 1000) -> AsyncIterator[str]: ...


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


class KeyRepository(Protocol):
    async def lock(self) -> None: ...

    async def load_ring(self) -> KeyRing | None: ...

    async def retired_kids(self) -> set[str]: ...

    async def insert(self, key: Key, state: KeyState, *, now: float) -> None: ...

    async def save_ring(self, ring: KeyRing, *, now: float) -> None: ...

    async def tombstone(self, kids: list[str], *, now: float) -> None: ...

    async def set_state(self, kid: str, state: KeyState, retire_at: float | None) -> None: ...

    async def delete(self, kids: list[str]) -> None: ...


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


class ThrottleCounters(Protocol):
    """Atomic counters of the login throttle (:class:`authgate.store.throttle.ThrottleStore`)."""

    @property
    def degraded(self) -> bool: ...

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int: ...

    async def get(self, key: str) -> int: ...

    async def clear(self, key: str) -> None: ...

    async def reserve(
        self,
        keys: AttemptKeys,
        *,
        now_ms: float,
        token: str,
        lease_ms: int,
        expiry: int,
        ip_limit: int,
        ip_expiry: int,
    ) -> Reservation: ...

    async def settle(
        self,
        keys: AttemptKeys,
        *,
        token: str,
        outcome: int,
        until_ms: int = 0,
        until_expiry: int = 1,
        in_memory: bool = False,
    ) -> None: ...

    async def aclose(self) -> None: ...
