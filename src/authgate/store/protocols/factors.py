"""Second factors behind Protocols: WebAuthn credentials (:class:`PasskeyRepository`)
and their single-use challenges (:class:`ChallengeRepository`), both in
:mod:`authgate.store.passkeys`; TOTP factors, recovery codes and mfa tokens
(:class:`SecondFactorRepository`, :mod:`authgate.store.mfa`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from authgate.domain import ClientInfo, MfaTokenRecord, Passkey, TotpFactor

__all__ = ["ChallengeRepository", "PasskeyRepository", "SecondFactorRepository"]


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
