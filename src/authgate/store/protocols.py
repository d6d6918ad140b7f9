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
    Api,
    ClientInfo,
    ImportedUser,
    MfaTokenRecord,
    Passkey,
    RefreshRecord,
    RegisteredClient,
    RevocationEvent,
    SessionInfo,
    StoredAccount,
    TotpFactor,
    User,
    UserRecord,
)

if TYPE_CHECKING:
    from authgate.store.audit import AuditRow
    from authgate.store.email import EmailToken, OutboxMessage
    from authgate.store.throttle import AttemptKeys, Reservation
    from authgate.tokens import KeyRing, KeyState
    from authgate.tokens.keys import Key

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


class UserRepository(Protocol):
    async def get(self, user_id: str) -> User | None: ...

    async def get_record(self, user_id: str) -> UserRecord | None: ...

    async def lock(self, user_id: str) -> UserRecord | None:
        """The record, its row locked for a change of the account's factors."""
        ...

    async def second_factor(self, user_id: str) -> bool:
        """The one definition of "the account has a second factor" (a confirmed TOTP
        factor or a passkey), as this transaction sees it."""
        ...

    async def by_key(self, username_key: str) -> User | None: ...

    async def key_taken(self, username_key: str) -> bool: ...

    async def username(self, user_id: str) -> str | None: ...

    async def list(self) -> list[User]: ...

    async def insert(
        self, user: User, *, username_key: str, password_hash: str, email_key: str | None = None
    ) -> None:
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

    async def by_email_key(self, email_key: str) -> UserRecord | None: ...

    async def email_taken(self, email_key: str, *, other_than: str | None = None) -> bool: ...

    async def set_email(
        self, user_id: str, *, email: str, email_key: str, verified: bool
    ) -> bool: ...

    async def mark_email_verified(self, user_id: str, email_key: str) -> bool: ...


class EmailTokenRepository(Protocol):
    """Verification, reset and address-change tokens, by digest (A.7 #57)."""

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
    ) -> None: ...

    async def revoke(self, user_id: str, purpose: str) -> None: ...

    async def peek(self, digest: bytes) -> EmailToken | None: ...

    async def take(self, digest: bytes, purposes: tuple[str, ...]) -> EmailToken | None: ...

    async def purge_expired(self, now: float) -> int: ...


class Outbox(Protocol):
    """Messages committed with the request, sent by the outbox worker."""

    async def add(
        self,
        *,
        recipient: str,
        subject: str,
        text_body: str,
        html_body: str,
        now: float,
        sent: bool = False,
    ) -> None: ...

    async def claim(
        self, owner: str, *, now: float, lease: float, limit: int
    ) -> list[OutboxMessage]: ...

    async def sent(self, message_id: int, owner: str, *, now: float) -> bool: ...

    async def failed(
        self, message_id: int, owner: str, *, retry_at: float | None, error: str, now: float
    ) -> None: ...

    async def pending(self) -> int: ...

    async def purge_sent(self, before: float) -> int: ...


class BulkUsers(Protocol):
    """``authgate users import`` / ``export`` (:mod:`authgate.store.bulk_users`)."""

    async def insert_many(self, rows: Sequence[ImportedUser], *, update: bool) -> tuple[int, int]:
        """One statement for the batch, in the transaction: (inserted, updated)."""
        ...

    async def existing_keys(self, keys: Iterable[str]) -> set[str]: ...

    async def stored(self, keys: Iterable[str]) -> dict[str, StoredAccount]:
        """username key -> the account as stored, for those of ``keys`` that exist;
        on PostgreSQL their rows are locked until the transaction ends."""
        ...

    async def email_owners(self, email_keys: Iterable[str]) -> dict[str, str]:
        """email key -> username key of the accounts that have one of ``email_keys``."""
        ...

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


class PasskeyRepository(Protocol):
    """WebAuthn credentials (:class:`authgate.store.passkeys.SqlPasskeys`)."""

    async def get(self, credential_id: str) -> Passkey | None: ...

    async def of_user(self, user_id: str) -> list[Passkey]: ...

    async def count(self, user_id: str) -> int: ...

    async def insert(self, passkey: Passkey) -> None:
        """Raises InvalidRequest when the credential id is already registered."""
        ...

    async def rename(self, user_id: str, credential_id: str, name: str) -> bool: ...

    async def delete(self, user_id: str, credential_id: str) -> bool: ...

    async def used(
        self, credential_id: str, *, old_count: int, new_count: int, now: float, backed_up: bool
    ) -> bool:
        """Compare-and-set of the signature counter; False when it moved meanwhile."""
        ...


class ChallengeRepository(Protocol):
    """Single-use WebAuthn challenges, stored as digests."""

    async def put(
        self, digest: bytes, *, user_id: str | None, purpose: str, expires_at: float
    ) -> None: ...

    async def take(self, digest: bytes, *, purpose: str, now: float) -> tuple[bool, str | None]:
        """Consume the challenge atomically: (taken, bound user id)."""
        ...

    async def trim(self, purpose: str, *, keep: int, spare: bytes) -> int:
        """Delete all but the ``keep`` newest challenges of ``purpose``, never ``spare``
        (the one just put): the number gone."""
        ...

    async def purge_expired(self, now: float) -> int: ...


class SecondFactorRepository(Protocol):
    """TOTP factors, recovery codes, mfa tokens (:mod:`authgate.store.mfa`); every
    ``use_*`` / ``consume_*`` is a compare-and-set: True for the one winner."""

    async def totp(self, user_id: str) -> TotpFactor | None: ...

    async def put_pending_totp(self, user_id: str, secret: str, *, now: float) -> bool: ...

    async def use_step(self, user_id: str, step: int, *, confirm_at: float | None) -> bool: ...

    async def remove(self, user_id: str) -> bool: ...

    async def replace_recovery_codes(
        self, user_id: str, digests: Sequence[bytes], *, now: float
    ) -> None: ...

    async def use_recovery_code(self, user_id: str, digest: bytes, *, now: float) -> bool: ...

    async def recovery_codes_left(self, user_id: str) -> int: ...

    async def add_mfa_token(
        self, digest: bytes, *, user_id: str, version: int, scope: str, now: float, ttl: float
    ) -> None: ...

    async def mfa_token(self, digest: bytes) -> MfaTokenRecord | None: ...

    async def consume_mfa_token(self, digest: bytes, *, now: float) -> bool: ...

    async def purge_mfa_tokens(self, now: float) -> None: ...

    async def open_session(
        self,
        user_id: str,
        *,
        version: int,
        sid: str,
        digest: bytes,
        scope: str,
        amr: str,
        now: float,
        idle_expires_at: float,
        absolute_expires_at: float,
        client: ClientInfo,
        require_verified: bool = False,
    ) -> bool: ...


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
