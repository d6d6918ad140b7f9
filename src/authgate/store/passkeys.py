"""The passkeys aggregate: WebAuthn credentials and their single-use challenges.

:class:`SqlPasskeys` implements :class:`authgate.store.protocols.PasskeyRepository`,
:class:`SqlChallenges` :class:`authgate.store.protocols.ChallengeRepository`.

A challenge is stored as its SHA-256 and taken by ``DELETE … WHERE digest = …``: of
any number of concurrent takers exactly one sees the row deleted (W3C WebAuthn L3
§13.4.3, a challenge is used once). The signature counter moves by compare-and-set,
so two verifications racing on one credential cannot both pass (§6.1.1).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from authgate.domain import Passkey
from authgate.errors import InvalidRequest
from authgate.store.schema import webauthn_challenges, webauthn_credentials

__all__ = ["SqlChallenges", "SqlPasskeys"]

_creds = webauthn_credentials
_challenges = webauthn_challenges


def _passkey(row: Any) -> Passkey:
    transports = orjson.loads(row.transports)
    return Passkey(
        id=row.id,
        user_id=row.user_id,
        public_key=bytes(row.public_key),
        sign_count=int(row.sign_count),
        transports=tuple(str(t) for t in transports) if isinstance(transports, list) else (),
        name=row.name,
        created_at=float(row.created_at),
        last_used_at=None if row.last_used_at is None else float(row.last_used_at),
        backup_eligible=bool(row.backup_eligible),
        backed_up=bool(row.backed_up),
    )


class SqlPasskeys:
    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, credential_id: str) -> Passkey | None:
        row = (await self._conn.execute(select(_creds).where(_creds.c.id == credential_id))).first()
        return None if row is None else _passkey(row)

    async def of_user(self, user_id: str) -> list[Passkey]:
        query = select(_creds).where(_creds.c.user_id == user_id).order_by(_creds.c.created_at)
        return [_passkey(row) for row in await self._conn.execute(query)]

    async def count(self, user_id: str) -> int:
        rows = await self._conn.execute(select(_creds.c.id).where(_creds.c.user_id == user_id))
        return len(rows.all())

    async def insert(self, passkey: Passkey) -> None:
        values = {
            "id": passkey.id,
            "user_id": passkey.user_id,
            "public_key": passkey.public_key,
            "sign_count": passkey.sign_count,
            "transports": orjson.dumps(list(passkey.transports)).decode(),
            "name": passkey.name,
            "created_at": passkey.created_at,
            "last_used_at": passkey.last_used_at,
            "backup_eligible": passkey.backup_eligible,
            "backed_up": passkey.backed_up,
        }
        try:
            await self._conn.execute(insert(_creds).values(**values))
        except IntegrityError as exc:
            raise InvalidRequest("this passkey is already registered") from exc

    async def rename(self, user_id: str, credential_id: str, name: str) -> bool:
        query = (
            update(_creds)
            .where(_creds.c.id == credential_id, _creds.c.user_id == user_id)
            .values(name=name)
        )
        return bool((await self._conn.execute(query)).rowcount)

    async def delete(self, user_id: str, credential_id: str) -> bool:
        query = delete(_creds).where(_creds.c.id == credential_id, _creds.c.user_id == user_id)
        return bool((await self._conn.execute(query)).rowcount)

    async def used(
        self, credential_id: str, *, old_count: int, new_count: int, now: float, backed_up: bool
    ) -> bool:
        """Move the counter from ``old_count`` to ``new_count`` (compare-and-set)."""
        query = (
            update(_creds)
            .where(_creds.c.id == credential_id, _creds.c.sign_count == old_count)
            .values(sign_count=new_count, last_used_at=now, backed_up=backed_up)
        )
        return bool((await self._conn.execute(query)).rowcount)


class SqlChallenges:
    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def put(
        self, digest: bytes, *, user_id: str | None, purpose: str, expires_at: float
    ) -> None:
        values = {
            "digest": digest,
            "user_id": user_id,
            "purpose": purpose,
            "expires_at": expires_at,
        }
        await self._conn.execute(insert(_challenges).values(**values))

    async def take(self, digest: bytes, *, purpose: str, now: float) -> tuple[bool, str | None]:
        """Delete the challenge; (found unexpired for ``purpose``, its user id).

        The ``DELETE`` decides: a concurrent taker that read the row too finds
        ``rowcount`` 0 and gets ``(False, None)``.
        """
        c = _challenges.c
        # A WHERE clause on the indexed digest (SECURITY.md A.2 #9), not a comparison.
        query = select(c.user_id, c.purpose, c.expires_at).where(_challenges.c.digest == digest)
        found = (await self._conn.execute(query)).first()
        if found is None:
            return False, None
        gone = await self._conn.execute(delete(_challenges).where(_challenges.c.digest == digest))
        if not gone.rowcount or found.purpose != purpose or found.expires_at <= now:
            return False, None
        return True, found.user_id

    async def trim(self, purpose: str, *, keep: int, spare: bytes) -> int:
        """One probe down the ``expires_at`` index decides whether there is anything to
        evict; only then the ``DELETE`` keeps the ``keep`` newest (ties by digest)."""
        c = _challenges.c
        newest = select(c.digest).where(c.purpose == purpose)
        newest = newest.order_by(c.expires_at.desc(), c.digest.desc())
        over = (await self._conn.execute(newest.limit(1).offset(keep))).first()
        if over is None:
            return 0
        query = delete(_challenges).where(
            c.purpose == purpose,
            _challenges.c.digest != spare,
            c.digest.not_in(newest.limit(keep).scalar_subquery()),
        )
        gone = await self._conn.execute(query)
        return int(gone.rowcount or 0)

    async def purge_expired(self, now: float) -> int:
        gone = await self._conn.execute(delete(_challenges).where(_challenges.c.expires_at <= now))
        return int(gone.rowcount or 0)
