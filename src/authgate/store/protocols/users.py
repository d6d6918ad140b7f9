"""The users aggregate behind Protocols: the account rows one at a time
(:class:`UserRepository`, :mod:`authgate.store.users`) and in batches for
``authgate users import`` / ``export`` (:class:`BulkUsers`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, Protocol

from authgate.domain import ImportedUser, StoredAccount, User, UserRecord

__all__ = ["BulkUsers", "UserRepository"]


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
