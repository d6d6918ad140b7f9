"""The second-factor aggregate: TOTP factors, recovery codes and the login's
pending second steps (``mfa_tokens``).

Every "use once" rule is one compare-and-set ``UPDATE … WHERE`` in the caller's
transaction (never read-then-write), so a burst of identical requests has one
winner on SQLite and PostgreSQL alike: a TOTP time step (``last_step`` only moves
forward), a recovery code (``used_at IS NULL``), an mfa token (``used_at IS NULL``
and not expired). The TOTP secret is sealed with the key-encryption key
(:mod:`authgate.store.kek`), bound to its user by the associated data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from authgate.domain import ClientInfo, MfaTokenRecord, TotpFactor
from authgate.errors import ConfigError
from authgate.store.audit import audit_row
from authgate.store.kek import KeyEncryptionKey
from authgate.store.schema import mfa_factors, mfa_tokens, recovery_codes, users
from authgate.store.statements import INSERT_AUDIT, INSERT_REFRESH, INSERT_SESSION

#: ``LOCK_USER`` with the address state: a second step re-checks every login rule on
#: the row it locks (FOR SHARE on PostgreSQL; SQLite has one writer).
_LOCK_USER = (
    select(users.c.credential_version, users.c.disabled, users.c.email_verified)
    .where(users.c.id == bindparam("id"))
    .with_for_update(read=True)
)

__all__ = ["SqlSecondFactors"]

_TOTP = "totp"


def _aad(user_id: str) -> bytes:
    return f"totp:{user_id}".encode()


class SqlSecondFactors:
    """Implements :class:`authgate.store.protocols.SecondFactorRepository`."""

    __slots__ = ("_conn", "_kek")

    def __init__(self, conn: AsyncConnection, kek: KeyEncryptionKey | None) -> None:
        self._conn = conn
        self._kek = kek

    def _sealer(self) -> KeyEncryptionKey:
        if self._kek is None:
            raise ConfigError("second factors need the key-encryption key")
        return self._kek

    # -- TOTP -----------------------------------------------------------------------

    async def totp(self, user_id: str) -> TotpFactor | None:
        row = (
            await self._conn.execute(
                select(mfa_factors).where(
                    mfa_factors.c.user_id == user_id, mfa_factors.c.kind == _TOTP
                )
            )
        ).first()
        if row is None:
            return None
        secret = self._sealer().open(row.secret_sealed, _aad(user_id)).decode("ascii")
        return TotpFactor(
            user_id=user_id,
            secret=secret,
            confirmed=row.confirmed_at is not None,
            last_step=row.last_step,
        )

    async def put_pending_totp(self, user_id: str, secret: str, *, now: float) -> bool:
        """Store an unconfirmed factor (replacing an unconfirmed one); False when a
        confirmed factor is already there."""
        conn = self._conn
        await conn.execute(
            delete(mfa_factors).where(
                mfa_factors.c.user_id == user_id, mfa_factors.c.confirmed_at.is_(None)
            )
        )
        if (
            await conn.execute(
                select(mfa_factors.c.user_id).where(mfa_factors.c.user_id == user_id)
            )
        ).first() is not None:
            return False
        sealed = self._sealer().seal(secret.encode("ascii"), _aad(user_id))
        await conn.execute(
            insert(mfa_factors).values(
                user_id=user_id, kind=_TOTP, secret_sealed=sealed, created_at=now
            )
        )
        return True

    async def use_step(self, user_id: str, step: int, *, confirm_at: float | None) -> bool:
        """Accept time step ``step`` once: only if it is later than the last one
        accepted (compare-and-set). ``confirm_at``: also confirm a pending factor
        (and only a pending one)."""
        query = update(mfa_factors).where(
            mfa_factors.c.user_id == user_id,
            or_(mfa_factors.c.last_step.is_(None), mfa_factors.c.last_step < step),
        )
        if confirm_at is None:
            query = query.where(mfa_factors.c.confirmed_at.is_not(None))
            values: dict[str, Any] = {"last_step": step}
        else:
            query = query.where(mfa_factors.c.confirmed_at.is_(None))
            values = {"last_step": step, "confirmed_at": confirm_at}
        return (await self._conn.execute(query.values(**values))).rowcount == 1

    async def remove(self, user_id: str) -> bool:
        """Delete the factor and the recovery codes; False when there was none."""
        gone = await self._conn.execute(delete(mfa_factors).where(mfa_factors.c.user_id == user_id))
        await self._conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
        return gone.rowcount > 0

    # -- recovery codes ---------------------------------------------------------------

    async def replace_recovery_codes(
        self, user_id: str, digests: Sequence[bytes], *, now: float
    ) -> None:
        conn = self._conn
        await conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
        await conn.execute(
            insert(recovery_codes),
            [{"user_id": user_id, "code_hash": d, "created_at": now} for d in digests],
        )

    async def use_recovery_code(self, user_id: str, digest: bytes, *, now: float) -> bool:
        result = await self._conn.execute(
            update(recovery_codes)
            .where(
                recovery_codes.c.user_id == user_id,
                recovery_codes.c.code_hash == digest,
                recovery_codes.c.used_at.is_(None),
            )
            .values(used_at=now)
        )
        return result.rowcount == 1

    async def recovery_codes_left(self, user_id: str) -> int:
        count = await self._conn.scalar(
            select(func.count()).where(
                recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None)
            )
        )
        return int(count or 0)

    # -- the login's second step --------------------------------------------------------

    async def add_mfa_token(
        self, digest: bytes, *, user_id: str, version: int, scope: str, now: float, ttl: float
    ) -> None:
        await self._conn.execute(
            insert(mfa_tokens).values(
                token_hash=digest,
                user_id=user_id,
                credential_version=version,
                scope=scope,
                created_at=now,
                expires_at=now + ttl,
            )
        )

    async def mfa_token(self, digest: bytes) -> MfaTokenRecord | None:
        row = (
            await self._conn.execute(select(mfa_tokens).where(mfa_tokens.c.token_hash == digest))
        ).first()
        if row is None:
            return None
        return MfaTokenRecord(
            user_id=row.user_id,
            credential_version=row.credential_version,
            scope=row.scope,
            expires_at=row.expires_at,
            used_at=row.used_at,
        )

    async def consume_mfa_token(self, digest: bytes, *, now: float) -> bool:
        """Use the token once, if not expired (compare-and-set)."""
        result = await self._conn.execute(
            update(mfa_tokens)
            .where(
                mfa_tokens.c.token_hash == digest,
                mfa_tokens.c.used_at.is_(None),
                mfa_tokens.c.expires_at > now,
            )
            .values(used_at=now)
        )
        return result.rowcount == 1

    async def purge_mfa_tokens(self, now: float) -> None:
        await self._conn.execute(delete(mfa_tokens).where(mfa_tokens.c.expires_at <= now))

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
    ) -> bool:
        """The session of a completed second step, only if the user's credential
        version is still ``version``, the account enabled and (``require_verified``)
        its address verified, all read under the row lock (SECURITY.md A.7 #48, as
        :meth:`SqlHotPath.open_session`)."""
        conn = self._conn
        current = (await conn.execute(_LOCK_USER, {"id": user_id})).first()
        if (
            current is None
            or current.disabled
            or current.credential_version != version
            or (require_verified and not current.email_verified)
        ):
            return False
        await conn.execute(
            INSERT_SESSION,
            {
                "id": sid,
                "user_id": user_id,
                "created_at": now,
                "last_used_at": now,
                "idle_expires_at": idle_expires_at,
                "absolute_expires_at": absolute_expires_at,
                "user_agent": (client.user_agent or None) and client.user_agent[:512],
                "ip": (client.ip or None) and client.ip[:64],
                "scope": scope,
                "ended_at": None,
                "end_reason": None,
                "amr": amr,
            },
        )
        await conn.execute(
            INSERT_REFRESH,
            {
                "token_hash": digest,
                "session_id": sid,
                "parent_hash": None,
                "issued_at": now,
                "used_at": None,
            },
        )
        await conn.execute(
            INSERT_AUDIT, audit_row("login_ok", now, user_id, sid, client.ip, {"amr": amr})
        )
        return True
